package main

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
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

// An invalid config at start exits with config.ExitInvalid, the status the
// systemd unit's RestartPreventExitStatus= names, so systemd does not
// restart it forever; --config.check keeps its 1.
func TestInvalidConfigAtStartExitStatus(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("cache:\n  ttl: never\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd("--config.file="+bad, "--state.path=", "--web.listen-address=127.0.0.1:0"); code != config.ExitInvalid || !strings.Contains(errOut, "line 2") {
		t.Errorf("bad config at start: exit %d, want %d; stderr:\n%s", code, config.ExitInvalid, errOut)
	}
	if code, _, _ := runCmd("--config.check", "--config.file="+bad); code != 1 {
		t.Errorf("--config.check of a bad file: exit %d, want 1", code)
	}
	badWeb := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(badWeb, []byte("tls_server_config:\n  cert_file: /nonexistent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(append([]string{"--config.file=" + writeConfig(t, ""), "--state.path=",
		"--web.listen-address=" + freeAddr(t), "--web.config.file=" + badWeb}, fixtureFlags...)...)
	if code != config.ExitInvalid || !strings.Contains(errOut, badWeb) {
		t.Errorf("bad web config at start: exit %d, want %d; stderr:\n%s", code, config.ExitInvalid, errOut)
	}
}

// listenNotify is a fake systemd notification socket: what the daemon sends
// arrives on the channel.
func listenNotify(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

func nextNotify(t *testing.T, msgs <-chan string, limit time.Duration) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(limit):
		t.Fatalf("no notification within %v", limit)
		return ""
	}
}

// Under Type=notify, READY=1 comes once the listener answers and the state
// is restored, so `systemctl start` returns to a daemon that answers and,
// on a warm restart, is already ready; STOPPING=1 comes on SIGTERM.
func TestNotifyReadyAndStopping(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	cfg := writeConfig(t, fixtureConfig(t, time.Hour))
	state := t.TempDir()
	for _, warm := range []bool{false, true} {
		msgs := listenNotify(t)
		d := startDaemon(t, bin, "--config.file="+cfg, "--state.path="+state)
		if m := nextNotify(t, msgs, 20*time.Second); m != "READY=1" {
			t.Fatalf("first notification %q, want READY=1", m)
		}
		// At once, no retry: the listener must already answer.
		if r := get(d.base+"/-/healthy", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("/-/healthy right after READY=1 = %d, want 200", r.StatusCode)
		}
		if r := get(d.base+"/-/ready", nil); warm && r.StatusCode != http.StatusOK {
			t.Errorf("warm start: /-/ready right after READY=1 = %d, want 200 (state restored first)", r.StatusCode)
		}
		if !warm {
			d.untilReady(t)
		}
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if m := nextNotify(t, msgs, 5*time.Second); m != "STOPPING=1" {
			t.Errorf("notification after SIGTERM %q, want STOPPING=1", m)
		}
		if err := d.waitExit(t, 20*time.Second); err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	}
}

// /-/ready means every enabled probe has completed a run, successful or
// not (or restored one): a probe that only fails does not hold it at 503,
// since its failure is what /metrics must show. README says the same.
func TestReadyCountsAFailedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	missing := filepath.Join(t.TempDir(), "smartctl")
	cfg := writeConfig(t, "probes:\n  smart:\n    enabled: true\n    command: "+missing+"\n")
	d := startDaemon(t, bin, "--config.file="+cfg, "--state.path=")
	d.untilReady(t)
	if body := string(get(d.base+"/metrics", nil).body); !strings.Contains(body, `hardware_probe_success{probe="smart"} 0`) {
		t.Errorf("ready, but /metrics lacks smart's failure")
	}
	d.stop(t)
	readme, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer readme.Close()
	row := regexp.MustCompile("^\\| `/-/ready` \\|")
	sc := bufio.NewScanner(readme)
	for sc.Scan() {
		if row.MatchString(sc.Text()) {
			if !strings.Contains(sc.Text(), "successful or not") {
				t.Errorf("README's /-/ready row does not say that a failed run counts:\n%s", sc.Text())
			}
			return
		}
	}
	t.Error("README has no /-/ready row")
}

// SIGTERM is handled at once while a reload is stuck reading the config
// (a hung network mount): the reload runs off the signal loop. In-process,
// so that the read can be made to block; the signals go to this test
// process, whose handlers are the daemon's while run is serving.
func TestSignalWhileReloadIsStuck(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	reloadConfig = func(*flags) (*config.Config, error) {
		close(entered)
		<-release
		return nil, errors.New("released by the test")
	}
	defer func() { reloadConfig = loadConfig }()
	addr := freeAddr(t)
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCmd(append([]string{"--web.listen-address=" + addr, "--state.path=", "--log.level=error",
			"--config.file=" + writeConfig(t, "")}, fixtureFlags...)...)
		done <- code
	}()
	waitFor(t, 10*time.Second, func() bool { return get("http://"+addr+"/-/healthy", nil).StatusCode == http.StatusOK })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not start a reload within 5s")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after SIGTERM during a stuck reload, want 0", code)
		}
	case <-time.After(10 * time.Second):
		// The daemon still holds SIGTERM's handler; end the reload so that
		// the signal is taken and this process is not left to it.
		t.Error("SIGTERM during a stuck reload was not handled within 10s")
	}
}
