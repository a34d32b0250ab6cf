package toolrun

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Nothing a tool starts may outlive its run: a tool that exits 0 while its
// child keeps stdout open once left that child behind every round, and a
// child that calls setsid(2) leaves the process group Run kills. So:
//
//   - The daemon is a child subreaper (prctl PR_SET_CHILD_SUBREAPER, set on
//     the first run): whatever a tool leaves behind is reparented to the
//     daemon, not to init, where it can be found.
//   - Each run's environment carries a marker (markerName=<pid>.<n>) that
//     the tool's descendants inherit.
//   - When the tool has exited, or was killed on timeout, sweep kills its
//     process group and then every child of the daemon whose environment
//     carries that run's marker, round after round (a killed process's own
//     children are reparented to the daemon in turn), and reaps them.
//
// What this cannot reach: a descendant that clears its environment, or
// runs as another user (a setuid helper, sudo), or every descendant when
// the kernel refuses the prctl. Those are left alone.
//
// Reaping must never steal the exit status of a tool that exec.Cmd is
// waiting for. A tool's pid is registered while a start holds startMu
// shared, and a sweep reaps only unregistered pids while holding it
// exclusively, so no pid is reaped between a fork and its registration.
// Only toolrun starts processes in the daemon.

// markerName is the environment variable that marks a run's processes.
const markerName = "HARDWARE_EXPORTER_TOOLRUN"

// sweepBudget bounds how long one run's sweep may take; what is left is
// swept by the next run's.
const sweepBudget = 3 * time.Second

// maxEnviron bounds what is read of a process's environment: the marker
// is near its start, as Run puts it first.
const maxEnviron = 64 << 10

// maxProcEntries bounds a scan of /proc (pid_max is at most 4M).
const maxProcEntries = 1 << 16

var (
	subreaperOnce sync.Once
	runs          atomic.Uint64

	startMu   sync.RWMutex
	runningMu sync.Mutex
	running   = map[int]bool{}    // tools exec.Cmd will reap
	active    = map[string]bool{} // markers of runs not yet swept

	// childrenFilesMissing is set once /proc/self/task/*/children is found
	// missing (a kernel without CONFIG_PROC_CHILDREN): /proc is scanned.
	childrenFilesMissing atomic.Bool
)

// becomeSubreaper makes the daemon the reaper of its tools' orphans.
func becomeSubreaper() {
	subreaperOnce.Do(func() {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	})
}

// newMarker returns a fresh run's marker, as an environment entry, and
// notes the run as active until done is called (after its sweep): a marked
// process of a run no longer active is a leftover any sweep may kill.
func newMarker() (marker string, done func()) {
	marker = markerName + "=" + strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(runs.Add(1), 10)
	runningMu.Lock()
	active[marker] = true
	runningMu.Unlock()
	return marker, func() {
		runningMu.Lock()
		delete(active, marker)
		runningMu.Unlock()
	}
}

// registered starts cmd's process under startMu and notes its pid as one
// exec.Cmd reaps.
func startRegistered(start func() error, pid func() int) error {
	startMu.RLock()
	defer startMu.RUnlock()
	if err := start(); err != nil {
		return err
	}
	runningMu.Lock()
	running[pid()] = true
	runningMu.Unlock()
	return nil
}

// unregister is called once exec.Cmd has reaped pid.
func unregister(pid int) {
	runningMu.Lock()
	delete(running, pid)
	runningMu.Unlock()
}

func isRegistered(pid int) bool {
	runningMu.Lock()
	defer runningMu.Unlock()
	return running[pid]
}

// sweep kills the process group pgid and every child of the daemon that
// carries marker, and reaps them; it also reaps any other orphan left as a
// zombie. It returns when a round finds nothing left to kill or reap, or
// after sweepBudget.
func sweep(pgid int, marker string) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(sweepBudget)
	needle := []byte("\x00" + marker + "\x00")
	killed := map[int]bool{} // killed and not yet reaped
	pause := 200 * time.Microsecond
	for {
		// A round that acted may have orphaned more: a killed process's
		// children are reparented to the daemon when it dies.
		acted := sweepOnce(needle, killed)
		if !acted && len(killed) == 0 && syscall.Kill(-pgid, 0) != nil {
			return // the group is gone, zombies included, and nothing marked is left
		}
		if time.Now().After(deadline) {
			return
		}
		if !acted {
			time.Sleep(pause)
			pause = min(2*pause, 20*time.Millisecond)
		}
	}
}

// sweepOnce reaps the daemon's children that are zombies (except tools
// exec.Cmd waits for) and kills those alive that carry needle, adding them
// to killed and removing those reaped. It reports whether it killed or
// reaped anything.
func sweepOnce(needle []byte, killed map[int]bool) (acted bool) {
	kids := children()
	startMu.Lock()
	defer startMu.Unlock()
	for pid := range killed {
		if isRegistered(pid) { // reaped by another sweep, and the pid reused
			delete(killed, pid)
			continue
		}
		if got, err := syscall.Wait4(pid, nil, syscall.WNOHANG, nil); got == pid || err != nil {
			delete(killed, pid)
			acted = true
		}
	}
	for _, pid := range kids {
		if killed[pid] || isRegistered(pid) {
			continue
		}
		if got, err := syscall.Wait4(pid, nil, syscall.WNOHANG, nil); got == pid || err != nil {
			acted = acted || got == pid
			continue // reaped now, or not ours any more
		}
		// Alive, and our unreaped child: its pid cannot be reused before we
		// reap it, so the environment read and the kill are the same process.
		// It is this run's, or a leftover of a run already swept (one that
		// was reparented to us only after that sweep's budget ran out).
		if m := markerOf(pid); m != "" && (string(needle[1:len(needle)-1]) == m || !isActive(m)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed[pid] = true
			acted = true
		}
	}
	return acted
}

// markerOf returns the tool-run marker entry in pid's environment
// ("HARDWARE_EXPORTER_TOOLRUN=<pid>.<n>"), or "" when it has none.
func markerOf(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxEnviron))
	for _, kv := range bytes.Split(b, []byte{0}) {
		if bytes.HasPrefix(kv, []byte(markerName+"=")) {
			return string(kv)
		}
	}
	return ""
}

// isActive reports whether marker is of a run not yet swept. A marker that
// is not of this process's making counts as active: it is not ours to kill.
func isActive(marker string) bool {
	if !strings.HasPrefix(marker, markerName+"="+strconv.Itoa(os.Getpid())+".") {
		return true
	}
	runningMu.Lock()
	defer runningMu.Unlock()
	return active[marker]
}

// children lists the daemon's child processes.
func children() []int {
	if !childrenFilesMissing.Load() {
		kids, err := childrenFromTasks()
		if err == nil {
			return kids
		}
		childrenFilesMissing.Store(true)
	}
	return childrenFromScan()
}

// childrenFromTasks reads /proc/self/task/*/children: one small file a
// thread, whatever the host runs.
func childrenFromTasks() ([]int, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat("/proc/self/task/" + t.Name()); serr == nil {
				return nil, err // the kernel has no children files
			}
			continue // the thread exited
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				kids = append(kids, pid)
			}
		}
	}
	return kids, nil
}

// childrenFromScan reads every process's stat for its parent: a few
// syscalls a process on the host.
func childrenFromScan() []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	self := os.Getpid()
	var kids []int
	seen := 0
	buf := make([]byte, 512)
	for seen < maxProcEntries {
		names, err := d.Readdirnames(1024)
		for _, name := range names {
			seen++
			if name[0] < '0' || name[0] > '9' {
				continue
			}
			pid, err := strconv.Atoi(name)
			if err != nil || pid == self {
				continue
			}
			if parentOf(pid, buf) == self {
				kids = append(kids, pid)
			}
		}
		if err != nil {
			break
		}
	}
	return kids
}

// parentOf reads pid's parent from /proc/PID/stat, or returns -1.
func parentOf(pid int, buf []byte) int {
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	n, err := syscall.Read(fd, buf)
	syscall.Close(fd)
	if err != nil || n <= 0 {
		return -1
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	s := buf[:n]
	i := bytes.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	fields := bytes.Fields(s[i+1:])
	if len(fields) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return -1
	}
	return ppid
}
