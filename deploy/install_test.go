package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall installs into a DESTDIR with another PREFIX and checks
// that every file lands in the vendor directories under PREFIX (as the
// packages' under /usr), that the unit runs the binary from PREFIX, and that
// make uninstall removes all but the config and the defaults file.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter; skipped with -short")
	}
	make, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make is not installed")
	}
	dest := t.TempDir()
	bin := filepath.Join(t.TempDir(), "hardware_exporter")
	cmd := exec.Command(make, "--no-print-directory", "install", "DESTDIR="+dest, "PREFIX=/opt/hwe", "BIN="+bin)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	files := map[string]os.FileMode{
		"opt/hwe/bin/hardware_exporter":                                                       0o755,
		"etc/hardware_exporter/hardware_exporter.yml":                                         0o644,
		"etc/default/hardware_exporter":                                                       0o644,
		"opt/hwe/lib/systemd/system/hardware_exporter.service":                                0o644,
		"opt/hwe/share/man/man1/hardware_exporter.1.gz":                                       0o644,
		"opt/hwe/share/doc/hardware_exporter/LICENSE":                                         0o644,
		"opt/hwe/share/hardware_exporter/systemd/hardware_exporter.service.d/nvme-smart.conf": 0o644,
		"opt/hwe/lib/sysusers.d/hardware_exporter.conf":                                       0o644,
		"opt/hwe/lib/udev/rules.d/60-hardware_exporter.rules":                                 0o644,
		"opt/hwe/share/doc/hardware_exporter/README.md":                                       0o644,
		"opt/hwe/share/doc/hardware_exporter/runbook.md":                                      0o644,
		"opt/hwe/share/hardware_exporter/prometheus/prometheus.yml":                           0o644,
		"opt/hwe/share/hardware_exporter/prometheus/federation.yml":                           0o644,
		"opt/hwe/share/hardware_exporter/prometheus/rules/hardware_alerts.yml":                0o644,
		"opt/hwe/share/hardware_exporter/grafana/hardware_exporter.json":                      0o644,
	}
	for f, mode := range files {
		fi, err := os.Stat(filepath.Join(dest, f))
		if err != nil {
			t.Errorf("make install did not install %s: %v", f, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), mode)
		}
	}
	unit, err := os.ReadFile(filepath.Join(dest, "opt/hwe/lib/systemd/system/hardware_exporter.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/opt/hwe/bin/hardware_exporter --config.file=/etc/hardware_exporter/hardware_exporter.yml $ARGS") ||
		!strings.Contains(string(unit), "EnvironmentFile=-/etc/default/hardware_exporter\n") ||
		!strings.Contains(string(unit), "file:///opt/hwe/share/doc/hardware_exporter/README.md") {
		t.Errorf("installed unit does not use PREFIX=/opt/hwe:\n%s", unit)
	}
	// A second install must not clobber an edited config.
	cfg := filepath.Join(dest, "etc/hardware_exporter/hardware_exporter.yml")
	if err := os.WriteFile(cfg, []byte("# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(make, "--no-print-directory", "install", "DESTDIR="+dest, "PREFIX=/opt/hwe", "BIN="+bin)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second make install: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(cfg); string(b) != "# edited\n" {
		t.Errorf("a second make install overwrote the edited %s", cfg)
	}

	cmd = exec.Command(make, "--no-print-directory", "uninstall", "DESTDIR="+dest, "PREFIX=/opt/hwe")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	var left []string
	err = filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dest, p)
			left = append(left, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(left, " ") != "etc/default/hardware_exporter etc/hardware_exporter/hardware_exporter.yml" {
		t.Errorf("after make uninstall, want only the config and the defaults file left, got %q", left)
	}
}
