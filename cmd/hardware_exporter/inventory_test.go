package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// A probe restored from its state file at start still reads its inventory
// on its first run: the ipmi probe's FRU and mc info are kept in the
// process, not in the state file, so the first live run after a restart
// runs fru print and mc info, and serves the series the state file held.
func TestWarmRestartReadsTheIPMIInventory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	fake, err := filepath.Abs("../../internal/probe/testdata/tools/ipmitool")
	if err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(dir, "ipmitool")
	script := "#!/bin/sh\necho \"$1\" >> " + log + "\nexec " + fake + " \"$@\"\n"
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("scheduler:\n  jitter: 0s\nprobes:\n")
	for _, name := range probe.Names() {
		if name != "ipmi" {
			fmt.Fprintf(&b, "  %s:\n    enabled: false\n", name)
		}
	}
	fmt.Fprintf(&b, "  ipmi:\n    enabled: true\n    allow_fast: true\n    interval: 3s\n    timeout: 2s\n    command: %s\n", tool)
	cfg := writeConfig(t, b.String())
	state := filepath.Join(dir, "state")
	args := []string{"--config.file=" + cfg, "--state.path=" + state}

	calls := func() []string {
		t.Helper()
		b, err := os.ReadFile(log)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
	ipmiSeries := func(body string) []string {
		var s []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "hardware_ipmi_") {
				s = append(s, l)
			}
		}
		return s
	}

	cold := startDaemon(t, bin, args...)
	cold.untilReady(t)
	waitFor(t, 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(state, "ipmi.state"))
		return err == nil
	})
	_, before := scrape(t, cold.base+"/metrics")
	cold.stop(t)
	if c := calls(); !slices.Contains(c, "fru") || !slices.Contains(c, "mc") {
		t.Fatalf("cold start: ipmitool runs %q, want fru print and mc info among them", c)
	}
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}

	warm := startDaemon(t, bin, args...)
	warm.untilReady(t)
	_, restored := scrape(t, warm.base+"/metrics")
	if !strings.Contains(restored, `hardware_probe_restored{probe="ipmi"} 1`) {
		t.Fatalf("ipmi not restored from its state file:\n%s", restored)
	}
	var live string
	waitFor(t, 20*time.Second, func() bool {
		_, live = scrape(t, warm.base+"/metrics")
		return strings.Contains(live, `hardware_probe_restored{probe="ipmi"} 0`)
	})
	c := calls()
	if len(c) < 3 || !slices.Equal(c[:3], []string{"exec", "fru", "mc"}) {
		t.Errorf("first run after the restart: ipmitool runs %q, want exec, fru print, mc info first", c)
	}
	if want, got := ipmiSeries(before), ipmiSeries(live); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("ipmi series after the restart differ:\n--- before\n%s\n--- after\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	warm.stop(t)
}
