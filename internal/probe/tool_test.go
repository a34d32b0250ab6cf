package probe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/host/toolrun"
)

// testTools is the absolute path of testdata/tools: the fake smartctl,
// ipmitool and nvidia-smi that print the fixture host's captured output,
// each beside its <tool>.d directory of captures.
var testTools = func() string {
	dir, err := filepath.Abs(filepath.Join("testdata", "tools"))
	if err != nil {
		panic(err)
	}
	return dir
}()

// fakeTool writes an executable shell script standing in for a real tool.
func fakeTool(t *testing.T, name, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// toolProbeRun runs the tool probe called name with command under a timeout.
func toolProbeRun(t *testing.T, name string, command string, timeout time.Duration) (collected, *Skips, error) {
	t.Helper()
	env := Env{Options: withCommand(name, command)}
	p, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	skips := NewSkips(nil)
	ms, err := p.Probe(ctx, env, skips)
	return collected{p: p, metrics: ms}, skips, err
}

// Every tool probe: a missing tool makes Available and Probe say where it
// was looked for; a tool that hangs past the probe's deadline is killed and
// the run fails promptly; the fixture's fake tool is available.
func TestToolProbesMissingOrHung(t *testing.T) {
	for name, tool := range map[string]string{"smart": "smartctl", "ipmi": "ipmitool", "gpu": "nvidia-smi"} {
		t.Run(name, func(t *testing.T) {
			missing := filepath.Join(t.TempDir(), tool)
			env := Env{Options: withCommand(name, missing)}
			p, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			c, ok := p.(Conditional)
			if !ok {
				t.Fatalf("%s does not implement Conditional", name)
			}
			if err := c.Available(env); !errors.Is(err, toolrun.ErrMissing) {
				t.Errorf("Available() = %v, want toolrun.ErrMissing", err)
			}
			if _, err := p.Probe(context.Background(), env, NewSkips(nil)); err == nil || !strings.Contains(err.Error(), missing) {
				t.Errorf("Probe err = %v, want one naming %s", err, missing)
			}

			env = Env{Paths: fixturePaths, Options: fixtureOptions[name]}
			fixture, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := fixture.(Conditional).Available(env); err != nil {
				t.Errorf("fixture %s: Available() = %v", tool, err)
			}

			start := time.Now()
			_, _, err = toolProbeRun(t, name, fakeTool(t, tool, "sleep 60\n"), 300*time.Millisecond)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("hung tool: err = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > toolrun.WaitDelay+5*time.Second {
				t.Errorf("hung tool: Probe returned after %v", d)
			}
		})
	}
}
