package hostfs

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// An Attr is an attribute kept open so that a probe run a minute can read
// its value again without resolving its name: one pread(2) at offset 0
// instead of an openat2, an fstatat, an open, an fstat and a close. sysfs
// and procfs serve a fresh value on every read from offset 0 of an open
// descriptor (seq_file restarts its show there), and the file is opened
// under the same rules as ReadAttr: below the root, regular, non-blocking.
//
// Descriptors are a process-wide resource, so every Attr is counted
// against one budget (MaxKept): OpenAttr fails with ErrKeptBudget past it,
// and the caller reads that attribute by name instead. Close returns the
// descriptor to the budget; an Attr that is dropped without Close is closed
// (and returned) when it is garbage.
type Attr struct {
	fd   int
	path string
	// sysfs: the file is on sysfs, whose removed attributes answer a read
	// with ENODEV (kernfs refuses the read once the node is deactivated),
	// so the link count needs no fstat(2) after each read.
	sysfs   bool
	cleanup runtime.Cleanup
	closed  atomic.Bool
}

var (
	// ErrKeptBudget is returned by OpenAttr when MaxKept attributes are
	// already kept open.
	ErrKeptBudget = errors.New("kept-descriptor budget spent")
	// ErrRemoved is returned by Attr.Read when the file the descriptor was
	// opened on has since been removed or replaced (its link count is 0):
	// the name now leads elsewhere, or nowhere. sysfs answers ENODEV
	// instead, once the attribute's device is gone.
	ErrRemoved = errors.New("file removed or replaced since it was opened")
)

// DefaultMaxKept is the most attributes kept open at once by the whole
// process, unless RLIMIT_NOFILE is lower (MaxKept).
const DefaultMaxKept = 4096

var kept struct {
	once sync.Once
	max  int64
	n    atomic.Int64
}

// MaxKept is the budget of kept attributes: DefaultMaxKept, or a quarter
// of the soft RLIMIT_NOFILE when that is smaller, so that kept attributes
// never take the descriptors a listener, a state file or a tool's pipes
// need.
func MaxKept() int {
	kept.once.Do(func() {
		kept.max = DefaultMaxKept
		var rl unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur != unix.RLIM_INFINITY && int64(rl.Cur/4) < kept.max {
			kept.max = int64(rl.Cur / 4)
		}
	})
	return int(kept.max)
}

// Kept returns how many attributes are kept open now.
func Kept() int { return int(kept.n.Load()) }

// setMaxKept sets the budget, for tests; it returns the old one.
func setMaxKept(n int) int {
	old := MaxKept()
	kept.max = int64(n)
	return old
}

func reserveKept() bool {
	max := int64(MaxKept())
	for {
		n := kept.n.Load()
		if n >= max {
			return false
		}
		if kept.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// OpenAttr opens the attribute name to be read again and again with Read.
// It fails as ReadAttr would for a name that is missing, not regular or
// outside the root, and with ErrKeptBudget when MaxKept attributes are
// already open.
func (fsys FS) OpenAttr(name string) (*Attr, error) {
	if !reserveKept() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrKeptBudget}
	}
	p, fd, err := fsys.openRegular(name)
	if err != nil {
		kept.n.Add(-1)
		return nil, err
	}
	a := &Attr{fd: fd, path: p}
	var sfs unix.Statfs_t
	a.sysfs = unix.Fstatfs(fd, &sfs) == nil && sfs.Type == unix.SYSFS_MAGIC
	a.cleanup = runtime.AddCleanup(a, func(fd int) {
		unix.Close(fd)
		kept.n.Add(-1)
	}, fd)
	return a, nil
}

// Read reads the attribute's current value into b with one pread(2) at
// offset 0 and returns the bytes read. A value that fills b is an error
// wrapping ErrTooLarge, rather than a silently cut value: pass a buffer one
// byte longer than the longest value expected. A file removed or replaced
// since OpenAttr is an error wrapping ErrRemoved.
func (a *Attr) Read(b []byte) ([]byte, error) {
	if a.closed.Load() {
		return nil, &fs.PathError{Op: "read", Path: a.path, Err: fs.ErrClosed}
	}
	var n int
	var err error
	for {
		n, err = unix.Pread(a.fd, b, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: a.path, Err: err}
	}
	if n == len(b) {
		return nil, &fs.PathError{Op: "read", Path: a.path, Err: fmt.Errorf("%w (%d bytes)", ErrTooLarge, len(b)-1)}
	}
	if err := a.removed(); err != nil {
		return nil, err
	}
	return b[:n], nil
}

// removed says whether the file was removed or replaced since OpenAttr.
func (a *Attr) removed() error {
	if a.sysfs {
		return nil
	}
	// A regular file that was unlinked, or renamed over, still reads its
	// old content through the descriptor; its link count says it is gone.
	var st unix.Stat_t
	if err := unix.Fstat(a.fd, &st); err != nil {
		return &fs.PathError{Op: "read", Path: a.path, Err: err}
	}
	if st.Nlink == 0 {
		return &fs.PathError{Op: "read", Path: a.path, Err: ErrRemoved}
	}
	return nil
}

// ReadAll reads the whole file from offset 0, in as many pread(2)s as it
// takes, as ReadFile does by name: a procfs seq_file such as /proc/mdstat
// serves at most a page (or one record) per read. A pread at offset 0
// restarts the listing (seq_read_iter resets the seq_file's iterator when
// the read is at 0, whatever an earlier read left), and one at the offset
// where the last read ended goes on from there, so each call is a fresh
// listing, as from a new open. The bytes go into buf, grown as needed, and
// the result is what the next call may pass as buf. Past maxBytes the read
// fails with an error wrapping ErrTooLarge, having read at most maxBytes+1
// bytes; removed or replaced is ErrRemoved, as for Read.
func (a *Attr) ReadAll(buf []byte, maxBytes int64) ([]byte, error) {
	if a.closed.Load() {
		return nil, &fs.PathError{Op: "read", Path: a.path, Err: fs.ErrClosed}
	}
	maxBytes = max(maxBytes, 0)
	limit := maxBytes + 1
	buf = buf[:0]
	if int64(cap(buf)) > limit {
		buf = buf[:0:limit]
	}
	if cap(buf) == 0 {
		buf = make([]byte, 0, min(512, limit))
	}
	for {
		if int64(len(buf)) == limit {
			return nil, &fs.PathError{Op: "read", Path: a.path, Err: fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxBytes)}
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), limit))
			copy(grown, buf)
			buf = grown
		}
		var n int
		var err error
		for {
			n, err = unix.Pread(a.fd, buf[len(buf):cap(buf)], int64(len(buf)))
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: a.path, Err: err}
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	if err := a.removed(); err != nil {
		return nil, err
	}
	return buf, nil
}

// Name returns the root-joined path the attribute was opened as.
func (a *Attr) Name() string { return a.path }

// Close closes the descriptor and returns it to the budget. Closing twice
// is an error, as with os.File.
func (a *Attr) Close() error {
	if a.closed.Swap(true) {
		return &fs.PathError{Op: "close", Path: a.path, Err: fs.ErrClosed}
	}
	a.cleanup.Stop()
	err := unix.Close(a.fd)
	kept.n.Add(-1)
	if err != nil {
		return &fs.PathError{Op: "close", Path: a.path, Err: err}
	}
	return nil
}
