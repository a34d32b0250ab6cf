//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// fleetTimeout bounds the whole fleet test once the binary is built: every
// wait below also has its own bound, and this one catches their sum.
const fleetTimeout = 3 * time.Minute

// fleetHost is one variant of the fixture host. The fixture itself has a
// degraded md0 and a failing disk (nvme6, SMART health failed); each host
// keeps or repairs them, so the fleet has exactly one of each. The fixture
// has two GPUs (an NVIDIA A100 and an AMD Instinct); on a host with
// gpuOffBus the fake nvidia-smi lists no GPU while the A100 stays on PCI.
type fleetHost struct {
	name        string
	dmi         map[string]string // files of sys/class/dmi/id to overwrite
	degradedMD0 bool
	failingDisk bool
	gpuOffBus   bool
}

// fleetGPUs is the GPUs the gpu probe sees on h.
func fleetGPUs(h fleetHost) float64 {
	if h.gpuOffBus {
		return 1
	}
	return 2
}

// fleetBIOS is the BIOS version h runs: the fixture's, unless h's DMI
// says otherwise.
func fleetBIOS(h fleetHost) string {
	if v, ok := h.dmi["bios_version"]; ok {
		return v
	}
	return "1.13.2"
}

var fleet = []fleetHost{
	{name: "r750-a", degradedMD0: true, dmi: nil}, // the fixture's own identity
	{name: "r750-b", failingDisk: true, dmi: map[string]string{
		"product_serial": "8YR3YY4",
		"chassis_serial": "8YR3YY4",
		"board_serial":   ".8YR3YY4.CNFCP0041J00ZU.",
		"product_uuid":   "4c4c4544-0059-5210-8033-b8c04f595934",
	}},
	{name: "r650-c", dmi: map[string]string{
		"product_name":   "PowerEdge R650",
		"product_sku":    "SKU=0A6F;ModelName=PowerEdge R650",
		"board_name":     "0Y2G81",
		"product_serial": "9ZS4ZZ5",
		"chassis_serial": "9ZS4ZZ5",
		"board_serial":   ".9ZS4ZZ5.CNFCP0041J00ZV.",
		"product_uuid":   "4c4c4544-005a-5310-8034-b9c04f5a5a35",
	}},
	// A third R750 behind on its BIOS, with its A100 fallen off the bus.
	{name: "r750-d", gpuOffBus: true, dmi: map[string]string{
		"bios_version":   "1.10.2",
		"bios_date":      "03/15/2023",
		"product_serial": "6WT1WW2",
		"chassis_serial": "6WT1WW2",
		"board_serial":   ".6WT1WW2.CNFCP0041J00ZW.",
		"product_uuid":   "4c4c4544-0057-5410-8031-b6c04f575732",
	}},
}

// federatedName is every metric name the global Prometheus may hold: the
// recording rules' series and ALERTS (README's match[]), and the series
// Prometheus adds to every scrape of the federation job.
var federatedName = regexp.MustCompile(`^((job|instance):hardware_.*|ALERTS|up|scrape_.*)$`)

// TestFleet runs README's two fleet paths on four variants of the fixture
// host. Federation: a site Prometheus built from deploy/prometheus/
// prometheus.yml with the repository's rules, and a global Prometheus built
// from deploy/prometheus/federation.yml; at the global level the fleet's
// faults must arrive as recording series and ALERTS, and nothing else.
// Remote write: Prometheus in agent mode scraping the same exporters and
// remote-writing to VictoriaMetrics, with vmalert evaluating the same rule
// files against it; the store must answer the same fleet questions.
func TestFleet(t *testing.T) {
	prometheusBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not on PATH: run `make tools`")
	}
	vmBin, vmErr := exec.LookPath("victoria-metrics")
	vmalertBin, vmalertErr := exec.LookPath("vmalert")
	if vmErr != nil || vmalertErr != nil {
		t.Fatal("victoria-metrics or vmalert is not on PATH: run `sh deploy/ci/install-tools.sh --fleet` (make e2e-fleet does)")
	}
	work := t.TempDir()
	bin := buildExporter(t, work)
	start := time.Now()
	deadline := start.Add(fleetTimeout)

	// The exporters, each on its own tree and its own copy of the fake tools.
	instances := map[string]string{} // host name -> instance label
	var targets []string
	for _, h := range fleet {
		dir := filepath.Join(work, h.name)
		addr := freeAddr(t)
		instances[h.name] = addr
		targets = append(targets, addr)
		cfg := prepareFleetHost(t, h, dir)
		startProcess(t, h.name, filepath.Join(dir, "exporter.log"), bin,
			"--config.file="+cfg, "--web.listen-address="+addr, "--log.level=info")
	}
	for _, h := range fleet {
		waitReady(t, "http://"+instances[h.name]+"/-/ready", filepath.Join(work, h.name, "exporter.log"))
	}
	t.Logf("%d exporters ready after %v", len(fleet), time.Since(start).Round(time.Millisecond))

	// The site ("leaf") Prometheus.
	rulesDir := fastRules(t, filepath.Join(work, "rules"))
	leafAddr := freeAddr(t)
	leafCfg := filepath.Join(work, "leaf.yml")
	writeYAML(t, leafCfg, leafConfig(t, rulesDir, targets))
	startProcess(t, "leaf prometheus", filepath.Join(work, "leaf.log"), prometheusBin,
		"--config.file="+leafCfg, "--storage.tsdb.path="+filepath.Join(work, "leaf-tsdb"),
		"--web.listen-address="+leafAddr, "--log.level=warn")

	// The global Prometheus, federating from the leaf.
	globalAddr := freeAddr(t)
	globalCfg := filepath.Join(work, "global.yml")
	writeYAML(t, globalCfg, globalConfig(t, leafAddr))
	startProcess(t, "global prometheus", filepath.Join(work, "global.log"), prometheusBin,
		"--config.file="+globalCfg, "--storage.tsdb.path="+filepath.Join(work, "global-tsdb"),
		"--web.listen-address="+globalAddr, "--log.level=warn")
	// The remote-write path, on the same exporters: VictoriaMetrics, an
	// agent writing to it, vmalert evaluating the rules against it.
	vm := startRemoteWritePath(t, work, vmBin, vmalertBin, prometheusBin, rulesDir, targets)

	leaf, global := "http://"+leafAddr, "http://"+globalAddr
	waitReady(t, leaf+"/-/ready", filepath.Join(work, "leaf.log"))
	waitReady(t, global+"/-/ready", filepath.Join(work, "global.log"))
	t.Logf("leaf and global prometheus ready after %v", time.Since(start).Round(time.Millisecond))

	// Every wait shares the test's deadline: a slow start leaves less for
	// the checks rather than stretching the test.
	until := func(what string, check func() error) {
		t.Helper()
		eventuallyWithin(t, max(time.Until(deadline), time.Second), what, check)
	}
	byInstance := func(want map[string]float64) map[string]float64 {
		m := map[string]float64{}
		for name, v := range want {
			m[instances[name]] = v
		}
		return m
	}
	hosts := func(pick func(fleetHost) bool) map[string]float64 {
		m := map[string]float64{}
		for _, h := range fleet {
			m[h.name] = 0
			if pick(h) {
				m[h.name] = 1
			}
		}
		return byInstance(m)
	}

	// The leaf holds the raw series of all three hosts, so their absence
	// at the global level below means something.
	until("leaf: every host's hwmon temperatures", func() error {
		return expectVector(leaf, `count by(instance) (hardware_hwmon_temperature_celsius) > bool 0`, "instance",
			hosts(func(fleetHost) bool { return true }))
	})

	// Fleet composition, with the leaf's job and external label kept
	// (honor_labels): three R750s and one R650.
	until("global: job:hardware_hosts:count_by_model", func() error {
		return expectVector(global,
			`job:hardware_hosts:count_by_model{job="hardware_exporter",prometheus="hardware-dc1",sys_vendor="Dell Inc."}`,
			"product_name", map[string]float64{"PowerEdge R750": 3, "PowerEdge R650": 1})
	})
	fleetAnswers(t, until, global, `prometheus="hardware-dc1"`, instances)
	until("global: one degraded array", func() error {
		if err := expectValue(global, `job:hardware_mdraid_degraded_arrays:sum{job="hardware_exporter"}`, 1); err != nil {
			return err
		}
		return expectVector(global, `instance:hardware_mdraid_degraded_arrays:count`, "instance",
			hosts(func(h fleetHost) bool { return h.degradedMD0 }))
	})
	until("global: one failing disk", func() error {
		if err := expectValue(global, `job:hardware_smart_failing_disks:sum{job="hardware_exporter"}`, 1); err != nil {
			return err
		}
		return expectVector(global, `instance:hardware_smart_failing_disks:count`, "instance",
			hosts(func(h fleetHost) bool { return h.failingDisk }))
	})

	// The alerts of those faults, pending or firing (both are ALERTS
	// series; the rules' `for` is longer than this test), on their hosts only.
	degraded, failing := instances["r750-a"], instances["r750-b"]
	until("global: ALERTS HardwareRAIDDegraded", func() error {
		return expectVector(global, `count by(instance, array) (ALERTS{alertname="HardwareRAIDDegraded",prometheus="hardware-dc1"})`,
			"instance", map[string]float64{degraded: 1})
	})
	until("global: ALERTS HardwareSMARTFailing", func() error {
		return expectVector(global, `count by(instance, device) (ALERTS{alertname="HardwareSMARTFailing",device="nvme6",prometheus="hardware-dc1"})`,
			"instance", map[string]float64{failing: 1})
	})

	// Nothing but the recording series and ALERTS crossed over: no raw
	// per-sensor, inventory or _info series.
	if err := expectVector(global, `count by(__name__) ({__name__=~"hardware_.*"})`, "__name__", map[string]float64{}); err != nil {
		t.Errorf("raw series federated: %v", err)
	}
	var names []string
	if err := apiGet(global, "/api/v1/label/__name__/values", nil, &names); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !federatedName.MatchString(n) {
			t.Errorf("global prometheus holds %s, which README's match[] should not federate", n)
		}
	}
	t.Logf("global: %d metric names", len(names))

	// The same fleet through remote write: the agent's external label is
	// on the raw series it writes; vmalert's recording series and ALERTS
	// are computed from them, as the site Prometheus computes its own.
	until("victoriametrics: job:hardware_hosts:count_by_model", func() error {
		return expectVector(vm, `job:hardware_hosts:count_by_model{job="hardware_exporter",sys_vendor="Dell Inc."}`,
			"product_name", map[string]float64{"PowerEdge R750": 3, "PowerEdge R650": 1})
	})
	until("victoriametrics: raw series carry the agent's external label", func() error {
		return expectVector(vm, `count by(instance) (hardware_system_dmi_info{prometheus="hardware-dc1"})`, "instance",
			hosts(func(fleetHost) bool { return true }))
	})
	fleetAnswers(t, until, vm, ``, instances)
	until("victoriametrics: ALERTS HardwareRAIDDegraded from vmalert", func() error {
		return expectVector(vm, `count by(instance, array) (ALERTS{alertname="HardwareRAIDDegraded"})`,
			"instance", map[string]float64{degraded: 1})
	})
	t.Logf("fleet end to end in %v", time.Since(start).Round(time.Millisecond))
}

// fleetAnswers checks the fleet questions both paths must answer from their
// recording series and ALERTS: GPUs per host (one fewer on the host whose
// A100 fell off the bus), hosts per BIOS version of the R750s, and the
// firmware drift alert on the host behind, and the missing-device alert on
// the host whose GPU is gone. sel narrows every query (the
// global level's external label).
func fleetAnswers(t *testing.T, until func(string, func() error), prom, sel string, instances map[string]string) {
	t.Helper()
	with := func(s string) string {
		if sel == "" {
			return s
		}
		return sel + "," + s
	}
	gpus, bios := map[string]float64{}, map[string]float64{}
	drift := map[string]float64{}
	for _, h := range fleet {
		gpus[instances[h.name]] = fleetGPUs(h)
		if h.dmi["product_name"] == "" { // an R750
			bios[fleetBIOS(h)]++
		}
	}
	for _, h := range fleet {
		if h.dmi["product_name"] == "" && bios[fleetBIOS(h)] < slices.Max(slices.Collect(maps.Values(bios))) {
			drift[instances[h.name]] = 1
		}
	}
	if len(drift) != 1 {
		t.Fatalf("the fleet should have one R750 behind on its BIOS, has %v", drift)
	}
	until(prom+": instance:hardware_gpus:count", func() error {
		return expectVector(prom, `instance:hardware_gpus:count{`+with(`job="hardware_exporter"`)+`}`, "instance", gpus)
	})
	until(prom+": job:hardware_firmware_hosts:count of the R750s' BIOS", func() error {
		return expectVector(prom, `job:hardware_firmware_hosts:count{`+with(`component="bios",model="PowerEdge R750"`)+`}`,
			"version", bios)
	})
	// Pending (its `for` is 6h), on the host behind only: the fixture's
	// other firmware is the same on every host.
	until(prom+": ALERTS HardwareFirmwareDrift", func() error {
		return expectVector(prom, `count by(instance) (ALERTS{`+with(`alertname="HardwareFirmwareDrift",component="bios",version="1.10.2"`)+`})`,
			"instance", drift)
	})
	if err := expectVector(prom, `count by(instance) (ALERTS{`+with(`alertname="HardwareFirmwareDrift"`)+`})`, "instance", drift); err != nil {
		t.Errorf("drift beyond the BIOS: %v", err)
	}
	// The A100 that fell off the bus: PCI still shows it, nvidia-smi does
	// not, so the missing-device guard's cross-check names it at once
	// (pending: its for is 10m), on that host only.
	missing := map[string]float64{}
	for _, h := range fleet {
		if h.gpuOffBus {
			missing[instances[h.name]] = 1
		}
	}
	until(prom+": ALERTS HardwareDeviceMissing", func() error {
		return expectVector(prom, `count by(instance) (ALERTS{`+with(`alertname="HardwareDeviceMissing",class="gpu_nvidia_driver"`)+`})`,
			"instance", missing)
	})
}

// startRemoteWritePath starts README's remote-write path on loopback:
// VictoriaMetrics single-node, Prometheus in agent mode scraping targets
// (deploy/prometheus/prometheus.yml's jobs, no rules) and remote-writing
// to it, and vmalert evaluating the rule copies in rulesDir against it and
// writing the recording series and ALERTS back. vmalert needs somewhere to
// send alerts: a loopback sink here, an Alertmanager in production. It
// returns VictoriaMetrics' URL once all three answer.
func startRemoteWritePath(t *testing.T, work, vmBin, vmalertBin, prometheusBin, rulesDir string, targets []string) string {
	t.Helper()
	vmAddr, vmalertAddr, agentAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	vm := "http://" + vmAddr
	// latencyOffset: VictoriaMetrics hides the last 30s of samples from
	// queries by default, which would hold every answer back by as much.
	startProcess(t, "victoria-metrics", filepath.Join(work, "vm.log"), vmBin,
		"-storageDataPath="+filepath.Join(work, "vm-data"), "-httpListenAddr="+vmAddr,
		"-search.latencyOffset=1s", "-search.disableCache", "-loggerLevel=WARN")

	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(sink.Close)
	startProcess(t, "vmalert", filepath.Join(work, "vmalert.log"), vmalertBin,
		"-rule="+filepath.Join(rulesDir, "*.yml"), "-datasource.url="+vm, "-remoteWrite.url="+vm,
		"-notifier.url="+sink.URL, "-evaluationInterval=1s", "-remoteWrite.flushInterval=1s",
		"-httpListenAddr="+vmalertAddr, "-loggerLevel=WARN")

	cfg := agentConfig(t, targets, vm+"/api/v1/write")
	cfgPath := filepath.Join(work, "agent.yml")
	writeYAML(t, cfgPath, cfg)
	startProcess(t, "prometheus agent", filepath.Join(work, "agent.log"), prometheusBin, append(agentFlags(t, prometheusBin),
		"--config.file="+cfgPath, "--storage.agent.path="+filepath.Join(work, "agent-wal"),
		"--web.listen-address="+agentAddr, "--log.level=warn")...)

	waitReady(t, vm+"/health", filepath.Join(work, "vm.log"))
	waitReady(t, "http://"+vmalertAddr+"/health", filepath.Join(work, "vmalert.log"))
	waitReady(t, "http://"+agentAddr+"/-/ready", filepath.Join(work, "agent.log"))
	return vm
}

// agentFlags turns on agent mode: --agent from Prometheus 3, the agent
// feature flag before it (Debian 12 ships 2.42).
func agentFlags(t *testing.T, prometheusBin string) []string {
	t.Helper()
	out, _ := exec.Command(prometheusBin, "--help").CombinedOutput()
	if regexp.MustCompile(`(?m)^\s+--agent\b`).Match(out) {
		return []string{"--agent"}
	}
	return []string{"--enable-feature=agent"}
}

// agentConfig is deploy/prometheus/prometheus.yml as an agent: the same
// scrape jobs on the fleet's exporters at 1s, its external_labels, no rules
// or Alertmanager (an agent evaluates none), and a remote_write to url
// that flushes every second.
func agentConfig(t *testing.T, targets []string, url string) map[string]any {
	t.Helper()
	cfg := leafConfig(t, "", targets)
	delete(cfg, "rule_files")
	if g, ok := cfg["global"].(map[string]any); ok {
		delete(g, "evaluation_interval")
	}
	cfg["remote_write"] = []any{map[string]any{
		"url":          url,
		"queue_config": map[string]any{"batch_send_deadline": "1s"},
	}}
	return cfg
}

// prepareFleetHost materializes the fixture tree and the fake tools below
// dir, turns them into host h, and returns the path of its config.
func prepareFleetHost(t *testing.T, h fleetHost, dir string) string {
	t.Helper()
	tree := filepath.Join(dir, "tree")
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/server"), tree); err != nil {
		t.Fatal(err)
	}
	testdata := filepath.Join(dir, "testdata")
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/tools"), filepath.Join(testdata, "tools")); err != nil {
		t.Fatal(err)
	}
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/optics"), filepath.Join(testdata, "optics")); err != nil {
		t.Fatal(err)
	}
	for file, value := range h.dmi {
		writeFile(t, filepath.Join(tree, "sys/class/dmi/id", file), value+"\n")
	}
	if h.gpuOffBus {
		// nvidia-smi lists no GPU (its one A100 is gone), exit 0; the
		// device stays in the PCI tree.
		writeFile(t, filepath.Join(testdata, "tools/nvidia-smi.d/query-gpu.csv"), "")
	}
	if !h.degradedMD0 {
		repairMD0(t, tree)
	}
	if !h.failingDisk {
		// nvme6 as a healthy disk: SMART health passed, smartctl exit 0.
		smart := filepath.Join(testdata, "tools/smartctl.d")
		replaceOnce(t, filepath.Join(smart, "nvme6.json"), `"passed": false`, `"passed": true`)
		replaceOnce(t, filepath.Join(smart, "nvme6.json"), `"exit_status": 8`, `"exit_status": 0`)
		writeFile(t, filepath.Join(smart, "nvme6.exit"), "0\n")
	}

	// Every tool probe on its fake tool; textfile's directory is absent
	// from this copy, so that probe stays off.
	probes := fixture.ToolConfig(testdata)
	probes["defaults"] = map[string]any{"interval": "1h", "timeout": "30s"}
	probes["smart"].(map[string]any)["enabled"] = true
	cfg := map[string]any{
		"paths":     map[string]any{"procfs": tree + "/proc", "sysfs": tree + "/sys", "rootfs": tree + "/root"},
		"scheduler": map[string]any{"max_concurrent": 8, "jitter": "0s"},
		"state":     map[string]any{"path": filepath.Join(dir, "state")},
		"probes":    probes,
	}
	path := filepath.Join(dir, "hardware_exporter.yml")
	writeYAML(t, path, cfg)
	return path
}

// repairMD0 turns the fixture's degraded md0 (sdb2 faulty) into a clean
// two-disk mirror, in /proc/mdstat and in sysfs.
func repairMD0(t *testing.T, tree string) {
	t.Helper()
	replaceOnce(t, filepath.Join(tree, "proc/mdstat"), "sdb2[1](F) sda2[0]", "sdb2[1] sda2[0]")
	replaceOnce(t, filepath.Join(tree, "proc/mdstat"), "1046528 blocks super 1.2 [2/1] [U_]", "1046528 blocks super 1.2 [2/2] [UU]")
	md := filepath.Join(tree, "sys/devices/virtual/block/md0/md")
	writeFile(t, filepath.Join(md, "degraded"), "0\n")
	writeFile(t, filepath.Join(md, "dev-sdb2/state"), "in_sync\n")
	writeFile(t, filepath.Join(md, "dev-sdb2/slot"), "1\n")
	if err := os.Symlink("dev-sdb2", filepath.Join(md, "rd1")); err != nil {
		t.Fatal(err)
	}
}

// replaceOnce edits a fixture copy, and fails when the fixture no longer
// holds old: the variant would silently stop being one.
func replaceOnce(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want 1 (did the fixture change?)", path, old, n)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}

// fastRules copies the repository's rule files into dir with every group
// interval set to 1s. Prometheus has no flag to override a group's own
// interval, and the recording group's 1m would make the first fleet series
// wait up to a minute, then another for the global scrape. The rules
// themselves are unchanged.
func fastRules(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy/prometheus/rules/*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		var doc struct {
			Groups []map[string]any `yaml:"groups"`
		}
		readYAML(t, f, &doc)
		for _, g := range doc.Groups {
			if _, ok := g["interval"]; ok {
				g["interval"] = "1s"
			}
		}
		writeYAML(t, filepath.Join(dir, filepath.Base(f)), doc)
	}
	return dir
}

// leafConfig is deploy/prometheus/prometheus.yml with its file_sd targets
// replaced by the three exporters, intervals of 1s, the fast copy of the
// rules and no Alertmanager. Its external_labels are kept: the global level
// tells sites apart by them.
func leafConfig(t *testing.T, rulesDir string, targets []string) map[string]any {
	t.Helper()
	var cfg map[string]any
	readYAML(t, filepath.Join(repoRoot, "deploy/prometheus/prometheus.yml"), &cfg)
	setFastGlobal(t, cfg)
	cfg["rule_files"] = []string{filepath.Join(rulesDir, "*.yml")}
	delete(cfg, "alerting")
	jobs := scrapeConfigs(t, cfg)
	for _, job := range jobs {
		delete(job, "file_sd_configs")
		job["static_configs"] = []any{map[string]any{"targets": targets}}
	}
	if !slices.ContainsFunc(jobs, func(j map[string]any) bool { return j["job_name"] == "hardware_exporter" }) {
		t.Fatal("deploy/prometheus/prometheus.yml has no hardware_exporter job")
	}
	return cfg
}

// globalConfig is deploy/prometheus/federation.yml pointed at the leaf,
// with intervals of 1s. The federation job must be README's: /federate,
// honor_labels, and the match[] README shows.
func globalConfig(t *testing.T, leafAddr string) map[string]any {
	t.Helper()
	var cfg map[string]any
	readYAML(t, filepath.Join(repoRoot, "deploy/prometheus/federation.yml"), &cfg)
	setFastGlobal(t, cfg)
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range scrapeConfigs(t, cfg) {
		if job["metrics_path"] != "/federate" || job["honor_labels"] != true {
			t.Errorf("federation job %v: want metrics_path /federate and honor_labels true", job["job_name"])
		}
		params, _ := job["params"].(map[string]any)
		matches, _ := params["match[]"].([]any)
		if len(matches) == 0 {
			t.Errorf("federation job %v has no match[]", job["job_name"])
		}
		for _, m := range matches {
			if s, _ := m.(string); !strings.Contains(string(readme), s) {
				t.Errorf("match[] %s of federation.yml is not README's", m)
			}
		}
		job["static_configs"] = []any{map[string]any{"targets": []string{leafAddr}}}
	}
	return cfg
}

func setFastGlobal(t *testing.T, cfg map[string]any) {
	t.Helper()
	global, ok := cfg["global"].(map[string]any)
	if !ok {
		global = map[string]any{}
		cfg["global"] = global
	}
	global["scrape_interval"], global["scrape_timeout"], global["evaluation_interval"] = "1s", "1s", "1s"
	for _, job := range scrapeConfigs(t, cfg) {
		job["scrape_interval"], job["scrape_timeout"] = "1s", "1s"
	}
}

func scrapeConfigs(t *testing.T, cfg map[string]any) []map[string]any {
	t.Helper()
	list, _ := cfg["scrape_configs"].([]any)
	var jobs []map[string]any
	for _, j := range list {
		job, ok := j.(map[string]any)
		if !ok {
			t.Fatalf("scrape_configs entry %v is not a mapping", j)
		}
		jobs = append(jobs, job)
	}
	if len(jobs) == 0 {
		t.Fatal("config has no scrape_configs")
	}
	return jobs
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b))
}

// expectVector checks that query q returns exactly the series want names
// by their label key, with those values.
func expectVector(prom, q, key string, want map[string]float64) error {
	res, err := query(prom, q)
	if err != nil {
		return err
	}
	got := map[string]float64{}
	for _, s := range res {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return fmt.Errorf("%s: value %q: %v", q, str, err)
		}
		if _, dup := got[s.Metric[key]]; dup {
			return fmt.Errorf("%s: two series with %s=%q: %v", q, key, s.Metric[key], res)
		}
		got[s.Metric[key]] = v
	}
	ok := len(got) == len(want)
	for k, w := range want {
		g, present := got[k]
		ok = ok && present && g == w
	}
	if !ok {
		return fmt.Errorf("%s: got %v by %s, want %v", q, sorted(got), key, sorted(want))
	}
	return nil
}

func sorted(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
