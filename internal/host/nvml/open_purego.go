//go:build nvml && linux

package nvml

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
)

// Built reports whether this binary can load NVML at all.
const Built = true

// Sizes of the buffers nvml.h names (NVML_*_BUFFER_SIZE, the _V2 ones
// where there are two): the library writes at most this many bytes,
// NUL included.
const (
	nameSize   = 96
	uuidSize   = 96
	serialSize = 30
	vbiosSize  = 32
	driverSize = 80
)

// Enumerations from nvml.h, as the calls below pass them.
const (
	temperatureGPU    = 0  // NVML_TEMPERATURE_GPU
	clockSM           = 1  // NVML_CLOCK_SM
	clockMem          = 2  // NVML_CLOCK_MEM
	eccCorrected      = 0  // NVML_MEMORY_ERROR_TYPE_CORRECTED
	eccUncorrected    = 1  // NVML_MEMORY_ERROR_TYPE_UNCORRECTED
	eccAggregate      = 1  // NVML_AGGREGATE_ECC
	retiredSingleBit  = 0  // NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS
	retiredDoubleBit  = 1  // NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR
	fieldMemoryTemp   = 82 // NVML_FI_DEV_MEMORY_TEMP
	valueTypeSignedLL = 4  // NVML_VALUE_TYPE_SIGNED_LONG_LONG
	valueTypeSignedI  = 5  // NVML_VALUE_TYPE_SIGNED_INT
)

// pciInfo is nvmlPciInfo_t.
type pciInfo struct {
	BusIDLegacy    [16]byte
	Domain         uint32
	Bus            uint32
	Device         uint32
	PCIDeviceID    uint32
	PCISubSystemID uint32
	BusID          [32]byte
}

// memoryV1 is nvmlMemory_t; memoryV2 is nvmlMemory_v2_t, whose used
// leaves out the memory the driver reserves, as nvidia-smi's memory.used
// has since driver 510.
type memoryV1 struct{ Total, Free, Used uint64 }
type memoryV2 struct {
	Version  uint32
	_        uint32
	Total    uint64
	Reserved uint64
	Free     uint64
	Used     uint64
}

// memoryV2Version is nvmlMemory_v2 (NVML_STRUCT_VERSION(Memory, 2)).
const memoryV2Version = 40 | 2<<24

type utilization struct{ GPU, Memory uint32 }

// fieldValue is nvmlFieldValue_t.
type fieldValue struct {
	FieldID     uint32
	ScopeID     uint32
	Timestamp   int64
	LatencyUsec int64
	ValueType   int32
	Return      int32
	Value       [8]byte
}

type (
	devFn     func(dev uintptr, v *uint32) Return
	devStrFn  func(dev uintptr, buf *byte, n uint32) Return
	devEnumFn func(dev uintptr, which int32, v *uint32) Return
)

// lib holds the functions of one loaded libnvidia-ml. Required ones are
// never nil; an optional one is nil when this driver lacks it, and its
// values are then absent.
type lib struct {
	init          func() Return
	shutdown      func() Return
	count         func(n *uint32) Return
	handle        func(i uint32, dev *uintptr) Return
	uuid          devStrFn
	driverVersion func(buf *byte, n uint32) Return

	name, serial, vbios devStrFn
	pci                 func(dev uintptr, p *pciInfo) Return
	temperature, clock  devEnumFn
	fieldValues         func(dev uintptr, n int32, v *fieldValue) Return
	power, powerLimit   devFn
	memoryV2            func(dev uintptr, m *memoryV2) Return
	memoryV1            func(dev uintptr, m *memoryV1) Return
	utilization         func(dev uintptr, u *utilization) Return
	pstate              func(dev uintptr, p *int32) Return
	fan                 devFn
	genCur, genMax      devFn
	widthCur, widthMax  devFn
	eccMode             func(dev uintptr, cur, pending *int32) Return
	eccErrors           func(dev uintptr, typ, counter int32, v *uint64) Return
	retired             func(dev uintptr, cause int32, n *uint32, addrs *uint64) Return
	retiredPending      func(dev uintptr, pending *int32) Return
	clockEventReasons   func(dev uintptr, mask *uint64) Return
}

// load dlopens path and looks up the functions. The library is never
// closed: NVML starts threads of its own, and unloading code a thread may
// still run is a crash; dlopen counts references, so loading the same
// library again after a Close costs nothing.
func load(path string) (*lib, error) {
	if path == "" {
		path = DefaultLibrary
	}
	// dlerror's text is per thread: keep dlopen and purego's dlerror on one,
	// or the reason logged may be empty.
	runtime.LockOSThread()
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	runtime.UnlockOSThread()
	if err != nil {
		if isNotFound(path, err) {
			return nil, fmt.Errorf("%w: %v", ErrLibraryMissing, err)
		}
		return nil, fmt.Errorf("dlopen %s: %v", path, err)
	}
	l := &lib{}
	var missing []string
	sym := func(fptr any, required bool, names ...string) {
		for _, n := range names {
			if addr, err := purego.Dlsym(h, n); err == nil && addr != 0 {
				purego.RegisterFunc(fptr, addr)
				return
			}
		}
		if required {
			missing = append(missing, names[0])
		}
	}
	sym(&l.init, true, "nvmlInit_v2")
	sym(&l.shutdown, true, "nvmlShutdown")
	sym(&l.count, true, "nvmlDeviceGetCount_v2")
	sym(&l.handle, true, "nvmlDeviceGetHandleByIndex_v2")
	sym(&l.uuid, true, "nvmlDeviceGetUUID")
	sym(&l.driverVersion, true, "nvmlSystemGetDriverVersion")
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s is not an NVML library this exporter can use: it lacks %v", path, missing)
	}
	sym(&l.name, false, "nvmlDeviceGetName")
	sym(&l.serial, false, "nvmlDeviceGetSerial")
	sym(&l.vbios, false, "nvmlDeviceGetVbiosVersion")
	sym(&l.pci, false, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2")
	sym(&l.temperature, false, "nvmlDeviceGetTemperature")
	sym(&l.clock, false, "nvmlDeviceGetClockInfo")
	sym(&l.fieldValues, false, "nvmlDeviceGetFieldValues")
	sym(&l.power, false, "nvmlDeviceGetPowerUsage")
	sym(&l.powerLimit, false, "nvmlDeviceGetPowerManagementLimit")
	sym(&l.memoryV2, false, "nvmlDeviceGetMemoryInfo_v2")
	sym(&l.memoryV1, false, "nvmlDeviceGetMemoryInfo")
	sym(&l.utilization, false, "nvmlDeviceGetUtilizationRates")
	sym(&l.pstate, false, "nvmlDeviceGetPerformanceState")
	sym(&l.fan, false, "nvmlDeviceGetFanSpeed")
	sym(&l.genCur, false, "nvmlDeviceGetCurrPcieLinkGeneration")
	sym(&l.genMax, false, "nvmlDeviceGetMaxPcieLinkGeneration")
	sym(&l.widthCur, false, "nvmlDeviceGetCurrPcieLinkWidth")
	sym(&l.widthMax, false, "nvmlDeviceGetMaxPcieLinkWidth")
	sym(&l.eccMode, false, "nvmlDeviceGetEccMode")
	sym(&l.eccErrors, false, "nvmlDeviceGetTotalEccErrors")
	sym(&l.retired, false, "nvmlDeviceGetRetiredPages")
	sym(&l.retiredPending, false, "nvmlDeviceGetRetiredPagesPendingStatus")
	// Renamed in driver 535; the old name stays exported.
	sym(&l.clockEventReasons, false, "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")
	return l, nil
}

// absent reports whether a device call's code says only that this value
// does not exist here (nvidia-smi prints [N/A] or [Not Supported] for it).
func absent(r Return) bool {
	return r == ErrorNotSupported || r == ErrorNoPermission || r == ErrorNoData || r == ErrorFunctionNotFnd
}

// lost reports whether a code says the GPU is gone or needs a reset.
func lost(r Return) bool {
	return r == ErrorGPUIsLost || r == ErrorGPUNotFound || r == ErrorResetRequired
}

// isNotFound reports whether dlopen failed because there is no such file
// (rather than a file that is not a library, or one of another machine).
// For a bare soname, looked up the dynamic linker's way, any failure is
// taken as absence: dlerror's text is not always there to tell (it came
// back empty in the daemon, read on another thread than dlopen ran on),
// and a host whose libnvidia-ml.so.1 is present but broken has nvidia-smi
// fail just the same.
func isNotFound(path string, err error) bool {
	if strings.Contains(path, "/") {
		_, serr := os.Stat(path)
		return errors.Is(serr, os.ErrNotExist)
	}
	return true
}

// Reader is an initialised NVML with the handles of the GPUs it found.
// It is not safe for concurrent use.
type Reader struct {
	l       *lib
	handles []uintptr
	snap    Snapshot // identity filled at Open; values on each Read
	buf     [nameSize]byte
	closed  bool
}

// Open loads the library at path (DefaultLibrary when empty), initialises
// NVML and keeps a handle of every GPU with its identity (UUID, name,
// serial, PCI address, VBIOS and driver versions: they cannot change while
// a handle is valid).
func Open(path string) (*Reader, error) {
	l, err := load(path)
	if err != nil {
		return nil, err
	}
	if r := l.init(); r != Success {
		return nil, fmt.Errorf("nvmlInit_v2: %w", r)
	}
	rd := &Reader{l: l}
	if err := rd.discover(); err != nil {
		rd.Close()
		return nil, err
	}
	return rd, nil
}

func (rd *Reader) discover() error {
	l := rd.l
	var n uint32
	if r := l.count(&n); r != Success {
		return fmt.Errorf("nvmlDeviceGetCount_v2: %w", r)
	}
	const maxGPUs = 64 // more than any host has; bounds what a bad library can make us keep
	if n > maxGPUs {
		return fmt.Errorf("nvmlDeviceGetCount_v2: %d GPUs, more than %d", n, maxGPUs)
	}
	s, err := rd.str("nvmlSystemGetDriverVersion", driverSize, func(b *byte, n uint32) Return { return l.driverVersion(b, n) })
	if err != nil {
		return err
	}
	rd.snap.DriverVersion = s
	for i := range n {
		var h uintptr
		if r := l.handle(i, &h); r != Success {
			return fmt.Errorf("nvmlDeviceGetHandleByIndex_v2(%d): %w", i, classify(r))
		}
		d := Device{Index: int(i)}
		strs := []struct {
			fn   devStrFn
			name string
			size uint32
			dst  *string
		}{
			{l.uuid, "nvmlDeviceGetUUID", uuidSize, &d.UUID},
			{l.name, "nvmlDeviceGetName", nameSize, &d.Name},
			{l.serial, "nvmlDeviceGetSerial", serialSize, &d.Serial},
			{l.vbios, "nvmlDeviceGetVbiosVersion", vbiosSize, &d.VBIOSVersion},
		}
		for _, s := range strs {
			if s.fn == nil {
				continue
			}
			v, err := rd.str(s.name, s.size, func(b *byte, n uint32) Return { return s.fn(h, b, n) })
			if err != nil {
				return err
			}
			*s.dst = v
		}
		if l.pci != nil {
			var p pciInfo
			switch r := l.pci(h, &p); {
			case r == Success:
				d.PCIBusID = cstring(p.BusID[:])
			case !absent(r):
				return fmt.Errorf("nvmlDeviceGetPciInfo: %w", classify(r))
			}
		}
		rd.handles = append(rd.handles, h)
		rd.snap.Devices = append(rd.snap.Devices, d)
	}
	return nil
}

// str calls a function that writes a NUL-terminated string of at most size
// bytes into a buffer, and returns it; "" when the value is absent.
func (rd *Reader) str(name string, size uint32, fn func(*byte, uint32) Return) (string, error) {
	clear(rd.buf[:])
	switch r := fn(&rd.buf[0], size); {
	case r == Success:
		return cstring(rd.buf[:size]), nil
	case absent(r):
		return "", nil
	default:
		return "", fmt.Errorf("%s: %w", name, classify(r))
	}
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// classify wraps a code that says the GPU is gone in ErrDeviceLost.
func classify(r Return) error {
	if lost(r) {
		return fmt.Errorf("%w: %w", ErrDeviceLost, r)
	}
	return r
}

// Close shuts NVML down; the Reader is of no use after. Safe to call twice.
func (rd *Reader) Close() error {
	if rd.closed {
		return nil
	}
	rd.closed = true
	if r := rd.l.shutdown(); r != Success {
		return fmt.Errorf("nvmlShutdown: %w", r)
	}
	return nil
}

// Read reads every GPU's values. The Snapshot shares its Devices with the
// Reader and is valid until the next Read. An error wrapping ErrDeviceLost
// means the Reader is stale (a GPU is gone, or the count changed): Close
// and Open again. Any other error is a code this package does not expect.
func (rd *Reader) Read() (*Snapshot, error) {
	if rd.closed {
		return nil, errors.New("nvml: Read after Close")
	}
	var n uint32
	if r := rd.l.count(&n); r != Success {
		return nil, fmt.Errorf("nvmlDeviceGetCount_v2: %w", classify(r))
	}
	if int(n) != len(rd.handles) {
		return nil, fmt.Errorf("%w: %d GPUs at Open, %d now", ErrDeviceLost, len(rd.handles), n)
	}
	for i, h := range rd.handles {
		if err := rd.readDevice(h, &rd.snap.Devices[i]); err != nil {
			return nil, fmt.Errorf("GPU %d (%s): %w", i, rd.snap.Devices[i].UUID, err)
		}
	}
	return &rd.snap, nil
}

// reading collects one device's values; the first unexpected code stops it.
type reading struct {
	err error
}

// set stores a call's result in v: the value on success, none when the
// code says the value is absent, and the first other code as the error.
func (rd *reading) set(name string, r Return, v *Value, x uint64) {
	*v = Value{}
	switch {
	case r == Success:
		*v = Value{V: x, OK: true}
	case absent(r):
	case rd.err == nil:
		rd.err = fmt.Errorf("%s: %w", name, classify(r))
	}
}

func (rd *Reader) readDevice(h uintptr, d *Device) error {
	l := rd.l
	var g reading
	u32 := func(name string, fn devFn, v *Value) {
		*v = Value{}
		if fn != nil {
			var x uint32
			g.set(name, fn(h, &x), v, uint64(x))
		}
	}
	enum := func(name string, fn devEnumFn, which int32, v *Value) {
		*v = Value{}
		if fn != nil {
			var x uint32
			g.set(name, fn(h, which, &x), v, uint64(x))
		}
	}
	enum("nvmlDeviceGetTemperature", l.temperature, temperatureGPU, &d.Temperature)
	d.MemoryTemperature = Value{}
	if l.fieldValues != nil {
		fv := fieldValue{FieldID: fieldMemoryTemp}
		switch r := l.fieldValues(h, 1, &fv); {
		case r != Success:
			g.set("nvmlDeviceGetFieldValues", r, &d.MemoryTemperature, 0)
		case Return(fv.Return) == Success:
			if x, ok := fieldUint(fv); ok {
				d.MemoryTemperature = Value{V: x, OK: true}
			}
		default:
			g.set("nvmlDeviceGetFieldValues(NVML_FI_DEV_MEMORY_TEMP)", Return(fv.Return), &d.MemoryTemperature, 0)
		}
	}
	u32("nvmlDeviceGetPowerUsage", l.power, &d.PowerUsage)
	u32("nvmlDeviceGetPowerManagementLimit", l.powerLimit, &d.PowerLimit)
	d.MemoryTotal, d.MemoryUsed = Value{}, Value{}
	switch {
	case l.memoryV2 != nil:
		m := memoryV2{Version: memoryV2Version}
		r := l.memoryV2(h, &m)
		g.set("nvmlDeviceGetMemoryInfo_v2", r, &d.MemoryTotal, m.Total)
		g.set("nvmlDeviceGetMemoryInfo_v2", r, &d.MemoryUsed, m.Used)
	case l.memoryV1 != nil:
		var m memoryV1
		r := l.memoryV1(h, &m)
		g.set("nvmlDeviceGetMemoryInfo", r, &d.MemoryTotal, m.Total)
		g.set("nvmlDeviceGetMemoryInfo", r, &d.MemoryUsed, m.Used)
	}
	d.UtilizationGPU, d.UtilizationMemory = Value{}, Value{}
	if l.utilization != nil {
		var u utilization
		r := l.utilization(h, &u)
		g.set("nvmlDeviceGetUtilizationRates", r, &d.UtilizationGPU, uint64(u.GPU))
		g.set("nvmlDeviceGetUtilizationRates", r, &d.UtilizationMemory, uint64(u.Memory))
	}
	enum("nvmlDeviceGetClockInfo", l.clock, clockSM, &d.ClockSM)
	enum("nvmlDeviceGetClockInfo", l.clock, clockMem, &d.ClockMemory)
	d.PerformanceState = Value{}
	if l.pstate != nil {
		var p int32
		r := l.pstate(h, &p)
		if r == Success && (p < 0 || p > 15) { // NVML_PSTATE_UNKNOWN: nvidia-smi prints [Unknown]
			r = ErrorNoData
		}
		g.set("nvmlDeviceGetPerformanceState", r, &d.PerformanceState, uint64(p))
	}
	u32("nvmlDeviceGetFanSpeed", l.fan, &d.FanSpeed)
	u32("nvmlDeviceGetCurrPcieLinkGeneration", l.genCur, &d.PCIeGenCurrent)
	u32("nvmlDeviceGetMaxPcieLinkGeneration", l.genMax, &d.PCIeGenMax)
	u32("nvmlDeviceGetCurrPcieLinkWidth", l.widthCur, &d.PCIeWidthCurrent)
	u32("nvmlDeviceGetMaxPcieLinkWidth", l.widthMax, &d.PCIeWidthMax)
	d.ECCModeCurrent, d.ECCModePending = Value{}, Value{}
	if l.eccMode != nil {
		var cur, pend int32
		r := l.eccMode(h, &cur, &pend)
		g.set("nvmlDeviceGetEccMode", r, &d.ECCModeCurrent, flag(cur))
		g.set("nvmlDeviceGetEccMode", r, &d.ECCModePending, flag(pend))
	}
	d.ECCCorrected, d.ECCUncorrected = Value{}, Value{}
	if l.eccErrors != nil {
		var c, u uint64
		g.set("nvmlDeviceGetTotalEccErrors", l.eccErrors(h, eccCorrected, eccAggregate, &c), &d.ECCCorrected, c)
		g.set("nvmlDeviceGetTotalEccErrors", l.eccErrors(h, eccUncorrected, eccAggregate, &u), &d.ECCUncorrected, u)
	}
	d.RetiredSingleBit, d.RetiredDoubleBit = Value{}, Value{}
	if l.retired != nil {
		for _, c := range []struct {
			cause int32
			v     *Value
		}{{retiredSingleBit, &d.RetiredSingleBit}, {retiredDoubleBit, &d.RetiredDoubleBit}} {
			// A count of 0 and no buffer asks for the count only; the
			// library answers INSUFFICIENT_SIZE when there are pages.
			var n uint32
			r := l.retired(h, c.cause, &n, nil)
			if r == ErrorInsufficentSize {
				r = Success
			}
			g.set("nvmlDeviceGetRetiredPages", r, c.v, uint64(n))
		}
	}
	d.RetiredPending = Value{}
	if l.retiredPending != nil {
		var p int32
		g.set("nvmlDeviceGetRetiredPagesPendingStatus", l.retiredPending(h, &p), &d.RetiredPending, flag(p))
	}
	d.ClockEventReasons = Value{}
	if l.clockEventReasons != nil {
		var m uint64
		g.set("nvmlDeviceGetCurrentClocksEventReasons", l.clockEventReasons(h, &m), &d.ClockEventReasons, m)
	}
	return g.err
}

// flag is an nvmlEnableState_t as 1 or 0.
func flag(v int32) uint64 {
	if v != 0 {
		return 1
	}
	return 0
}

// fieldUint reads a field value that is a whole number of at least 0.
func fieldUint(fv fieldValue) (uint64, bool) {
	b := fv.Value
	u := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	switch fv.ValueType {
	case 1, 5: // NVML_VALUE_TYPE_UNSIGNED_INT, SIGNED_INT: 32 bits
		u &= 0xffffffff
		if fv.ValueType == valueTypeSignedI && int32(u) < 0 {
			return 0, false
		}
		return u, true
	case 2, 3: // UNSIGNED_LONG, UNSIGNED_LONG_LONG
		return u, true
	case valueTypeSignedLL:
		return u, int64(u) >= 0
	}
	return 0, false // a double or a type this package does not know
}
