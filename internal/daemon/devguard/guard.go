// Package devguard is the missing-device guard: it keeps, per class of
// device (GPUs by vendor, DIMMs, disks, NICs by link speed, PSUs, cores...),
// the number this host has had, and exports that beside the number the
// probes see now, so that one alert (HardwareDeviceMissing) catches a part
// that vanished: a part that is gone exports no series of its own.
//
// The classes come from the probes' results (probe.DeviceClasses, the one
// place they are declared). A class's baseline (expected) rises as soon as a
// run sees more devices and falls only when someone accepts the present
// count (POST /-/baseline/accept) or the config turns its probe off. The
// baselines and the last present counts live in the state directory
// (device-baseline.state, written by the statefile package), so a restart
// neither forgets a baseline nor counts a probe that has not run yet as
// "present 0": until a probe's first run, the class says what it said
// before the restart. A failed run changes nothing, except for the NVIDIA
// cross-check below.
//
// Besides the baselines, one class is a cross-check that needs no history:
// gpu_nvidia_driver expects every NVIDIA display controller on PCI to be
// listed by nvidia-smi (or NVML). A GPU that fell off the bus often stays
// on PCI while the driver drops it, and nvidia-smi may fail outright; both
// make it one short, from the first run on.
package devguard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/statefile"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// StateName is the guard's file in the state directory: device-baseline.state.
// No probe has this name (probe names have no dash).
const StateName = "device-baseline"

// ClassNVIDIADriver is the cross-check class: NVIDIA GPUs on PCI that
// nvidia-smi lists.
const ClassNVIDIADriver = "gpu_nvidia_driver"

// The gpu probe's name: its failures count for the cross-check.
const gpuProbe = "gpu"

// Reasons a device is missing, the reason label of
// hardware_device_missing_info.
const (
	ReasonAbsent       = "absent"        // below the baseline: the probe no longer sees it
	ReasonNotInDriver  = "not_in_driver" // on PCI, but not among nvidia-smi's GPUs
	ReasonDriverFailed = "driver_failed" // on PCI, and nvidia-smi failed
)

var (
	expectedDesc = prometheus.NewDesc("hardware_device_expected",
		"Devices of the class this host is expected to have: the most a probe has seen, until POST /-/baseline/accept lowers it.",
		[]string{"class"}, nil)
	presentDesc = prometheus.NewDesc("hardware_device_present",
		"Devices of the class the last successful run of its probe saw.",
		[]string{"class"}, nil)
	missingDesc = prometheus.NewDesc("hardware_device_missing_info",
		"A device that is expected but not present, value 1, while present < expected: device is where it sat (PCI address, slot, serial), detail what else named it.",
		[]string{"class", "device", "detail", "reason"}, nil)
)

// Descs are the guard's descriptors, for docs/metrics.md.
func Descs() []*prometheus.Desc { return []*prometheus.Desc{expectedDesc, presentDesc, missingDesc} }

// classNote lists the classes, for the docs.
const classNote = "class is one of gpu_pci_nvidia, gpu_pci_amd, gpu_pci_intel, gpu_pci_other (display controllers on PCI, by vendor), " +
	"gpu_nvidia (nvidia-smi's GPUs), gpu_amd, dimm (SMBIOS modules), dimm_edac (EDAC DIMMs), memory_kernel (MemTotal in modules of the usual size), " +
	"disk, nvme, raid_pd_CONTROLLER (PDs per RAID controller), nic, nic_link_SPEED (links up at that speed, such as nic_link_25g), " +
	"psu (BMC FRU), psu_sensor (BMC power supply sensors with a reading), cpu_package, cpu_core, cpu_thread, " +
	"and gpu_nvidia_driver, the cross-check of NVIDIA GPUs on PCI against nvidia-smi. The classes are declared in internal/probe/devices.go."

// Note returns the detail of d for docs/metrics.md, as probe.Note does
// for the probes' descriptors.
func Note(d *prometheus.Desc) string {
	switch d {
	case expectedDesc:
		return classNote + " Kept in the state directory (device-baseline.state): a restart keeps it. " +
			"For gpu_nvidia_driver it is the NVIDIA GPUs on PCI now, not a baseline."
	case presentDesc:
		return "A failed run leaves it as it was; before a class's probe has run it is what the state file kept, or absent on a first start."
	case missingDesc:
		return "reason is absent (below the baseline), not_in_driver (an NVIDIA GPU on PCI that nvidia-smi does not list) " +
			"or driver_failed (nvidia-smi failed while PCI shows NVIDIA GPUs). No series for classes known only by number (cpu_core, cpu_thread, memory_kernel)."
	}
	return ""
}

// class is one class's baseline and what was last seen of it.
type class struct {
	source   string         // the probe that reports it
	expected int            // the baseline
	baseline []probe.Device // the devices of the last run that saw expected devices
	present  int            // the last successful run's count
	devices  []probe.Device // and its devices
}

// Guard keeps the classes. Its methods are safe for concurrent use.
type Guard struct {
	logger *slog.Logger
	dir    *statefile.Dir // nil: nothing kept across restarts
	now    func() time.Time

	mu      sync.Mutex
	classes map[string]*class
	// gpuFailed is whether the gpu probe's last run failed; gpuRan whether
	// it has run (or failed) at all, so the cross-check waits for it.
	gpuFailed, gpuRan bool

	generation atomic.Uint64
}

// New returns a guard that keeps its baselines in dir (nil: in memory
// only) and loads what dir holds. A file that cannot be read is logged and
// replaced by the next write, as the probes' state files are.
func New(dir *statefile.Dir, logger *slog.Logger) *Guard {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Guard{logger: logger, dir: dir, now: time.Now, classes: map[string]*class{}}
	if dir != nil {
		g.load()
	}
	return g
}

// Generation changes whenever what the guard exports changes.
func (g *Guard) Generation() uint64 { return g.generation.Load() }

// Observe takes the result of one run of the probe called name: its
// metrics when err is nil. A failed run changes no class (its devices are
// not "gone", the probe could not look), except that a failing gpu probe
// fails the NVIDIA cross-check; a run called off (shutdown) counts for
// nothing at all.
func (g *Guard) Observe(name string, ms []prometheus.Metric, err error) {
	if err != nil && errors.Is(err, context.Canceled) {
		return
	}
	var seen map[string]probe.DeviceClass
	if err == nil {
		seen = probe.DeviceClasses(ms)
	}
	g.update(name, seen, err)
}

// update is Observe once the run's metrics are read into classes.
func (g *Guard) update(name string, seen map[string]probe.DeviceClass, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := false
	if name == gpuProbe {
		failed := err != nil
		changed = !g.gpuRan || g.gpuFailed != failed
		g.gpuRan, g.gpuFailed = true, failed
	}
	if err != nil {
		g.finish(changed)
		return
	}
	if seen == nil {
		seen = map[string]probe.DeviceClass{}
	}
	// A class this probe reported before and not now has no device left.
	for n, c := range g.classes {
		if _, ok := seen[n]; !ok && c.source == name && (c.present > 0 || c.expected > 0) {
			seen[n] = probe.DeviceClass{}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if g.observe(name, n, seen[n]) {
			changed = true
		}
	}
	g.finish(changed)
}

// observe updates class n from a run of probe source that saw o, logs what
// changed, and reports whether anything did.
func (g *Guard) observe(source, n string, o probe.DeviceClass) bool {
	c, ok := g.classes[n]
	if !ok {
		g.classes[n] = &class{source: source, expected: o.Count, baseline: o.Devices, present: o.Count, devices: o.Devices}
		g.logger.Info("device baseline set", "class", n, "probe", source, "expected", o.Count)
		return true
	}
	changed := c.source != source || c.present != o.Count || !sameDevices(c.devices, o.Devices)
	logChanges(g.logger, source, n, c.devices, o.Devices)
	c.source, c.present, c.devices = source, o.Count, o.Devices
	switch {
	case o.Count > c.expected:
		g.logger.Info("device baseline raised", "class", n, "probe", source, "from", c.expected, "to", o.Count)
		c.expected, c.baseline = o.Count, o.Devices
		changed = true
	case o.Count == c.expected:
		if !sameDevices(c.baseline, o.Devices) {
			c.baseline, changed = o.Devices, true
		}
	default:
		if changed {
			g.logger.Warn("devices missing: fewer than the baseline", "class", n, "probe", source,
				"expected", c.expected, "present", o.Count, "missing", describe(missing(c.baseline, o.Devices)))
		}
	}
	return changed
}

// logChanges logs, once, each device that appeared, disappeared or changed
// its detail (a disk swapped in a slot) between two runs: one line each.
func logChanges(logger *slog.Logger, source, class string, before, after []probe.Device) {
	old := make(map[string]string, len(before))
	for _, d := range before {
		old[d.Key] = d.Detail
	}
	for _, d := range after {
		detail, ok := old[d.Key]
		switch {
		case !ok:
			logger.Info("inventory change: device added", "probe", source, "class", class, "device", d.Key, "detail", d.Detail)
		case detail != d.Detail:
			logger.Info("inventory change: device changed", "probe", source, "class", class, "device", d.Key, "from", detail, "to", d.Detail)
		}
		delete(old, d.Key)
	}
	for _, d := range before {
		if _, gone := old[d.Key]; gone {
			logger.Warn("inventory change: device removed", "probe", source, "class", class, "device", d.Key, "detail", d.Detail)
		}
	}
}

// finish saves and moves the generation after a change. g.mu is held.
func (g *Guard) finish(changed bool) {
	if !changed {
		return
	}
	g.generation.Add(1)
	g.save()
}

// Accept makes the present count the baseline of class (every class when
// class is ""), so that an alert about hardware that was removed on
// purpose clears. who says who asked, for the log. It returns the classes
// whose baseline fell, and an error for a class the guard does not know.
func (g *Guard) Accept(className, who string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if className != "" {
		if _, ok := g.classes[className]; !ok {
			return nil, fmt.Errorf("no device class %q; known: %s", className, strings.Join(g.names(), ", "))
		}
	}
	var accepted []string
	for _, n := range g.names() {
		c := g.classes[n]
		if className != "" && n != className {
			continue
		}
		if c.present == c.expected && sameDevices(c.baseline, c.devices) {
			continue
		}
		g.logger.Warn("device baseline accepted", "class", n, "from", c.expected, "to", c.present,
			"removed", describe(missing(c.baseline, c.devices)), "by", who)
		c.expected, c.baseline = c.present, c.devices
		accepted = append(accepted, n)
	}
	g.finish(len(accepted) > 0)
	return accepted, nil
}

// Retain drops the baselines of classes whose probe is not among sources
// (the probes the config runs): a config change that turns a probe off is
// the other way a baseline falls. Each drop is logged.
func (g *Guard) Retain(sources ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	on := map[string]bool{}
	for _, s := range sources {
		on[s] = true
	}
	changed := false
	for _, n := range g.names() {
		if c := g.classes[n]; !on[c.source] {
			g.logger.Info("device baseline dropped: its probe is off", "class", n, "probe", c.source, "expected", c.expected)
			delete(g.classes, n)
			changed = true
		}
	}
	if !on[gpuProbe] && g.gpuRan {
		g.gpuRan, g.gpuFailed, changed = false, false, true
	}
	g.finish(changed)
}

// names returns the classes, sorted. g.mu is held.
func (g *Guard) names() []string {
	ns := make([]string, 0, len(g.classes))
	for n := range g.classes {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Describe implements prometheus.Collector.
func (g *Guard) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range Descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It builds a few series per
// class from what is kept; it runs when a response is rendered, which the
// response cache makes once per change.
func (g *Guard) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.names() {
		c := g.classes[n]
		ch <- prometheus.MustNewConstMetric(expectedDesc, prometheus.GaugeValue, float64(c.expected), n)
		ch <- prometheus.MustNewConstMetric(presentDesc, prometheus.GaugeValue, float64(c.present), n)
		if c.present < c.expected {
			for _, d := range missing(c.baseline, c.devices) {
				ch <- prometheus.MustNewConstMetric(missingDesc, prometheus.GaugeValue, 1, n, d.Key, d.Detail, ReasonAbsent)
			}
		}
	}
	if expected, present, gone, ok := g.nvidiaCheck(); ok {
		ch <- prometheus.MustNewConstMetric(expectedDesc, prometheus.GaugeValue, float64(expected), ClassNVIDIADriver)
		ch <- prometheus.MustNewConstMetric(presentDesc, prometheus.GaugeValue, float64(present), ClassNVIDIADriver)
		reason := ReasonNotInDriver
		if g.gpuFailed {
			reason = ReasonDriverFailed
		}
		for _, d := range gone {
			ch <- prometheus.MustNewConstMetric(missingDesc, prometheus.GaugeValue, 1, ClassNVIDIADriver, d.Key, d.Detail, reason)
		}
	}
}

// nvidiaCheck compares the NVIDIA display controllers on PCI with the GPUs
// nvidia-smi lists, once both the pci and the gpu probe have reported:
// expected is those on PCI, present those of them nvidia-smi lists (none
// while it fails), gone the others. g.mu is held.
func (g *Guard) nvidiaCheck() (expected, present int, gone []probe.Device, ok bool) {
	onPCI, ok := g.classes[probe.ClassNVIDIAGPUPCI]
	if !ok || !g.gpuRan || onPCI.present == 0 {
		return 0, 0, nil, false
	}
	listed := map[string]bool{}
	if c, ok := g.classes[probe.ClassNVIDIAGPU]; ok && !g.gpuFailed {
		for _, d := range c.devices {
			listed[strings.ToLower(d.Key)] = true
		}
	}
	for _, d := range onPCI.devices {
		if listed[strings.ToLower(d.Key)] {
			present++
		} else {
			gone = append(gone, d)
		}
	}
	return len(onPCI.devices), present, gone, true
}

// missing returns the devices of baseline whose Key is not in present.
func missing(baseline, present []probe.Device) []probe.Device {
	here := make(map[string]bool, len(present))
	for _, d := range present {
		here[d.Key] = true
	}
	var gone []probe.Device
	for _, d := range baseline {
		if !here[d.Key] {
			gone = append(gone, d)
		}
	}
	return gone
}

func sameDevices(a, b []probe.Device) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// describe lists devices for a log line: "0000:17:00.0 (A100), A2".
func describe(ds []probe.Device) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		if d.Detail != "" {
			parts = append(parts, d.Key+" ("+d.Detail+")")
		} else {
			parts = append(parts, d.Key)
		}
	}
	return strings.Join(parts, ", ")
}

// The state file's families. Each class is one sample of "class" (value:
// expected) and, once present, one of "present"; its devices are samples
// of "baseline" and "device".
const (
	famClass     = "class"
	famPresent   = "present"
	famBaseline  = "baseline"
	famDevice    = "device"
	famGPUFailed = "gpu_failed"
)

// save writes the guard's state; g.mu is held. It runs only when a class
// changed, which is rare (hardware changes rarely), so it writes in place
// of queuing: the file is a few KiB.
func (g *Guard) save() {
	if g.dir == nil {
		return
	}
	fams := []statefile.Family{
		{Name: famClass, Type: statefile.Gauge, LabelNames: []string{"class", "source"}},
		{Name: famPresent, Type: statefile.Gauge, LabelNames: []string{"class"}},
		{Name: famBaseline, Type: statefile.Gauge, LabelNames: []string{"class", "key", "detail"}},
		{Name: famDevice, Type: statefile.Gauge, LabelNames: []string{"class", "key", "detail"}},
		{Name: famGPUFailed, Type: statefile.Gauge, LabelNames: []string{"ran"}},
	}
	for _, n := range g.names() {
		c := g.classes[n]
		fams[0].Samples = append(fams[0].Samples, statefile.Sample{LabelValues: []string{n, c.source}, Value: float64(c.expected)})
		fams[1].Samples = append(fams[1].Samples, statefile.Sample{LabelValues: []string{n}, Value: float64(c.present)})
		for _, d := range c.baseline {
			fams[2].Samples = append(fams[2].Samples, statefile.Sample{LabelValues: []string{n, d.Key, d.Detail}, Value: 1})
		}
		for _, d := range c.devices {
			fams[3].Samples = append(fams[3].Samples, statefile.Sample{LabelValues: []string{n, d.Key, d.Detail}, Value: 1})
		}
	}
	if g.gpuRan {
		v := 0.0
		if g.gpuFailed {
			v = 1
		}
		fams[4].Samples = []statefile.Sample{{LabelValues: []string{"1"}, Value: v}}
	}
	now := g.now()
	err := g.dir.Write(statefile.Snapshot{Probe: StateName, Run: now, Success: true, LastSuccess: now, Families: fams})
	if err != nil {
		g.logger.Warn("device baselines not saved; a restart would start them again", "err", err)
	}
}

// load reads the guard's state file into g.
func (g *Guard) load() {
	s, err := g.dir.Load(StateName)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		g.logger.Warn("device baselines not restored; they start again from the next runs", "err", err)
		return
	}
	for _, f := range s.Families {
		for _, smp := range f.Samples {
			lv := smp.LabelValues
			if len(lv) != len(f.LabelNames) {
				continue
			}
			switch f.Name {
			case famClass:
				if len(lv) == 2 {
					g.classOf(lv[0]).source = lv[1]
					g.classOf(lv[0]).expected = int(smp.Value)
				}
			case famPresent:
				if len(lv) == 1 {
					g.classOf(lv[0]).present = int(smp.Value)
				}
			case famBaseline, famDevice:
				if len(lv) != 3 {
					continue
				}
				c, d := g.classOf(lv[0]), probe.Device{Key: lv[1], Detail: lv[2]}
				if f.Name == famBaseline {
					c.baseline = append(c.baseline, d)
				} else {
					c.devices = append(c.devices, d)
				}
			case famGPUFailed:
				g.gpuRan, g.gpuFailed = true, smp.Value == 1
			}
		}
	}
	for n, c := range g.classes {
		if c.source == "" { // devices without their class sample: not ours
			delete(g.classes, n)
		}
	}
	if len(g.classes) > 0 {
		g.logger.Info("device baselines restored", "classes", len(g.classes), "saved", s.Run)
	}
}

func (g *Guard) classOf(n string) *class {
	c, ok := g.classes[n]
	if !ok {
		c = &class{}
		g.classes[n] = c
	}
	return c
}
