package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// resolver is what each way of resolving names below the root provides.
// Names are clean and relative; errors are bare, and FS adds the path.
type resolver interface {
	// open opens name with flags (O_CLOEXEC is added) and returns a raw
	// descriptor the caller closes.
	open(name string, flags int) (int, error)
	stat(name string, follow bool) (fs.FileInfo, error)
	// lookup is stat following links, for openRegular's look before it
	// opens: only the type and identity are needed, and it runs for every
	// attribute read, so it may skip what building an fs.FileInfo costs.
	lookup(name string) (unix.Stat_t, error)
	readlink(name string) (string, error)
}

// errNoOpenat2 sends an operation to os.Root: openat2 is missing or filtered.
var errNoOpenat2 = errors.New("openat2 unavailable")

// resolve runs op with openat2 where the kernel allows it, and otherwise
// with os.Root. The whole op is rerun on fallback, so each op sees one
// resolver from start to end.
func resolve[T any](fsys FS, op func(resolver) (T, error)) (T, error) {
	if !fsys.noOpenat2 {
		v, err := withBeneath(fsys.Root(), op)
		if !errors.Is(err, errNoOpenat2) {
			return v, err
		}
	}
	root, err := os.OpenRoot(fsys.Root())
	if err != nil {
		var zero T
		return zero, err
	}
	defer root.Close()
	return op(inRoot{root})
}

// inRoot resolves with os.Root, which walks one component at a time with
// openat(O_NOFOLLOW) and follows each symlink itself, refusing the ones
// that leave the root.
type inRoot struct{ root *os.Root }

func (r inRoot) open(name string, flags int) (int, error) {
	f, err := r.root.OpenFile(name, flags, 0)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	// Reads go to the raw descriptor, never through the poller, so keep a
	// copy that this package owns; Fd would also switch it to blocking.
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return fd, dupErr
}

func (r inRoot) stat(name string, follow bool) (fs.FileInfo, error) {
	if follow {
		return r.root.Stat(name)
	}
	return r.root.Lstat(name)
}

func (r inRoot) lookup(name string) (unix.Stat_t, error) {
	fi, err := r.root.Stat(name)
	if err != nil {
		return unix.Stat_t{}, err
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return unix.Stat_t{}, errors.New("no stat_t from os.Root")
	}
	return unix.Stat_t{Dev: sys.Dev, Ino: sys.Ino, Mode: sys.Mode}, nil
}

func (r inRoot) readlink(name string) (string, error) { return r.root.Readlink(name) }
