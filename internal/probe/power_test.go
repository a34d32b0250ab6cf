package probe

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPowerGolden(t *testing.T) { checkGolden(t, "power") }

// A VM has none of power_supply, power_meter or powercap.
func TestPowerNone(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, map[string]string{"sys/kernel/.keep": ""})
	c, skips := runProbe(t, "power", treePaths(root))
	if len(c.metrics) != 0 || skips.Count() != 0 {
		t.Errorf("got %d metrics, %d skips; want none", len(c.metrics), skips.Count())
	}
}

// powerSupplyTree has the kinds of supply a server-ish box shows: the ACPI
// mains adapter, a USB UPS seen by hid-input (present, online and model
// only), and two smart batteries whose drivers report health.
func powerSupplyTree() map[string]string {
	const (
		acpi = "sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0003:00/power_supply/AC/"
		ups  = "sys/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4:1.0/0003:051D:0002.0001/power_supply/hid-3B1234X56789-battery/"
		sbs  = "sys/devices/pci0000:00/0000:00:1f.4/i2c-7/7-000b/power_supply/sbs-7-000b/"
		bq   = "sys/devices/pci0000:00/0000:00:15.1/i2c_designware.1/i2c-1/1-0055/power_supply/bq27421-0/"
	)
	return map[string]string{
		acpi + "type":               "Mains\n",
		acpi + "online":             "1\n",
		"sys/class/power_supply/AC": "-> ../../devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0003:00/power_supply/AC",

		ups + "type":       "Battery\n",
		ups + "present":    "1\n",
		ups + "online":     "1\n",
		ups + "model_name": "Back-UPS XS 1500G FW:947.d10 .D USB FW:d10\n",
		ups + "scope":      "Device\n",
		"sys/class/power_supply/hid-3B1234X56789-battery": "-> ../../devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4:1.0/0003:051D:0002.0001/power_supply/hid-3B1234X56789-battery",

		sbs + "type":                        "Battery\n",
		sbs + "present":                     "1\n",
		sbs + "health":                      "Good\n",
		sbs + "manufacturer":                "SMP\n",
		sbs + "model_name":                  "L19M4PD0\n",
		sbs + "serial_number":               "1a2f\n",
		"sys/class/power_supply/sbs-7-000b": "-> ../../devices/pci0000:00/0000:00:1f.4/i2c-7/7-000b/power_supply/sbs-7-000b",

		bq + "type":                        "Battery\n",
		bq + "present":                     "1\n",
		bq + "health":                      "Overheat\n",
		bq + "manufacturer":                "Texas Instruments\n",
		"sys/class/power_supply/bq27421-0": "-> ../../devices/pci0000:00/0000:00:15.1/i2c_designware.1/i2c-1/1-0055/power_supply/bq27421-0",
	}
}

func powerSupplySeries() map[string]float64 {
	return map[string]float64{
		`hardware_power_supply_info{manufacturer="",model="",serial="",supply="AC",type="Mains"}`: 1,
		`hardware_power_supply_online{supply="AC"}`:                                               1,
		`hardware_power_supply_info{manufacturer="",model="Back-UPS XS 1500G FW:947.d10 .D USB FW:d10",serial="",supply="hid-3B1234X56789-battery",type="Battery"}`: 1,
		`hardware_power_supply_present{supply="hid-3B1234X56789-battery"}`:                                                                                          1,
		`hardware_power_supply_online{supply="hid-3B1234X56789-battery"}`:                                                                                           1,
		`hardware_power_supply_info{manufacturer="SMP",model="L19M4PD0",serial="1a2f",supply="sbs-7-000b",type="Battery"}`:                                          1,
		`hardware_power_supply_present{supply="sbs-7-000b"}`:                                                                                                        1,
		`hardware_power_supply_health{health="Good",supply="sbs-7-000b"}`:                                                                                           1,
		`hardware_power_supply_info{manufacturer="Texas Instruments",model="",serial="",supply="bq27421-0",type="Battery"}`:                                         1,
		`hardware_power_supply_present{supply="bq27421-0"}`:                                                                                                         1,
		`hardware_power_supply_health{health="Overheat",supply="bq27421-0"}`:                                                                                        1,
	}
}

func TestPowerSupplies(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, powerSupplyTree())
	c, skips := runProbe(t, "power", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_power_", powerSupplySeries())
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// A malformed or unreadable supply attribute costs its series only.
func TestPowerSupplyBadInput(t *testing.T) {
	const bq = "sys/devices/pci0000:00/0000:00:15.1/i2c_designware.1/i2c-1/1-0055/power_supply/bq27421-0/"
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, root string)
		lost   string
	}{
		{"present malformed", func(t *testing.T, root string) { writeFile(t, filepath.Join(root, bq+"present"), "yes\n") },
			`hardware_power_supply_present{supply="bq27421-0"}`},
		{"health unreadable", func(t *testing.T, root string) { replaceWithDir(t, filepath.Join(root, bq+"health")) },
			`hardware_power_supply_health{health="Overheat",supply="bq27421-0"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			plantTree(t, root, powerSupplyTree())
			tc.break_(t, root)
			c, skips := runProbe(t, "power", treePaths(root))
			want := powerSupplySeries()
			if _, ok := want[tc.lost]; !ok {
				t.Fatalf("test case loses %s, which the tree never has", tc.lost)
			}
			delete(want, tc.lost)
			assertSeries(t, gatherSeries(t, c), "hardware_power_", want)
			if skips.Count() != 1 {
				t.Errorf("skips = %d, want 1", skips.Count())
			}
		})
	}
}

// powerMeterTree is an ACPI power meter bound to its driver; attrs are the
// meter's attribute files.
func powerMeterTree(attrs map[string]string) map[string]string {
	const dev = "sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:00/"
	files := map[string]string{
		"sys/bus/acpi/drivers/power_meter/ACPI000D:00": "-> ../../../../devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:00",
		"sys/bus/acpi/drivers/power_meter/uevent":      "",
		dev + "name": "power_meter\n",
	}
	for k, v := range attrs {
		files[dev+k] = v
	}
	return files
}

func TestPowerMeter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		want  map[string]float64
		skips int
	}{
		{
			name:  "with cap",
			attrs: map[string]string{"power1_average": "212000000\n", "power1_cap": "750000000\n"},
			want: map[string]float64{
				`hardware_power_meter_watts{meter="ACPI000D:00"}`:     212,
				`hardware_power_meter_cap_watts{meter="ACPI000D:00"}`: 750,
			},
		},
		{
			// Capping is optional: most firmware does not offer it, and the
			// kernel creates no power1_cap file then.
			name:  "missing cap",
			attrs: map[string]string{"power1_average": "212000000\n"},
			want:  map[string]float64{`hardware_power_meter_watts{meter="ACPI000D:00"}`: 212},
		},
		{
			name:  "malformed average",
			attrs: map[string]string{"power1_average": "unknown\n", "power1_cap": "750000000\n"},
			want:  map[string]float64{`hardware_power_meter_cap_watts{meter="ACPI000D:00"}`: 750},
			skips: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			plantTree(t, root, powerMeterTree(tc.attrs))
			c, skips := runProbe(t, "power", treePaths(root))
			assertSeries(t, gatherSeries(t, c), "hardware_power_", tc.want)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
		})
	}
}

// powerRAPLTree is a client laptop's powercap class: one package with
// core, uncore and dram subzones, psys, and the MMIO interface repeating
// package-0.
func powerRAPLTree() map[string]string {
	const v = "sys/devices/virtual/powercap/"
	files := map[string]string{}
	zone := func(path, name, energy string) {
		files[v+path+"/name"] = name + "\n"
		files[v+path+"/energy_uj"] = energy + "\n"
		files[v+path+"/max_energy_range_uj"] = "262143328850\n"
		files["sys/class/powercap/"+filepath.Base(path)] = "-> ../../devices/virtual/powercap/" + path
	}
	files[v+"intel-rapl/enabled"] = "1\n"
	files["sys/class/powercap/intel-rapl"] = "-> ../../devices/virtual/powercap/intel-rapl"
	zone("intel-rapl/intel-rapl:0", "package-0", "14328765432")
	zone("intel-rapl/intel-rapl:0/intel-rapl:0:0", "core", "8328765432")
	zone("intel-rapl/intel-rapl:0/intel-rapl:0:1", "uncore", "228765432")
	zone("intel-rapl/intel-rapl:0/intel-rapl:0:2", "dram", "1328765432")
	zone("intel-rapl/intel-rapl:1", "psys", "24328765432")
	files[v+"intel-rapl-mmio/enabled"] = "1\n"
	files["sys/class/powercap/intel-rapl-mmio"] = "-> ../../devices/virtual/powercap/intel-rapl-mmio"
	zone("intel-rapl-mmio/intel-rapl-mmio:0", "package-0", "0")
	return files
}

func powerRAPLSeries() map[string]float64 {
	return map[string]float64{
		`hardware_power_rapl_energy_joules_total{zone="package-0"}`:        14328.765432,
		`hardware_power_rapl_energy_joules_total{zone="package-0-core"}`:   8328.765432,
		`hardware_power_rapl_energy_joules_total{zone="package-0-uncore"}`: 228.765432,
		`hardware_power_rapl_energy_joules_total{zone="package-0-dram"}`:   1328.765432,
		`hardware_power_rapl_energy_joules_total{zone="psys"}`:             24328.765432,
	}
}

func TestPowerRAPL(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, powerRAPLTree())
	c, skips := runProbe(t, "power", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_power_", powerRAPLSeries())
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// A RAPL zone that cannot be read or labelled costs that zone only. Whether
// it counts as a skip depends on why: permission denied is the normal answer
// to a non-root exporter (energy_uj is 0400 since CVE-2020-8694) and is not
// counted; anything else is.
func TestPowerRAPLBadInput(t *testing.T) {
	const v = "sys/devices/virtual/powercap/intel-rapl/"
	for _, tc := range []struct {
		name      string
		break_    func(t *testing.T, root string)
		lost      []string
		skips     int
		needsUser bool
	}{
		{
			name: "energy malformed",
			break_: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, v+"intel-rapl:0/intel-rapl:0:2/energy_uj"), "-1\n")
			},
			lost:  []string{`hardware_power_rapl_energy_joules_total{zone="package-0-dram"}`},
			skips: 1,
		},
		{
			// Fails for root too (EISDIR), so this runs under any uid.
			name: "energy unreadable",
			break_: func(t *testing.T, root string) {
				replaceWithDir(t, filepath.Join(root, v+"intel-rapl:0/energy_uj"))
			},
			lost:  []string{`hardware_power_rapl_energy_joules_total{zone="package-0"}`},
			skips: 1,
		},
		{
			name: "energy root-only",
			break_: func(t *testing.T, root string) {
				for _, z := range []string{"intel-rapl:0", "intel-rapl:0/intel-rapl:0:0", "intel-rapl:0/intel-rapl:0:1", "intel-rapl:0/intel-rapl:0:2", "intel-rapl:1"} {
					if err := os.Chmod(filepath.Join(root, v+z+"/energy_uj"), 0); err != nil {
						t.Fatal(err)
					}
				}
			},
			lost: []string{
				`hardware_power_rapl_energy_joules_total{zone="package-0"}`,
				`hardware_power_rapl_energy_joules_total{zone="package-0-core"}`,
				`hardware_power_rapl_energy_joules_total{zone="package-0-uncore"}`,
				`hardware_power_rapl_energy_joules_total{zone="package-0-dram"}`,
				`hardware_power_rapl_energy_joules_total{zone="psys"}`,
			},
			skips:     0,
			needsUser: true,
		},
		{
			// Without the package's name its subzones have no unique label.
			name: "package name unreadable",
			break_: func(t *testing.T, root string) {
				replaceWithDir(t, filepath.Join(root, v+"intel-rapl:0/name"))
			},
			lost: []string{
				`hardware_power_rapl_energy_joules_total{zone="package-0"}`,
				`hardware_power_rapl_energy_joules_total{zone="package-0-core"}`,
				`hardware_power_rapl_energy_joules_total{zone="package-0-uncore"}`,
				`hardware_power_rapl_energy_joules_total{zone="package-0-dram"}`,
			},
			skips: 1,
		},
		{
			// Two zones with one label would be a duplicate series, which
			// fails the whole scrape: the second is dropped.
			name: "duplicate name",
			break_: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, v+"intel-rapl:1/name"), "package-0\n")
			},
			lost:  []string{`hardware_power_rapl_energy_joules_total{zone="psys"}`},
			skips: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsUser && os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			root := t.TempDir()
			plantTree(t, root, powerRAPLTree())
			tc.break_(t, root)
			c, skips := runProbe(t, "power", treePaths(root))
			want := powerRAPLSeries()
			for _, l := range tc.lost {
				if _, ok := want[l]; !ok {
					t.Fatalf("test case loses %s, which the tree never has", l)
				}
				delete(want, l)
			}
			assertSeries(t, gatherSeries(t, c), "hardware_power_", want)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
		})
	}
}
