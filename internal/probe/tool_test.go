package probe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

func TestRunToolNonZeroExitIsNotAnError(t *testing.T) {
	// smartctl's exit status is a bitmask and its JSON still valid.
	tool := fakeTool(t, "smartctl", `echo '{"ok":true}'; echo "LC_ALL=$LC_ALL" >&2; exit 4`)
	out, err := runTool(context.Background(), tool, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if out.ExitCode != 4 || string(out.Stdout) != "{\"ok\":true}\n" {
		t.Errorf("got exit %d stdout %q", out.ExitCode, out.Stdout)
	}
	if !strings.Contains(string(out.Stderr), "LC_ALL=C") {
		t.Errorf("tool did not run in the C locale: stderr %q", out.Stderr)
	}
}

func TestRunToolKillsTheWholeGroupOnTimeout(t *testing.T) {
	// The script's child sleeps too and holds stdout: killing only the shell
	// would leave it running and Wait blocked on the pipe.
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	tool := fakeTool(t, "ipmitool", "sleep 60 & echo $! > "+pidFile+"; wait\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := runTool(ctx, tool)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("err = %v, want killed", err)
	}
	if d := time.Since(start); d > toolWaitDelay+5*time.Second {
		t.Errorf("runTool returned after %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil { // a zombie until reaped by init; wait briefly
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d survived the timeout", pid)
		}
		if st, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); strings.Contains(string(st), ") Z ") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunToolMissing(t *testing.T) {
	_, err := runTool(context.Background(), filepath.Join(t.TempDir(), "nvidia-smi"))
	if !errors.Is(err, errToolMissing) {
		t.Fatalf("err = %v, want errToolMissing", err)
	}
	if err := toolAvailable("nvidia-smi"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative path: err = %v", err)
	}
	if err := toolAvailable(t.TempDir()); err == nil {
		t.Error("a directory is available as a tool")
	}
}

func TestRunToolOutputCap(t *testing.T) {
	tool := fakeTool(t, "chatty", "head -c 17000000 /dev/zero\n")
	out, err := runTool(context.Background(), tool)
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v, want output cap error", err)
	}
	if len(out.Stdout) != maxToolOutput {
		t.Errorf("kept %d bytes, want %d", len(out.Stdout), maxToolOutput)
	}
}

func TestRunToolSignal(t *testing.T) {
	tool := fakeTool(t, "crash", "kill -SEGV $$\n")
	if _, err := runTool(context.Background(), tool); err == nil || !strings.Contains(err.Error(), "signal") {
		t.Fatalf("err = %v, want ended by signal", err)
	}
}

// A tool that is still open for writing (being upgraded, or just written by
// a test whose fd a concurrent fork inherited) cannot be executed for a
// moment: ETXTBSY. runTool retries briefly instead of failing the device.
func TestRunToolRetriesBusyExecutable(t *testing.T) {
	tool := fakeTool(t, "smartctl", "echo ok\n")
	w, err := os.OpenFile(tool, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(30 * time.Millisecond)
		w.Close()
		close(released)
	}()
	out, err := runTool(context.Background(), tool)
	<-released
	if err != nil {
		t.Fatalf("busy tool: %v", err)
	}
	if string(out.Stdout) != "ok\n" {
		t.Errorf("stdout %q", out.Stdout)
	}
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
			if err := c.Available(env); !errors.Is(err, errToolMissing) {
				t.Errorf("Available() = %v, want errToolMissing", err)
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
			if d := time.Since(start); d > toolWaitDelay+5*time.Second {
				t.Errorf("hung tool: Probe returned after %v", d)
			}
		})
	}
}
