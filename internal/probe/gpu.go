package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/confval"
	"github.com/hardware-exporter/hardware_exporter/internal/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/nvidiasmi"
	"github.com/hardware-exporter/hardware_exporter/internal/toolrun"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	gpuInfo = Inventory(newDesc("gpu", "info",
		"NVIDIA GPU as nvidia-smi reports it, value 1; pci_bus_id is in the kernel's form (0000:17:00.0), to join with hardware_pci_device_info{address}.",
		"uuid", "index", "name", "serial", "pci_bus_id", "driver_version", "vbios_version"))
	gpuTemperature = newDesc("gpu", "temperature_celsius",
		"GPU core temperature (nvidia-smi temperature.gpu).", "uuid")
	gpuPowerDraw = newDesc("gpu", "power_draw_watts",
		"Power the whole board draws (nvidia-smi power.draw).", "uuid")
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
	gpuRemappedRows = newDesc("gpu", "remapped_rows",
		"Row remapping (Ampere and later, nvidia-smi --query-remapped-rows): rows remapped for correctable and uncorrectable errors; pending is 1 while a remap waits for a GPU reset, failure is 1 when a remap failed (the GPU needs replacing).", "uuid", "kind")
)

// gpuField is one nvidia-smi query property and how it is exported. Each
// query is one slice of them, from which both the command line and the
// parser's column order are taken, so the two cannot disagree.
type gpuField struct {
	name  string           // property, as in nvidia-smi --help-query-gpu
	desc  *prometheus.Desc // nil: not a value (a label, or the row's key)
	vt    prometheus.ValueType
	scale float64 // multiplier to the base unit; 0 means 1
	label string  // value of desc's label after uuid, if it has one
	flag  bool    // Yes/No rather than a number
}

const gpuMiB = 1 << 20

// gpuQueryFields are asked of --query-gpu. The info labels come first.
var gpuQueryFields = []gpuField{
	{name: "index"},
	{name: "uuid"},
	{name: "name"},
	{name: "serial"},
	{name: "pci.bus_id"},
	{name: "driver_version"},
	{name: "vbios_version"},
	{name: "temperature.gpu", desc: gpuTemperature, vt: prometheus.GaugeValue},
	{name: "power.draw", desc: gpuPowerDraw, vt: prometheus.GaugeValue},
	{name: "power.limit", desc: gpuPowerLimit, vt: prometheus.GaugeValue},
	{name: "memory.total", desc: gpuMemoryTotal, vt: prometheus.GaugeValue, scale: gpuMiB},
	{name: "memory.used", desc: gpuMemoryUsed, vt: prometheus.GaugeValue, scale: gpuMiB},
	{name: "ecc.errors.corrected.aggregate.total", desc: gpuECCErrors, vt: prometheus.CounterValue, label: "corrected"},
	{name: "ecc.errors.uncorrected.aggregate.total", desc: gpuECCErrors, vt: prometheus.CounterValue, label: "uncorrected"},
	{name: "retired_pages.single_bit_ecc.count", desc: gpuRetiredPages, vt: prometheus.GaugeValue, label: "single_bit"},
	{name: "retired_pages.double_bit.count", desc: gpuRetiredPages, vt: prometheus.GaugeValue, label: "double_bit"},
}

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
		Summary:   "NVIDIA GPUs through nvidia-smi.",
		Reads:     "`nvidia-smi --query-gpu=…` and `--query-remapped-rows=…`: name, UUID, serial, PCI bus, driver and VBIOS, temperature, power draw and limit, memory, ECC errors, retired pages, remapped rows. `[N/A]` means no sample.",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		Options:   func() any { return newGPUOptions() },
		New:       func() Probe { return gpuProbe{} },
	})
}

// GPUOptions are the gpu probe's own settings (probes.gpu.*).
type GPUOptions struct {
	Command confval.Path `yaml:"command" help:"Absolute path of nvidia-smi."`
}

func newGPUOptions() *GPUOptions { return &GPUOptions{Command: "/usr/bin/nvidia-smi"} }

// gpuProbe reads NVIDIA GPUs through nvidia-smi.
type gpuProbe struct{}

func (gpuProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		gpuInfo, gpuTemperature, gpuPowerDraw, gpuPowerLimit, gpuMemoryTotal, gpuMemoryUsed,
		gpuECCErrors, gpuRetiredPages, gpuRemappedRows,
	} {
		ch <- d
	}
}

// Available reports why the probe has nothing to read on this host: no
// nvidia-smi, or no device bound to the nvidia driver (nvidia-smi installed
// on a host without an NVIDIA GPU, or with the driver unloaded, would only
// ever fail). It reads the configured sysfs root, so fixtures can test it.
func (p gpuProbe) Available(env Env) error {
	if err := toolrun.Available(string(optionsOf(env, newGPUOptions).Command)); err != nil {
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

func (p gpuProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	command := string(optionsOf(env, newGPUOptions).Command)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := toolrun.Available(command); err != nil {
		return nil, err
	}

	src := command + " --query-gpu"
	out, err := toolrun.Run(ctx, command, gpuArgs("query-gpu", gpuQueryFields)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	rows, lineErrs := nvidiasmi.ParseCSV(out.Stdout, gpuFieldNames(gpuQueryFields))
	if err := out.Failed(len(rows) > 0, "no GPU lines"); err != nil {
		// No driver, no GPU ("No devices were found"): the run says nothing.
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	for _, err := range lineErrs {
		skips.Add(src, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ms := gpuMetrics(rows, gpuQueryFields, "uuid", src, skips)

	remapSrc := command + " --query-remapped-rows"
	out, err = toolrun.Run(ctx, command, gpuArgs("query-remapped-rows", gpuRemapFields)...)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", remapSrc, err)
	}
	var remap []nvidiasmi.Row
	if err == nil {
		remap, lineErrs = nvidiasmi.ParseCSV(out.Stdout, gpuFieldNames(gpuRemapFields))
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
		ms = append(ms, gpuMetrics(remap, gpuRemapFields, "gpu_uuid", remapSrc, skips)...)
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
		}

		for _, f := range fields {
			if f.desc == nil || nvidiasmi.NoValue(row[f.name]) {
				continue
			}
			v, err := nvidiasmi.Number(row[f.name], f.flag)
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
		}
	}
	return ms
}
