package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/hardware-exporter/hardware_exporter/internal/test/childproc"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ is 100 on
// every Linux ABI Go supports.
const userHZ = 100

// group owns every process the cost test starts. Each runs in its own
// process group (internal/test/childproc), so that stopping it also stops what
// it started (the exporter's tools); stopAll is deferred by run and so runs
// on success, on error and on a signal.
type group struct {
	mu    sync.Mutex
	procs []*process
}

// process is a started program and the name the output uses for it.
type process struct {
	name string
	*childproc.Process
}

// start runs bin in its own process group with its output in logPath.
func (g *group) start(name, logPath, bin string, args ...string) (*process, error) {
	cp, err := childproc.Start(logPath, bin, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &process{name: name, Process: cp}
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// stopAll stops every process, newest first.
func (g *group) stopAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.procs) - 1; i >= 0; i-- {
		g.procs[i].Stop(5 * time.Second)
	}
	g.procs = nil
}

// cpuUsage is what a process has used so far: its own time and that of
// the children it has waited for (the exporter's tools).
type cpuUsage struct {
	own, children time.Duration
}

func (c cpuUsage) total() time.Duration { return c.own + c.children }

func (c cpuUsage) sub(d cpuUsage) cpuUsage {
	return cpuUsage{own: c.own - d.own, children: c.children - d.children}
}

// cpuOf reads a process's CPU time. Its own time is the scheduler's exact
// runtime of each of its threads (/proc/PID/task/TID/schedstat, in
// nanoseconds) where the kernel has it: /proc/PID/stat counts in 10 ms
// ticks, which in a 10-minute real-time window of a daemon using ~0.2 s is
// an error of up to a tenth (utime and stime are each truncated). The
// children's time exists only in /proc/PID/stat. A thread that exited
// takes its schedstat with it; Go's threads live as long as the process.
func cpuOf(pid int) (cpuUsage, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return cpuUsage{}, err
	}
	s, err := p.Stat()
	if err != nil {
		return cpuUsage{}, err
	}
	tick := time.Second / userHZ
	u := cpuUsage{
		own:      time.Duration(s.UTime+s.STime) * tick,
		children: time.Duration(s.CUTime+s.CSTime) * tick,
	}
	if ns, ok := threadsRuntime(pid); ok {
		u.own = ns
	}
	return u, nil
}

// threadsRuntime sums the schedstat runtime of pid's threads; false where
// the kernel has no schedstat (CONFIG_SCHED_INFO off).
func threadsRuntime(pid int) (time.Duration, bool) {
	threads, err := procfs.AllThreads(pid)
	if err != nil || len(threads) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, t := range threads {
		st, err := t.Schedstat()
		if err != nil {
			return 0, false
		}
		sum += time.Duration(st.RunningNanoseconds)
	}
	return sum, true
}

// memory is a process's resident set now and at its peak.
type memory struct{ rss, peak uint64 }

func memoryOf(pid int) (memory, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return memory{}, err
	}
	s, err := p.NewStatus()
	if err != nil {
		return memory{}, err
	}
	return memory{rss: s.VmRSS, peak: s.VmHWM}, nil
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls url until it answers 200, p exits, or timeout passes.
func waitReady(ctx context.Context, p *process, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited before it was ready (see %s)", p.name, p.Log())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("%s not ready at %s after %v (see %s)", p.name, url, timeout, p.Log()), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
