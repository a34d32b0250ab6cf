package sysfs

import (
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// node_exporter's capture: counts, no total times (an older kernel).
func TestReadThermalThrottleNodeExporter(t *testing.T) {
	fsys := hostfs.New("testdata/nodeexporter")
	for _, tc := range []struct {
		cpu, scope string
		want       ThermalThrottle
	}{
		{"cpu0", ThrottleCore, ThermalThrottle{Count: 5, HasCount: true}},
		{"cpu0", ThrottlePackage, ThermalThrottle{Count: 30, HasCount: true}},
		{"cpu3", ThrottleCore, ThermalThrottle{Count: 9, HasCount: true}},
		{"cpu3", ThrottlePackage, ThermalThrottle{Count: 6, HasCount: true}},
	} {
		got, errs := ReadThermalThrottle(fsys, tc.cpu, tc.scope)
		if got != tc.want || len(errs) != 0 {
			t.Errorf("%s %s = %+v, %v; want %+v", tc.cpu, tc.scope, got, errs, tc.want)
		}
	}
}

// Total times in ms; a garbled count is an error costing that field.
func TestReadThermalThrottleBad(t *testing.T) {
	root := t.TempDir()
	th := "devices/system/cpu/cpu0/thermal_throttle/"
	plant(t, root, map[string]string{
		th + "core_throttle_count":            "garbage\n",
		th + "core_throttle_total_time_ms":    "1500\n",
		th + "package_throttle_count":         "4\n",
		th + "package_throttle_total_time_ms": "250\n",
	})
	fsys := hostfs.New(root)
	if got, errs := ReadThermalThrottle(fsys, "cpu0", ThrottleCore); got != (ThermalThrottle{TimeMs: 1500, HasTime: true}) || len(errs) != 1 {
		t.Errorf("core = %+v, %v; want the time and one error", got, errs)
	}
	if got, errs := ReadThermalThrottle(fsys, "cpu0", ThrottlePackage); got != (ThermalThrottle{Count: 4, HasCount: true, TimeMs: 250, HasTime: true}) || len(errs) != 0 {
		t.Errorf("package = %+v, %v", got, errs)
	}
	// AMD: no thermal_throttle directory at all.
	if got, errs := ReadThermalThrottle(fsys, "cpu1", ThrottlePackage); got != (ThermalThrottle{}) || len(errs) != 0 {
		t.Errorf("cpu1 = %+v, %v; want nothing", got, errs)
	}
}
