package probe

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/nvidiasmi"
	"github.com/hardware-exporter/hardware_exporter/internal/host/nvml"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// GPUNVML chooses how the gpu probe reads the per-minute properties
// (probes.gpu.nvml): auto (NVML when it loads, else nvidia-smi) or off.
type GPUNVML string

const (
	GPUNVMLAuto GPUNVML = "auto"
	GPUNVMLOff  GPUNVML = "off"
)

// UnmarshalYAML implements yaml.Unmarshaler.
func (m *GPUNVML) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want auto or off, got a %s", confval.KindName(n))
	}
	switch v := GPUNVML(n.Value); v {
	case GPUNVMLAuto, GPUNVMLOff:
		*m = v
		return nil
	}
	return fmt.Errorf("want auto or off, got %q", n.Value)
}

// gpuNVMLLibrary is the library the gpu probe loads. The probe's tests
// point it at a file that does not exist, so that no test can load the
// host's libnvidia-ml by forgetting to name the fake one.
var gpuNVMLLibrary = nvml.DefaultLibrary

// gpuNVML is the gpu probe's NVML state. NVML is opened on the first run
// and kept open; a lost GPU (or a change in their number) closes it, that
// run reads through nvidia-smi, and the next opens NVML again. An error
// that says NVML cannot work here (no library, not built in, driver and
// library of different versions, an unexpected return code) turns it off
// for the life of the probe with its reason logged once, and nvidia-smi
// reads everything, as it did before NVML.
type gpuNVML struct {
	library string // dlopen path; "" is gpuNVMLLibrary
	r       *nvml.Reader
	off     error // why NVML is not used; nil while it may be
	reopens int   // times a lost GPU made NVML open again
	opened  bool  // NVML opened once: said so in the log
}

// read reads every GPU through NVML. ok false: use nvidia-smi this run.
func (n *gpuNVML) read(env Env, mode GPUNVML, skips *Skips) (ms []prometheus.Metric, rows []nvidiasmi.Row, ok bool) {
	if mode == GPUNVMLOff || n.off != nil {
		n.close(env.logger())
		return nil, nil, false
	}
	log := env.logger()
	if n.r == nil {
		lib := n.library
		if lib == "" {
			lib = gpuNVMLLibrary
		}
		r, err := nvml.Open(lib)
		if err != nil {
			n.failed(log, err)
			return nil, nil, false
		}
		n.r = r
		if !n.opened {
			n.opened = true
			log.Info("reading GPUs through NVML; nvidia-smi only for remapped rows and NVLink errors", "library", lib)
		}
	}
	snap, err := n.r.Read()
	if err != nil {
		n.close(log)
		n.failed(log, err)
		return nil, nil, false
	}
	if len(snap.Devices) == 0 {
		return nil, nil, false // nvidia-smi says why there is no GPU
	}
	ms, rows = gpuNVMLMetrics(snap, "nvml", skips)
	return ms, rows, true
}

// failed decides what an NVML error means for the next runs.
func (n *gpuNVML) failed(log *slog.Logger, err error) {
	switch {
	case errors.Is(err, nvml.ErrDeviceLost):
		n.reopens++
		log.Warn("a GPU was lost or the set of GPUs changed; reading through nvidia-smi this run, NVML opens again on the next", "err", err, "reopens", n.reopens)
		return
	case errors.Is(err, nvml.ErrNotBuilt), errors.Is(err, nvml.ErrLibraryMissing):
		log.Info("NVML not used; reading GPUs through nvidia-smi", "reason", err)
	case errors.Is(err, nvml.ErrorLibRMMismatch):
		log.Warn("NVML not used: the loaded NVIDIA driver and libnvidia-ml are of different versions (driver upgraded without a reboot?); reading GPUs through nvidia-smi", "reason", err)
	default:
		log.Warn("NVML not used after an error; reading GPUs through nvidia-smi", "reason", err)
	}
	n.off = err
}

func (n *gpuNVML) close(log *slog.Logger) {
	if n.r == nil {
		return
	}
	if err := n.r.Close(); err != nil {
		log.Debug("closing NVML", "err", err)
	}
	n.r = nil
}

// gpuNVMLMetrics exports an NVML reading as gpuMetrics exports nvidia-smi's
// --query-gpu rows: the same fields (gpuQueryFields: descriptors, labels,
// scales, alternatives) fed with NVML's values in nvidia-smi's units, so
// the series are the same whichever path read them. rows carry each GPU's
// index and uuid.
func gpuNVMLMetrics(snap *nvml.Snapshot, src string, skips *Skips) ([]prometheus.Metric, []nvidiasmi.Row) {
	var ms []prometheus.Metric
	var rows []nvidiasmi.Row
	seen := map[string]bool{}
	type series struct {
		desc  *prometheus.Desc
		label string
	}
	done := map[series]bool{}
	for i := range snap.Devices {
		d := &snap.Devices[i]
		if d.UUID == "" {
			skips.Add(src, fmt.Errorf("GPU %d without a UUID", d.Index))
			continue
		}
		uuid := labelValue(d.UUID)
		if seen[uuid] {
			skips.Add(src, fmt.Errorf("GPU %s listed twice", uuid))
			continue
		}
		seen[uuid] = true
		index := strconv.Itoa(d.Index)
		rows = append(rows, nvidiasmi.Row{"index": index, "uuid": d.UUID})
		ms = append(ms, constMetric(gpuInfo, prometheus.GaugeValue, 1,
			uuid, index, labelValue(d.Name), labelValue(d.Serial), nvidiasmi.KernelBusID(labelValue(d.PCIBusID)),
			labelValue(snap.DriverVersion), labelValue(d.VBIOSVersion)))
		ms = append(ms, nvidiaFirmware(nvidiasmi.KernelBusID(labelValue(d.PCIBusID)), labelValue(d.Name),
			labelValue(d.VBIOSVersion), labelValue(snap.DriverVersion))...)
		clear(done)
		for _, f := range gpuQueryFields {
			if f.desc == nil || done[series{f.desc, f.label}] {
				continue
			}
			v, ok := gpuNVMLValue(d, f.name)
			if !ok {
				continue
			}
			if f.scale != 0 {
				v *= f.scale
			}
			if f.label != "" {
				ms = append(ms, constMetric(f.desc, f.vt, v, uuid, f.label))
			} else {
				ms = append(ms, constMetric(f.desc, f.vt, v, uuid))
			}
			done[series{f.desc, f.label}] = true
		}
	}
	return ms, rows
}

// gpuNVMLValue is NVML's value of an nvidia-smi --query-gpu property, in
// the unit nvidia-smi prints it (W, MiB, %, MHz; flags 1 or 0), so that
// the field's scale applies as it does to nvidia-smi's output. Properties
// NVML does not give here (power.draw.instant and .average: power.draw
// is the same reading) are not ok.
func gpuNVMLValue(d *nvml.Device, property string) (float64, bool) {
	var v nvml.Value
	switch property {
	case "temperature.gpu":
		v = d.Temperature
	case "temperature.memory":
		v = d.MemoryTemperature
	case "power.draw":
		return float64(d.PowerUsage.V) / 1000, d.PowerUsage.OK
	case "power.limit":
		return float64(d.PowerLimit.V) / 1000, d.PowerLimit.OK
	case "memory.total":
		return float64(d.MemoryTotal.V) / gpuMiB, d.MemoryTotal.OK
	case "memory.used":
		return float64(d.MemoryUsed.V) / gpuMiB, d.MemoryUsed.OK
	case "utilization.gpu":
		v = d.UtilizationGPU
	case "utilization.memory":
		v = d.UtilizationMemory
	case "clocks.sm":
		v = d.ClockSM
	case "clocks.mem":
		v = d.ClockMemory
	case "pstate":
		v = d.PerformanceState
	case "fan.speed":
		v = d.FanSpeed
	case "pcie.link.gen.current":
		v = d.PCIeGenCurrent
	case "pcie.link.gen.max":
		v = d.PCIeGenMax
	case "pcie.link.width.current":
		v = d.PCIeWidthCurrent
	case "pcie.link.width.max":
		v = d.PCIeWidthMax
	case "ecc.mode.current":
		v = d.ECCModeCurrent
	case "ecc.mode.pending":
		v = d.ECCModePending
	case "ecc.errors.corrected.aggregate.total":
		v = d.ECCCorrected
	case "ecc.errors.uncorrected.aggregate.total":
		v = d.ECCUncorrected
	case "retired_pages.single_bit_ecc.count":
		v = d.RetiredSingleBit
	case "retired_pages.double_bit.count":
		v = d.RetiredDoubleBit
	case "retired_pages.pending":
		v = d.RetiredPending
	default:
		reason, ok := strings.CutPrefix(property, "clocks_event_reasons.")
		if !ok {
			reason, ok = strings.CutPrefix(property, "clocks_throttle_reasons.")
		}
		bit := nvml.ClockEventReasonBits[reason]
		if !ok || bit == 0 || !d.ClockEventReasons.OK {
			return 0, false
		}
		if d.ClockEventReasons.V&bit != 0 {
			return 1, true
		}
		return 0, true
	}
	return float64(v.V), v.OK
}
