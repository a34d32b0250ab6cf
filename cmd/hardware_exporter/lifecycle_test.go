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
