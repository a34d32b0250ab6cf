package toolrun

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

// fakeTool writes an executable shell script standing in for a real tool.
func fakeTool(t *testing.T, name, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunNonZeroExitIsNotAnError(t *testing.T) {
	// smartctl's exit status is a bitmask and its JSON still valid.
	tool := fakeTool(t, "smartctl", `echo '{"ok":true}'; echo "LC_ALL=$LC_ALL" >&2; exit 4`)
	out, err := Run(context.Background(), tool, "--json")
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

func TestRunKillsTheWholeGroupOnTimeout(t *testing.T) {
	// The script's child sleeps too and holds stdout: killing only the shell
	// would leave it running and Wait blocked on the pipe.
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	tool := fakeTool(t, "ipmitool", "sleep 60 & echo $! > "+pidFile+"; wait\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, tool)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("err = %v, want killed", err)
	}
	if d := time.Since(start); d > WaitDelay+5*time.Second {
		t.Errorf("Run returned after %v", d)
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

func TestRunMissing(t *testing.T) {
	_, err := Run(context.Background(), filepath.Join(t.TempDir(), "nvidia-smi"))
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v, want ErrMissing", err)
	}
	if err := Available(""); !errors.Is(err, ErrMissing) {
		t.Errorf("no command: err = %v, want ErrMissing", err)
	}
	if err := Available("nvidia-smi"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative path: err = %v", err)
	}
	if err := Available(t.TempDir()); err == nil {
		t.Error("a directory is available as a tool")
	}
	notExec := fakeTool(t, "smartctl", "true\n")
	if err := os.Chmod(notExec, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Available(notExec); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Errorf("file without x bit: err = %v", err)
	}
}

func TestRunOutputCap(t *testing.T) {
	tool := fakeTool(t, "chatty", "head -c 17000000 /dev/zero\n")
	out, err := Run(context.Background(), tool)
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v, want output cap error", err)
	}
	if len(out.Stdout) != MaxOutput {
		t.Errorf("kept %d bytes, want %d", len(out.Stdout), MaxOutput)
	}
}

func TestRunSignal(t *testing.T) {
	tool := fakeTool(t, "crash", "kill -SEGV $$\n")
	if _, err := Run(context.Background(), tool); err == nil || !strings.Contains(err.Error(), "signal") {
		t.Fatalf("err = %v, want ended by signal", err)
	}
}

// A tool that is still open for writing (being upgraded, or just written by
// a test whose fd a concurrent fork inherited) cannot be executed for a
// moment: ETXTBSY. Run retries briefly instead of failing the device.
func TestRunRetriesBusyExecutable(t *testing.T) {
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
	out, err := Run(context.Background(), tool)
	<-released
	if err != nil {
		t.Fatalf("busy tool: %v", err)
	}
	if string(out.Stdout) != "ok\n" {
		t.Errorf("stdout %q", out.Stdout)
	}
}

func TestFailedAndMessage(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name   string
		out    Output
		parsed bool
		want   string // "" = no error
	}{
		{"parsed output with non-zero exit is used", Output{Stdout: []byte("ok"), ExitCode: 1}, true, ""},
		{"empty output with status 0 says nothing", Output{Stdout: []byte(" \n")}, false, ""},
		{"stderr first", Output{Stdout: []byte("usage\n"), Stderr: []byte("\n Could not open device\nmore\n"), ExitCode: 1}, false, "exit status 1: Could not open device"},
		{"stdout when stderr is empty", Output{Stdout: []byte("No devices were found\n"), ExitCode: 6}, false, "exit status 6: No devices were found"},
		{"garbage with status 0", Output{Stdout: []byte("<html>\n")}, false, "no lines in output: <html>"},
		{"nothing printed", Output{ExitCode: 9}, false, "exit status 9: no output"},
		{"long line is cut", Output{Stderr: []byte(long), ExitCode: 2}, false, "exit status 2: " + long[:200]},
		{"invalid UTF-8 is replaced", Output{Stderr: []byte("bad \xff byte"), ExitCode: 2}, false, "exit status 2: bad \uFFFD byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.out.Failed(tc.parsed, "no lines")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
