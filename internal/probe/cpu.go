package probe

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/procfile"
	"github.com/hardware-exporter/hardware_exporter/internal/host/sysfs"
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
	cpuPackageThrottles = withNote(newDesc("cpu", "package_throttles_total",
		"Times the package went over its thermal limit and was throttled (thermal_throttle/package_throttle_count, x86).",
		"package"),
		"Read from one CPU of each package (every thread shows the same count). "+
			"Intel's thermal monitor counts each assertion of PROCHOT; AMD processors have no thermal_throttle and no series. "+
			"The current frequency is not exported: it is a per-thread sample at the time of the read, meaningless when replayed; "+
			"hardware_cpu_frequency_max_hertz is the maximum.")
	cpuPackageThrottledSeconds = newDesc("cpu", "package_throttled_seconds_total",
		"Time the package spent thermally throttled (thermal_throttle/package_throttle_total_time_ms, Linux 5.5 and later).",
		"package")
	cpuCoreThrottles = withNote(newDesc("cpu", "core_throttles_total",
		"Times the core went over its thermal limit and was throttled (thermal_throttle/core_throttle_count, x86).",
		"package", "core"),
		"One series per physical core (core is topology/core_id, unique within its package), read from its first thread.")
	cpuCoreThrottledSeconds = newDesc("cpu", "core_throttled_seconds_total",
		"Time the core spent thermally throttled (thermal_throttle/core_throttle_total_time_ms, Linux 5.5 and later).",
		"package", "core")
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
		Summary:   "Model, microcode, sockets/cores/threads, frequency limits, thermal throttling, vulnerabilities.",
		Reads:     "`/proc/cpuinfo` (model, microcode, sockets/cores/threads), cpufreq limits per package, thermal throttle counts and times per package and core (`cpu*/thermal_throttle`, re-read from descriptors kept open; the rest when the online CPUs change and every 60 runs), `/sys/devices/system/cpu/vulnerabilities`",
		Privilege: "none",
		// Every minute, like the sensor probes, for the thermal throttle
		// counters: at the 6h inventory default an alert on their growth
		// would come hours late. The rest costs a /proc/cpuinfo parse and
		// a few attributes per CPU (BenchmarkCPU).
		Interval: time.Minute,
		Timeout:  30 * time.Second,
		New:      func() Probe { return &cpuProbe{} },
	})
}

// cpuProbe keeps its layout between runs (layout.go): the topology,
// frequency limits, scaling drivers and vulnerabilities are read when the
// layout is (when the online CPUs change, every layoutEvery runs, and after
// a failed read); the thermal throttle
// counters, the only values that move minute to minute, are re-read from
// descriptors kept open.
type cpuProbe struct{ layout keptLayout }

// Close closes the descriptors the probe keeps.
func (p *cpuProbe) Close() { p.layout.close() }

func (p *cpuProbe) Describe(ch chan<- *prometheus.Desc) {
	ch <- cpuInfoDesc
	ch <- firmwareInfoDesc
	ch <- cpuSockets
	ch <- cpuCores
	ch <- cpuThreads
	for _, l := range cpufreqLimits {
		ch <- l.desc
	}
	ch <- cpuScalingInfo
	ch <- cpuPackageThrottles
	ch <- cpuPackageThrottledSeconds
	ch <- cpuCoreThrottles
	ch <- cpuCoreThrottledSeconds
	ch <- cpuVulnerabilityInfo
}

func (p *cpuProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	return p.layout.run(ctx, env, skips, func(b *layoutBuilder) error { return p.discover(ctx, env, b) })
}

func (p *cpuProbe) discover(ctx context.Context, env Env, b *layoutBuilder) error {
	skips := b.skips
	// A CPU taken offline or brought online changes the topology and
	// the counters to read: the online list is the layout's gate, read
	// before the rest so that a change in between is seen next run.
	cpus := env.Sys("devices/system/cpu")
	online, _ := cpus.String("online")
	g := b.group()
	b.gate(g, cpus, "online", func(s string) bool { return s != online }, false)
	proc := env.Proc()
	// Every Linux kernel has /proc/cpuinfo, a VM included: without it the
	// procfs root is wrong, and saying nothing would look like success.
	raw, err := proc.readFileErr("cpuinfo", procfile.CPUInfoMaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var cpuinfo []procfile.CPU
	if err != nil {
		skips.Add(proc.path("cpuinfo"), err)
	} else {
		var perr error
		cpuinfo, perr = procfile.ParseCPUInfo(ctx, raw)
		if err := ctx.Err(); err != nil {
			return err
		}
		if perr != nil {
			skips.Add(proc.path("cpuinfo"), perr)
		}
	}

	// Package of each online CPU by number, for grouping cpufreq, and its
	// package and core, for the thermal throttle counters.
	packages := map[int]string{}
	places := map[int]cpuPlace{}
	ms := p.topology(env, cpuinfo, packages, places)

	if err := ctx.Err(); err != nil {
		return err
	}
	freq, err := p.cpufreq(ctx, cpus, packages)
	if err != nil {
		return err
	}
	ms = append(ms, freq...)
	if err := ctx.Err(); err != nil {
		return err
	}
	ms = append(ms, p.vulnerabilities(cpus.sub("vulnerabilities"))...)
	for _, m := range ms {
		g.add(m)
	}
	return p.thermalThrottle(ctx, b, g, cpus, places)
}

// cpuPlace is where a CPU (hardware thread) sits: its package (physical id)
// and core (core id, unique within the package).
type cpuPlace struct{ pkg, core string }

// topology returns the per-package info and the counts, and fills packages
// and places.
// physical id and core id are x86 fields; elsewhere (arm64) the same numbers
// come from sysfs topology.
func (p *cpuProbe) topology(env Env, cpuinfo []procfile.CPU, packages map[int]string, places map[int]cpuPlace) []prometheus.Metric {
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
		places[int(c.Processor)] = cpuPlace{pkg, coreID}
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
	microcode := map[[4]string]bool{} // threads of one package differ in stepping at most
	for _, k := range keys {
		ms = append(ms, constMetric(cpuInfoDesc, prometheus.GaugeValue, 1, k[:]...))
		if fw := [4]string{k[0], k[1], k[2], k[6]}; !microcode[fw] {
			microcode[fw] = true
			ms = append(ms, firmwareInfo(firmwareCPUMicrocode, fw[0], fw[1], fw[2], fw[3])...)
		}
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
func (p *cpuProbe) cpufreq(ctx context.Context, cpus attrs, packages map[int]string) ([]prometheus.Metric, error) {
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

// thermalThrottle returns the thermal throttle counters of each package and
// each core of the online CPUs, read through the lowest-numbered thread of
// each: the kernel shows a package's counters on all its threads and a
// core's on both of its hyperthreads, as node_exporter's thermal_throttle
// collector dedupes them. Reading only those threads keeps the run at four
// attributes per core, not per thread. A CPU whose package or core is
// unknown cannot be placed and is left out.
func (p *cpuProbe) thermalThrottle(ctx context.Context, b *layoutBuilder, g *layoutGroup, cpus attrs, places map[int]cpuPlace) error {
	seenPkg, seenCore := map[string]bool{}, map[cpuPlace]bool{}
	for _, cpu := range slices.Sorted(maps.Keys(places)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		pl := places[cpu]
		if pl.pkg == "" {
			continue
		}
		pkg := labelValue(pl.pkg)
		a := cpus.sub("cpu"+strconv.Itoa(cpu), "thermal_throttle")
		if !seenPkg[pl.pkg] {
			seenPkg[pl.pkg] = true
			b.value(g, a, sysfs.ThrottlePackage+"_throttle_count", parseUintValue, cpuPackageThrottles, prometheus.CounterValue, pkg)
			b.value(g, a, sysfs.ThrottlePackage+"_throttle_total_time_ms", parseIntDiv(1000), cpuPackageThrottledSeconds, prometheus.CounterValue, pkg)
		}
		if pl.core != "" && !seenCore[pl] {
			seenCore[pl] = true
			core := labelValue(pl.core)
			b.value(g, a, sysfs.ThrottleCore+"_throttle_count", parseUintValue, cpuCoreThrottles, prometheus.CounterValue, pkg, core)
			b.value(g, a, sysfs.ThrottleCore+"_throttle_total_time_ms", parseIntDiv(1000), cpuCoreThrottledSeconds, prometheus.CounterValue, pkg, core)
		}
	}
	return nil
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
func (p *cpuProbe) vulnerabilities(dir attrs) []prometheus.Metric {
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
