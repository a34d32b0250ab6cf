// Package deploy holds no code: its tests check the deployment files next to
// them (systemd unit, Prometheus rules, Grafana dashboard, make install)
// against the exporter's real output.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// repoRoot is where go test runs this package from, plus "..".
const repoRoot = ".."

// needTool returns the path of a tool the deploy checks need. A missing
// tool fails the test: skipping would let CI pass without checking.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH: run `make tools` (deploy/ci/install-tools.sh installs Debian's prometheus and prometheus-alertmanager packages)", name)
	}
	return p
}

// goTool is the go command that runs the tests (go test puts its own
// toolchain's bin first on PATH).
func goTool() string { return "go" }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

var (
	onceMu     sync.Mutex
	onceOutput []byte
)

// fixtureExposition builds the exporter and returns `hardware_exporter
// --once` on the materialized fixture host: the text exposition of every
// probe this tree has. Built once per test binary.
func fixtureExposition(t *testing.T) []byte {
	t.Helper()
	onceMu.Lock()
	defer onceMu.Unlock()
	if onceOutput != nil {
		return onceOutput
	}
	dir, err := os.MkdirTemp("", "hardware_exporter-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "hardware_exporter")
	build := exec.Command(goTool(), "build", "-o", bin, "./cmd/hardware_exporter")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tree := filepath.Join(dir, "tree")
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/server"), tree); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(fixtureConfig(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--once", "--log.level=error", "--config.file="+cfg,
		"--path.procfs="+tree+"/proc", "--path.sysfs="+tree+"/sys", "--path.rootfs="+tree+"/root")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// A failing probe is its own tests' business; the exposition of
		// the others is still what the rules are checked against.
		t.Logf("hardware_exporter --once on the fixture: %v\n%s", err, stderr.Bytes())
	}
	if stdout.Len() == 0 {
		t.Fatalf("hardware_exporter --once printed nothing\n%s", stderr.Bytes())
	}
	onceOutput = stdout.Bytes()
	return onceOutput
}

// fixtureMetricNames are the metric names in the fixture exposition, as
// they appear in PromQL (counters with their _total).
func fixtureMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(fixtureExposition(t)))
	if err != nil {
		t.Fatalf("parsing the fixture exposition: %v", err)
	}
	names := map[string]bool{}
	for n := range families {
		names[n] = true
	}
	return names
}

// fixtureConfig enables the tool probes with the fake tools of the probe
// tests (smartctl, ipmitool for ipmi and sel, nvidia-smi), so their series
// are in the output.
func fixtureConfig(t *testing.T) string {
	t.Helper()
	tools, err := filepath.Abs(filepath.Join(repoRoot, "internal/probe/testdata/tools"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("probes:\n")
	for probe, tool := range map[string]string{"smart": "smartctl", "ipmi": "ipmitool", "sel": "ipmitool", "gpu": "nvidia-smi"} {
		if p := filepath.Join(tools, tool); fileExists(p) {
			fmt.Fprintf(&b, "  %s: {enabled: true, command: %q}\n", probe, p)
		}
	}
	return b.String()
}

var metricsDocRow = regexp.MustCompile("^\\|\\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\\s*\\|")

// documentedMetricNames are the names in docs/metrics.md's table.
func documentedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs/metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := metricsDocRow.FindStringSubmatch(line); m != nil {
			names[m[1]] = true
		}
	}
	if len(names) == 0 {
		t.Fatal("docs/metrics.md has no metric rows (| `name` | type | labels | help | probe |)")
	}
	return names
}

// promtool runs promtool with args and fails the test, showing its output,
// unless it exits 0.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, "promtool"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func sortedKeys[V any](m map[string]V) []string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
