//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/fixture"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

const repoRoot = "../.."

// Every wait in this test is bounded by one of these.
const (
	startTimeout = 60 * time.Second // a process answers /-/ready
	dataTimeout  = 60 * time.Second // series and alerts show up
	// Rules: the recording group's interval is 1m, and its first
	// evaluation can come up to one interval after Prometheus starts.
	ruleTimeout = 2 * time.Minute
)

// expectation is one series with its fixture value, checked when the probe
// that exports it is built into this tree.
type expectation struct {
	probe string
	query string
	value float64
}

var expectations = []expectation{
	{"system", `hardware_system_dmi_info{product_name="PowerEdge R750",sys_vendor="Dell Inc."}`, 1},
	{"hwmon", `hardware_hwmon_temperature_celsius{chip="platform_coretemp_1",label="Package id 1"}`, 44},
	{"hwmon", `hardware_hwmon_fan_rpm{chip="platform_nct6775_656",sensor="fan1"}`, 1150},
	{"memory", `hardware_memory_edac_correctable_errors_total{controller="mc1"}`, 5},
	{"memory", `hardware_memory_dimm_correctable_errors_total{controller="mc1",dimm="dimm0"}`, 3},
	{"memory", `hardware_memory_edac_uncorrectable_errors_total{controller="mc0"}`, 0},
	{"mdraid", `hardware_mdraid_degraded_disks{array="md0"}`, 1},
	{"mdraid", `hardware_mdraid_degraded_disks{array="md1"}`, 0},
	{"smart", `hardware_smart_pending_sectors{device="sdb"}`, 8},
	{"smart", `hardware_smart_health_passed{device="nvme6"}`, 0},
	{"network", `hardware_network_interface_carrier{interface="ens1f1np1"}`, 0},
	{"network", `hardware_network_interface_speed_bytes_per_second{interface="ens3f1np1"}`, 1.25e9},
	{"pci", `hardware_pci_link_width{address="0000:b3:00.0"}`, 2},
	{"ipmi", `hardware_ipmi_sensor_state{sensor="PS2 Status"}`, 2},
}

// faultAlerts are alerts the fixture host's faults raise at once; each needs
// its probe. (Pending or firing: most have a `for`.)
var faultAlerts = []struct{ probe, alert, label, value string }{
	{"mdraid", "HardwareRAIDDegraded", "array", "md0"},
	{"smart", "HardwareDiskPendingSectors", "device", "sdb"},
	{"smart", "HardwareSMARTFailing", "device", "nvme6"},
	{"network", "HardwareNICDown", "interface", "ens1f1np1"},
	{"network", "HardwareNICSpeedDegraded", "interface", "ens3f1np1"},
	{"pci", "HardwarePCIeLinkDegraded", "address", "0000:b3:00.0"},
	{"ipmi", "HardwarePSUFailed", "sensor", "PS2 Status"},
}

func TestEndToEnd(t *testing.T) {
	start := time.Now()
	prometheusBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not on PATH: run `make tools`")
	}
	work := t.TempDir()
	built := builtProbes()

	// The exporter, on the materialized fixture, with the fake tools.
	bin := buildExporter(t, work)
	tree := filepath.Join(work, "tree")
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/server"), tree); err != nil {
		t.Fatal(err)
	}
	exporterAddr := freeAddr(t)
	cfg := filepath.Join(work, "hardware_exporter.yml")
	writeFile(t, cfg, exporterConfig(t, tree, work))
	startProcess(t, "hardware_exporter", filepath.Join(work, "exporter.log"), bin,
		"--config.file="+cfg, "--web.listen-address="+exporterAddr, "--log.level=debug")
	waitReady(t, "http://"+exporterAddr+"/-/ready", filepath.Join(work, "exporter.log"))
	t.Logf("exporter ready on %s after %v", exporterAddr, time.Since(start).Round(time.Millisecond))

	// Prometheus, scraping it every second with the repository's rules.
	rules, err := filepath.Abs(filepath.Join(repoRoot, "deploy/prometheus/rules"))
	if err != nil {
		t.Fatal(err)
	}
	promAddr := freeAddr(t)
	promCfg := filepath.Join(work, "prometheus.yml")
	writeFile(t, promCfg, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: hardware_exporter
    static_configs: [{targets: [%q]}]
  - job_name: hardware_exporter_self
    metrics_path: /exporter/metrics
    static_configs: [{targets: [%q]}]
`, filepath.Join(rules, "*.yml"), exporterAddr, exporterAddr))
	startProcess(t, "prometheus", filepath.Join(work, "prometheus.log"), prometheusBin,
		"--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(work, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	prom := "http://" + promAddr
	waitReady(t, prom+"/-/ready", filepath.Join(work, "prometheus.log"))
	t.Logf("prometheus ready on %s after %v", promAddr, time.Since(start).Round(time.Millisecond))

	eventually(t, "up{job=\"hardware_exporter\"} == 1", func() error {
		return expectValue(prom, `up{job="hardware_exporter"}`, 1)
	})

	// The fixture's values, as Prometheus stored them.
	for _, e := range expectations {
		if !built[e.probe] {
			t.Errorf("probe %s is not built into this tree; the e2e expectations name it", e.probe)
			continue
		}
		eventually(t, e.query, func() error { return expectValue(prom, e.query, e.value) })
	}
	eventually(t, "every probe succeeds", func() error {
		v, err := query(prom, `hardware_probe_success == 0`)
		if err != nil {
			return err
		}
		if len(v) > 0 {
			return fmt.Errorf("failing probes: %v", v)
		}
		n, err := query(prom, `hardware_probe_success == 1`)
		if err != nil {
			return err
		}
		if len(n) < len(built)-1 { // textfile has no directory here
			return fmt.Errorf("%d probes report success, want at least %d", len(n), len(built)-1)
		}
		return nil
	})

	// Alerts on the fixture's faults.
	for _, a := range faultAlerts {
		if !built[a.probe] {
			t.Errorf("probe %s is not built into this tree; the e2e alerts name it", a.probe)
			continue
		}
		eventually(t, a.alert+" on "+a.value, func() error { return alertActive(prom, a.alert, a.label, a.value) })
	}

	// A fault that appears while monitored: a burst of correctable memory
	// errors and one uncorrectable error, then a refresh of the memory probe.
	if err := alertActive(prom, "HardwareMemoryCorrectableErrorBurst", "controller", "mc1"); err == nil {
		t.Fatal("HardwareMemoryCorrectableErrorBurst is active before the errors were injected")
	}
	edac := filepath.Join(tree, "sys/devices/system/edac/mc")
	writeFile(t, filepath.Join(edac, "mc1/ce_count"), "505\n")
	writeFile(t, filepath.Join(edac, "mc0/ue_count"), "1\n")
	resp, err := http.Post("http://"+exporterAddr+"/-/refresh?probe=memory", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /-/refresh?probe=memory: %s", resp.Status)
	}
	eventually(t, "injected EDAC counts scraped", func() error {
		return expectValue(prom, `hardware_memory_edac_correctable_errors_total{controller="mc1"}`, 505)
	})
	eventually(t, "HardwareMemoryCorrectableErrorBurst pending", func() error {
		return alertActive(prom, "HardwareMemoryCorrectableErrorBurst", "controller", "mc1")
	})
	eventually(t, "HardwareMemoryUncorrectableErrors pending", func() error {
		return alertActive(prom, "HardwareMemoryUncorrectableErrors", "controller", "mc0")
	})

	// Every rule group is loaded and has evaluated without errors (last:
	// the 1m recording group's first run may take up to a minute).
	eventuallyWithin(t, ruleTimeout, "rule groups loaded and evaluated", func() error { return checkRules(prom, rules) })

	// Nothing was rejected at ingestion.
	checkNoRejectedSamples(t, prom)
	t.Logf("end to end in %v", time.Since(start).Round(time.Millisecond))
}

// buildExporter builds the daemon into dir and returns its path.
func buildExporter(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "hardware_exporter")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hardware_exporter")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// builtProbes are the probes compiled into this tree (and so the binary).
func builtProbes() map[string]bool {
	m := map[string]bool{}
	for _, n := range probe.Names() {
		m[n] = true
	}
	return m
}

// exporterConfig runs every probe on the fixture, every tool probe on the
// fake tools of the probe tests (fixture.ToolConfig: a probe added there is
// covered here, and none falls back to a host tool on PATH), on short
// intervals and without jitter.
func exporterConfig(t *testing.T, tree, work string) string {
	t.Helper()
	testdata, err := filepath.Abs(filepath.Join(repoRoot, "internal/probe/testdata"))
	if err != nil {
		t.Fatal(err)
	}
	probes := fixture.ToolConfig(testdata)
	for _, p := range []string{"smart", "ipmi", "gpu"} {
		probes[p].(map[string]any)["enabled"] = true
	}
	// The probe tests' textfile directory holds hostile files; here the
	// textfile probe has no directory and stays off.
	probes["textfile"] = map[string]any{"directory": filepath.Join(work, "no-textfile-dir")}
	probes["defaults"] = map[string]any{"interval": "1h", "timeout": "30s"}
	b, err := yaml.Marshal(map[string]any{
		"paths":     map[string]any{"procfs": tree + "/proc", "sysfs": tree + "/sys", "rootfs": tree + "/root"},
		"scheduler": map[string]any{"max_concurrent": 8, "jitter": "0s"},
		"state":     map[string]any{"path": filepath.Join(work, "state")},
		"probes":    probes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProcess starts a command in its own process group, logging to
// logPath, and registers its stop: SIGTERM to the group, SIGKILL after 10s,
// whatever the test's outcome. Pdeathsig kills it if the test binary dies.
func startProcess(t *testing.T, name, logPath, bin string, args ...string) {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log (last 4 KiB):\n%s", name, tail(b, 4096))
			}
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func waitReady(t *testing.T, url, logPath string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := httpClient.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("%s not ready within %v (last: %s)\n%s", url, startTimeout, last, tail(b, 4096))
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// eventually polls check until it succeeds or dataTimeout passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	eventuallyWithin(t, dataTimeout, what, check)
}

func eventuallyWithin(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: not within %v: %v", what, timeout, err)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// apiGet decodes Prometheus's API envelope into data.
func apiGet(prom, path string, params url.Values, data any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, prom+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func query(prom, q string) ([]sample, error) {
	var data struct {
		ResultType string   `json:"resultType"`
		Result     []sample `json:"result"`
	}
	if err := apiGet(prom, "/api/v1/query", url.Values{"query": {q}}, &data); err != nil {
		return nil, err
	}
	return data.Result, nil
}

func expectValue(prom, q string, want float64) error {
	res, err := query(prom, q)
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return fmt.Errorf("%s: %d series, want 1: %v", q, len(res), res)
	}
	s, _ := res[0].Value[1].(string)
	got, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%s: value %q: %v", q, s, err)
	}
	if got != want {
		return fmt.Errorf("%s = %v, want %v", q, got, want)
	}
	return nil
}

// alertActive reports whether alert is pending or firing for a series
// whose label has value.
func alertActive(prom, alert, label, value string) error {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := apiGet(prom, "/api/v1/alerts", nil, &data); err != nil {
		return err
	}
	var seen []string
	for _, a := range data.Alerts {
		if a.Labels["alertname"] != alert {
			continue
		}
		if a.Labels[label] == value && (a.State == "pending" || a.State == "firing") {
			return nil
		}
		seen = append(seen, fmt.Sprintf("%v=%s", a.Labels, a.State))
	}
	return fmt.Errorf("%s{%s=%q} is not pending or firing (active: %v)", alert, label, value, seen)
}

// checkRules: every group of the rule files is loaded, every rule has been
// evaluated, and none reports an error.
func checkRules(prom, rulesDir string) error {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			File  string `json:"file"`
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := apiGet(prom, "/api/v1/rules", nil, &data); err != nil {
		return err
	}
	want, err := ruleGroupNames(rulesDir)
	if err != nil {
		return err
	}
	var got []string
	for _, g := range data.Groups {
		got = append(got, g.Name)
		for _, r := range g.Rules {
			if r.LastError != "" || r.Health == "err" {
				return fmt.Errorf("group %s rule %s: health %s: %s", g.Name, r.Name, r.Health, r.LastError)
			}
			if r.Health != "ok" {
				return fmt.Errorf("group %s rule %s: health %q (not evaluated yet?)", g.Name, r.Name, r.Health)
			}
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			return fmt.Errorf("rule group %s not loaded (loaded: %v)", w, got)
		}
	}
	return nil
}

// ruleGroupNames reads the group names of the rule files (a line scan: the
// files are checked by promtool elsewhere).
func ruleGroupNames(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if n, ok := strings.CutPrefix(strings.TrimSpace(line), "- name: "); ok {
				names = append(names, strings.Trim(n, `"'`))
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no rule groups in %s", dir)
	}
	return names, nil
}

// checkNoRejectedSamples reads Prometheus's own counters of samples
// rejected at scrape: none may have been.
func checkNoRejectedSamples(t *testing.T, prom string) {
	t.Helper()
	resp, err := httpClient.Get(prom + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing prometheus /metrics: %v", err)
	}
	for _, name := range []string{
		"prometheus_target_scrapes_sample_out_of_bounds_total",
		"prometheus_target_scrapes_sample_duplicate_timestamp_total",
		"prometheus_target_scrapes_sample_out_of_order_total",
		"prometheus_target_scrapes_exceeded_sample_limit_total",
	} {
		mf, ok := families[name]
		if !ok {
			t.Errorf("prometheus /metrics has no %s", name)
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s = %v: Prometheus rejected samples of the exporter", name, v)
			}
		}
	}
}
