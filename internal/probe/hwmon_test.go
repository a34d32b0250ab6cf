package probe

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

func TestHwmonGolden(t *testing.T) { checkGolden(t, "hwmon") }

// A VM has no hwmon class at all, or an empty one.
func TestHwmonNone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
	}{
		{"no class", map[string]string{"sys/kernel/.keep": ""}},
		{"empty class", map[string]string{"sys/class/hwmon/.keep": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			plantTree(t, root, tc.files)
			c, skips := runProbe(t, "hwmon", treePaths(root))
			if len(c.metrics) != 0 || skips.Count() != 0 {
				t.Errorf("got %d metrics, %d skips; want none", len(c.metrics), skips.Count())
			}
		})
	}
}

// coretempChip is a coretemp chip as modern kernels lay it out, hwmon is
// where the kernel numbered it this boot.
func coretempChip(files map[string]string, platformDev, hwmon string) {
	dir := "sys/devices/platform/" + platformDev + "/hwmon/" + hwmon + "/"
	files[dir+"name"] = "coretemp\n"
	files[dir+"temp1_label"] = "Package id 0\n"
	files[dir+"temp1_input"] = "45000\n"
	files[dir+"temp1_crit"] = "100000\n"
	files[dir+"temp2_label"] = "Core 0\n"
	files[dir+"temp2_input"] = "43000\n"
	files[dir+"device"] = "-> ../../../" + platformDev
	files["sys/class/hwmon/"+hwmon] = "-> ../../devices/platform/" + platformDev + "/hwmon/" + hwmon
}

// An unreadable or malformed reading costs that series and nothing else.
func TestHwmonBadReading(t *testing.T) {
	dir := "sys/devices/platform/coretemp.0/hwmon/hwmon1/"
	for _, tc := range []struct {
		name   string
		mutate func(files map[string]string)
		lost   string
		skips  int
	}{
		{"garbage input", func(f map[string]string) { f[dir+"temp2_input"] = "garbage\n" },
			`hardware_hwmon_temperature_celsius{chip="platform_coretemp_0",label="Core 0",sensor="temp2"}`, 1},
		// attrs reads an empty file as absent, so it is not counted.
		{"empty input", func(f map[string]string) { f[dir+"temp1_input"] = "\n" },
			`hardware_hwmon_temperature_celsius{chip="platform_coretemp_0",label="Package id 0",sensor="temp1"}`, 0},
		// Reading a directory fails as a sensor answering EIO or ENODATA does.
		{"read fails", func(f map[string]string) { delete(f, dir+"temp1_crit"); f[dir+"temp1_crit/x"] = "" },
			`hardware_hwmon_temperature_crit_celsius{chip="platform_coretemp_0",label="Package id 0",sensor="temp1"}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			coretempChip(files, "coretemp.0", "hwmon1")
			tc.mutate(files)
			root := t.TempDir()
			plantTree(t, root, files)
			c, skips := runProbe(t, "hwmon", treePaths(root))
			want := map[string]float64{
				`hardware_hwmon_chip_info{chip="platform_coretemp_0",chip_name="coretemp"}`:                               1,
				`hardware_hwmon_temperature_celsius{chip="platform_coretemp_0",label="Package id 0",sensor="temp1"}`:      45,
				`hardware_hwmon_temperature_crit_celsius{chip="platform_coretemp_0",label="Package id 0",sensor="temp1"}`: 100,
				`hardware_hwmon_temperature_celsius{chip="platform_coretemp_0",label="Core 0",sensor="temp2"}`:            43,
			}
			if _, ok := want[tc.lost]; !ok {
				t.Fatalf("test case loses %s, which the tree never has", tc.lost)
			}
			delete(want, tc.lost)
			assertSeries(t, gatherSeries(t, c), "hardware_hwmon_", want)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
		})
	}
}

// hwmonN is numbered in driver load order, which changes between boots; the
// output must not.
func TestHwmonRenumbering(t *testing.T) {
	render := func(numbers [2]string) []byte {
		files := map[string]string{}
		coretempChip(files, "coretemp.0", numbers[0])
		coretempChip(files, "coretemp.1", numbers[1])
		root := t.TempDir()
		plantTree(t, root, files)
		c, skips := runProbe(t, "hwmon", treePaths(root))
		if skips.Count() != 0 {
			t.Errorf("skips = %d, want 0", skips.Count())
		}
		return exposition(t, c)
	}
	a := render([2]string{"hwmon1", "hwmon2"})
	b := render([2]string{"hwmon7", "hwmon0"})
	if !bytes.Equal(a, b) {
		t.Errorf("output depends on hwmon numbering:\n%s\nvs\n%s", a, b)
	}
	if !bytes.Contains(a, []byte(`chip="platform_coretemp_1"`)) {
		t.Errorf("second package missing:\n%s", a)
	}
}

// Chip ids come from the device, so the same driver on two devices yields
// distinct series; chips with no device at all fall back to hwmonN rather
// than collide.
func TestHwmonChipIDs(t *testing.T) {
	const pci = "sys/devices/pci0000:00/"
	files := map[string]string{
		// Two k10temp on PCI functions of two dies.
		pci + "0000:00:18.3/hwmon/hwmon1/name":        "k10temp\n",
		pci + "0000:00:18.3/hwmon/hwmon1/temp1_input": "51000\n",
		pci + "0000:00:18.3/hwmon/hwmon1/temp1_label": "Tctl\n",
		pci + "0000:00:18.3/hwmon/hwmon1/device":      "-> ../../../0000:00:18.3",
		"sys/class/hwmon/hwmon1":                      "-> ../../devices/pci0000:00/0000:00:18.3/hwmon/hwmon1",
		pci + "0000:00:19.3/hwmon/hwmon2/name":        "k10temp\n",
		pci + "0000:00:19.3/hwmon/hwmon2/temp1_input": "49000\n",
		pci + "0000:00:19.3/hwmon/hwmon2/temp1_label": "Tctl\n",
		pci + "0000:00:19.3/hwmon/hwmon2/device":      "-> ../../../0000:00:19.3",
		"sys/class/hwmon/hwmon2":                      "-> ../../devices/pci0000:00/0000:00:19.3/hwmon/hwmon2",
		// NVMe: hwmon hangs off the nvme0 class device, numbered in probe
		// order; the id must come from the PCI function instead.
		pci + "0000:00:01.1/0000:01:00.0/nvme/nvme0/hwmon3/name":        "nvme\n",
		pci + "0000:00:01.1/0000:01:00.0/nvme/nvme0/hwmon3/temp1_input": "38850\n",
		pci + "0000:00:01.1/0000:01:00.0/nvme/nvme0/hwmon3/temp1_label": "Composite\n",
		pci + "0000:00:01.1/0000:01:00.0/nvme/nvme0/hwmon3/device":      "-> ../../nvme0",
		pci + "0000:00:01.1/0000:01:00.0/nvme/nvme0/subsystem":          "-> ../../../../../../class/nvme",
		"sys/class/nvme/nvme0":   "-> ../../devices/pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0",
		"sys/class/hwmon/hwmon3": "-> ../../devices/pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0/hwmon3",
		// ACPI thermal zone: a class device with no bus device behind it.
		"sys/devices/virtual/thermal/thermal_zone0/hwmon4/name":        "acpitz\n",
		"sys/devices/virtual/thermal/thermal_zone0/hwmon4/temp1_input": "27800\n",
		"sys/devices/virtual/thermal/thermal_zone0/hwmon4/device":      "-> ../../thermal_zone0",
		"sys/devices/virtual/thermal/thermal_zone0/subsystem":          "-> ../../../../class/thermal",
		"sys/class/hwmon/hwmon4":                                       "-> ../../devices/virtual/thermal/thermal_zone0/hwmon4",
		// ACPI power meter: only averages.
		"sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:00/hwmon/hwmon5/name":           "power_meter\n",
		"sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:00/hwmon/hwmon5/power1_average": "212000000\n",
		"sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:00/hwmon/hwmon5/device":         "-> ../../../ACPI000D:00",
		"sys/class/hwmon/hwmon5": "-> ../../devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:00/hwmon/hwmon5",
		// Two chips without a device and with the same name.
		"sys/devices/virtual/hwmon/hwmon6/name":        "dell_smm\n",
		"sys/devices/virtual/hwmon/hwmon6/fan1_input":  "1200\n",
		"sys/devices/virtual/hwmon/hwmon7/name":        "dell_smm\n",
		"sys/devices/virtual/hwmon/hwmon7/fan1_input":  "1300\n",
		"sys/devices/virtual/hwmon/hwmon8/name":        "jc42\n",
		"sys/devices/virtual/hwmon/hwmon8/temp1_input": "30000\n",
		"sys/class/hwmon/hwmon6":                       "-> ../../devices/virtual/hwmon/hwmon6",
		"sys/class/hwmon/hwmon7":                       "-> ../../devices/virtual/hwmon/hwmon7",
		"sys/class/hwmon/hwmon8":                       "-> ../../devices/virtual/hwmon/hwmon8",
	}
	root := t.TempDir()
	plantTree(t, root, files)
	c, skips := runProbe(t, "hwmon", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_hwmon_", map[string]float64{
		`hardware_hwmon_chip_info{chip="pci0000:00_0000:00:18_3",chip_name="k10temp"}`:                          1,
		`hardware_hwmon_temperature_celsius{chip="pci0000:00_0000:00:18_3",label="Tctl",sensor="temp1"}`:        51,
		`hardware_hwmon_chip_info{chip="pci0000:00_0000:00:19_3",chip_name="k10temp"}`:                          1,
		`hardware_hwmon_temperature_celsius{chip="pci0000:00_0000:00:19_3",label="Tctl",sensor="temp1"}`:        49,
		`hardware_hwmon_chip_info{chip="0000:00:01_1_0000:01:00_0",chip_name="nvme"}`:                           1,
		`hardware_hwmon_temperature_celsius{chip="0000:00:01_1_0000:01:00_0",label="Composite",sensor="temp1"}`: 38.85,
		`hardware_hwmon_chip_info{chip="thermal_thermal_zone0",chip_name="acpitz"}`:                             1,
		`hardware_hwmon_temperature_celsius{chip="thermal_thermal_zone0",label="",sensor="temp1"}`:              27.8,
		`hardware_hwmon_chip_info{chip="lnxsybus:00_acpi000d:00",chip_name="power_meter"}`:                      1,
		`hardware_hwmon_power_watts{chip="lnxsybus:00_acpi000d:00",label="",sensor="power1"}`:                   212,
		`hardware_hwmon_chip_info{chip="dell_smm_hwmon6",chip_name="dell_smm"}`:                                 1,
		`hardware_hwmon_fan_rpm{chip="dell_smm_hwmon6",label="",sensor="fan1"}`:                                 1200,
		`hardware_hwmon_chip_info{chip="dell_smm_hwmon7",chip_name="dell_smm"}`:                                 1,
		`hardware_hwmon_fan_rpm{chip="dell_smm_hwmon7",label="",sensor="fan1"}`:                                 1300,
		`hardware_hwmon_chip_info{chip="jc42",chip_name="jc42"}`:                                                1,
		`hardware_hwmon_temperature_celsius{chip="jc42",label="",sensor="temp1"}`:                               30,
	})
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// Old kernels put name and sensors in the device's directory, and a chip
// with both powerN_input and powerN_average reports the instantaneous one.
func TestHwmonLegacyLayoutAndPowerChoice(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, map[string]string{
		"sys/devices/platform/it87.552/name":                "it8728\n",
		"sys/devices/platform/it87.552/in0_input":           "1104\n",
		"sys/devices/platform/it87.552/in0_label":           "Vcore\n",
		"sys/devices/platform/it87.552/curr1_input":         "2500\n",
		"sys/devices/platform/it87.552/power1_input":        "101500000\n",
		"sys/devices/platform/it87.552/power1_average":      "99000000\n",
		"sys/devices/platform/it87.552/hwmon/hwmon0/device": "-> ../../../it87.552",
		"sys/class/hwmon/hwmon0":                            "-> ../../devices/platform/it87.552/hwmon/hwmon0",
	})
	c, skips := runProbe(t, "hwmon", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_hwmon_", map[string]float64{
		`hardware_hwmon_chip_info{chip="platform_it87_552",chip_name="it8728"}`:             1,
		`hardware_hwmon_voltage_volts{chip="platform_it87_552",label="Vcore",sensor="in0"}`: 1.104,
		`hardware_hwmon_current_amperes{chip="platform_it87_552",label="",sensor="curr1"}`:  2.5,
		`hardware_hwmon_power_watts{chip="platform_it87_552",label="",sensor="power1"}`:     101.5,
	})
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// The committed fixture must hold relative links only, so the tree works
// from any checkout.
func TestHwmonFixtureLinksRelative(t *testing.T) {
	err := filepath.WalkDir(filepath.Join(fixturePaths.SysFS), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink == 0 {
			return err
		}
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		if filepath.IsAbs(target) {
			t.Errorf("%s -> %s is absolute", path, target)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s -> %s dangles: %v", path, target, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An id that still clashes after suffixing costs the later chip, not the
// scrape.
func TestHwmonChipIDClashDropped(t *testing.T) {
	files := map[string]string{}
	for h, name := range map[string]string{"hwmon1": "foo", "hwmon2": "foo", "hwmon3": "foo_hwmon1"} {
		files["sys/devices/virtual/hwmon/"+h+"/name"] = name + "\n"
		files["sys/devices/virtual/hwmon/"+h+"/temp1_input"] = "30000\n"
		files["sys/class/hwmon/"+h] = "-> ../../devices/virtual/hwmon/" + h
	}
	root := t.TempDir()
	plantTree(t, root, files)
	c, skips := runProbe(t, "hwmon", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_hwmon_", map[string]float64{
		`hardware_hwmon_chip_info{chip="foo_hwmon1",chip_name="foo"}`:                   1,
		`hardware_hwmon_temperature_celsius{chip="foo_hwmon1",label="",sensor="temp1"}`: 30,
		`hardware_hwmon_chip_info{chip="foo_hwmon2",chip_name="foo"}`:                   1,
		`hardware_hwmon_temperature_celsius{chip="foo_hwmon2",label="",sensor="temp1"}`: 30,
	})
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1", skips.Count())
	}
}

// foreignTree materializes a sysfs tree that another project captured
// (testdata/README.md names where each comes from) into a temp dir.
func foreignTree(t *testing.T, dir string) Paths {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	if err := fixture.Materialize(filepath.Join("testdata", dir), root); err != nil {
		t.Fatal(err)
	}
	return treePaths(root)
}

// node_exporter's fixture: asus-nb-wmi registers two chips on one device
// and an mt7996 wifi card three on its phy. They are told apart by their
// own names, which survive reboots, not by hwmonN, which does not.
func TestHwmonNodeExporterChipNames(t *testing.T) {
	c, _ := runProbe(t, "hwmon", foreignTree(t, "nodeexporter-sys/hwmon"))
	got := gatherSeries(t, c)
	var chips []string
	for k := range got {
		if strings.HasPrefix(k, "hardware_hwmon_chip_info{") {
			chips = append(chips, k)
		}
	}
	sort.Strings(chips)
	want := []string{
		`hardware_hwmon_chip_info{chip="bogus",chip_name="bogus"}`,
		`hardware_hwmon_chip_info{chip="hwmon4",chip_name=""}`,
		`hardware_hwmon_chip_info{chip="ieee80211_phy0_mt7996_phy0_0",chip_name="mt7996_phy0_0"}`,
		`hardware_hwmon_chip_info{chip="ieee80211_phy0_mt7996_phy0_1",chip_name="mt7996_phy0_1"}`,
		`hardware_hwmon_chip_info{chip="ieee80211_phy0_mt7996_phy0_2",chip_name="mt7996_phy0_2"}`,
		`hardware_hwmon_chip_info{chip="nct6779",chip_name="nct6779"}`,
		`hardware_hwmon_chip_info{chip="platform_applesmc_768",chip_name="applesmc"}`,
		`hardware_hwmon_chip_info{chip="platform_asus_nb_wmi_asus",chip_name="asus"}`,
		`hardware_hwmon_chip_info{chip="platform_asus_nb_wmi_asus_wmi_sensors",chip_name="asus_wmi_sensors"}`,
		`hardware_hwmon_chip_info{chip="platform_coretemp_0",chip_name="coretemp"}`,
		`hardware_hwmon_chip_info{chip="platform_coretemp_1",chip_name="coretemp"}`,
	}
	if !slices.Equal(chips, want) {
		t.Errorf("chips:\n%s\nwant:\n%s", strings.Join(chips, "\n"), strings.Join(want, "\n"))
	}
	for k, v := range map[string]float64{
		`hardware_hwmon_temperature_celsius{chip="ieee80211_phy0_mt7996_phy0_0",label="",sensor="temp1"}`: 55,
		`hardware_hwmon_temperature_celsius{chip="ieee80211_phy0_mt7996_phy0_2",label="",sensor="temp1"}`: 57,
		`hardware_hwmon_fan_rpm{chip="nct6779",label="",sensor="fan2"}`:                                   1098,
		`hardware_hwmon_voltage_volts{chip="nct6779",label="",sensor="in0"}`:                              0.792,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// Renumbering the chips that share a device must not rename them.
func TestHwmonSharedDeviceRenumbering(t *testing.T) {
	render := func(first, second string) []byte {
		files := map[string]string{}
		for h, name := range map[string]string{first: "asus", second: "asus_wmi_sensors"} {
			dir := "sys/devices/platform/asus-nb-wmi/hwmon/" + h + "/"
			files[dir+"name"] = name + "\n"
			files[dir+"fan1_input"] = map[string]string{"asus": "2900\n", "asus_wmi_sensors": "1200\n"}[name]
			files[dir+"device"] = "-> ../../../asus-nb-wmi"
			files["sys/class/hwmon/"+h] = "-> ../../devices/platform/asus-nb-wmi/hwmon/" + h
		}
		root := t.TempDir()
		plantTree(t, root, files)
		c, _ := runProbe(t, "hwmon", treePaths(root))
		return exposition(t, c)
	}
	a, b := render("hwmon6", "hwmon7"), render("hwmon7", "hwmon2")
	if !bytes.Equal(a, b) {
		t.Errorf("output depends on hwmon numbering:\n%s\nvs\n%s", a, b)
	}
	if !bytes.Contains(a, []byte(`hardware_hwmon_fan_rpm{chip="platform_asus_nb_wmi_asus",label="",sensor="fan1"} 2900`)) {
		t.Errorf("asus chip not named by its name:\n%s", a)
	}
}

// node_exporter's nct6779 has both its chassis intrusion detectors tripped
// and a fan target; its pwm1_* files configure automatic fan control, and
// without pwm1 itself there is no duty to report.
func TestHwmonIntrusionAndFanTarget(t *testing.T) {
	c, _ := runProbe(t, "hwmon", foreignTree(t, "nodeexporter-sys/hwmon"))
	got := gatherSeries(t, c)
	for k, v := range map[string]float64{
		`hardware_hwmon_intrusion_alarm{chip="nct6779",label="",sensor="intrusion0"}`: 1,
		`hardware_hwmon_intrusion_alarm{chip="nct6779",label="",sensor="intrusion1"}`: 1,
		`hardware_hwmon_fan_target_rpm{chip="nct6779",label="",sensor="fan2"}`:        27000,
		`hardware_hwmon_fan_min_rpm{chip="nct6779",label="",sensor="fan2"}`:           0,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "hardware_hwmon_pwm_ratio") ||
			strings.HasPrefix(k, "hardware_hwmon_sensor_alarm") && strings.Contains(k, `sensor="intrusion`) {
			t.Errorf("unexpected %s", k)
		}
	}
}

// procfs's NVMe drive reports low limits, -273.15 °C for "none".
func TestHwmonTemperatureMin(t *testing.T) {
	paths := foreignTree(t, "procfs-sys/hwmon")
	plantTree(t, filepath.Dir(paths.SysFS), map[string]string{
		"sys/class/hwmon/hwmon3": "-> ../../devices/pci0000:00/0000:00:02.1/0000:01:00.0/nvme/nvme0/hwmon3",
	})
	c, skips := runProbe(t, "hwmon", paths)
	got := gatherSeries(t, c)
	const chip = `chip="0000:00:02_1_0000:01:00_0"`
	for k, v := range map[string]float64{
		`hardware_hwmon_temperature_min_celsius{` + chip + `,label="Composite",sensor="temp1"}`: -0.15,
		`hardware_hwmon_temperature_min_celsius{` + chip + `,label="Sensor 1",sensor="temp2"}`:  -273.15,
		`hardware_hwmon_temperature_max_celsius{` + chip + `,label="Composite",sensor="temp1"}`: 84.85,
		`hardware_hwmon_temperature_celsius{` + chip + `,label="Sensor 8",sensor="temp9"}`:      43.85,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// pwmN is 0-255; the ratio is exact at both ends.
func TestHwmonPWM(t *testing.T) {
	root := t.TempDir()
	dir := "sys/devices/platform/nct6775.656/hwmon/hwmon2/"
	plantTree(t, root, map[string]string{
		dir + "name":             "nct6779\n",
		dir + "device":           "-> ../../../nct6775.656",
		dir + "pwm1":             "255\n",
		dir + "pwm1_enable":      "5\n",
		dir + "pwm2":             "0\n",
		dir + "pwm3":             "51\n",
		dir + "pwm4":             "garbage\n",
		"sys/class/hwmon/hwmon2": "-> ../../devices/platform/nct6775.656/hwmon/hwmon2",
	})
	c, skips := runProbe(t, "hwmon", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_hwmon_pwm", map[string]float64{
		`hardware_hwmon_pwm_ratio{chip="platform_nct6775_656",label="",sensor="pwm1"}`: 1,
		`hardware_hwmon_pwm_ratio{chip="platform_nct6775_656",label="",sensor="pwm2"}`: 0,
		`hardware_hwmon_pwm_ratio{chip="platform_nct6775_656",label="",sensor="pwm3"}`: 0.2,
	})
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1 (pwm4)", skips.Count())
	}
}
