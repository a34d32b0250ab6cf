package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/nvidiasmi"
	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/host/toolrun"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	gpuInfo = Inventory(newDesc("gpu", "info",
		"NVIDIA GPU as nvidia-smi reports it, value 1; pci_bus_id is in the kernel's form (0000:17:00.0), to join with hardware_pci_device_info{address}.",
		"uuid", "index", "name", "serial", "pci_bus_id", "driver_version", "vbios_version"))
	gpuTemperature = newDesc("gpu", "temperature_celsius",
		"GPU core temperature (nvidia-smi temperature.gpu).", "uuid")
	gpuPowerDraw = newDesc("gpu", "power_draw_watts",
		"Power the whole board draws (nvidia-smi power.draw; on drivers that print it as [N/A], 580 and later, power.draw.instant, else power.draw.average).", "uuid")
	gpuPowerLimit = newDesc("gpu", "power_limit_watts",
		"Power limit the driver enforces on the board (nvidia-smi power.limit).", "uuid")
	gpuMemoryTotal = Inventory(newDesc("gpu", "memory_total_bytes",
		"Frame buffer memory of the GPU (nvidia-smi memory.total).", "uuid"))
	gpuMemoryUsed = newDesc("gpu", "memory_used_bytes",
		"Frame buffer memory allocated by processes and the driver (nvidia-smi memory.used).", "uuid")
	gpuECCErrors = newDesc("gpu", "ecc_errors_total",
		"ECC errors over the GPU's lifetime, kept in its InfoROM (nvidia-smi ecc.errors.{corrected,uncorrected}.aggregate.total).", "uuid", "type")
	gpuRetiredPages = newDesc("gpu", "retired_pages",
		"Frame buffer pages retired for ECC errors: single_bit after repeated single-bit errors, double_bit after a double-bit error. Pre-Ampere GPUs only; Ampere and later remap rows instead.", "uuid", "cause")
	gpuRemappedRows = withNote(newDesc("gpu", "remapped_rows",
		"Rows remapped for correctable and uncorrectable errors (nvidia-smi --query-remapped-rows); pending is 1 while a remap waits for a GPU reset, failure 1 when a remap failed.", "uuid", "kind"),
		"Ampere and later GPUs only; older ones retire pages instead (hardware_gpu_retired_pages). A failed remap means the GPU needs replacing.")
	gpuRetiredPagesPending = newDesc("gpu", "retired_pages_pending",
		"1 while a page retirement waits for the next driver reload or reboot (nvidia-smi retired_pages.pending), else 0. Pre-Ampere GPUs only.", "uuid")
	gpuMemoryTemperature = newDesc("gpu", "memory_temperature_celsius",
		"Temperature of the GPU's HBM memory (nvidia-smi temperature.memory); boards with GDDR memory report none.", "uuid")
	gpuUtilization = newDesc("gpu", "utilization_ratio",
		"Share of the last sample period (1/6 s to 1 s) during which a kernel ran (resource gpu) or device memory was read or written (resource memory), 0 to 1 (nvidia-smi utilization.gpu, utilization.memory).", "uuid", "resource")
	gpuClock = newDesc("gpu", "clock_hertz",
		"Current clock of the streaming multiprocessors (clock sm) and of the memory (clock memory) (nvidia-smi clocks.sm, clocks.mem).", "uuid", "clock")
	gpuPerformanceState = newDesc("gpu", "performance_state",
		"Performance state, 0 (P0, maximum performance) to 15 (P15, minimum) (nvidia-smi pstate).", "uuid")
	gpuFanSpeed = newDesc("gpu", "fan_speed_ratio",
		"Fan speed the driver asks for, as a share of the fan's maximum (nvidia-smi fan.speed); may exceed 1, and is not measured: a blocked fan reads the same. Boards cooled by the chassis report none.", "uuid")
	gpuPCIeGeneration = newDesc("gpu", "pcie_link_generation",
		"PCIe generation of the GPU's link now (link current; idle GPUs train down) and the most it and the slot support (link max) (nvidia-smi pcie.link.gen.current, pcie.link.gen.max).", "uuid", "link")
	gpuPCIeWidth = newDesc("gpu", "pcie_link_width_lanes",
		"PCIe lanes of the GPU's link now (link current) and the most it and the slot support (link max) (nvidia-smi pcie.link.width.current, pcie.link.width.max).", "uuid", "link")
	gpuECCMode = newDesc("gpu", "ecc_mode",
		"1 when ECC is enabled, 0 when disabled: now (mode current) and after the next reboot (mode pending) (nvidia-smi ecc.mode.current, ecc.mode.pending).", "uuid", "mode")
	gpuClockEventReason = withNote(newDesc("gpu", "clock_event_reason",
		"1 while the reason holds the GPU's clocks below their maximum, else 0 (nvidia-smi clocks_event_reasons.*, clocks_throttle_reasons.* before driver 535).", "uuid", "reason"),
		"gpu_idle and applications_clocks_setting are normal; sw_power_cap means the power limit, hw_slowdown, hw_thermal_slowdown and hw_power_brake_slowdown a hardware protection (overheating, a PSU's power brake), sw_thermal_slowdown the driver cooling the GPU.")
	gpuNVLinkErrors = newDesc("gpu", "nvlink_errors_total",
		"Errors counted on each NVLink of the GPU since the driver loaded (nvidia-smi nvlink -e): replay and recovery are retransmissions and link retraining, crc corrupt flits.", "uuid", "link", "counter")
)

// gpuField is one nvidia-smi query property and how it is exported. Each
// query is one slice of them, from which both the command line and the
// parser's column order are taken, so the two cannot disagree. Fields that
// share a descriptor and label are alternatives, the first with a value
// wins: power.draw, then power.draw.instant (drivers 580 and later print
// power.draw as [N/A]), then power.draw.average; clocks_event_reasons.*
// (drivers 535 and later), then the older clocks_throttle_reasons.*.
type gpuField struct {
	name  string           // property, as in nvidia-smi --help-query-gpu
	desc  *prometheus.Desc // nil: not a value (a label, or the row's key)
	vt    prometheus.ValueType
	scale float64 // multiplier to the base unit; 0 means 1
	label string  // value of desc's label after uuid, if it has one
	flag  bool    // Yes/No, Active/Not Active, Enabled/Disabled rather than a number
	state bool    // a performance state, P0 to P15
}

const gpuMiB = 1 << 20

// gpuClockEventReasons are the reasons nvidia-smi reports for clocks below
// their maximum, as its query properties name them.
var gpuClockEventReasons = []string{
	"gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown",
	"hw_thermal_slowdown", "hw_power_brake_slowdown", "sync_boost", "sw_thermal_slowdown",
}

// gpuQueryFields are asked of --query-gpu. The info labels come first.
var gpuQueryFields = func() []gpuField {
	fs := []gpuField{
		{name: "index"},
		{name: "uuid"},
		{name: "name"},
		{name: "serial"},
		{name: "pci.bus_id"},
		{name: "driver_version"},
		{name: "vbios_version"},
		{name: "temperature.gpu", desc: gpuTemperature, vt: prometheus.GaugeValue},
		{name: "temperature.memory", desc: gpuMemoryTemperature, vt: prometheus.GaugeValue},
		{name: "power.draw", desc: gpuPowerDraw, vt: prometheus.GaugeValue},
		{name: "power.draw.instant", desc: gpuPowerDraw, vt: prometheus.GaugeValue},
		{name: "power.draw.average", desc: gpuPowerDraw, vt: prometheus.GaugeValue},
		{name: "power.limit", desc: gpuPowerLimit, vt: prometheus.GaugeValue},
		{name: "memory.total", desc: gpuMemoryTotal, vt: prometheus.GaugeValue, scale: gpuMiB},
		{name: "memory.used", desc: gpuMemoryUsed, vt: prometheus.GaugeValue, scale: gpuMiB},
		{name: "utilization.gpu", desc: gpuUtilization, vt: prometheus.GaugeValue, scale: 0.01, label: "gpu"},
		{name: "utilization.memory", desc: gpuUtilization, vt: prometheus.GaugeValue, scale: 0.01, label: "memory"},
		{name: "clocks.sm", desc: gpuClock, vt: prometheus.GaugeValue, scale: 1e6, label: "sm"},
		{name: "clocks.mem", desc: gpuClock, vt: prometheus.GaugeValue, scale: 1e6, label: "memory"},
		{name: "pstate", desc: gpuPerformanceState, vt: prometheus.GaugeValue, state: true},
		{name: "fan.speed", desc: gpuFanSpeed, vt: prometheus.GaugeValue, scale: 0.01},
		{name: "pcie.link.gen.current", desc: gpuPCIeGeneration, vt: prometheus.GaugeValue, label: "current"},
		{name: "pcie.link.gen.max", desc: gpuPCIeGeneration, vt: prometheus.GaugeValue, label: "max"},
		{name: "pcie.link.width.current", desc: gpuPCIeWidth, vt: prometheus.GaugeValue, label: "current"},
		{name: "pcie.link.width.max", desc: gpuPCIeWidth, vt: prometheus.GaugeValue, label: "max"},
		{name: "ecc.mode.current", desc: gpuECCMode, vt: prometheus.GaugeValue, label: "current", flag: true},
		{name: "ecc.mode.pending", desc: gpuECCMode, vt: prometheus.GaugeValue, label: "pending", flag: true},
		{name: "ecc.errors.corrected.aggregate.total", desc: gpuECCErrors, vt: prometheus.CounterValue, label: "corrected"},
		{name: "ecc.errors.uncorrected.aggregate.total", desc: gpuECCErrors, vt: prometheus.CounterValue, label: "uncorrected"},
		{name: "retired_pages.single_bit_ecc.count", desc: gpuRetiredPages, vt: prometheus.GaugeValue, label: "single_bit"},
		{name: "retired_pages.double_bit.count", desc: gpuRetiredPages, vt: prometheus.GaugeValue, label: "double_bit"},
		{name: "retired_pages.pending", desc: gpuRetiredPagesPending, vt: prometheus.GaugeValue, flag: true},
	}
	for _, prefix := range []string{"clocks_event_reasons.", "clocks_throttle_reasons."} {
		for _, r := range gpuClockEventReasons {
			fs = append(fs, gpuField{name: prefix + r, desc: gpuClockEventReason, vt: prometheus.GaugeValue, label: r, flag: true})
		}
	}
	return fs
}()

// gpuIdentityNames are the --query-gpu properties that name a GPU rather
// than read it: they change when the GPU, its VBIOS or the driver does,
// so nvidia-smi is asked them on the inventory interval, not every run.
var gpuIdentityNames = []string{"name", "serial", "pci.bus_id", "driver_version", "vbios_version"}

// gpuReadingFields are asked of --query-gpu every run: gpuQueryFields
// without the identity. gpuIdentityFields are asked on the inventory
// interval: index and uuid (each row's key, as in every --query-gpu) and
// the identity.
var gpuReadingFields, gpuIdentityFields = func() (readings, identity []gpuField) {
	for _, f := range gpuQueryFields {
		isID := slices.Contains(gpuIdentityNames, f.name)
		if !isID {
			readings = append(readings, f)
		}
		if isID || f.name == "index" || f.name == "uuid" {
			identity = append(identity, f)
		}
	}
	return readings, identity
}()

// gpuRemapFields are asked of --query-remapped-rows: the remapped_rows.*
// properties are not --query-gpu properties, and naming one there makes
// nvidia-smi reject the whole query.
var gpuRemapFields = []gpuField{
	{name: "gpu_uuid"},
	{name: "remapped_rows.correctable", desc: gpuRemappedRows, vt: prometheus.GaugeValue, label: "correctable"},
	{name: "remapped_rows.uncorrectable", desc: gpuRemappedRows, vt: prometheus.GaugeValue, label: "uncorrectable"},
	{name: "remapped_rows.pending", desc: gpuRemappedRows, vt: prometheus.GaugeValue, label: "pending", flag: true},
	{name: "remapped_rows.failure", desc: gpuRemappedRows, vt: prometheus.GaugeValue, label: "failure", flag: true},
}

// gpuArgs is the nvidia-smi command line for one query.
func gpuArgs(query string, fields []gpuField) []string {
	return nvidiasmi.QueryArgs(query, gpuFieldNames(fields))
}

func gpuFieldNames(fields []gpuField) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

func init() {
	Register(Spec{
		Name:      "gpu",
		Summary:   "NVIDIA GPUs through NVML or nvidia-smi; AMD GPUs from amdgpu's sysfs.",
		Reads:     "NVML in process (`libnvidia-ml.so.1`, opened once, the identity read then; in binaries built with `-tags nvml`, and `nvml: auto`), else `nvidia-smi --query-gpu=…` of the readings, and of the identity (name, serial, PCI bus, driver, VBIOS) every `inventory_interval` (6h) and when the GPUs change; `nvidia-smi` `--query-remapped-rows=…` and `nvlink -e` at most every 10 minutes (each is an nvidia-smi run): name, UUID, serial, PCI bus, driver and VBIOS, temperatures, power draw and limit, memory, utilisation, clocks and clock event (throttle) reasons, pstate, fan, PCIe link, ECC mode and errors, retired pages, remapped rows, NVLink errors. `[N/A]` means no sample; a property the driver does not know is asked once, then left out. AMD: `/sys/class/drm/card*/device` of cards bound to amdgpu, no tool: `power/runtime_status` first (a runtime-suspended GPU is not woken: nothing else of it is read), busy percent, VRAM/visible VRAM/GTT total and used, VBIOS version, `ras/*_err_count` and `ras/gpu_vram_bad_pages`; the probe runs when either vendor's GPU is present.",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		Kind:      KindTool,
		Options:   func() any { return newGPUOptions() },
		New:       func() Probe { return &gpuProbe{} },
	})
}

// GPUOptions are the gpu probe's own settings (probes.gpu.*).
type GPUOptions struct {
	Command           confval.Path     `yaml:"command" help:"Absolute path of nvidia-smi."`
	InventoryInterval confval.Duration `yaml:"inventory_interval" check:"positive" help:"How often nvidia-smi is asked the GPUs' identity (name, serial, PCI address, driver and VBIOS versions), which the per-minute query leaves out. Asked sooner when a GPU comes or goes, after a failed query, or after a SEL hot-swap entry."`
	NVML              GPUNVML          `yaml:"nvml" help:"auto: read the per-minute properties in process through NVML (libnvidia-ml.so.1), without an nvidia-smi run, when this binary is built with it (go build -tags nvml) and the library loads; else, and after an NVML error, through nvidia-smi (logged once). off: always nvidia-smi. Remapped rows and NVLink errors are read through nvidia-smi either way."`
}

func newGPUOptions() *GPUOptions {
	return &GPUOptions{Command: "/usr/bin/nvidia-smi", NVML: GPUNVMLAuto, InventoryInterval: confval.Duration(6 * time.Hour)}
}

func (o *GPUOptions) available() error { return toolrun.Available(string(o.Command)) }

// gpuProbe reads NVIDIA GPUs through nvidia-smi. It remembers what this
// host's driver does not know: nvidia-smi rejects a whole query for one
// property it does not know, so such a property is asked once, then left
// out for the life of the daemon (a driver upgrade restarts nothing, but
// only adds properties, so nothing is lost but the new ones until the
// next restart).
type gpuProbe struct {
	mu       sync.Mutex
	unknown  map[string]bool // properties this driver rejected
	noNVLink bool            // nvidia-smi nvlink -e failed: no NVLink here

	// slow holds the remapped-rows and NVLink series, read at most every
	// gpuSlowEvery (see Probe); slowFor is the GPUs they were read for.
	slow    []prometheus.Metric
	slowAt  time.Time
	slowFor string
	now     func() time.Time // time.Now; a test's clock

	// identity holds each GPU's gpuIdentityNames by UUID, as nvidia-smi
	// said them at the last identity pass; identityFor is the GPUs it
	// was read for. NVML reads the identity once, when it opens.
	identity     map[string]nvidiasmi.Row
	identityPass inventoryPass
	identityFor  string
	hints        *atomic.Uint64 // nil: inventoryHints, the daemon's

	nvml gpuNVML // the in-process reader, when NVML is on
}

// gpuSlowEvery is how often the counters that move rarely (remapped rows,
// NVLink errors) are read. Each is an nvidia-smi run of its own, and
// nvidia-smi costs tens of milliseconds of CPU a call (it initialises the
// driver library): with the probe's one-minute interval, asking them every
// run tripled the probe's cost for values that change once in months. A
// pending row remap waits for a GPU reset anyway, so ten minutes late is
// not news lost.
const gpuSlowEvery = 10 * time.Minute

func (*gpuProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		gpuInfo, gpuTemperature, gpuPowerDraw, gpuPowerLimit, gpuMemoryTotal, gpuMemoryUsed,
		gpuECCErrors, gpuRetiredPages, gpuRemappedRows, gpuRetiredPagesPending, gpuMemoryTemperature,
		gpuUtilization, gpuClock, gpuPerformanceState, gpuFanSpeed, gpuPCIeGeneration, gpuPCIeWidth,
		gpuECCMode, gpuClockEventReason, gpuNVLinkErrors, firmwareInfoDesc,
	} {
		ch <- d
	}
	for _, d := range gpuAMDDescs {
		ch <- d
	}
}

// Available reports why the probe has nothing to read on this host: no
// GPU bound to amdgpu, and no nvidia-smi or no device bound to the nvidia
// driver (nvidia-smi installed on a host without an NVIDIA GPU, or with the
// driver unloaded, would only ever fail). It reads the configured sysfs
// root, so fixtures can test it.
func (p *gpuProbe) Available(env Env) error {
	nvidia := nvidiaAvailable(env)
	if nvidia == nil || len(amdGPUCards(env, NewSkips(nil))) > 0 {
		return nil
	}
	return nvidia
}

// nvidiaAvailable says why the NVIDIA half has nothing to read.
func nvidiaAvailable(env Env) error {
	if err := optionsOf(env, newGPUOptions).available(); err != nil {
		return err
	}
	return nvidiaBound(env.Paths.SysFS)
}

// nvidiaDriver is where sysfs lists the PCI devices the nvidia driver has
// bound, one link per device named by its address.
const nvidiaDriver = "bus/pci/drivers/nvidia"

func nvidiaBound(sysfs string) error {
	entries, err := hostfs.New(sysfs).ReadDir(nvidiaDriver)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if pciAddress.MatchString(e.Name()) {
			return nil
		}
	}
	return fmt.Errorf("no NVIDIA GPU: no PCI device is bound to the nvidia driver (%s)", filepath.Join(sysfs, nvidiaDriver))
}

// pciAddress is a PCI device's name in sysfs: domain:bus:device.function.
var pciAddress = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// Probe reads the AMD GPUs from sysfs and the NVIDIA ones through NVML or
// nvidia-smi. On a host without AMD GPUs it is the NVIDIA reader alone,
// failing as that does. With AMD GPUs, a host without nvidia-smi or an
// NVIDIA GPU reads only them, and an NVIDIA failure costs the NVIDIA
// series (a skip), not the AMD ones.
func (p *gpuProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cards := amdGPUCards(env, skips)
	if len(cards) == 0 {
		return p.probeNVIDIA(ctx, env, skips)
	}
	ms, err := amdGPUMetrics(ctx, env, cards, skips)
	if err != nil {
		return nil, err
	}
	if nvidiaAvailable(env) != nil {
		return ms, nil
	}
	nv, err := p.probeNVIDIA(ctx, env, skips)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		skips.Add("nvidia", err)
	}
	return append(ms, nv...), nil
}

// probeNVIDIA reads the NVIDIA GPUs.
func (p *gpuProbe) probeNVIDIA(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	o, unlock, err := openTool(ctx, env, newGPUOptions, &p.mu)
	if err != nil {
		return nil, err
	}
	defer unlock()
	command := string(o.Command)

	now := time.Now
	if p.now != nil {
		now = p.now
	}
	ms, rows, err := p.readGPUs(ctx, env, o, now(), skips)
	if err != nil || len(rows) == 0 {
		return nil, err
	}

	gpus := gpuUUIDs(rows)
	if p.slowFor != gpus || p.slowAt.IsZero() || now().Sub(p.slowAt) >= gpuSlowEvery {
		slow, err := p.slowMetrics(ctx, env, command, rows, skips)
		if ctx.Err() != nil {
			return nil, err
		}
		p.slow, p.slowAt, p.slowFor = slow, now(), gpus
	}
	return append(ms, p.slow...), nil
}

// readGPUs reads the --query-gpu properties of every GPU: through NVML
// in process when it is on and works (see gpu_nvml.go), else by running
// nvidia-smi. rows hold at least each GPU's index and uuid, which the
// slow series are read for.
//
// nvidia-smi is asked the readings every run and the identity
// (gpuIdentityNames) on the inventory pass: the first run, every
// inventory_interval, and at once when the set of GPUs changed, the last
// query failed (a driver reloaded or upgraded) or a hint came. The
// identity is merged into each GPU's row, so the series are those one
// query of every field gave.
func (p *gpuProbe) readGPUs(ctx context.Context, env Env, o *GPUOptions, now time.Time, skips *Skips) ([]prometheus.Metric, []nvidiasmi.Row, error) {
	if ms, rows, ok := p.nvml.read(env, o.NVML, skips); ok {
		return ms, rows, nil
	}
	command := string(o.Command)
	src := command + " --query-gpu"
	fields, out, err := p.query(ctx, env, command, "query-gpu", gpuReadingFields)
	if err != nil {
		p.identityPass.reset()
		return nil, nil, fmt.Errorf("%s: %w", src, err)
	}
	rows, lineErrs := nvidiasmi.ParseCSV(out.Stdout, gpuFieldNames(fields))
	if err := out.Failed(len(rows) > 0, "no GPU lines"); err != nil {
		// No driver, no GPU ("No devices were found"): the run says nothing.
		p.identityPass.reset()
		return nil, nil, fmt.Errorf("%s: %w", src, err)
	}
	for _, err := range lineErrs {
		skips.Add(src, err)
	}
	hint := inventoryHints.Load()
	if p.hints != nil {
		hint = p.hints.Load()
	}
	every := time.Duration(o.InventoryInterval)
	if every <= 0 {
		every = time.Duration(newGPUOptions().InventoryInterval)
	}
	if gpuUUIDs(rows) != p.identityFor || p.identityPass.due(now, every, hint) {
		if err := p.readIdentity(ctx, env, command, now, hint, skips); err != nil {
			return nil, nil, err
		}
	}
	for _, row := range rows {
		for _, name := range gpuIdentityNames {
			if v, ok := p.identity[row["uuid"]][name]; ok {
				row[name] = v
			}
		}
	}
	return gpuMetrics(rows, fields, "uuid", src, skips), rows, nil
}

// readIdentity asks nvidia-smi the GPUs' identity and keeps it. A failed
// query costs the GPUs' hardware_gpu_info (a skip) and is asked again next
// run; only a cancelled run is an error.
func (p *gpuProbe) readIdentity(ctx context.Context, env Env, command string, now time.Time, hint uint64, skips *Skips) error {
	src := command + " --query-gpu (identity)"
	p.identity, p.identityFor = nil, ""
	p.identityPass.reset()
	fields, out, err := p.query(ctx, env, command, "query-gpu", gpuIdentityFields)
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	var rows []nvidiasmi.Row
	var lineErrs []error
	if err == nil {
		rows, lineErrs = nvidiasmi.ParseCSV(out.Stdout, gpuFieldNames(fields))
		err = out.Failed(len(rows) > 0, "no GPU lines")
	}
	if err != nil {
		skips.Add(src, err)
		return nil
	}
	for _, err := range lineErrs {
		skips.Add(src, err)
	}
	p.identity = make(map[string]nvidiasmi.Row, len(rows))
	for _, r := range rows {
		p.identity[r["uuid"]] = r
	}
	p.identityFor = gpuUUIDs(rows)
	p.identityPass.done(now, hint)
	return nil
}

// gpuUUIDs names the set of GPUs rows describe, so that the slow series
// are read again at once when a GPU comes or goes.
func gpuUUIDs(rows []nvidiasmi.Row) string {
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r["uuid"])
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// slowMetrics reads the remapped rows and the NVLink error counters.
func (p *gpuProbe) slowMetrics(ctx context.Context, env Env, command string, rows []nvidiasmi.Row, skips *Skips) ([]prometheus.Metric, error) {
	remapSrc := command + " --query-remapped-rows"
	fields, out, err := p.query(ctx, env, command, "query-remapped-rows", gpuRemapFields)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", remapSrc, err)
	}
	var ms []prometheus.Metric
	var remap []nvidiasmi.Row
	var lineErrs []error
	if err == nil {
		remap, lineErrs = nvidiasmi.ParseCSV(out.Stdout, gpuFieldNames(fields))
		err = out.Failed(len(remap) > 0, "no GPU lines")
	}
	switch {
	case err != nil && gpuNotSupported(out):
		// A GPU without a row remapper (before Ampere) has nothing to say.
	case err != nil:
		skips.Add(remapSrc, err)
	default:
		for _, err := range lineErrs {
			skips.Add(remapSrc, err)
		}
		ms = append(ms, gpuMetrics(remap, fields, "gpu_uuid", remapSrc, skips)...)
	}

	nvlink, err := p.nvlinkMetrics(ctx, env, command, rows, skips)
	if ctx.Err() != nil {
		return nil, err
	}
	return append(ms, nvlink...), nil
}

// query runs one query of the fields this driver has not rejected. When
// nvidia-smi rejects one of them, it is remembered and the query asked
// again without it; the row's key (the UUID) is never dropped, since
// without it nothing can be labelled.
func (p *gpuProbe) query(ctx context.Context, env Env, command, query string, fields []gpuField) ([]gpuField, toolrun.Output, error) {
	for range len(fields) {
		asked := make([]gpuField, 0, len(fields))
		for _, f := range fields {
			if !p.unknown[f.name] {
				asked = append(asked, f)
			}
		}
		out, err := toolrun.Run(ctx, command, gpuArgs(query, asked)...)
		if err != nil || out.ExitCode == 0 {
			return asked, out, err
		}
		name, ok := nvidiasmi.UnknownField(append(slices.Clip(out.Stdout), out.Stderr...))
		if !ok || name == "uuid" || name == "gpu_uuid" || !slices.ContainsFunc(asked, func(f gpuField) bool { return f.name == name }) {
			return asked, out, nil
		}
		if p.unknown == nil {
			p.unknown = map[string]bool{}
		}
		p.unknown[name] = true
		env.logger().Info("nvidia-smi does not know a property; leaving it out from now on", "query", query, "property", name)
	}
	return nil, toolrun.Output{}, errors.New("every property was rejected")
}

// nvlinkMetrics exports nvidia-smi nvlink -e. A host whose nvidia-smi
// fails it has no NVLink to report (PCIe boards, drivers that lack the
// subcommand): that is remembered, and nvlink -e not asked again.
func (p *gpuProbe) nvlinkMetrics(ctx context.Context, env Env, command string, rows []nvidiasmi.Row, skips *Skips) ([]prometheus.Metric, error) {
	if p.noNVLink {
		return nil, nil
	}
	src := command + " nvlink -e"
	out, err := toolrun.Run(ctx, command, "nvlink", "-e")
	if err != nil {
		if ctx.Err() == nil {
			skips.Add(src, err)
		}
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	counters, lineErrs := nvidiasmi.ParseNVLinkErrors(out.Stdout)
	if out.ExitCode != 0 && len(counters) == 0 {
		p.noNVLink = true
		env.logger().Info("nvidia-smi nvlink -e failed; not asking again", "exit_code", out.ExitCode, "message", out.Message())
		return nil, nil
	}
	for _, err := range lineErrs {
		skips.Add(src, err)
	}
	uuidOf := map[int]string{}
	for _, r := range rows {
		if i, err := strconv.Atoi(r["index"]); err == nil && !nvidiasmi.NoValue(r["uuid"]) {
			uuidOf[i] = r["uuid"]
		}
	}
	var ms []prometheus.Metric
	seen := map[string]bool{}
	for _, c := range counters {
		uuid := c.UUID
		if uuid == "" {
			uuid = uuidOf[c.GPU]
		}
		if uuid == "" {
			skips.Add(src, fmt.Errorf("GPU %d: no UUID to label its NVLink counters with", c.GPU))
			continue
		}
		link := strconv.Itoa(c.Link)
		key := uuid + "\x00" + link + "\x00" + c.Counter
		if seen[key] {
			continue
		}
		seen[key] = true
		ms = append(ms, counter(gpuNVLinkErrors, c.Value, uuid, link, c.Counter))
	}
	return ms, nil
}

// gpuNotSupported reports whether a failed nvidia-smi run said the query
// does not apply to this GPU.
func gpuNotSupported(out toolrun.Output) bool {
	msg := strings.ToLower(string(out.Stdout) + string(out.Stderr))
	return strings.Contains(msg, "not supported")
}

// gpuMetrics exports rows of one query. key names the field that holds the
// GPU's UUID; a row without one cannot be labelled and is skipped.
func gpuMetrics(rows []nvidiasmi.Row, fields []gpuField, key, src string, skips *Skips) []prometheus.Metric {
	var ms []prometheus.Metric
	seen := map[string]bool{}
	for _, row := range rows {
		uuid := row[key]
		if nvidiasmi.NoValue(uuid) {
			values := make([]string, len(fields))
			for i, f := range fields {
				values[i] = row[f.name]
			}
			skips.Add(src, fmt.Errorf("GPU without a UUID: %q", strings.Join(values, ", ")))
			continue
		}
		uuid = labelValue(uuid)
		if seen[uuid] {
			skips.Add(src, fmt.Errorf("GPU %s listed twice", uuid))
			continue
		}
		seen[uuid] = true

		if _, ok := row["pci.bus_id"]; ok { // the --query-gpu row describes the GPU
			label := func(name string) string {
				if v := row[name]; !nvidiasmi.NoValue(v) {
					return labelValue(v)
				}
				return ""
			}
			ms = append(ms, constMetric(gpuInfo, prometheus.GaugeValue, 1,
				uuid, label("index"), label("name"), label("serial"), nvidiasmi.KernelBusID(label("pci.bus_id")),
				label("driver_version"), label("vbios_version")))
			ms = append(ms, nvidiaFirmware(nvidiasmi.KernelBusID(label("pci.bus_id")), label("name"), label("vbios_version"), label("driver_version"))...)
		}

		type series struct {
			desc  *prometheus.Desc
			label string
		}
		done := map[series]bool{} // of alternatives, the first with a value wins
		for _, f := range fields {
			if f.desc == nil || nvidiasmi.NoValue(row[f.name]) || done[series{f.desc, f.label}] {
				continue
			}
			var v float64
			var err error
			if f.state {
				v, err = nvidiasmi.PState(row[f.name])
			} else {
				v, err = nvidiasmi.Number(row[f.name], f.flag)
			}
			if err != nil {
				skips.Add(src, fmt.Errorf("GPU %s %s: %w", uuid, f.name, err))
				continue
			}
			if f.scale != 0 {
				v *= f.scale
			}
			lv := []string{uuid}
			if f.label != "" {
				lv = append(lv, f.label)
			}
			ms = append(ms, constMetric(f.desc, f.vt, v, lv...))
			done[series{f.desc, f.label}] = true
		}
	}
	return ms
}
