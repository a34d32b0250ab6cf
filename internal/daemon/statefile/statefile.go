package statefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/hardware-exporter/hardware_exporter/internal/format/textfile"
)

// Dir is a state directory holding one file per probe. Its methods are safe
// for concurrent use; writes of one probe are serialized, writes of
// different probes are not.
type Dir struct {
	path string
	host string

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per probe

	// write writes b to f; tests replace it to fail as a full disk does.
	write func(f *os.File, b []byte) (int, error)
}

const (
	suffix    = ".state"
	tmpSuffix = ".tmp"
)

// Open returns the state directory at path for a host with identity host
// (see HostIdentity), creating it if needed (mode 0700: the files hold
// serial numbers). It removes temp files a crash left behind; failing to
// remove them (a read-only directory) is not an error, since loading still
// works.
func Open(path, host string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	d := &Dir{path: path, host: host, locks: make(map[string]*sync.Mutex),
		write: func(f *os.File, b []byte) (int, error) { return f.Write(b) }}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, ".") && strings.HasSuffix(n, tmpSuffix) {
			os.Remove(filepath.Join(path, n))
		}
	}
	return d, nil
}

// OthersMayWrite says why users other than the daemon's own (and root)
// may write in the state directory, or "" if they may not. Such a user
// could plant a state file (served as this host's data after a restart)
// or a link in a writer's way; the caller warns. Open creates the
// directory 0700, but leaves an existing one as it is.
func (d *Dir) OthersMayWrite() string {
	fi, err := os.Lstat(d.path)
	if err != nil {
		return ""
	}
	return textfile.OthersMayWrite(fi)
}

// Path returns the file that holds probe's snapshot.
func (d *Dir) Path(probe string) string { return filepath.Join(d.path, probe+suffix) }

// validName keeps a probe name a single, visible path component.
func validName(probe string) error {
	if probe == "" || len(probe) > 64 {
		return fmt.Errorf("invalid probe name %q", probe)
	}
	for _, c := range probe {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("invalid probe name %q", probe)
		}
	}
	return nil
}

func (d *Dir) lock(probe string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.locks[probe]
	if !ok {
		m = new(sync.Mutex)
		d.locks[probe] = m
	}
	return m
}

// Write stores s as the snapshot of probe s.Probe, replacing the previous
// one atomically. On error (a full disk, a read-only or unwritable
// directory) the previous file is left as it was and no temp file remains;
// errors wrap the system's (errors.Is(err, syscall.ENOSPC) works).
func (d *Dir) Write(s Snapshot) error {
	if err := validName(s.Probe); err != nil {
		return err
	}
	b, err := encode(d.host, s)
	if err != nil {
		return fmt.Errorf("state of %s: %w", s.Probe, err)
	}
	m := d.lock(s.Probe)
	m.Lock()
	defer m.Unlock()

	tmp := filepath.Join(d.path, "."+s.Probe+tmpSuffix)
	// O_TRUNC: a crash's leftover of this same name is simply overwritten.
	const flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC | syscall.O_NOFOLLOW
	f, err := os.OpenFile(tmp, flags, 0o600)
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EISDIR) {
		// A symlink or a directory in the temp file's place (left by
		// hand, or planted): it is in this probe's own name inside the
		// exporter's directory, so remove it, never following a link,
		// rather than fail this probe's writes forever.
		if err = clearPath(tmp); err == nil {
			f, err = os.OpenFile(tmp, flags, 0o600)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		// Someone removed the directory since Open; the daemon runs for
		// months, so make it again rather than fail every write until a
		// restart.
		if err = os.MkdirAll(d.path, 0o700); err == nil {
			f, err = os.OpenFile(tmp, flags, 0o600)
		}
	}
	if err != nil {
		return fmt.Errorf("state of %s: %w", s.Probe, err)
	}
	if err := d.fill(f, b); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("state of %s: %w", s.Probe, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("state of %s: %w", s.Probe, err)
	}
	err = os.Rename(tmp, d.Path(s.Probe))
	if err != nil {
		// rename(2) replaces a symlink at the target itself, but not a
		// directory: remove one that is in the way, then try once more.
		if fi, lerr := os.Lstat(d.Path(s.Probe)); lerr == nil && fi.IsDir() {
			if err = clearPath(d.Path(s.Probe)); err == nil {
				err = os.Rename(tmp, d.Path(s.Probe))
			}
		}
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("state of %s: %w", s.Probe, err)
	}
	// The rename is durable only once the directory is; until then a power
	// loss may bring back the old file, which is still a complete one.
	if err := syncDir(d.path); err != nil {
		return fmt.Errorf("state of %s: written, but not durable: %w", s.Probe, err)
	}
	return nil
}

// clearPath removes what is at path: a symlink itself (not its target), a
// file, or a directory with all it holds (os.RemoveAll follows no links).
func clearPath(path string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("removing what is in the way: %w", err)
	}
	return nil
}

// fill writes b to f and flushes it to the disk. A short write without an
// error is reported as io.ErrShortWrite.
func (d *Dir) fill(f *os.File, b []byte) error {
	for len(b) > 0 {
		n, err := d.write(f, b)
		if err != nil {
			return err
		}
		if n <= 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return f.Sync()
}

func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Some file systems cannot fsync a directory; there is nothing more to
	// do on them.
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}

// Load returns probe's stored snapshot. A missing file is an error wrapping
// fs.ErrNotExist; a file that is not a complete, checksummed snapshot of
// this format version, of this probe, written on this host is an error
// wrapping ErrCorrupt, ErrVersion or ErrForeignHost.
func (d *Dir) Load(probe string) (Snapshot, error) {
	if err := validName(probe); err != nil {
		return Snapshot{}, err
	}
	path := d.Path(probe)
	b, err := readFile(path)
	if err != nil {
		return Snapshot{}, err
	}
	s, err := decode(b, d.host, probe)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// readFile reads a state file of at most MaxSize bytes. It does not follow
// a symlink at path and refuses anything but a regular file; non-blocking,
// so a FIFO put there cannot hang the start-up.
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s: %w: a symlink", path, ErrCorrupt)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrCorrupt)
	}
	if fi.Size() > MaxSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, more than %d", path, ErrCorrupt, fi.Size(), MaxSize)
	}
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size()+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxSize+1)); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrCorrupt, MaxSize)
	}
	return b, nil
}
