package main

import (
	"io"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// --probe.NAME.OPTION flags come from the options' flag tags, win over the
// file's key, leave the file's other keys alone, and are listed in --help.
func TestOptionFlags(t *testing.T) {
	cfg := writeConfig(t, "probes:\n  hwmon:\n    chip_exclude: \"^file\"\n    sensor_exclude: \"^keep\"\n")
	f, code, exited := parseFlags([]string{"--config.file=" + cfg,
		"--probe.hwmon.chip-exclude=^platform_", "--probe.network.device-exclude=^veth",
		"--probe.smart.device-include=^/dev/nvme", "--probe.storage.device-exclude=^loop",
		"--probe.textfile.file-include=^raid_"}, io.Discard, io.Discard)
	if exited {
		t.Fatalf("flags refused: exit %d", code)
	}
	c, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	hw := c.Probe("hwmon").Options.(*probe.HwmonOptions)
	for _, v := range []struct{ name, got, want string }{
		{"hwmon chip_exclude (flag)", hw.ChipExclude.String(), "^platform_"},
		{"hwmon sensor_exclude (file)", hw.SensorExclude.String(), "^keep"},
		{"network device_exclude", c.Probe("network").Options.(*probe.NetworkOptions).DeviceExclude.String(), "^veth"},
		{"smart include", c.Probe("smart").Options.(*probe.SmartOptions).Include.String(), "^/dev/nvme"},
		{"storage device_exclude", c.Probe("storage").Options.(*probe.StorageOptions).DeviceExclude.String(), "^loop"},
		{"textfile file_include", c.Probe("textfile").Options.(*probe.TextfileOptions).FileInclude.String(), "^raid_"},
	} {
		if v.got != v.want {
			t.Errorf("%s = %q, want %q", v.name, v.got, v.want)
		}
	}

	_, help, _ := runCmd("--help")
	flags := config.OptionFlags()
	if len(flags) < 10 {
		t.Errorf("%d option flags, want at least hwmon's 4, network's, storage's, smart's and textfile's 2", len(flags))
	}
	for _, of := range flags {
		if !strings.Contains(help, "--"+of.Flag+"=") || !strings.Contains(help, of.Key) {
			t.Errorf("--help lacks --%s (overrides %s)", of.Flag, of.Key)
		}
	}
}

// A bad value is refused when the flags are parsed, naming the flag, as a
// bad key in the file names the key.
func TestOptionFlagBadValue(t *testing.T) {
	code, _, errOut := runCmd("--probe.hwmon.chip-include=(unclosed")
	if code != 2 || !strings.Contains(errOut, "--probe.hwmon.chip-include") || !strings.Contains(errOut, "invalid regular expression") {
		t.Errorf("bad regexp in a flag: exit %d, stderr %q; want 2 and the flag named", code, errOut)
	}
}
