package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// daemon is a running binary; it is killed by PID whatever happens.
type runningDaemon struct {
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan error
	base    string
	started time.Time
}

func startDaemon(t *testing.T, bin string, args ...string) *runningDaemon {
	t.Helper()
	addr := freeAddr(t)
	d := &runningDaemon{logs: &syncBuffer{}, exited: make(chan error, 1), base: "http://" + addr}
	d.cmd = exec.Command(bin, append(append([]string{"--web.listen-address=" + addr}, args...), fixtureFlags...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill() // no-op once it has exited
		select {
		case <-d.exited:
		case <-time.After(5 * time.Second):
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logs.String())
		}
	})
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *runningDaemon) stop(t *testing.T) {
	t.Helper()
	defer func(start time.Time) { t.Logf("SIGTERM to exit: %v", time.Since(start).Round(time.Millisecond)) }(time.Now())
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.waitExit(t, 20*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// waitExit returns how the daemon exited, failing the test if it has not
// within limit.
func (d *runningDaemon) waitExit(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case err := <-d.exited:
		return err
	case <-time.After(limit):
		t.Fatalf("daemon did not exit within %v", limit)
		return nil
	}
}

// untilReady polls /-/ready and returns how long after start it said 200.
func (d *runningDaemon) untilReady(t *testing.T) time.Duration {
	t.Helper()
	waitFor(t, 20*time.Second, func() bool { return get(d.base+"/-/ready", nil).StatusCode == http.StatusOK })
	return time.Since(d.started)
}

// prometheusAccept is what a Prometheus 3 server sends; the daemon primes
// its response cache for it (internal/daemon, primeRequests), which
// TestWarmRestart's first-scrape HIT checks.
var prometheusAccept = http.Header{
	"Accept":          {"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"},
	"Accept-Encoding": {"gzip"},
}

// scrape gets path as Prometheus does and returns the decompressed body.
func scrape(t *testing.T, url string) (response, string) {
	t.Helper()
	r := get(url, prometheusAccept)
	if r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("%s: status %d, Content-Encoding %q", url, r.StatusCode, r.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return r, string(b)
}

// withoutRestored drops the hardware_probe_restored family, the one that
// differs between a live and a restored probe by design.
func withoutRestored(body string) string {
	var keep []string
	for _, l := range strings.Split(body, "\n") {
		if !strings.Contains(l, "hardware_probe_restored") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

var successRE = regexp.MustCompile(`(?m)^hardware_probe_success\{probe="([a-z_]+)"\} (\d)$`)

// probes returns the probes with a status in body, and those that succeeded.
func probes(body string) (all, ok []string) {
	for _, m := range successRE.FindAllStringSubmatch(body, -1) {
		all = append(all, m[1])
		if m[2] == "1" {
			ok = append(ok, m[1])
		}
	}
	sort.Strings(all)
	sort.Strings(ok)
	return all, ok
}

// TestWarmRestart runs the binary twice on the fixture with one state
// directory: the second serves, on its first scrape and as a response cache
// hit, the bytes the first served last, except for hardware_probe_restored.
func TestWarmRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	state := filepath.Join(t.TempDir(), "state")
	// Long intervals: no probe may run again between the last scrape of
	// the first process and the first of the second.
	cfg := writeConfig(t, fixtureConfig(t, time.Hour))
	args := []string{"--config.file=" + cfg, "--state.path=" + state, "--log.level=info"}

	cold := startDaemon(t, bin, args...)
	coldReady := cold.untilReady(t)
	_, body := scrape(t, cold.base+"/metrics")
	all, succeeded := probes(body)
	if len(succeeded) == 0 {
		t.Fatalf("no probe succeeded on the fixture:\n%s", body)
	}
	// State files are written after each run, off the probe's path: wait
	// for one per succeeded probe.
	waitFor(t, 10*time.Second, func() bool {
		for _, p := range succeeded {
			if _, err := os.Stat(filepath.Join(state, p+".state")); err != nil {
				return false
			}
		}
		return true
	})
	exporterMetrics := string(get(cold.base+"/exporter/metrics", nil).body)
	_, before := scrape(t, cold.base+"/metrics")
	cold.stop(t)

	var size int64
	for _, p := range succeeded {
		fi, err := os.Stat(filepath.Join(state, p+".state"))
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}

	warm := startDaemon(t, bin, args...)
	warmReady := warm.untilReady(t)
	first, after := scrape(t, warm.base+"/metrics")
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first scrape after restart: %d", first.StatusCode)
	}
	if got := first.Header.Get("X-Cache"); got != "HIT" && len(succeeded) == len(all) {
		t.Errorf("first scrape after restart: X-Cache %q, want HIT of the restored data", got)
	}
	if len(succeeded) == len(all) {
		if withoutRestored(after) != withoutRestored(before) {
			t.Errorf("restart changed /metrics:\n--- before\n%s\n--- after\n%s", before, after)
		}
	}
	for _, p := range succeeded {
		if !strings.Contains(after, `hardware_probe_restored{probe="`+p+`"} 1`) {
			t.Errorf("probe %s not marked restored", p)
		}
		if !strings.Contains(before, `hardware_probe_restored{probe="`+p+`"} 0`) {
			t.Errorf("probe %s marked restored before any restart", p)
		}
	}
	if strings.Contains(warm.logs.String(), "level=WARN") {
		t.Errorf("warnings on a clean warm restart:\n%s", warm.logs.String())
	}
	t.Logf("fixture host: %d probes (%d succeeded); start to /-/ready: cold %v, warm %v; state files %d bytes",
		len(all), len(succeeded), coldReady.Round(time.Millisecond), warmReady.Round(time.Millisecond), size)
	for _, l := range strings.Split(exporterMetrics, "\n") {
		if strings.HasPrefix(l, "hardware_exporter_state_write_duration_seconds_sum") ||
			strings.HasPrefix(l, "hardware_exporter_state_write_duration_seconds_count") {
			t.Logf("cold run: %s", l)
		}
	}
	warm.stop(t)
}

// fixtureConfig enables every probe at interval, with the tool probes
// running the fake tools of internal/probe/testdata/tools (never the
// host's).
func fixtureConfig(t *testing.T, interval time.Duration) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("scheduler:\n  jitter: 0s\nprobes:\n")
	for _, name := range probe.Names() {
		fmt.Fprintf(&b, "  %s:\n    interval: %s\n", name, config.Duration(interval))
		if name == "textfile" {
			// Its test directory holds histograms, which state files do not
			// keep: it would be the one probe served live after a restart.
			b.WriteString("    enabled: false\n")
		}
	}
	return b.String() // writeConfig adds the fixture's roots and fake tools
}

// A corrupt state file and another host's are each ignored with one
// warning, and the probes start as if there were none.
func TestRestartIgnoresBadStateFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	state := t.TempDir()
	cpu := []byte("HWXSTATE\x01\x00\x00\x00garbage")
	if err := os.WriteFile(filepath.Join(state, "cpu.state"), cpu, 0o600); err != nil {
		t.Fatal(err)
	}
	// A state file of the memory probe written on another host: run once
	// on a copy of the fixture whose DMI UUID differs.
	other := filepath.Join(t.TempDir(), "other")
	if err := writeForeignState(t, bin, state, other); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fixtureConfig(t, time.Hour))
	d := startDaemon(t, bin, "--config.file="+cfg, "--state.path="+state, "--log.level=info")
	d.untilReady(t)
	logs := d.logs.String()
	for _, want := range []string{"probe=cpu", "corrupt state file", "probe=memory", "state file of another host"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if n := strings.Count(logs, "not restored"); n != 2 {
		t.Errorf("%d 'not restored' lines, want 2:\n%s", n, logs)
	}
	body := string(get(d.base+"/metrics", nil).body)
	if !strings.Contains(body, `hardware_probe_restored{probe="cpu"} 0`) || !strings.Contains(body, "hardware_cpu_sockets 2") {
		t.Errorf("cpu is not served live after a corrupt state file")
	}
	d.stop(t)
	// Both files were replaced by this host's.
	d2 := startDaemon(t, bin, "--config.file="+cfg, "--state.path="+state, "--log.level=info")
	d2.untilReady(t)
	if strings.Contains(d2.logs.String(), "not restored") {
		t.Errorf("bad files not replaced:\n%s", d2.logs.String())
	}
	d2.stop(t)
}

// writeForeignState writes memory.state into state as a host with another
// DMI product UUID would.
func writeForeignState(t *testing.T, bin, state, other string) error {
	t.Helper()
	sys := filepath.Join(other, "sys")
	uuidDir := filepath.Join(sys, "class", "dmi", "id")
	if err := os.MkdirAll(uuidDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(uuidDir, "product_uuid"), []byte("4c4c4544-0000-1111-2222-333344445555\n"), 0o444); err != nil {
		return err
	}
	// The fixture's procfs serves meminfo; the foreign sysfs has only the
	// UUID, which is all the identity and the memory probe's success need.
	// Every probe but memory is off; tool probes must not run host tools.
	args := []string{"--web.listen-address=" + freeAddr(t), "--state.path=" + filepath.Join(other, "state"),
		fixtureFlags[0], "--path.sysfs=" + sys, fixtureFlags[2]}
	for _, name := range probe.Names() {
		if name != "memory" {
			args = append(args, "--no-probe."+name)
		}
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	written := filepath.Join(other, "state", "memory.state")
	waitFor(t, 10*time.Second, func() bool {
		_, err := os.Stat(written)
		return err == nil
	})
	b, err := os.ReadFile(written)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(state, "memory.state"), b, 0o600)
}

// A second SIGTERM while the first one's shutdown waits for a stalled
// request exits at once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	cfg := writeConfig(t, fixtureConfig(t, time.Hour))
	d := startDaemon(t, bin, "--config.file="+cfg, "--state.path="+t.TempDir())
	d.untilReady(t)
	// A request whose headers never end keeps its connection active, so
	// the graceful shutdown waits for it (up to its bound).
	conn, err := net.Dial("tcp", strings.TrimPrefix(d.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(d.logs.String(), "shutting down") })
	select {
	case err := <-d.exited:
		t.Fatalf("exited (%v) before the stalled request's bound; the test cannot tell a second signal apart", err)
	case <-time.After(500 * time.Millisecond):
	}
	sent := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.waitExit(t, 5*time.Second); err == nil {
		t.Error("a forced exit reported success")
	}
	if waited := time.Since(sent); waited > 2*time.Second {
		t.Errorf("exit took %v after the second SIGTERM", waited)
	}
}

// SIGTERM while a refresh waits on a slow probe: the probes are halted
// first (the slow tool is killed), the waiting client is told what
// happened, and the daemon exits 0 promptly.
func TestSignalDuringRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	dir := t.TempDir()
	slow := filepath.Join(dir, "smartctl")
	script := "#!/bin/sh\nif [ -e " + filepath.Join(dir, "slow") + " ]; then sleep 60; fi\necho '{\"devices\": []}'\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// refresh_spacing: the refresh comes right after the first run, within
	// the default spacing, and must run smartctl again.
	cfg := writeConfig(t, "probes:\n  smart:\n    command: "+slow+"\n    refresh_spacing: 1ms\n")
	d := startDaemon(t, bin, "--config.file="+cfg, "--state.path=")
	d.untilReady(t)
	if err := os.WriteFile(filepath.Join(dir, "slow"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		code int
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Post(d.base+"/-/refresh?probe=smart", "", nil)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- answer{code: resp.StatusCode, body: string(b)}
	}()
	time.Sleep(500 * time.Millisecond) // the refresh is waiting on the slow smartctl
	sent := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answered:
		if a.err != nil || a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "smart") {
			t.Errorf("refresh during shutdown: %d %q %v; want 503 naming the probe", a.code, a.body, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting refresh was not answered within 10s of SIGTERM")
	}
	if err := d.waitExit(t, 15*time.Second); err != nil {
		t.Errorf("exit after SIGTERM during a refresh: %v", err)
	}
	if took := time.Since(sent); took > 8*time.Second {
		t.Errorf("exit took %v", took)
	}
}

// /-/refresh needs no credentials, so a local client looping refreshes of
// a tool probe must not run the tool as fast as it asks: within the
// probe's refresh spacing (by default a tenth of its interval) every
// refresh is answered from the last run and says so, and the tool ran
// only for the daemon's own first run.
func TestRefreshLoopRunsTheToolOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	tool := filepath.Join(dir, "smartctl")
	// One --scan-open a run; the probe may call the tool more (per device).
	script := "#!/bin/sh\ncase \"$*\" in *--scan-open*) echo run >> " + runs + " ;; esac\n" +
		"echo '{\"json_format_version\": [1, 0], \"devices\": []}'\n"
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "probes:\n  smart:\n    command: "+tool+"\n")
	d := startDaemon(t, bin, "--config.file="+cfg, "--state.path=")
	d.untilReady(t)
	const n = 50
	for i := range n {
		resp, err := http.Post(d.base+"/-/refresh?probe=smart", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "smart: not run again: answered from its last run") {
			t.Fatalf("refresh %d: %d %q, want 200 saying it was answered from the last run", i+1, resp.StatusCode, b)
		}
	}
	b, err := os.ReadFile(runs)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "run\n"); got != 1 {
		t.Errorf("smart ran %d times (smartctl --scan-open) for the first run and %d refreshes, want once", got, n)
	}
}
