package statefile

import (
	"bufio"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv names the state directory a re-executed test binary writes
// to until it is killed.
const crashChildEnv = "STATEFILE_CRASH_CHILD_DIR"

// crashSnapshots are the two snapshots the child alternates between: of
// different sizes, so a torn write cannot pass for either.
func crashSnapshots() [2]Snapshot {
	small := edgeSnapshot("smart")
	big := bigSnapshot("smart")
	return [2]Snapshot{small, big}
}

// TestCrashChild is the child's side of TestKillDuringWrite; run alone it
// does nothing.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only run as TestKillDuringWrite's child")
	}
	d, err := Open(dir, testHost)
	if err != nil {
		os.Exit(2)
	}
	os.Stdout.WriteString("ready\n")
	snaps := crashSnapshots()
	// Bounded in case the parent dies without killing us.
	for i := 0; i < 100000; i++ {
		if err := d.Write(snaps[i%2]); err != nil {
			os.Exit(3)
		}
	}
	os.Exit(4)
}

// TestKillDuringWrite kills a process that writes state in a loop with
// SIGKILL at random points and checks that what is left loads as one of
// the two complete snapshots, or not at all if the first write never
// finished: never a mix, never garbage. SIGKILL leaves the page cache
// intact, so this tests the rename protocol, not the fsyncs.
func TestKillDuringWrite(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	dir := filepath.Join(t.TempDir(), "state")
	snaps := crashSnapshots()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	deadline := time.Now().Add(20 * time.Second)
	kills, torn, restored := 0, 0, [3]int{}
	for iter := 0; iter < 30 && time.Now().Before(deadline); iter++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		ready := make(chan bool, 1)
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			ready <- err == nil && line == "ready\n"
		}()
		select {
		case ok := <-ready:
			if !ok {
				syscall.Kill(pid, syscall.SIGKILL)
				cmd.Wait()
				t.Fatal("child did not start")
			}
		case <-time.After(10 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatal("child did not start in 10s")
		}
		// Within the first few writes (each a few milliseconds), at a random
		// point inside one of them.
		time.Sleep(time.Duration(rng.Int64N(int64(25 * time.Millisecond))))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v before it was killed", err)
		}
		kills++
		if m, _ := filepath.Glob(filepath.Join(dir, ".*"+tmpSuffix)); len(m) > 0 {
			torn++
		}

		d, err := Open(dir, testHost)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Load("smart")
		switch {
		case errors.Is(err, fs.ErrNotExist):
			restored[2]++
		case err != nil:
			t.Fatalf("kill %d: %v", iter, err)
		case diffSnapshots(got, snaps[0]) == "":
			restored[0]++
		case diffSnapshots(got, snaps[1]) == "":
			restored[1]++
		default:
			t.Fatalf("kill %d: restored neither snapshot: %s", iter, diffSnapshots(got, snaps[1]))
		}
		if m := tempFiles(t, d); len(m) != 0 {
			t.Fatalf("Open left temp files: %v", m)
		}
	}
	t.Logf("%d kills, %d during a write (a temp file left): restored small %d, big %d, none %d",
		kills, torn, restored[0], restored[1], restored[2])
	if kills < 5 {
		t.Errorf("only %d kills in the time allowed", kills)
	}
}
