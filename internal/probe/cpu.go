package probe

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/procfile"
	"github.com/prometheus/client_golang/prometheus"
)

// The cpu probe reads processor models and topology from /proc/cpuinfo,
// frequency limits from cpufreq and vulnerability states from sysfs.
//
// Frequency series are per package and per group of threads that agree, with
// the group in a "cpus" label in the kernel's list format ("0-3,8-11"). Per
// thread, a 2×64-thread host would export 128 series for each of the five
// limits, all equal in practice; per package alone could not show a thread
// an operator capped. Grouping costs one series per package when all threads
// agree, and one more per distinct setting when they do not.
//
// cpufreq is read attribute by attribute rather than with procfs'
// SystemCpufreq: that fails as a whole on any one bad file (including
// stats/trans_table, which is EFBIG on CPUs with many P-states) and on a
// missing devices/system/cpu/offline, and it reads the current frequency,
// which is sampled per CPU at some cost and meaningless when replayed hours
// later.

var (
	cpuInfoDesc = Inventory(newDesc("cpu", "info",
		"Processor model of a package (socket), from /proc/cpuinfo.",
		"package", "vendor", "model_name", "family", "model", "stepping", "microcode"))
	cpuSockets = Inventory(newDesc("cpu", "sockets",
		"Number of processor packages (sockets) with an online thread."))
	cpuCores = Inventory(newDesc("cpu", "cores",
		"Number of physical cores with an online thread: distinct (physical id, core id) pairs."))
	cpuThreads = Inventory(newDesc("cpu", "threads",
		"Number of online hardware threads (logical CPUs)."))
	cpuFrequencyMin = newDesc("cpu", "frequency_min_hertz",
		"Lowest frequency the processor can run at (cpufreq cpuinfo_min_freq), for the threads in cpus.",
		"package", "cpus")
	cpuFrequencyMax = newDesc("cpu", "frequency_max_hertz",
		"Highest frequency the processor can run at, turbo included (cpufreq cpuinfo_max_freq), for the threads in cpus.",
		"package", "cpus")
	cpuFrequencyBase = newDesc("cpu", "frequency_base_hertz",
		"Guaranteed base frequency (cpufreq base_frequency, intel_pstate and amd-pstate only), for the threads in cpus.",
		"package", "cpus")
	cpuScalingFrequencyMin = newDesc("cpu", "scaling_frequency_min_hertz",
		"Lower frequency limit the kernel's policy applies (cpufreq scaling_min_freq), for the threads in cpus.",
		"package", "cpus")
	cpuScalingFrequencyMax = newDesc("cpu", "scaling_frequency_max_hertz",
		"Upper frequency limit the kernel's policy applies (cpufreq scaling_max_freq), for the threads in cpus.",
		"package", "cpus")
	cpuScalingInfo = newDesc("cpu", "scaling_info",
		"cpufreq driver and governor, for the threads in cpus.",
		"package", "cpus", "driver", "governor")
	cpuVulnerabilityInfo = withNote(newDesc("cpu", "vulnerability_info",
		"State of a CPU vulnerability as the kernel reports it in devices/system/cpu/vulnerabilities: state is not affected, vulnerable, mitigation or unknown, mitigation the kernel's detail.", "name", "state", "mitigation"),
		"mitigation is what the kernel prints after the state, such as the mitigation in use.")
)

// cpufreqLimits are the cpufreq attributes exported as hertz, in output order.
var cpufreqLimits = []struct {
	file string
	desc *prometheus.Desc
}{
	{"cpuinfo_min_freq", cpuFrequencyMin},
	{"cpuinfo_max_freq", cpuFrequencyMax},
	{"base_frequency", cpuFrequencyBase},
	{"scaling_min_freq", cpuScalingFrequencyMin},
	{"scaling_max_freq", cpuScalingFrequencyMax},
}

func init() {
	Register(Spec{
		Name:      "cpu",
		Summary:   "Model, microcode, sockets/cores/threads, frequency limits, vulnerabilities.",
		Reads:     "`/proc/cpuinfo` (model, microcode, sockets/cores/threads), cpufreq limits per package, `/sys/devices/system/cpu/vulnerabilities`",
		Privilege: "none",
		New:       func() Probe { return cpuProbe{} },
	})
}

type cpuProbe struct{}

func (p cpuProbe) Describe(ch chan<- *prometheus.Desc) {
	ch <- cpuInfoDesc
	ch <- cpuSockets
	ch <- cpuCores
	ch <- cpuThreads
	for _, l := range cpufreqLimits {
		ch <- l.desc
	}
	ch <- cpuScalingInfo
	ch <- cpuVulnerabilityInfo
}

func (p cpuProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	proc := env.Proc()
	// Every Linux kernel has /proc/cpuinfo, a VM included: without it the
	// procfs root is wrong, and saying nothing would look like success.
	b, err := proc.readFileErr("cpuinfo", procfile.CPUInfoMaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var cpuinfo []procfile.CPU
	if err != nil {
		skips.Add(proc.path("cpuinfo"), err)
	} else {
		var perr error
		cpuinfo, perr = procfile.ParseCPUInfo(ctx, b)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if perr != nil {
			skips.Add(proc.path("cpuinfo"), perr)
		}
	}

	// Package of each online CPU by number, for grouping cpufreq.
	packages := map[int]string{}
	ms := p.topology(env, cpuinfo, packages)

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cpus := env.Sys("devices/system/cpu")
	freq, err := p.cpufreq(ctx, cpus, packages)
	if err != nil {
		return nil, err
	}
	ms = append(ms, freq...)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ms = append(ms, p.vulnerabilities(cpus.sub("vulnerabilities"))...)
	return ms, nil
}

// topology returns the per-package info and the counts, and fills packages.
// physical id and core id are x86 fields; elsewhere (arm64) the same numbers
// come from sysfs topology.
func (p cpuProbe) topology(env Env, cpuinfo []procfile.CPU, packages map[int]string) []prometheus.Metric {
	if len(cpuinfo) == 0 {
		return nil
	}
	type core struct{ pkg, id string }
	var (
		infos   = map[[7]string]bool{}
		cores   = map[core]bool{}
		sockets = map[string]bool{}
		known   = true
	)
	for _, c := range cpuinfo {
		pkg, coreID := c.PhysicalID, c.CoreID
		if pkg == "" || coreID == "" {
			a := env.Sys("devices/system/cpu", "cpu"+strconv.Itoa(int(c.Processor)), "topology")
			pkg, _ = a.String("physical_package_id")
			coreID, _ = a.String("core_id")
		}
		if pkg == "" || coreID == "" {
			known = false
		}
		packages[int(c.Processor)] = pkg
		sockets[pkg] = true
		cores[core{pkg, coreID}] = true
		infos[[7]string{pkg, c.VendorID, c.ModelName, c.CPUFamily, c.Model, c.Stepping, c.Microcode}] = true
	}

	keys := make([][7]string, 0, len(infos))
	for k := range infos {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [7]string) int { return slices.Compare(a[:], b[:]) })
	var ms []prometheus.Metric
	for _, k := range keys {
		ms = append(ms, constMetric(cpuInfoDesc, prometheus.GaugeValue, 1, k[:]...))
	}
	// Without topology a count of sockets or cores would be a guess.
	if known {
		ms = append(ms,
			constMetric(cpuSockets, prometheus.GaugeValue, float64(len(sockets))),
			constMetric(cpuCores, prometheus.GaugeValue, float64(len(cores))))
	}
	ms = append(ms, constMetric(cpuThreads, prometheus.GaugeValue, float64(len(cpuinfo))))
	return ms
}

// cpufreq returns the frequency limits and scaling settings of online CPUs,
// grouped per package and value.
func (p cpuProbe) cpufreq(ctx context.Context, cpus attrs, packages map[int]string) ([]prometheus.Metric, error) {
	type limitKey struct {
		limit int // index in cpufreqLimits
		pkg   string
		hertz uint64
	}
	type scalingKey struct{ pkg, driver, governor string }
	limits := map[limitKey][]int{}
	scaling := map[scalingKey][]int{}

	for _, cpu := range cpus.numbered("cpu", "") {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := int(cpu.n)
		dir := cpus.sub(cpu.name)
		if online, _ := dir.String("online"); online == "0" {
			continue
		}
		pkg, ok := packages[n]
		if !ok {
			pkg, _ = dir.sub("topology").String("physical_package_id")
		}
		a := dir.sub("cpufreq")
		for i, l := range cpufreqLimits {
			if khz, ok := a.Uint(l.file); ok {
				k := limitKey{i, pkg, khz * 1000}
				limits[k] = append(limits[k], n)
			}
		}
		driver, _ := a.String("scaling_driver")
		governor, _ := a.String("scaling_governor")
		if driver != "" || governor != "" {
			k := scalingKey{pkg, driver, governor}
			scaling[k] = append(scaling[k], n)
		}
	}

	lkeys := make([]limitKey, 0, len(limits))
	for k := range limits {
		lkeys = append(lkeys, k)
	}
	slices.SortFunc(lkeys, func(a, b limitKey) int {
		if a.limit != b.limit {
			return a.limit - b.limit
		}
		if c := strings.Compare(a.pkg, b.pkg); c != 0 {
			return c
		}
		return slices.Min(limits[a]) - slices.Min(limits[b])
	})
	var ms []prometheus.Metric
	for _, k := range lkeys {
		ms = append(ms, constMetric(cpufreqLimits[k.limit].desc, prometheus.GaugeValue,
			float64(k.hertz), k.pkg, cpuList(limits[k])))
	}

	skeys := make([]scalingKey, 0, len(scaling))
	for k := range scaling {
		skeys = append(skeys, k)
	}
	slices.SortFunc(skeys, func(a, b scalingKey) int {
		if c := strings.Compare(a.pkg, b.pkg); c != 0 {
			return c
		}
		return slices.Min(scaling[a]) - slices.Min(scaling[b])
	})
	for _, k := range skeys {
		ms = append(ms, constMetric(cpuScalingInfo, prometheus.GaugeValue, 1,
			k.pkg, cpuList(scaling[k]), k.driver, k.governor))
	}
	return ms, nil
}

// cpuList formats CPU numbers the way the kernel writes CPU lists
// (cpulist_parse's format): ascending, consecutive runs as ranges, "0-3,8-11".
func cpuList(cpus []int) string {
	cpus = slices.Clone(cpus)
	slices.Sort(cpus)
	cpus = slices.Compact(cpus)
	var sb strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			sb.WriteByte('-')
			sb.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return sb.String()
}

// vulnerabilities reads each vulnerability file as an attribute, so one
// unreadable file costs its own series; the parse keeps the kernel's detail
// and never fails on text it does not know.
func (p cpuProbe) vulnerabilities(dir attrs) []prometheus.Metric {
	var ms []prometheus.Metric
	for _, e := range dir.entries() { // sorted by name
		b, ok := dir.read(e.Name())
		if !ok {
			continue
		}
		v := procfile.ParseVulnerability(b)
		ms = append(ms, gauge(cpuVulnerabilityInfo, 1, e.Name(), v.State, v.Mitigation))
	}
	return ms
}
