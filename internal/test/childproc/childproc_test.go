package childproc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Stop ends the process and what it started in its group, even when the
// leader ignores SIGTERM; the output is in the log.
func TestStopEndsTheGroup(t *testing.T) {
	dir := t.TempDir()
	child := filepath.Join(dir, "child")
	script := "trap '' TERM; echo started; sleep 1000 & echo $! > " + child + "; while :; do sleep 1; done"
	p, err := Start(filepath.Join(dir, "log"), "/bin/sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(5 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(child)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(10 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the child did not start within 5s")
	}
	if p.Exited() {
		t.Fatal("exited before Stop")
	}
	p.Stop(200 * time.Millisecond)
	p.Stop(time.Second) // a second call does nothing
	if !p.Exited() {
		t.Error("leader still running after Stop")
	}
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the group's child %d outlived Stop", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, _ := os.ReadFile(p.Log()); !strings.Contains(string(b), "started") {
		t.Errorf("log = %q, want the output", b)
	}
}
