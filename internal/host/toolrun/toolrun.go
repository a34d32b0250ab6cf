// Package toolrun runs the external tools the probes read (smartctl,
// ipmitool, nvidia-smi), so that every one of them is bounded the same way:
// an absolute path from the config, the caller's context, its own process
// group killed whole on timeout, the C locale, a cap on what it may
// print, and nothing it starts left running once it ends (reap.go). It
// knows nothing of what the tools print.
package toolrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MaxOutput caps what one tool run may write to stdout (and, separately,
// stderr). smartctl -x on a SAS disk prints tens of KiB; anything near this
// is a tool gone wrong, and must not make the daemon allocate without bound.
const MaxOutput = 16 << 20

// WaitDelay is how long Run reads a tool's output after the tool has
// exited and what it started was killed: something out of the sweep's
// reach (another user's process) may still hold the pipes.
const WaitDelay = 2 * time.Second

// startAttempts bounds the retries of a tool that is busy being written.
const startAttempts = 5

// env is the whole environment a tool sees: parsers expect the C locale's
// numbers and messages, and PATH only matters to tools that exec helpers.
var env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// Output is what a finished tool run printed and how it exited.
type Output struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// ErrMissing is wrapped by Available's and Run's errors when the tool is
// not installed.
var ErrMissing = errors.New("tool not found")

// Available reports why the tool at path cannot be run, or nil.
func Available(path string) error {
	if path == "" {
		return fmt.Errorf("%w: no command configured", ErrMissing)
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("command %q is not an absolute path", path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w at %s", ErrMissing, path)
	case err != nil:
		return err
	case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Run runs path with args until it exits or ctx is done, in which case its
// whole process group is killed. Either way, whatever the tool started
// is killed when it ends (see sweep): nothing outlives the run. A
// non-zero exit status is not an error
// (smartctl's is a bitmask, and its JSON is still valid): it is returned in
// ExitCode for the caller to judge. err is set when the tool could not be
// started, was killed, was ended by a signal, or printed more than
// MaxOutput.
func Run(ctx context.Context, path string, args ...string) (Output, error) {
	if err := Available(path); err != nil {
		return Output{}, err
	}
	becomeSubreaper()
	marker, done := newMarker()
	defer done()
	var (
		cmd            *exec.Cmd
		stdout, stderr cappedBuffer
		readers        sync.WaitGroup
		outR, errR     *os.File
		err            error
	)
	// A tool being replaced (a package upgrade writing smartctl) or just
	// written by another goroutine whose fd a concurrently forked child still
	// holds (golang/go#22315) fails to start with ETXTBSY for a moment; a
	// few short retries ride that out.
	for attempt := range startAttempts {
		cmd, outR, errR, err = start(ctx, path, args, marker)
		if !errors.Is(err, syscall.ETXTBSY) || attempt == startAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return Output{}, fmt.Errorf("%s killed: %w", filepath.Base(path), context.Cause(ctx))
		}
		return Output{}, fmt.Errorf("running %s: %w", filepath.Base(path), err)
	}
	// Our own pipes rather than exec.Cmd's: its Wait would also wait for
	// every holder of the pipes to close them, a grandchild included, and
	// the sweep below must run as soon as the tool itself has exited.
	for _, p := range []struct {
		r *os.File
		b *cappedBuffer
	}{{outR, &stdout}, {errR, &stderr}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			_, _ = io.Copy(p.b, p.r)
		}()
	}
	err = cmd.Wait()
	unregister(cmd.Process.Pid)
	sweep(cmd.Process.Pid, marker)
	// What held the pipes is dead now, unless it was out of the sweep's
	// reach; reading stops after WaitDelay either way.
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(WaitDelay):
		_ = outR.SetReadDeadline(time.Now())
		_ = errR.SetReadDeadline(time.Now())
		<-drained
	}
	outR.Close()
	errR.Close()

	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: cmd.ProcessState.ExitCode()}
	name := filepath.Base(path)
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("%s killed: %w", name, context.Cause(ctx))
	case stdout.overflow || stderr.overflow:
		return out, fmt.Errorf("%s printed more than %d bytes", name, MaxOutput)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return out, fmt.Errorf("%s ended by signal %v", name, ws.Signal())
		}
		return out, nil // non-zero exit: the caller decides
	}
	if err != nil {
		return out, fmt.Errorf("running %s: %w", name, err)
	}
	return out, nil
}

// start starts one attempt at the tool, in its own process group, its
// environment carrying marker, its output on pipes the caller reads.
func start(ctx context.Context, path string, args []string, marker string) (cmd *exec.Cmd, outR, errR *os.File, err error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, nil, err
	}
	cmd = exec.CommandContext(ctx, path, args...)
	cmd.Env = append([]string{marker}, env...)
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Negative pid: the whole group, so a shell wrapper's children die too.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = WaitDelay
	err = startRegistered(cmd.Start, func() int { return cmd.Process.Pid })
	// The child has its copies; ours must go, or the readers never see EOF.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, nil, nil, err
	}
	return cmd, outR, errR, nil
}

// cappedBuffer keeps the first MaxOutput bytes written to it and remembers
// whether there were more. It never fails a write, so the tool is not
// killed by EPIPE halfway through a message we might still log.
// (Not an embedded bytes.Buffer: io.Copy would use its ReadFrom and
// bypass the cap.)
type cappedBuffer struct {
	buf      bytes.Buffer
	overflow bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := MaxOutput - b.buf.Len(); len(p) > room {
		b.overflow = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) Bytes() []byte { return b.buf.Bytes() }

// Failed judges a tool run that started and ended on its own: it failed
// when nothing in its output could be parsed and it either exited non-zero
// or printed something (garbage). An empty output with status 0 is a
// source with nothing to report, not a failure. A non-zero exit with
// parsable output is a partial answer and is used.
func (o Output) Failed(parsed bool, what string) error {
	switch {
	case parsed:
		return nil
	case o.ExitCode != 0:
		return fmt.Errorf("exit status %d: %s", o.ExitCode, o.Message())
	case len(bytes.TrimSpace(o.Stdout)) > 0:
		return fmt.Errorf("%s in output: %s", what, o.Message())
	}
	return nil
}

// Message is the first line a failed tool printed, stderr first, for an
// error message; tools print their reason there ("Could not open device at
// /dev/ipmi0", "NVIDIA-SMI has failed because ..."). It is at most 200
// bytes of valid UTF-8, or "no output".
func (o Output) Message() string {
	for _, b := range [][]byte{o.Stderr, o.Stdout} {
		if line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n")); len(line) > 0 {
			const maxLen = 200
			if len(line) > maxLen {
				line = line[:maxLen]
			}
			return strings.ToValidUTF8(string(line), "\uFFFD")
		}
	}
	return "no output"
}
