package daemon

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/scheduler"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// fixtureRoot is where TestMain materialized the probes' fixture server,
// with real colons in its names (see package fixture).
var fixtureRoot string

func TestMain(m *testing.M) {
	os.Exit(fixture.WithTree("../probe/testdata/server", func(root string) int {
		fixtureRoot = root
		return m.Run()
	}))
}

// loadConfig loads a config whose roots are the fixture's and whose tool
// probes run the fixture's fake tools, with probes' sections set over
// them, so that nothing here reads the host's /sys, /proc or /dev or runs
// a host tool.
func loadConfig(t testing.TB, probes map[string]map[string]any) *config.Config {
	t.Helper()
	testdata, err := filepath.Abs("../probe/testdata")
	if err != nil {
		t.Fatal(err)
	}
	sections := fixture.ToolConfig(testdata)
	for name, keys := range probes {
		section, _ := sections[name].(map[string]any)
		if section == nil {
			section = map[string]any{}
		}
		for k, v := range keys {
			section[k] = v
		}
		sections[name] = section
	}
	b, err := yaml.Marshal(map[string]any{
		"paths": map[string]any{
			"procfs": filepath.Join(fixtureRoot, "proc"),
			"sysfs":  filepath.Join(fixtureRoot, "sys"),
			"rootfs": filepath.Join(fixtureRoot, "root"),
		},
		"probes": sections,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Probes are built once and kept across reloads: each reload hands the
// same instances new settings, so what a probe remembers (the smart probe's
// sleeping disks) survives. Each probe-off line is logged once per load.
func TestProbesBuiltOnceAcrossReloads(t *testing.T) {
	all := BuildProbes()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	missing := filepath.Join(t.TempDir(), "smartctl")
	first := loadConfig(t, map[string]map[string]any{"smart": {"command": missing}})
	second := loadConfig(t, map[string]map[string]any{"hwmon": {"interval": "2m"}})
	before := jobs(first, all, logger)
	if n := strings.Count(logs.String(), "probe off"); n != 1 {
		t.Errorf("%d probe-off lines for one load, want 1:\n%s", n, logs.String())
	}
	after := jobs(second, all, logger)
	byName := map[string]scheduler.Job{}
	for _, j := range before {
		byName[j.Name] = j
	}
	if _, ok := byName["smart"]; ok {
		t.Error("smart scheduled though its tool is missing")
	}
	for _, j := range after {
		if j.Probe != all[j.Name] {
			t.Errorf("%s: a reload built a new probe", j.Name)
		}
		if b, ok := byName[j.Name]; ok && b.Probe != j.Probe {
			t.Errorf("%s: jobs of two loads hold different probes", j.Name)
		}
		if j.Name == "hwmon" && j.Interval != 2*time.Minute {
			t.Errorf("hwmon interval after reload = %v, want 2m", j.Interval)
		}
	}
}
