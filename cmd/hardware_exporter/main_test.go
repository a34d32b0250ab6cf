package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// fixtureFlags point the daemon at the probes' fixture server, materialized
// by TestMain with real colons in its names (see package fixture).
var fixtureFlags []string

// fixtureRoot is where TestMain materialized the fixture server.
var fixtureRoot string

// maxProcsSet records --runtime.gomaxprocs as run applies it: the tests
// run in one process, whose GOMAXPROCS they leave alone.
var maxProcsSet atomic.Int64

func TestMain(m *testing.M) {
	setMaxProcs = func(n int) { maxProcsSet.Store(int64(n)) }
	startGCPace = func() (func(), bool) { return func() {}, false }
	os.Exit(fixture.WithTree("../../internal/probe/testdata/server", func(root string) int {
		fixtureRoot = root
		fixtureFlags = []string{
			"--path.procfs=" + root + "/proc",
			"--path.sysfs=" + root + "/sys",
			"--path.rootfs=" + root + "/root",
		}
		return m.Run()
	}))
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeConfig writes content as a config file, adding the fixture's roots
// and, for every tool probe, the fixture's fake tool where content names
// none, so that the daemon under test never runs a host tool or reads the
// host's /sys, /proc or /dev.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	doc := map[string]any{}
	if err := yaml.Unmarshal([]byte(content), &doc); err != nil {
		t.Fatalf("test config: %v", err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	paths, _ := doc["paths"].(map[string]any)
	if paths == nil {
		paths = map[string]any{}
	}
	for key, dir := range map[string]string{"procfs": "proc", "sysfs": "sys", "rootfs": "root"} {
		if _, set := paths[key]; !set {
			paths[key] = filepath.Join(fixtureRoot, dir)
		}
	}
	doc["paths"] = paths
	probes, _ := doc["probes"].(map[string]any)
	if probes == nil {
		probes = map[string]any{}
	}
	testdata, err := filepath.Abs("../../internal/probe/testdata")
	if err != nil {
		t.Fatal(err)
	}
	for name, fake := range fixture.ToolConfig(testdata) {
		section, _ := probes[name].(map[string]any)
		if section == nil {
			section = map[string]any{}
		}
		for key, path := range fake.(map[string]any) {
			if _, set := section[key]; !set {
				section[key] = path
			}
		}
		probes[name] = section
	}
	doc["probes"] = probes
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every path option of every registered probe is pointed into testdata by
// writeConfig: a new tool probe without a fake tool fails here rather than
// running the host's tool in the tests below.
func TestTestConfigIsHermetic(t *testing.T) {
	cfg, err := config.Load(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	testdata, _ := filepath.Abs("../../internal/probe/testdata")
	for _, root := range []string{cfg.Paths.ProcFS, cfg.Paths.SysFS, cfg.Paths.RootFS} {
		if !strings.HasPrefix(root, fixtureRoot+"/") {
			t.Errorf("root %s is not in the fixture", root)
		}
	}
	for _, name := range probe.Names() {
		o := cfg.Probe(name).Options
		if o == nil {
			continue
		}
		v := reflect.ValueOf(o).Elem()
		for i := range v.NumField() {
			if p, ok := v.Field(i).Interface().(confval.Path); ok && !strings.HasPrefix(string(p), testdata+"/") {
				t.Errorf("probes.%s: %s = %s is not a fixture path; add it to fixture.ToolPaths", name, v.Type().Field(i).Name, p)
			}
		}
	}
}

func TestConfigCheck(t *testing.T) {
	// The fixture's roots: --config.check asks each probe whether its
	// source is present, which must not read the host's /dev or /sys.
	code, out, _ := runCmd(append([]string{"--config.check", "--config.file=../../configs/hardware_exporter.yml"}, fixtureFlags...)...)
	// The columns are as wide as the longest probe name: match the row,
	// not its padding, so that a new probe's name does not break this.
	if code != 0 || !strings.Contains(out, "config valid") || !regexp.MustCompile(`\nhwmon +true +1m +30s`).MatchString(out) {
		t.Errorf("shipped config: exit %d, stdout %q; want valid and the probes' schedules", code, out)
	}
	// --config.check runs no probe, so the file is written as is.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	for _, tc := range []struct{ doc, want string }{
		{"cache:\n  ttl: 6h\nprobes:\n  hwmon:\n    interval: fast\n", `line 5: probes.hwmon.interval: invalid duration "fast"`},
		{"probes:\n  hwmon:\n    intervall: 1m\n", "line 3: probes.hwmon.intervall: unknown key"},
		{"probes:\n  defaults:\n    intervall: 1m\n", "line 3: probes.defaults.intervall: unknown key"},
		{"probes:\n  smart:\n    timout: 1m\n", "line 3: probes.smart.timout: unknown key"},
		{"probes:\n  hwmon:\n    enabled: ture\n", `line 3: probes.hwmon.enabled: want true or false, got "ture"`},
	} {
		if err := os.WriteFile(bad, []byte(tc.doc), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCmd("--config.check", "--config.file="+bad)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("bad config %q: exit %d, stderr %q; want exit 1 and %q", tc.doc, code, errOut, tc.want)
		}
	}
	if code, _, _ := runCmd("--config.check"); code != 0 {
		t.Errorf("built-in defaults: exit %d, want 0", code)
	}
}

func TestOncePrintsOneRound(t *testing.T) {
	code, out, errOut := runCmd(append([]string{"--once", "--log.level=error", "--config.file=" + writeConfig(t, "")}, fixtureFlags...)...)
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
		`hardware_exporter_build_info{`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--once output lacks %q", want)
		}
	}
}

func TestOnceFailsWhenAProbeFails(t *testing.T) {
	empty := t.TempDir() // no cpuinfo, no meminfo: those probes fail
	code, out, errOut := runCmd("--once", "--config.file="+writeConfig(t, ""), "--path.procfs="+empty, "--path.sysfs="+empty, "--path.rootfs="+empty)
	if code == 0 {
		t.Fatalf("--once on an empty tree exited 0")
	}
	if !strings.Contains(out, `hardware_probe_success{probe="cpu"} 0`) {
		t.Errorf("output lacks the failed probe's status:\n%s", out)
	}
	if !strings.Contains(errOut, "probe failed") {
		t.Errorf("stderr does not say which probe failed:\n%s", errOut)
	}
	// One line per failed probe, at error level: no retry is coming, and
	// there are no last good metrics to keep.
	if n := strings.Count(errOut, "probe=cpu"); n != 1 || strings.Contains(errOut, "retry_at") || strings.Contains(errOut, "keeping its last good") {
		t.Errorf("want one line about cpu, no retry and no last good metrics:\n%s", errOut)
	}
}

// --[no-]probe.NAME win over the file: --no-probe turns one off, --probe
// turns one on and, as enabled: true does, runs it though its source is
// missing.
func TestProbeFlags(t *testing.T) {
	cfg := writeConfig(t, "probes:\n  hwmon:\n    enabled: true\n  cpu:\n    enabled: false\n")
	code, out, errOut := runCmd(append([]string{"--once", "--log.level=error", "--config.file=" + cfg,
		"--no-probe.hwmon", "--probe.cpu", "--no-probe.textfile"}, fixtureFlags...)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if strings.Contains(out, `probe="hwmon"`) || strings.Contains(out, `probe="textfile"`) {
		t.Error("--no-probe.hwmon and --no-probe.textfile did not turn them off")
	}
	if !strings.Contains(out, `hardware_probe_success{probe="cpu"} 1`) {
		t.Error("--probe.cpu did not win over enabled: false")
	}
	// smart, not gpu: the fixture host's AMD GPU keeps gpu available
	// without nvidia-smi.
	missing := filepath.Join(t.TempDir(), "smartctl")
	cfg = writeConfig(t, "probes:\n  smart:\n    command: "+missing+"\n")
	code, out, _ = runCmd(append([]string{"--once", "--log.level=error", "--config.file=" + cfg, "--probe.smart"}, fixtureFlags...)...)
	if code == 0 || !strings.Contains(out, `hardware_probe_success{probe="smart"} 0`) {
		t.Errorf("--probe.smart with smartctl missing: exit %d; want it run and failing", code)
	}
}

// A tool probe whose tool is missing stays off quietly by default; enabled
// explicitly, it runs, fails, and says why.
func TestMissingToolProbe(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "smartctl")
	auto := writeConfig(t, "probes:\n  smart:\n    command: "+missing+"\n")
	code, out, errOut := runCmd(append([]string{"--once", "--config.file=" + auto}, fixtureFlags...)...)
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
	code, out, errOut = runCmd(append([]string{"--once", "--config.file=" + explicit}, fixtureFlags...)...)
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
	code, out, _ := runCmd(append([]string{"--once", "--log.level=error", "--config.file=" + cfg}, fixtureFlags...)...)
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
	args := []string{"--web.listen-address=" + addr, "--config.file=" + cfg, "--state.path=" + t.TempDir()}
	cmd := exec.Command(bin, append(args, fixtureFlags...)...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// The runtime settings below are the daemon's own defaults.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "GOGC" && k != "GOMEMLIMIT" && k != "GOMAXPROCS" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
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

	// One P, and the collector paced by the heap (internal/daemon/gcpace):
	// GOGC off, a memory limit.
	own := string(get(base+"/exporter/metrics", nil).body)
	if !strings.Contains(own, "\ngo_sched_gomaxprocs_threads 1\n") {
		t.Error("/exporter/metrics: GOMAXPROCS is not 1")
	}
	// GOGC off reads as -1 in an unsigned metric.
	if !strings.Contains(own, "\ngo_gc_gogc_percent 1.8446744073709552e+19\n") {
		t.Error("/exporter/metrics: GOGC is not off")
	}
	_, v, _ := strings.Cut(own, "\ngo_gc_gomemlimit_bytes ")
	v, _, _ = strings.Cut(v, "\n")
	if limit, err := strconv.ParseFloat(v, 64); err != nil || limit < 4<<20 || limit > 1<<30 {
		t.Errorf("/exporter/metrics: memory limit %q, want what the daemon holds plus a few MB", v)
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

// A port in use is an error before anything says "started".
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	var code int
	var errOut string
	go func() {
		defer close(done)
		code, _, errOut = runCmd(append([]string{"--web.listen-address=" + l.Addr().String(), "--state.path=",
			"--config.file=" + writeConfig(t, "")}, fixtureFlags...)...)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon kept running on a port in use")
	}
	if code == 0 || !strings.Contains(errOut, "address already in use") {
		t.Errorf("exit %d, stderr:\n%s\nwant non-zero and the bind error", code, errOut)
	}
	if strings.Contains(errOut, `msg=started`) {
		t.Errorf("logged started before failing to bind:\n%s", errOut)
	}
}

// --config.check shows what the daemon will do with each probe: one whose
// source is missing on this host (here smartctl) is "off: why", as the
// daemon leaves it off; written "enabled: true", it runs and fails, so it
// is shown enabled.
func TestConfigCheckShowsProbesOffForMissingSource(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-smartctl")
	code, out, errOut := runCmd(append([]string{"--config.check", "--config.file=" + writeConfig(t, "probes:\n  smart:\n    command: "+missing+"\n")}, fixtureFlags...)...)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	row := summaryRow(out, "smart")
	if f := strings.Fields(row); len(f) < 5 || f[1] != "off" || !strings.Contains(row, "off: ") || !strings.Contains(row, missing) {
		t.Errorf("smart row = %q, want it off naming %s; stdout:\n%s", row, missing, out)
	}
	if hw := summaryRow(out, "hwmon"); !strings.Contains(hw, " true ") {
		t.Errorf("hwmon row = %q, want enabled", hw)
	}
	code, out, errOut = runCmd(append([]string{"--config.check", "--config.file=" + writeConfig(t, "probes:\n  smart:\n    enabled: true\n    command: "+missing+"\n")}, fixtureFlags...)...)
	if row := summaryRow(out, "smart"); code != 0 || !strings.Contains(row, " true ") {
		t.Errorf("smart enabled explicitly: exit %d, row %q, want true; stderr:\n%s", code, row, errOut)
	}
}

// summaryRow returns the --config.check summary line of probe name.
func summaryRow(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

// The daemon runs on one P unless told otherwise, as node_exporter does;
// the flag and the GOMAXPROCS variable both set it.
func TestRuntimeGOMAXPROCS(t *testing.T) {
	for _, c := range []struct {
		env  string
		args []string
		want int64
	}{
		{want: 1},
		{args: []string{"--runtime.gomaxprocs=3"}, want: 3},
		{env: "4", want: 4},
		{env: "4", args: []string{"--runtime.gomaxprocs=2"}, want: 2},
	} {
		if c.env != "" {
			t.Setenv("GOMAXPROCS", c.env)
		}
		maxProcsSet.Store(0)
		if code, _, stderr := runCmd(append(c.args, "--config.check")...); code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		if got := maxProcsSet.Load(); got != c.want {
			t.Errorf("env %q, args %v: GOMAXPROCS %d, want %d", c.env, c.args, got, c.want)
		}
	}
}
