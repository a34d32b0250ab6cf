// Package nvml reads NVIDIA GPUs through NVML, the driver's management
// library (libnvidia-ml.so.1), in-process: the library is initialised once
// and its device handles kept, so a reading costs a few library calls
// rather than an nvidia-smi run (7-20 ms of CPU with persistence mode, 1-10
// s without, since each run initialises the driver again).
//
// The library is loaded with dlopen through github.com/ebitengine/purego,
// only in binaries built with the nvml build tag: purego's dlopen makes a
// CGO_ENABLED=0 binary dynamically linked (it gains an ELF interpreter and
// needs libc at run time), which the static release binary and the FROM
// scratch image must not be. Without the tag, Open returns ErrNotBuilt and
// callers use nvidia-smi.
//
// A call into C cannot be recovered from when it faults, so the calls are
// few, typed, with buffers of the sizes the NVML headers name, and every
// return code is checked: a code this package does not expect is an error
// the caller should answer by closing the Reader and not using NVML again.
package nvml

import (
	"errors"
	"fmt"
)

// DefaultLibrary is the soname the driver installs; dlopen looks it up the
// way the dynamic linker does.
const DefaultLibrary = "libnvidia-ml.so.1"

// Return is an NVML return code (nvmlReturn_t).
type Return int32

// The return codes this package tells apart, from nvml.h.
const (
	Success              Return = 0
	ErrorUninitialized   Return = 1
	ErrorInvalidArgument Return = 2
	ErrorNotSupported    Return = 3
	ErrorNoPermission    Return = 4
	ErrorNotFound        Return = 6
	ErrorInsufficentSize Return = 7
	ErrorDriverNotLoaded Return = 9
	ErrorLibraryNotFound Return = 12
	ErrorFunctionNotFnd  Return = 13
	ErrorGPUIsLost       Return = 15
	ErrorResetRequired   Return = 16
	ErrorLibRMMismatch   Return = 18
	ErrorNoData          Return = 21
	ErrorGPUNotFound     Return = 28
	ErrorUnknown         Return = 999
)

var returnNames = map[Return]string{
	ErrorUninitialized:   "NVML_ERROR_UNINITIALIZED",
	ErrorInvalidArgument: "NVML_ERROR_INVALID_ARGUMENT",
	ErrorNotSupported:    "NVML_ERROR_NOT_SUPPORTED",
	ErrorNoPermission:    "NVML_ERROR_NO_PERMISSION",
	ErrorNotFound:        "NVML_ERROR_NOT_FOUND",
	ErrorInsufficentSize: "NVML_ERROR_INSUFFICIENT_SIZE",
	ErrorDriverNotLoaded: "NVML_ERROR_DRIVER_NOT_LOADED",
	ErrorLibraryNotFound: "NVML_ERROR_LIBRARY_NOT_FOUND",
	ErrorFunctionNotFnd:  "NVML_ERROR_FUNCTION_NOT_FOUND",
	ErrorGPUIsLost:       "NVML_ERROR_GPU_IS_LOST",
	ErrorResetRequired:   "NVML_ERROR_RESET_REQUIRED",
	ErrorLibRMMismatch:   "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
	ErrorNoData:          "NVML_ERROR_NO_DATA",
	ErrorGPUNotFound:     "NVML_ERROR_GPU_NOT_FOUND",
	ErrorUnknown:         "NVML_ERROR_UNKNOWN",
}

func (r Return) Error() string {
	if n, ok := returnNames[r]; ok {
		return n
	}
	return fmt.Sprintf("NVML error %d", int32(r))
}

var (
	// ErrNotBuilt: this binary was built without the nvml tag.
	ErrNotBuilt = errors.New("NVML support not built in (build tag nvml)")
	// ErrLibraryMissing: dlopen found no such library.
	ErrLibraryMissing = errors.New("NVML library not found")
	// ErrDeviceLost: a GPU fell off the bus, was reset, or the set of
	// GPUs changed since Open. The Reader is stale: Close it and Open
	// again (the next run) to see the GPUs there are now.
	ErrDeviceLost = errors.New("GPU lost or the set of GPUs changed")
)

// Value is a number NVML reported, in NVML's unit, or none (OK false) when
// the GPU does not support it or the caller may not read it.
type Value struct {
	V  uint64
	OK bool
}

// Device is one GPU's reading: the properties the gpu probe reads from
// nvidia-smi --query-gpu, in NVML's units. Strings are as the library
// wrote them (bounded by their buffers, not checked for UTF-8); empty when
// not supported.
type Device struct {
	Index        int
	UUID         string
	Name         string
	Serial       string
	PCIBusID     string // 00000000:17:00.0, as nvidia-smi prints pci.bus_id
	VBIOSVersion string

	Temperature       Value // °C (temperature.gpu)
	MemoryTemperature Value // °C (temperature.memory; HBM boards only)
	PowerUsage        Value // mW (power.draw)
	PowerLimit        Value // mW (power.limit)
	MemoryTotal       Value // bytes (memory.total)
	MemoryUsed        Value // bytes (memory.used)
	UtilizationGPU    Value // percent (utilization.gpu)
	UtilizationMemory Value // percent (utilization.memory)
	ClockSM           Value // MHz (clocks.sm)
	ClockMemory       Value // MHz (clocks.mem)
	PerformanceState  Value // 0 to 15 (pstate)
	FanSpeed          Value // percent (fan.speed)
	PCIeGenCurrent    Value // pcie.link.gen.current
	PCIeGenMax        Value // pcie.link.gen.max
	PCIeWidthCurrent  Value // pcie.link.width.current
	PCIeWidthMax      Value // pcie.link.width.max
	ECCModeCurrent    Value // 1 enabled, 0 disabled (ecc.mode.current)
	ECCModePending    Value // ecc.mode.pending
	ECCCorrected      Value // ecc.errors.corrected.aggregate.total
	ECCUncorrected    Value // ecc.errors.uncorrected.aggregate.total
	RetiredSingleBit  Value // retired_pages.single_bit_ecc.count
	RetiredDoubleBit  Value // retired_pages.double_bit.count
	RetiredPending    Value // 1 or 0 (retired_pages.pending)
	ClockEventReasons Value // bit mask, see ClockEventReasonBits
}

// Snapshot is one reading of every GPU.
type Snapshot struct {
	DriverVersion string
	Devices       []Device
}

// ClockEventReasonBits are the nvmlClocksEventReason* bits (nvml.h), by
// the names nvidia-smi gives them in clocks_event_reasons.*.
var ClockEventReasonBits = map[string]uint64{
	"gpu_idle":                    0x1,
	"applications_clocks_setting": 0x2,
	"sw_power_cap":                0x4,
	"hw_slowdown":                 0x8,
	"sync_boost":                  0x10,
	"sw_thermal_slowdown":         0x20,
	"hw_thermal_slowdown":         0x40,
	"hw_power_brake_slowdown":     0x80,
}
