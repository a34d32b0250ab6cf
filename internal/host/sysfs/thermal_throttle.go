package sysfs

import (
	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// ThermalThrottle is what devices/system/cpu/cpuN/thermal_throttle says of
// one core or one package (x86 only: the kernel's therm_throt.c;
// Documentation/ABI/testing/sysfs-devices-system-cpu). Every thread of a
// core shows the same core counters and every thread of a package the same
// package counters, so a caller reads each core and package through one of
// its threads. A counter whose file is missing (the _total_time_ms files
// came in Linux 5.5; AMD has no thermal_throttle at all) has its Has flag
// false.
type ThermalThrottle struct {
	Count    uint64 // <scope>_throttle_count: times it went over its limit (PROCHOT)
	HasCount bool
	TimeMs   uint64 // <scope>_throttle_total_time_ms
	HasTime  bool
}

// Thermal throttle scopes: the file name prefixes.
const (
	ThrottleCore    = "core"
	ThrottlePackage = "package"
)

// ReadThermalThrottle reads the scope's (ThrottleCore or ThrottlePackage)
// counters in devices/system/cpu/<cpu>/thermal_throttle.
func ReadThermalThrottle(fsys hostfs.FS, cpu, scope string) (ThermalThrottle, []Error) {
	var errs []Error
	d := dir{fs: fsys, name: "devices/system/cpu/" + cpu + "/thermal_throttle", errs: &errs}
	var t ThermalThrottle
	t.Count, t.HasCount = d.Uint(scope + "_throttle_count")
	t.TimeMs, t.HasTime = d.Uint(scope + "_throttle_total_time_ms")
	return t, errs
}
