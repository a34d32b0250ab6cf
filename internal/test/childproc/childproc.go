// Package childproc runs the processes that the project's own test
// programs start (the exporter, Prometheus, node_exporter in make e2e, make
// costtest and make soak): each in its own process group, so that stopping
// it also stops what it started; its output in a log file; and killed by
// the kernel (Pdeathsig) if the program that started it dies first, so
// nothing outlives a run.
package childproc

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is a started command. Cmd is exported for its ProcessState once
// Done is closed.
type Process struct {
	Cmd      *exec.Cmd
	log      *os.File
	done     chan struct{}
	stopOnce sync.Once
}

// Start runs bin with args in its own process group, stdout and stderr
// going to a new file at logPath.
func Start(logPath, bin string, args ...string) (*Process, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &Process{Cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process's pid, which is also its process group's id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Log is the path of the process's log file.
func (p *Process) Log() string { return p.log.Name() }

// Stop sends SIGTERM to the process group and SIGKILL after grace, then
// SIGKILL to the group once more (a child may outlive its leader), and
// closes the log. Later calls do nothing.
func (p *Process) Stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		pgid := p.Pid()
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		p.log.Close()
	})
}
