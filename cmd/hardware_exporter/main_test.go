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
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/fixture"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// fixtureFlags point the daemon at the probes' fixture server, materialized
// by TestMain with real colons in its names (see package fixture).
var fixtureFlags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "daemon-fixture-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root := filepath.Join(dir, "server")
	if err := fixture.Materialize("../../internal/probe/testdata/server", root); err != nil {
		fmt.Fprintln(os.Stderr, "materializing the fixture:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	fixtureFlags = []string{
		"--path.procfs=" + root + "/proc",
		"--path.sysfs=" + root + "/sys",
		"--path.rootfs=" + root + "/root",
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hostToolsOff turns off the probes that would run a tool at its default
// path: tests never run the host's tools (a host with ipmitool installed
// would fail them).
func hostToolsOff(except ...string) []string {
	var flags []string
	for _, name := range probe.Names() {
		if slices.Contains(except, name) {
			continue
		}
		switch name {
		case "smart", "ipmi", "sel", "gpu", "raid":
			flags = append(flags, "--no-probe."+name)
		}
	}
	return flags
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigCheck(t *testing.T) {
	code, out, _ := runCmd("--config.check", "--config.file=../../configs/hardware_exporter.yml")
	if code != 0 || !strings.Contains(out, "config valid") {
		t.Errorf("shipped config: exit %d, stdout %q", code, out)
	}
	bad := writeConfig(t, "cache:\n  ttl: 6h\nprobes:\n  hwmon:\n    interval: fast\n")
	code, _, errOut := runCmd("--config.check", "--config.file="+bad)
	if code != 1 || !strings.Contains(errOut, "line 5") || !strings.Contains(errOut, `"fast"`) {
		t.Errorf("bad config: exit %d, stderr %q; want exit 1 naming line 5 and the value", code, errOut)
	}
	if code, _, _ := runCmd("--config.check"); code != 0 {
		t.Errorf("built-in defaults: exit %d, want 0", code)
	}
}

func TestOncePrintsOneRound(t *testing.T) {
	code, out, errOut := runCmd(append(append([]string{"--once", "--log.level=error"}, hostToolsOff()...), fixtureFlags...)...)
	if code != 0 {
		t.Fatalf("--once exit %d; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		`hardware_system_dmi_info{`,
		`product_name="PowerEdge R750"`,
		`hardware_cpu_sockets 2`,
		`hardware_probe_success{probe="hwmon"} 1`,
		`hardware_probe_success{probe="memory"} 1`,
		`# HELP hardware_cpu_threads`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--once output lacks %q", want)
		}
	}
}

func TestOnceFailsWhenAProbeFails(t *testing.T) {
	empty := t.TempDir() // no cpuinfo, no meminfo: those probes fail
	code, out, errOut := runCmd("--once", "--path.procfs="+empty, "--path.sysfs="+empty, "--path.rootfs="+empty)
	if code == 0 {
		t.Fatalf("--once on an empty tree exited 0")
	}
	if !strings.Contains(out, `hardware_probe_success{probe="cpu"} 0`) {
		t.Errorf("output lacks the failed probe's status:\n%s", out)
	}
	if !strings.Contains(errOut, "probe failed") {
		t.Errorf("stderr does not say which probe failed:\n%s", errOut)
	}
}

// A tool probe whose tool is missing stays off quietly by default; enabled
// explicitly, it runs, fails, and says why.
func TestMissingToolProbe(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "smartctl")
	auto := writeConfig(t, "probes:\n  smart:\n    command: "+missing+"\n")
	code, out, errOut := runCmd(append(append([]string{"--once", "--config.file=" + auto}, hostToolsOff("smart")...), fixtureFlags...)...)
	if code != 0 {
		t.Fatalf("--once with smartctl missing, not enabled explicitly: exit %d; stderr:\n%s", code, errOut)
	}
	if strings.Contains(out, `probe="smart"`) {
		t.Errorf("a probe left off exports status series:\n%s", out)
	}
	if n := strings.Count(errOut, "probe=smart"); n != 1 || !strings.Contains(errOut, "probe off") || !strings.Contains(errOut, missing) {
		t.Errorf("want one log line naming %s, got:\n%s", missing, errOut)
	}

	explicit := writeConfig(t, "probes:\n  smart:\n    enabled: true\n    command: "+missing+"\n")
	code, out, errOut = runCmd(append(append([]string{"--once", "--config.file=" + explicit}, hostToolsOff("smart")...), fixtureFlags...)...)
	if code == 0 {
		t.Fatal("--once with an explicitly enabled probe whose tool is missing exited 0")
	}
	if !strings.Contains(out, `hardware_probe_success{probe="smart"} 0`) || !strings.Contains(errOut, missing) {
		t.Errorf("want smart failing and the path named; stdout has success=0: %v; stderr:\n%s",
			strings.Contains(out, `hardware_probe_success{probe="smart"} 0`), errOut)
	}
}

func TestFlagsWinOverFile(t *testing.T) {
	cfg := writeConfig(t, "paths:\n  procfs: /nonexistent\n")
	code, out, _ := runCmd(append(append([]string{"--once", "--log.level=error", "--config.file=" + cfg}, hostToolsOff()...), fixtureFlags...)...)
	if code != 0 || !strings.Contains(out, "hardware_cpu_sockets 2") {
		t.Errorf("--path.procfs did not override paths.procfs: exit %d", code)
	}
}

func TestVersionAndBadFlag(t *testing.T) {
	if code, out, _ := runCmd("--version"); code != 0 || !strings.Contains(out+"", "hardware_exporter") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if code, _, errOut := runCmd("--no-such-flag"); code != 2 || !strings.Contains(errOut, "no-such-flag") {
		t.Errorf("unknown flag: exit %d, %q", code, errOut)
	}
}

// TestDaemon runs the real binary on the fixture tree: serve, scrape with
// gzip, reload with a bad file (kept running), reload with a good one, stop
// on SIGTERM. The process is killed by PID whatever happens.
func TestDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDaemon(t)
	addr := freeAddr(t)
	cfg := writeConfig(t, "scheduler:\n  jitter: 1s\n")
	var logs syncBuffer
	// The tool probes are off: the reloads below write configs that would
	// point them at the host's tools.
	args := append([]string{"--web.listen-address=" + addr, "--config.file=" + cfg, "--state.path=" + t.TempDir()}, hostToolsOff()...)
	cmd := exec.Command(bin, append(args, fixtureFlags...)...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // no-op once it has exited
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	waitFor(t, 10*time.Second, func() bool { return get(base+"/-/ready", nil).StatusCode == http.StatusOK })

	resp := get(base+"/metrics", http.Header{"Accept-Encoding": {"gzip"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip scrape: %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(resp.body))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(zr)
	if !strings.Contains(string(text), `product_name="PowerEdge R750"`) || !strings.Contains(string(text), "hardware_exporter_build_info") {
		t.Errorf("scrape lacks fixture data or build info")
	}

	// A bad file on reload is logged and the running config kept.
	if err := os.WriteFile(cfg, []byte("cache:\n  ttl: never\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), "keeping the running config") })
	if get(base+"/metrics", nil).StatusCode != http.StatusOK {
		t.Error("not serving after a bad reload")
	}

	// A good file disabling a probe takes effect.
	if err := os.WriteFile(cfg, []byte("probes:\n  hwmon:\n    enabled: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		return !strings.Contains(string(get(base+"/metrics", nil).body), `probe="hwmon"`)
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("daemon did not exit within 15s of SIGTERM")
	}
}

// buildDaemon builds the binary into a temp dir.
func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hardware_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer is a bytes.Buffer the daemon's output goroutine and the test
// can use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type response struct {
	*http.Response
	body []byte
}

// get fetches url without transparent decompression; errors read as 0.
func get(url string, h http.Header) response {
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		return response{Response: &http.Response{StatusCode: 0, Header: http.Header{}}}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Response: resp, body: b}
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
