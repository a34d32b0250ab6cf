package probe

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestThermalGolden(t *testing.T) { checkGolden(t, "thermal") }

// thermalTree is a laptop-like thermal class: an ACPI zone without hwmon
// and with all four kinds of trip point, an x86_pkg_temp zone with its
// thresholds unprogrammed, a fan and idle intel_powerclamp.
func thermalTree() map[string]string {
	const v = "sys/devices/virtual/thermal/"
	files := map[string]string{
		v + "thermal_zone0/type":              "acpitz\n",
		v + "thermal_zone0/temp":              "45000\n",
		v + "thermal_zone0/trip_point_0_temp": "105000\n",
		v + "thermal_zone0/trip_point_0_type": "critical\n",
		v + "thermal_zone0/trip_point_1_temp": "100000\n",
		v + "thermal_zone0/trip_point_1_type": "hot\n",
		v + "thermal_zone0/trip_point_2_temp": "95000\n",
		v + "thermal_zone0/trip_point_2_type": "passive\n",
		v + "thermal_zone0/trip_point_3_temp": "60000\n",
		v + "thermal_zone0/trip_point_3_type": "active\n",

		v + "thermal_zone1/type":              "x86_pkg_temp\n",
		v + "thermal_zone1/temp":              "52000\n",
		v + "thermal_zone1/trip_point_0_temp": "-274000\n",
		v + "thermal_zone1/trip_point_0_type": "passive\n",
		v + "thermal_zone1/trip_point_1_temp": "-274000\n",
		v + "thermal_zone1/trip_point_1_type": "passive\n",

		v + "cooling_device0/type":      "Fan\n",
		v + "cooling_device0/cur_state": "1\n",
		v + "cooling_device0/max_state": "1\n",
		v + "cooling_device1/type":      "intel_powerclamp\n",
		v + "cooling_device1/cur_state": "-1\n",
		v + "cooling_device1/max_state": "50\n",
	}
	for _, n := range []string{"thermal_zone0", "thermal_zone1", "cooling_device0", "cooling_device1"} {
		files["sys/class/thermal/"+n] = "-> ../../devices/virtual/thermal/" + n
	}
	return files
}

// thermalTreeSeries is what thermalTree exports.
func thermalTreeSeries() map[string]float64 {
	return map[string]float64{
		`hardware_thermal_zone_temperature_celsius{type="acpitz",zone="thermal_zone0"}`:                              45,
		`hardware_thermal_zone_trip_point_celsius{trip="0",trip_type="critical",type="acpitz",zone="thermal_zone0"}`: 105,
		`hardware_thermal_zone_trip_point_celsius{trip="1",trip_type="hot",type="acpitz",zone="thermal_zone0"}`:      100,
		`hardware_thermal_zone_trip_point_celsius{trip="2",trip_type="passive",type="acpitz",zone="thermal_zone0"}`:  95,
		`hardware_thermal_zone_trip_point_celsius{trip="3",trip_type="active",type="acpitz",zone="thermal_zone0"}`:   60,
		`hardware_thermal_zone_temperature_celsius{type="x86_pkg_temp",zone="thermal_zone1"}`:                        52,
		`hardware_thermal_cooling_device_state{device="cooling_device0",type="Fan"}`:                                 1,
		`hardware_thermal_cooling_device_max_state{device="cooling_device0",type="Fan"}`:                             1,
		`hardware_thermal_cooling_device_state{device="cooling_device1",type="intel_powerclamp"}`:                    0,
		`hardware_thermal_cooling_device_max_state{device="cooling_device1",type="intel_powerclamp"}`:                50,
	}
}

// Trip points are exported with their kind; unprogrammed ones
// (THERMAL_TEMP_INVALID) are not; idle intel_powerclamp (-1) reads as 0.
func TestThermalTree(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, thermalTree())
	c, skips := runProbe(t, "thermal", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_thermal_", thermalTreeSeries())
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// A VM has no thermal class, or one with nothing in it.
func TestThermalNone(t *testing.T) {
	for _, files := range []map[string]string{
		{"sys/kernel/.keep": ""},
		{"sys/class/thermal/.keep": ""},
	} {
		root := t.TempDir()
		plantTree(t, root, files)
		c, skips := runProbe(t, "thermal", treePaths(root))
		if len(c.metrics) != 0 || skips.Count() != 0 {
			t.Errorf("got %d metrics, %d skips; want none", len(c.metrics), skips.Count())
		}
	}
}

// A zone with an hwmon subdirectory is the hwmon probe's.
func TestThermalZoneWithHwmon(t *testing.T) {
	files := thermalTree()
	dir := "sys/devices/virtual/thermal/thermal_zone0/hwmon2/"
	files[dir+"name"] = "acpitz\n"
	files[dir+"temp1_input"] = "45000\n"
	files[dir+"device"] = "-> ../../thermal_zone0"
	root := t.TempDir()
	plantTree(t, root, files)
	c, skips := runProbe(t, "thermal", treePaths(root))
	want := thermalTreeSeries()
	for k := range want {
		if strings.Contains(k, `zone="thermal_zone0"`) {
			delete(want, k)
		}
	}
	assertSeries(t, gatherSeries(t, c), "hardware_thermal_", want)
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// An unreadable or malformed input costs its series and nothing else.
func TestThermalBadInput(t *testing.T) {
	const v = "sys/devices/virtual/thermal/"
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, root string)
		lost   []string
		skips  int
	}{
		{
			// Reading a directory fails as an ACPI zone answering EIO does.
			name:   "zone temp unreadable",
			break_: func(t *testing.T, root string) { replaceWithDir(t, filepath.Join(root, v+"thermal_zone0/temp")) },
			lost:   []string{`hardware_thermal_zone_temperature_celsius{type="acpitz",zone="thermal_zone0"}`},
			skips:  1,
		},
		{
			name: "trip temp malformed",
			break_: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, v+"thermal_zone0/trip_point_1_temp"), "hot\n")
			},
			lost:  []string{`hardware_thermal_zone_trip_point_celsius{trip="1",trip_type="hot",type="acpitz",zone="thermal_zone0"}`},
			skips: 1,
		},
		{
			name: "cooling state malformed",
			break_: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, v+"cooling_device0/cur_state"), "on\n")
			},
			lost:  []string{`hardware_thermal_cooling_device_state{device="cooling_device0",type="Fan"}`},
			skips: 1,
		},
		{
			// Only -1 is the kernel's "not clamping".
			name: "cooling state negative",
			break_: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, v+"cooling_device1/cur_state"), "-2\n")
			},
			lost:  []string{`hardware_thermal_cooling_device_state{device="cooling_device1",type="intel_powerclamp"}`},
			skips: 1,
		},
		{
			name: "max state unreadable",
			break_: func(t *testing.T, root string) {
				replaceWithDir(t, filepath.Join(root, v+"cooling_device1/max_state"))
			},
			lost:  []string{`hardware_thermal_cooling_device_max_state{device="cooling_device1",type="intel_powerclamp"}`},
			skips: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			plantTree(t, root, thermalTree())
			tc.break_(t, root)
			c, skips := runProbe(t, "thermal", treePaths(root))
			want := thermalTreeSeries()
			for _, l := range tc.lost {
				if _, ok := want[l]; !ok {
					t.Fatalf("test case loses %s, which the tree never has", l)
				}
				delete(want, l)
			}
			assertSeries(t, gatherSeries(t, c), "hardware_thermal_", want)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
		})
	}
}
