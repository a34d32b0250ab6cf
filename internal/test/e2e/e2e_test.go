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
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/test/childproc"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

const repoRoot = "../../.."

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
	{"optics", `hardware_optics_rx_power_watts{interface="ens3f1np1",lane="1"}`, 0.0022489},
	{"smart", `hardware_smart_pending_sectors{device="sdb"}`, 8},
	{"smart", `hardware_smart_health_passed{device="nvme6"}`, 0},
	{"network", `hardware_network_interface_carrier{interface="ens1f1np1"}`, 0},
	{"network", `hardware_network_interface_speed_bytes_per_second{interface="ens3f1np1"}`, 1.25e9},
	{"pci", `hardware_pci_link_width{address="0000:b3:00.0"}`, 2},
	{"ipmi", `hardware_ipmi_sensor_state{sensor="PS2 Status"}`, 2},
}

// faultAlerts are alerts the fixture host's faults raise at once; each needs
// its probe. (Pending or firing: most have a `for`, up to 15m, which a test
// cannot wait for; pending shows the shipped expression matched.) labels
// must all match the alert's; "" matches a label the alert lacks.
var faultAlerts = []struct {
	probe, alert string
	labels       map[string]string
}{
	{"mdraid", "HardwareRAIDDegraded", map[string]string{"array": "md0"}},
	{"smart", "HardwareDiskPendingSectors", map[string]string{"device": "sdb"}},
	{"smart", "HardwareSMARTFailing", map[string]string{"device": "nvme6"}},
	{"network", "HardwareNICDown", map[string]string{"interface": "ens1f1np1"}},
	{"network", "HardwareNICSpeedDegraded", map[string]string{"interface": "ens3f1np1"}},
	{"pci", "HardwarePCIeLinkDegraded", map[string]string{"address": "0000:b3:00.0"}},
	{"ipmi", "HardwarePSUFailed", map[string]string{"sensor": "PS2 Status"}},
	// Events (issue 10): the fixture's kmsg has a fatal machine check, a
	// GHES and an EDAC uncorrected error, Xid 79 and a fatal AER error;
	// its SEL an uncorrectable ECC error and 95% used.
	{"kmsg", "HardwareUncorrectableError", map[string]string{"source": "mce"}},
	{"kmsg", "HardwareUncorrectableError", map[string]string{"source": "ghes"}},
	{"kmsg", "HardwareUncorrectableError", map[string]string{"source": "edac", "device": "CPU_SrcID#0_Ha#0_Chan#2_DIMM#0"}},
	{"sel", "HardwareUncorrectableError", map[string]string{"kind": "uncorrectable_ecc", "sensor_type": "Memory"}},
	{"kmsg", "HardwareGPUXidNeedsReset", map[string]string{"xid": "79", "device": "0000:17:00.0"}},
	{"kmsg", "HardwarePCIeAERError", map[string]string{"device": "0000:50:00.0"}},
	{"sel", "HardwareSELNearlyFull", map[string]string{"job": "hardware_exporter"}},
	// Chassis status says intrusion active; the SDR's Intrusion sensor
	// is deasserted, so the alert is the chassis one (no sensor label).
	{"ipmi", "HardwareChassisIntrusion", map[string]string{"sensor": ""}},
	{"ipmi", "HardwarePSURedundancyLost", map[string]string{"sensor": "PS Redundancy"}},
	// Hardware RAID (issue 11): the fake storcli64's PERC H730P has a
	// degraded volume, an offline and an unconfigured-bad drive and a
	// drive with predictive failures; its second controller's BBU failed.
	{"raid", "HardwareRAIDVirtualDriveDegraded", map[string]string{"controller": "/c0", "vd": "0", "state": "degraded"}},
	{"raid", "HardwareRAIDPhysicalDriveFailed", map[string]string{"controller": "/c0", "enclosure": "32", "slot": "3", "state": "offline"}},
	{"raid", "HardwareRAIDPhysicalDriveFailed", map[string]string{"controller": "/c0", "enclosure": "32", "slot": "4", "state": "unconfigured_bad"}},
	{"raid", "HardwareRAIDPhysicalDrivePredictiveFailure", map[string]string{"controller": "/c0", "enclosure": "32", "slot": "1"}},
	{"raid", "HardwareRAIDBackupUnitFailed", map[string]string{"controller": "/c1"}},
	// SES (issue 20): the JBOD flags the slot of the fixture's sdw, and
	// the alert names the bay and the disk.
	{"enclosure", "HardwareEnclosureSlotFault", map[string]string{"enclosure": "11:0:53:0", "component": "Drive Slot #24_5000CCA26128B1F5", "slot": "24", "device": "sdw", "serial": "VJGRBU1X"}},
	// Optics (issue 20): the fixture's QSFP-DD reads 70.49 degC, above its
	// own 70 degC high warning (as the real module did).
	{"optics", "HardwareOpticTemperatureOutOfRange", map[string]string{"interface": "ens3f1np1"}},
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
		eventually(t, fmt.Sprintf("%s%v", a.alert, a.labels), func() error { return alertActive(prom, a.alert, a.labels) })
	}

	// A fault that appears while monitored: a burst of correctable memory
	// errors and one uncorrectable error, then a refresh of the memory probe.
	if err := alertActive(prom, "HardwareMemoryCorrectableErrorBurst", map[string]string{"controller": "mc1"}); err == nil {
		t.Fatal("HardwareMemoryCorrectableErrorBurst is active before the errors were injected")
	}
	edac := filepath.Join(tree, "sys/devices/system/edac/mc")
	writeFile(t, filepath.Join(edac, "mc1/ce_count"), "505\n")
	writeFile(t, filepath.Join(edac, "mc0/ue_count"), "1\n")
	refresh(t, exporterAddr, "memory")
	eventually(t, "injected EDAC counts scraped", func() error {
		return expectValue(prom, `hardware_memory_edac_correctable_errors_total{controller="mc1"}`, 505)
	})
	eventually(t, "HardwareMemoryCorrectableErrorBurst pending", func() error {
		return alertActive(prom, "HardwareMemoryCorrectableErrorBurst", map[string]string{"controller": "mc1"})
	})
	eventually(t, "HardwareMemoryUncorrectableErrors pending", func() error {
		return alertActive(prom, "HardwareMemoryUncorrectableErrors", map[string]string{"controller": "mc0"})
	})

	t.Logf("fixture faults and memory injection seen after %v", time.Since(start).Round(time.Millisecond))
	injectAMDGPUFaults(t, prom, exporterAddr, tree)
	injectOpticRxLow(t, prom, exporterAddr, filepath.Join(work, "testdata/optics"))
	injectFabricAndThrottle(t, prom, exporterAddr, tree)
	injectDiskFaults(t, prom, exporterAddr, filepath.Join(work, "testdata/tools/smartctl.d"))
	t.Logf("disk faults seen after %v", time.Since(start).Round(time.Millisecond))
	injectMissingDevices(t, prom, exporterAddr, tree, work)
	t.Logf("missing devices seen after %v", time.Since(start).Round(time.Millisecond))

	// Every rule group is loaded and has evaluated without errors (last:
	// the 1m recording group's first run may take up to a minute).
	eventuallyWithin(t, ruleTimeout, "rule groups loaded and evaluated", func() error { return checkRules(prom, rules) })

	// Nothing was rejected at ingestion.
	checkNoRejectedSamples(t, prom)
	t.Logf("end to end in %v", time.Since(start).Round(time.Millisecond))
}

// injectFabricAndThrottle raises the InfiniBand and CPU throttling alerts
// (issue 20), whose expressions need counters that grow: mlx5_2 port 1
// (procfs's capture, all error counters 0) gets 50 symbol errors, one link
// down and as many transmit wait ticks as data words; package 0 of the CPUs
// one more thermal throttle. The symbol error and link downed alerts have no
// `for` and fire; the others (30m, 1h) are pending.
func injectFabricAndThrottle(t *testing.T, prom, exporterAddr, tree string) {
	t.Helper()
	port := filepath.Join(tree, "sys/devices/pci0000:c9/0000:c9:02.0/0000:ca:00.0/infiniband/mlx5_2/ports/1/counters")
	const symbols = `hardware_network_infiniband_port_errors_total{counter="symbol_error",device="mlx5_2",port="1"}`
	eventually(t, "mlx5_2 symbol errors scraped before the injection", func() error { return expectValue(prom, symbols, 0) })
	for _, a := range []string{"HardwareInfiniBandSymbolErrors", "HardwareInfiniBandLinkDowned", "HardwareInfiniBandTransmitWaitHigh", "HardwareCPUThermalThrottling"} {
		if err := alertActive(prom, a, map[string]string{}); err == nil {
			t.Fatalf("%s is active before the injection", a)
		}
	}
	writeFile(t, filepath.Join(port, "symbol_error"), "50\n")
	writeFile(t, filepath.Join(port, "link_downed"), "1\n")
	writeFile(t, filepath.Join(port, "port_xmit_wait"), "1000000\n")
	writeFile(t, filepath.Join(port, "port_xmit_data"), "2880762508848\n") // +1e6 words
	for _, cpu := range []string{"cpu0", "cpu1", "cpu2", "cpu3", "cpu8", "cpu9", "cpu10", "cpu11"} {
		writeFile(t, filepath.Join(tree, "sys/devices/system/cpu", cpu, "thermal_throttle/package_throttle_count"), "31\n")
	}
	refresh(t, exporterAddr, "network")
	refresh(t, exporterAddr, "cpu")
	ib := map[string]string{"device": "mlx5_2", "port": "1"}
	for _, a := range []string{"HardwareInfiniBandSymbolErrors", "HardwareInfiniBandLinkDowned", "HardwareInfiniBandTransmitWaitHigh"} {
		eventually(t, a+" active", func() error { return alertActive(prom, a, ib) })
	}
	eventually(t, "HardwareCPUThermalThrottling pending", func() error {
		return alertActive(prom, "HardwareCPUThermalThrottling", map[string]string{"package": "0"})
	})
}

// injectDiskFaults raises the SMART faults the fixture's captures do not
// hold, by editing the fake smartctl's copies and refreshing the smart
// probe: the captures are real output, and a growth alert needs two
// samples that differ. nvme0's unsafe shutdowns go 12 -> 13, sda's UDMA CRC
// count 0 -> 3, and the newest short self-test of the second megaraid disk
// (0x50014ee2b6578d5f, "Aborted by host" in the capture) becomes a read
// failure, as a real smartctl 7.3 capture of a failing WD disk prints it.
func injectDiskFaults(t *testing.T, prom, exporterAddr, smartctlDir string) {
	t.Helper()
	const (
		udma   = `hardware_smart_ata_attribute_raw{device="sda",id="199"}`
		unsafe = `hardware_smart_nvme_unsafe_shutdowns_total{device="nvme0"}`
	)
	// Both series are scraped by now (the fixture checks above waited for
	// smart's), so the samples before this moment hold the old values.
	before := time.Now()
	if err := expectValue(prom, udma, 0); err != nil {
		t.Fatalf("before the injection: %v", err)
	}
	if err := expectValue(prom, unsafe, 12); err != nil {
		t.Fatalf("before the injection: %v", err)
	}
	if err := alertActive(prom, "HardwareSMARTSelfTestFailed", map[string]string{"device": "0x50014ee2b6578d5f"}); err == nil {
		t.Fatal("HardwareSMARTSelfTestFailed is active before the failure was injected")
	}
	editJSON(t, filepath.Join(smartctlDir, "nvme0.json"), func(m map[string]any) {
		field(t, m, "nvme_smart_health_information_log")["unsafe_shutdowns"] = 13
	})
	editJSON(t, filepath.Join(smartctlDir, "sda.json"), func(m map[string]any) {
		for _, a := range field(t, m, "ata_smart_attributes")["table"].([]any) {
			if a := a.(map[string]any); a["id"] == 199.0 {
				a["raw"] = map[string]any{"value": 3, "string": "3"}
				return
			}
		}
		t.Fatal("sda.json has no attribute 199")
	})
	editJSON(t, filepath.Join(smartctlDir, "controllers/megaraid,1.json"), func(m map[string]any) {
		table := field(t, field(t, m, "ata_smart_self_test_log"), "standard")["table"].([]any)
		newest := table[0].(map[string]any)
		newest["status"] = map[string]any{"value": 121, "string": "Completed: read failure", "remaining_percent": 90, "passed": false}
		newest["lba"] = 494591083
	})
	refresh(t, exporterAddr, "smart")
	eventually(t, "injected SMART values scraped", func() error {
		if err := expectValue(prom, udma, 3); err != nil {
			return err
		}
		return expectValue(prom, unsafe, 13)
	})

	eventually(t, "HardwareSMARTSelfTestFailed pending", func() error {
		return alertActive(prom, "HardwareSMARTSelfTestFailed", map[string]string{"device": "0x50014ee2b6578d5f", "test": "short"})
	})
	// increase() over the rule's day needs only two samples in it.
	eventually(t, "HardwareNVMeUnsafeShutdowns pending", func() error {
		return alertActive(prom, "HardwareNVMeUnsafeShutdowns", map[string]string{"device": "nvme0"})
	})
	// HardwareDiskUDMACRCErrors compares the value with the one a day ago
	// (offset 1d), which a TSDB minutes old does not have: the alert cannot
	// go pending here. So the rule's own expression, read from the rule
	// file, is evaluated with the offset pointing at a moment before the
	// injection, when the series was already scraped at 0.
	expr := ruleExpr(t, "HardwareDiskUDMACRCErrors")
	eventually(t, "HardwareDiskUDMACRCErrors expression on sda", func() error {
		offset := fmt.Sprintf("offset %ds", int(time.Since(before).Seconds())+1)
		q := strings.ReplaceAll(expr, "offset 1d", offset)
		if q == expr {
			t.Fatalf("HardwareDiskUDMACRCErrors no longer says offset 1d: %s", expr)
		}
		res, err := query(prom, q)
		if err != nil {
			return err
		}
		for _, s := range res {
			if s.Metric["device"] == "sda" {
				return nil
			}
		}
		return fmt.Errorf("%s: no series for sda: %v", q, res)
	})
}

// refresh asks the exporter to run probe now.
func refresh(t *testing.T, exporterAddr, probe string) {
	t.Helper()
	resp, err := http.Post("http://"+exporterAddr+"/-/refresh?probe="+probe, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /-/refresh?probe=%s: %s", probe, resp.Status)
	}
}

// editJSON rewrites a captured JSON file through edit, by rename, so the
// fake tool never reads half a file.
func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	edit(m)
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path+".new", string(b)+"\n")
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

func field(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("captured JSON has no object %q (did the fixture change?)", key)
	}
	return v
}

// ruleExpr is the expression of the alerting rule named alert in the
// repository's rule files.
func ruleExpr(t *testing.T, alert string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy/prometheus/rules/*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Rules []struct {
					Alert string `yaml:"alert"`
					Expr  string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				if r.Alert == alert {
					return r.Expr
				}
			}
		}
	}
	t.Fatalf("no alerting rule %s in deploy/prometheus/rules", alert)
	return ""
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

// exporterConfig runs every probe on the fixture, every tool probe on a
// copy (in work/testdata, which the test edits to inject faults) of the
// fake tools of the probe tests (fixture.ToolConfig: a probe added there is
// covered here, and none falls back to a host tool on PATH), on short
// intervals and without jitter.
func exporterConfig(t *testing.T, tree, work string) string {
	t.Helper()
	testdata := filepath.Join(work, "testdata")
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/tools"), filepath.Join(testdata, "tools")); err != nil {
		t.Fatal(err)
	}
	// The optics probe's module images, copied: injectOpticRxLow replaces one.
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/optics"), filepath.Join(testdata, "optics")); err != nil {
		t.Fatal(err)
	}
	probes := fixture.ToolConfig(testdata)
	for _, p := range []string{"smart", "ipmi", "gpu"} {
		probes[p].(map[string]any)["enabled"] = true
	}
	// The probe tests' textfile directory holds hostile files; here the
	// textfile probe has no directory and stays off.
	probes["textfile"] = map[string]any{"directory": filepath.Join(work, "no-textfile-dir")}
	// refresh_spacing: the test refreshes a probe right after an injection,
	// within the default spacing (a tenth of the interval) of its last run.
	probes["defaults"] = map[string]any{"interval": "1h", "timeout": "30s", "refresh_spacing": "1ms"}
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
// whatever the test's outcome (internal/test/childproc).
func startProcess(t *testing.T, name, logPath, bin string, args ...string) {
	t.Helper()
	p, err := childproc.Start(logPath, bin, args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
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
// with all of labels ("" for a label the series lacks).
func alertActive(prom, alert string, labels map[string]string) error {
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
		match := true
		for k, v := range labels {
			match = match && a.Labels[k] == v
		}
		if match && (a.State == "pending" || a.State == "firing") {
			return nil
		}
		seen = append(seen, fmt.Sprintf("%v=%s", a.Labels, a.State))
	}
	return fmt.Errorf("%s%v is not pending or firing (active: %v)", alert, labels, seen)
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
