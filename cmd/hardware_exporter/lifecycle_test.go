package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A config file replaced by a 200 MiB file or by a FIFO is refused at
// SIGHUP with a clear error, the running config kept; the FIFO does not
// hang the daemon, and SIGTERM afterwards ends it promptly.
func TestReloadRefusesFIFOAndHugeConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	cfg := writeConfig(t, "")
	d := startDaemon(t, bin, "--config.file="+cfg, "--state.path=")
	d.untilReady(t)

	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(200 << 20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		return strings.Contains(d.logs.String(), "keeping the running config") && strings.Contains(d.logs.String(), "larger than the read limit")
	})

	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(d.logs.String(), "not a regular file") })
	if r := get(d.base+"/metrics", nil); r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `hardware_probe_success{probe="cpu"} 1`) {
		t.Errorf("after refused reloads /metrics = %d, want 200 with the running config's probes", r.StatusCode)
	}
	sent := time.Now()
	d.stop(t)
	if took := time.Since(sent); took > 10*time.Second {
		t.Errorf("SIGTERM after a FIFO reload took %v", took)
	}
}

// A reload applies the new interval to hardware_probe_interval_seconds at
// once (not at the probe's next run), and one warning names every changed
// key that waits for a restart; those keep their old values.
func TestReloadUpdatesStatusAndNamesRestartKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	first := "state:\n  path: " + t.TempDir() + "\nprobes:\n  hwmon:\n    interval: 1m\n"
	cfg := writeConfig(t, first)
	d := startDaemon(t, bin, "--config.file="+cfg)
	d.untilReady(t)
	const before, after = `hardware_probe_interval_seconds{probe="hwmon"} 60` + "\n", `hardware_probe_interval_seconds{probe="hwmon"} 120` + "\n"
	if body := string(get(d.base+"/metrics", nil).body); !strings.Contains(body, before) {
		t.Fatalf("before the reload /metrics lacks %q", before)
	}

	second, err := os.ReadFile(writeConfig(t, "state:\n  path: "+t.TempDir()+"\n"+
		"pprof:\n  enabled: false\ncache:\n  max_entries: 7\nscheduler:\n  max_concurrent: 2\n  jitter: 1s\n"+
		"probes:\n  hwmon:\n    interval: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, second, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(d.logs.String(), "config reloaded") })
	if body := string(get(d.base+"/metrics", nil).body); !strings.Contains(body, after) {
		t.Errorf("right after the reload /metrics lacks %q", after)
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(d.logs.String(), "until a restart") })
	var warnings []string
	for _, l := range strings.Split(d.logs.String(), "\n") {
		if strings.Contains(l, "until a restart") {
			warnings = append(warnings, l)
		}
	}
	want := "keys=pprof.enabled,cache.max_entries,scheduler.max_concurrent,state.path"
	if len(warnings) != 1 || !strings.Contains(warnings[0], want) || !strings.Contains(warnings[0], "level=WARN") {
		t.Errorf("restart warnings %q; want one at WARN naming %s (not jitter, not the interval, not pprof.allow_remote)", warnings, want)
	}
	// pprof.enabled is read at start: it still answers until a restart.
	if r := get(d.base+"/debug/pprof/", nil); r.StatusCode != http.StatusOK {
		t.Errorf("/debug/pprof/ after the reload = %d; the warning says it waits for a restart", r.StatusCode)
	}
	d.stop(t)
}
