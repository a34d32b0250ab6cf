package toolrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pidsIn reads the pids a fake tool wrote, one a line, waiting briefly for
// writers that run in the background.
func pidsIn(t *testing.T, file string, want int) []int {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s: %q", file, b)
			}
			pids = append(pids, pid)
		}
		if len(pids) >= want || time.Now().After(deadline) {
			if len(pids) < want {
				t.Fatalf("%s holds %d pids, want %d", file, len(pids), want)
			}
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertGone fails unless every pid is gone (reaped, not even a zombie)
// within a few seconds, and kills any that are not.
func assertGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("process %d outlived the run: %s", pid, st)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestRunLeavesNothingBehind(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		pids         int
	}{
		// Exits 0 while its child holds stdout: the child once survived
		// the exporter, and Run waited WaitDelay for the pipe.
		{"child holding stdout", "sleep 1000 & echo $! >> $PIDS\necho done\n", 1},
		// setsid(1) leaves the process group Run kills.
		{"setsid child", "setsid sleep 1000 & echo $! >> $PIDS\necho done\n", 1},
		// A new session whose own child is reparented only when it dies.
		{"setsid shell with a child", "setsid sh -c 'sleep 1000 & echo $! >> $PIDS; echo $$ >> $PIDS; wait' &\nwaitpids 2\necho done\n", 2},
		// The classic daemon: fork, setsid, fork again, first child exits.
		{"double fork", "( setsid sh -c '(sleep 1000 & echo $! >> $PIDS) ' & ) \nwaitpids 1\necho done\n", 1},
		// Closes stdout and runs on in the background: nothing to wait for.
		{"child with stdout closed", "sleep 1000 >/dev/null 2>&1 & echo $! >> $PIDS\necho done\n", 1},
	} {
		for _, scan := range []bool{false, true} {
			name := tc.name
			if scan {
				name += ", scanning /proc"
			}
			t.Run(name, func(t *testing.T) {
				defer childrenFilesMissing.Store(childrenFilesMissing.Load())
				childrenFilesMissing.Store(scan)
				runLeavesNothingBehind(t, tc.script, tc.pids)
			})
		}
	}
}

func runLeavesNothingBehind(t *testing.T, script string, npids int) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	// waitpids N: wait (at most 3 s) until N pids were written, so that
	// the tool does not exit before its children are known.
	tool := fakeTool(t, "tool", "export PIDS='"+pidFile+"'\n"+
		"waitpids() { i=0; while [ \"$(cat $PIDS 2>/dev/null | wc -l)\" -lt $1 ] && [ $i -lt 300 ]; do sleep 0.01; i=$((i+1)); done; }\n"+
		script)
	start := time.Now()
	out, err := Run(context.Background(), tool)
	took := time.Since(start)
	assertGone(t, pidsIn(t, pidFile, npids))
	if err != nil || string(out.Stdout) != "done\n" || out.ExitCode != 0 {
		t.Errorf("got %q, exit %d, err %v", out.Stdout, out.ExitCode, err)
	}
	if took > WaitDelay/2 {
		t.Errorf("Run took %v: it waited on a pipe the tool's children held", took)
	}
}

// On timeout, what escaped the process group dies too.
func TestRunTimeoutKillsEscapedChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	tool := fakeTool(t, "tool", "setsid sleep 1000 & echo $! >> "+pidFile+"\nsleep 1000\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, tool)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("err = %v, want killed", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run returned after %v", d)
	}
	assertGone(t, pidsIn(t, pidFile, 1))
}

// Runs at once sweep only their own processes, and never reap a tool
// exec.Cmd is waiting for (its exit status would be lost: ECHILD).
func TestConcurrentRunsKeepTheirOwn(t *testing.T) {
	dir := t.TempDir()
	slow := fakeTool(t, "slow", "setsid sleep 1000 & echo $! >> "+dir+"/slow\nsleep 0.5\necho slow\nexit 3\n")
	fast := fakeTool(t, "fast", "sleep 1000 & echo $! >> "+dir+"/fast\nsetsid sleep 1000 & echo $! >> "+dir+"/fast\necho fast\nexit 5\n")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Go(func() {
			out, err := Run(context.Background(), slow)
			if err != nil || string(out.Stdout) != "slow\n" || out.ExitCode != 3 {
				errs <- fmt.Errorf("slow: %q exit %d err %v", out.Stdout, out.ExitCode, err)
			}
		})
		wg.Go(func() {
			for range 5 {
				out, err := Run(context.Background(), fast)
				if err != nil || string(out.Stdout) != "fast\n" || out.ExitCode != 5 {
					errs <- fmt.Errorf("fast: %q exit %d err %v", out.Stdout, out.ExitCode, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assertGone(t, append(pidsIn(t, dir+"/slow", 4), pidsIn(t, dir+"/fast", 40)...))
}

// A child that is not the run's (another run's, or unmarked) is left alone.
func TestSweepSparesUnmarkedChildren(t *testing.T) {
	becomeSubreaper()
	other := fakeTool(t, "other", "exec sleep 1000\n")
	p, err := os.StartProcess(other, []string{other}, &os.ProcAttr{Env: []string{markerName + "=someone-else"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Kill(); _, _ = p.Wait() }()
	tool := fakeTool(t, "tool", "echo ok\n")
	if _, err := Run(context.Background(), tool); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.Signal(0)); errors.Is(err, os.ErrProcessDone) {
		t.Fatal("the sweep killed a process not of its run")
	}
}

// The cost a run pays for the sweep, on top of fork, exec and wait.
func BenchmarkRun(b *testing.B) {
	path := filepath.Join(b.TempDir(), "true")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho ok\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Run(context.Background(), path); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSweep(b *testing.B) {
	becomeSubreaper()
	for b.Loop() {
		m, done := newMarker()
		sweep(1<<22+1, m) // no such group: one round
		done()
	}
}

func BenchmarkChildrenFromTasks(b *testing.B) {
	for b.Loop() {
		if _, err := childrenFromTasks(); err != nil {
			b.Skip(err)
		}
	}
}

func BenchmarkChildrenFromScan(b *testing.B) {
	for b.Loop() {
		childrenFromScan()
	}
}

// A leftover of a run already swept (one reparented to the daemon only after
// that sweep gave up) is killed by the next run's sweep.
func TestNextSweepKillsLeftovers(t *testing.T) {
	becomeSubreaper()
	left := fakeTool(t, "left", "exec sleep 1000\n")
	stale := markerName + "=" + strconv.Itoa(os.Getpid()) + ".999999999" // a run long finished
	p, err := os.StartProcess(left, []string{left}, &os.ProcAttr{Env: []string{stale}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Kill() }()
	tool := fakeTool(t, "tool", "echo ok\n")
	if _, err := Run(context.Background(), tool); err != nil {
		t.Fatal(err)
	}
	assertGone(t, []int{p.Pid})
}
