//go:build nvml && linux

package nvml_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/host/nvml"
	"github.com/hardware-exporter/hardware_exporter/internal/host/nvml/nvmltest"
)

func v(x uint64) nvml.Value { return nvml.Value{V: x, OK: true} }

// fixtureGPU is the fake library's GPU: the fixture host's A100 as
// internal/probe/testdata/tools/nvidia-smi.d/query-gpu.csv and
// query-gpu-identity.csv print it.
var fixtureGPU = nvml.Device{
	Index: 0, UUID: "GPU-3f5a7c2e-9b41-8d06-1e7f-5c2a9d4b8e13", Name: "NVIDIA A100-PCIE-40GB",
	Serial: "1321021034318", PCIBusID: "00000000:17:00.0", VBIOSVersion: "92.00.25.00.08",
	Temperature: v(31), MemoryTemperature: v(36), PowerUsage: v(34520), PowerLimit: v(250000),
	MemoryTotal: v(40960 << 20), MemoryUsed: v(4 << 20), UtilizationGPU: v(0), UtilizationMemory: v(0),
	ClockSM: v(210), ClockMemory: v(1215), PerformanceState: v(0),
	PCIeGenCurrent: v(4), PCIeGenMax: v(4), PCIeWidthCurrent: v(16), PCIeWidthMax: v(16),
	ECCModeCurrent: v(1), ECCModePending: v(1), ECCCorrected: v(3), ECCUncorrected: v(0),
	ClockEventReasons: v(1),
}

func open(t *testing.T, f *nvmltest.Fake) *nvml.Reader {
	t.Helper()
	r, err := nvml.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestReadFake(t *testing.T) {
	f := nvmltest.Build(t)
	r := open(t, f)
	for range 2 { // the second Read reuses the handles: NVML is initialised once
		s, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if s.DriverVersion != "535.183.01" {
			t.Errorf("driver %q", s.DriverVersion)
		}
		if len(s.Devices) != 1 || !reflect.DeepEqual(s.Devices[0], fixtureGPU) {
			t.Errorf("devices:\n got %+v\nwant %+v", s.Devices, fixtureGPU)
		}
	}
	if f.Inits() != 1 {
		t.Errorf("nvmlInit_v2 called %d times, want 1", f.Inits())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if f.Initialised() != 0 {
		t.Errorf("after Close NVML is still initialised")
	}
	if _, err := r.Read(); err == nil {
		t.Error("Read after Close succeeded")
	}
}

// Page retirement (pre-Ampere): the count comes from the size query.
func TestReadRetiredPages(t *testing.T) {
	f := nvmltest.Build(t)
	f.SetRetiredPages(2)
	s, err := open(t, f).Read()
	if err != nil {
		t.Fatal(err)
	}
	d := s.Devices[0]
	if d.RetiredSingleBit != v(2) || d.RetiredDoubleBit != v(0) || d.RetiredPending != v(0) {
		t.Errorf("retired pages: single %v double %v pending %v", d.RetiredSingleBit, d.RetiredDoubleBit, d.RetiredPending)
	}
}

func TestOpenFails(t *testing.T) {
	notNVML := filepath.Join(t.TempDir(), "other.c")
	if err := os.WriteFile(notNVML, []byte("int other(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notLib := filepath.Join(t.TempDir(), "garbage.so")
	if err := os.WriteFile(notLib, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   func(t *testing.T) string
		is     error
		errHas string
	}{
		{name: "absent", path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "libnvidia-ml.so.1") }, is: nvml.ErrLibraryMissing},
		// A bare soname is looked up the dynamic linker's way; no host has this one.
		{name: "absent soname", path: func(*testing.T) string { return "libhardware-exporter-test-absent.so.1" }, is: nvml.ErrLibraryMissing},
		{name: "not a library", path: func(*testing.T) string { return notLib }, errHas: "dlopen"},
		{name: "not NVML", path: func(t *testing.T) string {
			out := filepath.Join(t.TempDir(), "libother.so")
			nvmltest.Compile(t, notNVML, out)
			return out
		}, errHas: "lacks [nvmlInit_v2"},
		{name: "driver not loaded", path: func(t *testing.T) string {
			f := nvmltest.Build(t)
			f.SetInitReturn(9)
			return f.Path
		}, is: nvml.ErrorDriverNotLoaded},
		{name: "driver/library mismatch", path: func(t *testing.T) string {
			f := nvmltest.Build(t)
			f.SetInitReturn(18)
			return f.Path
		}, is: nvml.ErrorLibRMMismatch, errHas: "NVML_ERROR_LIB_RM_VERSION_MISMATCH"},
		{name: "GPU lost at open", path: func(t *testing.T) string {
			f := nvmltest.Build(t)
			f.SetDeviceReturn(15)
			return f.Path
		}, is: nvml.ErrDeviceLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := nvml.Open(tt.path(t))
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want one wrapping %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("err = %v, want one saying %q", err, tt.errHas)
			}
		})
	}
}

// A GPU that falls off the bus, or a change in the number of GPUs, makes
// the Reader stale; a new Open sees the GPUs there are now.
func TestReadDeviceLost(t *testing.T) {
	f := nvmltest.Build(t)
	r := open(t, f)
	f.SetDeviceReturn(15) // NVML_ERROR_GPU_IS_LOST
	if _, err := r.Read(); !errors.Is(err, nvml.ErrDeviceLost) || !errors.Is(err, nvml.ErrorGPUIsLost) {
		t.Fatalf("err = %v, want ErrDeviceLost wrapping NVML_ERROR_GPU_IS_LOST", err)
	}
	r.Close()
	f.SetDeviceReturn(0)
	f.SetCount(2)
	r = open(t, f)
	s, err := r.Read()
	if err != nil || len(s.Devices) != 2 || s.Devices[0].UUID == s.Devices[1].UUID {
		t.Fatalf("after re-open: %+v, %v", s, err)
	}
	f.SetCount(1)
	if _, err := r.Read(); !errors.Is(err, nvml.ErrDeviceLost) {
		t.Fatalf("count 2 -> 1: err = %v, want ErrDeviceLost", err)
	}
	r.Close()
	if f.Inits() != 2 || f.Initialised() != 0 {
		t.Errorf("inits %d, still initialised %d; want 2, 0", f.Inits(), f.Initialised())
	}
}

// A code this package does not expect is an error, not a missing value.
func TestReadUnexpectedCode(t *testing.T) {
	f := nvmltest.Build(t)
	r := open(t, f)
	f.SetTemperatureReturn(999)
	_, err := r.Read()
	if !errors.Is(err, nvml.ErrorUnknown) || errors.Is(err, nvml.ErrDeviceLost) || !strings.Contains(err.Error(), "nvmlDeviceGetTemperature") {
		t.Fatalf("err = %v, want NVML_ERROR_UNKNOWN from nvmlDeviceGetTemperature", err)
	}
	f.SetTemperatureReturn(3) // NOT_SUPPORTED: the value is absent, the rest read
	s, err := r.Read()
	if err != nil || s.Devices[0].Temperature.OK || !s.Devices[0].PowerUsage.OK {
		t.Fatalf("not supported: %+v, %v", s, err)
	}
}

func BenchmarkRead(b *testing.B) {
	f := nvmltest.Build(b)
	r, err := nvml.Open(f.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
