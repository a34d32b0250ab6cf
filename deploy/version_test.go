package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// versionFile is the release version in the repository's VERSION file.
func versionFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$`).MatchString(v) {
		t.Fatalf("VERSION %q is not a semantic version", v)
	}
	return v
}

// TestVersionFromFile builds with `make build` and checks that the VERSION
// file reaches --version and hardware_exporter_build_info, with the commit
// as revision, and that no build user or date (which would make two builds
// of one commit differ) does.
func TestVersionFromFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter; skipped with -short")
	}
	want := versionFile(t)
	rev, err := exec.Command("git", "-C", repoRoot, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v", err)
	}
	revision := strings.TrimSpace(string(rev))
	dir := t.TempDir()
	bin := filepath.Join(dir, "hardware_exporter")
	cmd := exec.Command("make", "--no-print-directory", "build", "BIN="+bin)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}

	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	v := string(out)
	if !strings.Contains(v, "hardware_exporter, version "+want+" ") || !strings.Contains(v, "revision: "+revision) {
		t.Errorf("--version does not show VERSION %s and revision %s:\n%s", want, revision, v)
	}
	if m := regexp.MustCompile(`build (user|date):[ \t]*\S+`).FindString(v); m != "" {
		t.Errorf("--version has %q: a build user or date makes builds differ", m)
	}

	tree := filepath.Join(dir, "tree")
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/server"), tree); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(fixtureConfig(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	once := exec.Command(bin, "--once", "--log.level=error", "--config.file="+cfg, "--state.path=",
		"--path.procfs="+tree+"/proc", "--path.sysfs="+tree+"/sys", "--path.rootfs="+tree+"/root")
	var stdout, stderr bytes.Buffer
	once.Stdout, once.Stderr = &stdout, &stderr
	_ = once.Run() // a failing probe is its own tests' business
	line := regexp.MustCompile(`(?m)^hardware_exporter_build_info\{.*\} 1$`).FindString(stdout.String())
	if line == "" {
		t.Fatalf("no hardware_exporter_build_info in --once output\n%s", stderr.Bytes())
	}
	for _, l := range []string{`version="` + want + `"`, `revision="` + revision + `"`, `branch="`} {
		if !strings.Contains(line, l) {
			t.Errorf("build_info lacks %s: %s", l, line)
		}
	}
}
