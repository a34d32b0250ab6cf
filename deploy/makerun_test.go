package deploy

import (
	"os/exec"
	"strings"
	"testing"
)

// `make run` starts the daemon on this host; as root it must not write the
// production state directory an installed service uses (it once overwrote
// another run's files). Like `make demo`, it passes its own --state.path.
func TestMakeRunHasItsOwnStatePath(t *testing.T) {
	make, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make is not installed")
	}
	const bin = "/nonexistent/hardware_exporter"
	cmd := exec.Command(make, "-n", "--no-print-directory", "run", "BIN="+bin)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	var run string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), bin+" ") || strings.TrimSpace(l) == bin {
			run = l
		}
	}
	if !strings.Contains(run, "--state.path=") || strings.Contains(run, "--state.path=/var/lib/hardware_exporter") {
		t.Errorf("make run starts %q, want its own --state.path; make -n run:\n%s", run, out)
	}
}
