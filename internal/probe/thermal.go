package probe

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	thermalZoneTemperature = withNote(newDesc("thermal", "zone_temperature_celsius",
		"Temperature of the thermal zone (/sys/class/thermal/thermal_zoneN/temp), for zones hwmon does not already export.", "zone", "type"),
		"Zones with an hwmonN subdirectory (acpitz and others the thermal core registers with hwmon) are left to hardware_hwmon_temperature_celsius and not exported here.")
	thermalZoneTripPoint = withNote(newDesc("thermal", "zone_trip_point_celsius",
		"Temperature at which the thermal zone's trip point fires (trip_point_K_temp); trip_type is what the kernel does then (active, passive, hot or critical).", "zone", "type", "trip", "trip_type"),
		"active: run fans, passive: throttle, hot: notify, critical: shut down. Disabled trip points are not exported.")
	thermalCoolingState = newDesc("thermal", "cooling_device_state",
		"Current cooling state of the cooling device (cur_state), 0 for none up to hardware_thermal_cooling_device_max_state. intel_powerclamp reads -1 while it injects no idle time, exported as 0.",
		"device", "type")
	thermalCoolingMaxState = newDesc("thermal", "cooling_device_max_state",
		"Highest cooling state of the cooling device (max_state).",
		"device", "type")
)

// thermalTempInvalid is THERMAL_TEMP_INVALID: what the kernel reports for a
// zone with no reading yet and for a trip point that is not programmed
// (x86_pkg_temp reads -274000 for both of its trip points until thermald or
// the firmware sets a threshold). It is a "no value", not a temperature.
const thermalTempInvalid = -274000

func init() {
	Register(Spec{
		Name:      "thermal",
		Summary:   "Thermal zones and cooling devices that hwmon does not already show.",
		Reads:     "`/sys/class/thermal` zones (temperature, trip points) that have no hwmon twin, and cooling devices; temperatures and cooling states are re-read from descriptors kept open, the zones listed each run, the rest every 60 runs",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		New:       func() Probe { return &thermalProbe{} },
	})
}

// thermalProbe reports the kernel's thermal zones and cooling devices.
//
// It reads sysfs itself rather than through procfs' ClassThermalZoneStats and
// ClassCoolingDeviceStats (v0.23.0): ClassThermalZoneStats folds a failed
// temp read into one joined error with the zone's other files and leaves
// Temp at 0, so the caller cannot tell a failed zone from a 0 °C one, and it
// neither reads trip points nor says which zones hwmon already exports;
// ClassCoolingDeviceStats fails the whole list when one device's state does
// not parse, where a bad device must cost only its own series.
//
// It keeps the zones' layout between runs (layout.go): the zone
// temperatures and cooling states are re-read, the zones listed each run,
// the rest every layoutEvery runs.
type thermalProbe struct{ layout keptLayout }

// Close closes the descriptors the probe keeps.
func (p *thermalProbe) Close() { p.layout.close() }

func (*thermalProbe) Describe(ch chan<- *prometheus.Desc) {
	ch <- thermalZoneTemperature
	ch <- thermalZoneTripPoint
	ch <- thermalCoolingState
	ch <- thermalCoolingMaxState
}

func (p *thermalProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	return p.layout.run(ctx, env, skips, func(b *layoutBuilder) error { return thermalDiscover(ctx, env, b) })
}

func thermalDiscover(ctx context.Context, env Env, b *layoutBuilder) error {
	class := env.Sys("class/thermal")
	b.watch(class, nil)
	for _, zone := range class.indexed("thermal_zone") {
		if err := ctx.Err(); err != nil {
			return err
		}
		thermalZone(b, class.sub(zone), zone)
	}
	for _, dev := range class.indexed("cooling_device") {
		if err := ctx.Err(); err != nil {
			return err
		}
		thermalCoolingDevice(b, class.sub(dev), dev)
	}
	// A host with no thermal zones still runs the loops above zero times.
	return ctx.Err()
}

// thermalZone lays out one thermal_zoneN. An unreadable temp (ACPI zones
// answer EIO or ENODATA when the firmware method fails) costs that series
// only; the zone's trip points are still exported.
func thermalZone(b *layoutBuilder, a attrs, zone string) {
	// The thermal core registers most zones with hwmon too (hwmonN below the
	// zone, temp1_input and temp1_crit): those are the hwmon probe's, and
	// exporting them twice would double-count them in any sum or alert.
	if len(a.numbered("hwmon", "")) > 0 {
		return
	}
	typ, _ := a.String("type")
	typ = labelValue(typ)

	g := b.group()
	b.value(g, a, "temp", thermalTemp, thermalZoneTemperature, prometheus.GaugeValue, zone, typ)
	for _, trip := range a.numbered("trip_point_", "_temp") {
		n := strconv.FormatUint(trip.n, 10)
		v, ok := a.Int(trip.name)
		if !ok || v == thermalTempInvalid {
			continue
		}
		// A trip point without its type is not a kernel layout; without
		// it the series would change labels once the type reads again.
		tripType, ok := a.String("trip_point_" + n + "_type")
		if !ok {
			continue
		}
		g.add(constMetric(thermalZoneTripPoint, prometheus.GaugeValue, float64(v)/1000, zone, typ, n, labelValue(tripType)))
	}
}

// thermalTemp parses a zone's temp, in millidegrees; THERMAL_TEMP_INVALID
// is no value.
func thermalTemp(s string) (float64, bool, error) {
	v, ok, err := parseIntDiv(1)(s)
	if !ok || v == thermalTempInvalid {
		return 0, false, err
	}
	return v / 1000, true, nil
}

// thermalCoolingDevice lays out one cooling_deviceN.
func thermalCoolingDevice(b *layoutBuilder, a attrs, dev string) {
	typ, _ := a.String("type")
	typ = labelValue(typ)

	g := b.group()
	b.value(g, a, "cur_state", thermalCoolingCurState, thermalCoolingState, prometheus.GaugeValue, dev, typ)
	if v, ok := a.Uint("max_state"); ok {
		g.add(constMetric(thermalCoolingMaxState, prometheus.GaugeValue, float64(v), dev, typ))
	}
}

// thermalCoolingCurState parses cur_state.
func thermalCoolingCurState(s string) (float64, bool, error) {
	v, ok, err := parseIntDiv(1)(s)
	switch {
	case !ok:
		return 0, false, err
	case v == -1:
		// intel_powerclamp: "not clamping" (Documentation/driver-api/thermal/
		// intel_powerclamp.rst), which is what state 0 means for every other
		// cooling device. Exporting 0 keeps the series continuous while
		// powerclamp comes and goes.
		return 0, true, nil
	case v < 0:
		return 0, false, fmt.Errorf("negative cooling state %d", int64(v))
	}
	return v, true, nil
}
