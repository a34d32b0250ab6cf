package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// External tools (smartctl, ipmitool, nvidia-smi) all run through runTool,
// so that every one of them is bounded the same way: an absolute path from
// the config, the probe's context, its own process group killed whole on
// timeout, the C locale, and a cap on what it may print.

// maxToolOutput caps what one tool run may write to stdout (and, separately,
// stderr). smartctl -x on a SAS disk prints tens of KiB; anything near this
// is a tool gone wrong, and must not make the daemon allocate without bound.
const maxToolOutput = 16 << 20

// toolWaitDelay is how long runTool waits for a killed tool's pipes to close
// (a grandchild may hold them) before giving up on them.
const toolWaitDelay = 2 * time.Second

// toolStartAttempts bounds the retries of a tool that is busy being written.
const toolStartAttempts = 5

// toolEnv is the whole environment a tool sees: parsers expect the C locale's
// numbers and messages, and PATH only matters to tools that exec helpers.
var toolEnv = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// toolOutput is what a finished tool run printed and how it exited.
type toolOutput struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// errToolMissing is wrapped by toolAvailable's and runTool's errors when the
// tool is not installed.
var errToolMissing = errors.New("tool not found")

// toolAvailable reports why the tool at path cannot be run, or nil.
func toolAvailable(path string) error {
	if path == "" {
		return fmt.Errorf("%w: no command configured", errToolMissing)
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("command %q is not an absolute path", path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w at %s", errToolMissing, path)
	case err != nil:
		return err
	case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// runTool runs path with args until it exits or ctx is done, in which case
// its whole process group is killed. A non-zero exit status is not an error
// (smartctl's is a bitmask, and its JSON is still valid): it is returned in
// ExitCode for the caller to judge. err is set when the tool could not be
// started, was killed, was ended by a signal, or printed more than
// maxToolOutput.
func runTool(ctx context.Context, path string, args ...string) (toolOutput, error) {
	if err := toolAvailable(path); err != nil {
		return toolOutput{}, err
	}
	var (
		cmd            *exec.Cmd
		stdout, stderr cappedBuffer
		err            error
	)
	// A tool being replaced (a package upgrade writing smartctl) or just
	// written by another goroutine whose fd a concurrently forked child still
	// holds (golang/go#22315) fails to start with ETXTBSY for a moment; a
	// few short retries ride that out.
	for attempt := range toolStartAttempts {
		stdout, stderr = cappedBuffer{}, cappedBuffer{}
		cmd = exec.CommandContext(ctx, path, args...)
		cmd.Env = toolEnv
		cmd.Stdin = nil // /dev/null
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error {
			// Negative pid: the whole group, so a shell wrapper's children die too.
			return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.WaitDelay = toolWaitDelay
		err = cmd.Run()
		if !errors.Is(err, syscall.ETXTBSY) || attempt == toolStartAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	out := toolOutput{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: cmd.ProcessState.ExitCode()}
	name := filepath.Base(path)
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("%s killed: %w", name, context.Cause(ctx))
	case stdout.overflow || stderr.overflow:
		return out, fmt.Errorf("%s printed more than %d bytes", name, maxToolOutput)
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

// cappedBuffer keeps the first maxToolOutput bytes written to it and
// remembers whether there were more. It never fails a write, so the tool is
// not killed by EPIPE halfway through a message we might still log.
// (Not an embedded bytes.Buffer: io.Copy would use its ReadFrom and
// bypass the cap.)
type cappedBuffer struct {
	buf      bytes.Buffer
	overflow bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := maxToolOutput - b.buf.Len(); len(p) > room {
		b.overflow = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) Bytes() []byte { return b.buf.Bytes() }

// toolFailed judges a tool run that started and ended on its own: it
// failed when nothing in its output could be parsed and it either exited
// non-zero or printed something (garbage). An empty output with status 0
// is a source with nothing to report, not a failure. A non-zero exit with
// parsable output is a partial answer and is used.
func toolFailed(out toolOutput, parsed bool, what string) error {
	switch {
	case parsed:
		return nil
	case out.ExitCode != 0:
		return fmt.Errorf("exit status %d: %s", out.ExitCode, toolMessage(out))
	case len(bytes.TrimSpace(out.Stdout)) > 0:
		return fmt.Errorf("%s in output: %s", what, toolMessage(out))
	}
	return nil
}

// toolMessage is the first line a failed tool printed, stderr first, for
// an error message; tools print their reason there ("Could not open
// device at /dev/ipmi0", "NVIDIA-SMI has failed because ...").
func toolMessage(out toolOutput) string {
	for _, b := range [][]byte{out.Stderr, out.Stdout} {
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
