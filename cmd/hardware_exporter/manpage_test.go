package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpMan checks the man page `make package` ships (--help-man): one
// .TH line that carries the version, a whatis line man-db can index, and
// the flags. kingpin writes it to the process' stdout, so the test runs a
// binary built with a version, as the Makefile builds it.
func TestHelpMan(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "hardware_exporter")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/prometheus/common/version.Version=9.8.7", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--help-man").Output()
	if err != nil {
		t.Fatalf("--help-man: %v", err)
	}
	page := string(out)
	var th []string
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, ".TH ") {
			th = append(th, l)
		}
	}
	if len(th) != 1 || th[0] != `.TH hardware_exporter 1 "" "hardware_exporter 9.8.7" "User Commands"` {
		t.Errorf(".TH lines %q, want one naming the version", th)
	}
	if strings.Contains(page, "build user:") || strings.Contains(page, "go version:") {
		t.Errorf("version.Print's lines spill into the page:\n%s", page)
	}
	if !strings.Contains(page, ".SH \"NAME\"\nhardware_exporter \\- Exports hardware inventory") {
		t.Errorf("NAME section lacks the whatis line:\n%s", page)
	}
	for _, f := range []string{`\fB--config.file=CONFIG.FILE\fR`, `\fB--state.path=`, `\fB--web.listen-address=`} {
		if !strings.Contains(page, f) {
			t.Errorf("man page lacks %s", f)
		}
	}
}
