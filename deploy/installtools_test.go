package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `make tools` installs what `make test` needs (prometheus, promtool,
// amtool, and gcc for the fake libnvidia-ml of the NVML tests) and not node_exporter, which only `make costtest` runs and which
// Debian would leave enabled for the next boot. The script runs with a PATH
// of fake tools and no apt-get, so it can only report, never install.
func TestInstallToolsLeavesNodeExporterToCosttest(t *testing.T) {
	fakes := t.TempDir()
	for _, tool := range []string{"prometheus", "promtool", "amtool", "gcc"} {
		if err := os.WriteFile(filepath.Join(fakes, tool), []byte("#!/bin/sh\necho fake\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs(filepath.Join(repoRoot, "deploy", "ci", "install-tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command("/bin/sh", append([]string{script}, args...)...)
		cmd.Env = []string{"PATH=" + fakes, "NODE_EXPORTER=" + filepath.Join(fakes, "no-node-exporter")}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, "all present") {
		t.Errorf("install-tools.sh without node_exporter: %v\n%s\nwant all present: make test does not need it", err, out)
	}
	if out, err := run("--costtest"); err == nil || !strings.Contains(out, "prometheus-node-exporter") {
		t.Errorf("install-tools.sh --costtest without node_exporter: %v\n%s\nwant it missing", err, out)
	}
	// VictoriaMetrics only for `make e2e-fleet`: Debian enables its
	// service too.
	if out, err := run("--fleet"); err == nil || !strings.Contains(out, "victoria-metrics") {
		t.Errorf("install-tools.sh --fleet without victoria-metrics: %v\n%s\nwant it missing", err, out)
	}
	if err := os.Remove(filepath.Join(fakes, "gcc")); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err == nil || !strings.Contains(out, "missing packages: gcc") {
		t.Errorf("install-tools.sh without gcc: %v\n%s\nwant it missing: the NVML tests build a library with it", err, out)
	}
}
