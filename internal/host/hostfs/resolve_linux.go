package hostfs

import (
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// openat2Missing remembers ENOSYS, so a kernel without openat2 costs one
// failed call per process, not one per read. EPERM is not remembered: a
// seccomp filter gives it, but so can a file, and the fallback then reports
// the file's own answer.
var openat2Missing atomic.Bool

func withBeneath[T any](root string, op func(resolver) (T, error)) (T, error) {
	var zero T
	if openat2Missing.Load() {
		return zero, errNoOpenat2
	}
	dirfd, release, err := roots.get(root)
	if err != nil {
		return zero, &fs.PathError{Op: "open", Path: root, Err: err}
	}
	defer release()
	return op(beneath{dirfd})
}

// roots keeps a descriptor of each root in use, so that a read costs no
// open and close of the root itself: a probe run reads hundreds of
// attributes below the same /sys. At most maxRoots are kept (a daemon has
// three; tests make many), and a kept one is checked against its path
// every rootRecheck, so a root replaced by a remount is noticed.
var roots = rootCache{m: map[string]*rootFD{}}

const maxRoots = 8

// rootRecheck is a variable so that a test can make every read recheck.
var rootRecheck = 10 * time.Second

type rootCache struct {
	mu sync.Mutex
	m  map[string]*rootFD
}

// rootFD is a kept root descriptor; users counts the reads using it, so a
// replaced one is closed only when the last of them is done.
type rootFD struct {
	fd      int
	users   int
	stale   bool
	checked time.Time
}

// get returns a descriptor of root and the function to call when done
// with it.
func (c *rootCache) get(root string) (int, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.m[root]
	if r != nil && time.Since(r.checked) > rootRecheck {
		if !sameDir(r.fd, root) {
			r.stale = true
			delete(c.m, root)
			if r.users == 0 {
				unix.Close(r.fd)
			}
			r = nil
		} else {
			r.checked = time.Now()
		}
	}
	if r == nil {
		// The root is trusted configuration, so it may be a symlink itself.
		fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, nil, err
		}
		if len(c.m) >= maxRoots {
			return fd, func() { unix.Close(fd) }, nil // not kept
		}
		r = &rootFD{fd: fd, checked: time.Now()}
		c.m[root] = r
	}
	r.users++
	return r.fd, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		r.users--
		if r.stale && r.users == 0 {
			unix.Close(r.fd)
		}
	}, nil
}

// sameDir reports whether fd still is the directory at path.
func sameDir(fd int, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// beneath resolves with openat2(2): the kernel walks the whole name in one
// call and refuses, with EXDEV, any step that leaves the directory, whether
// by "..", an absolute symlink or a relative one; magic links such as
// /proc/PID/fd/N are refused too.
type beneath struct{ dirfd int }

func (b beneath) open(name string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(b.dirfd, name, &how)
		switch {
		case err == nil:
			return fd, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && tries < 8:
			// A rename or mount raced the walk of a ".."; the kernel asks
			// for a retry rather than risk an escape.
			continue
		case err == unix.ENOSYS:
			openat2Missing.Store(true)
			return -1, errNoOpenat2
		case err == unix.EPERM:
			return -1, errNoOpenat2
		}
		return -1, err
	}
}

func (b beneath) stat(name string, follow bool) (fs.FileInfo, error) {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := b.open(name, flags)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return f.Stat()
}

func (b beneath) lookup(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	// Most lookups are of a regular file inside the root: one fstatat(2)
	// answers them. It follows links without openat2's confinement, but
	// only to read a type and identity: the open that follows is confined,
	// and must find the same file. Anything else takes the confined path
	// below, so that its error (outside the root, not regular) is exact.
	if err := unix.Fstatat(b.dirfd, name, &st, 0); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		return st, nil
	}
	fd, err := b.open(name, unix.O_PATH)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	// fstat on the raw descriptor: os.NewFile would add an fcntl(2) and
	// two allocations to every attribute read, for the same answer.
	err = unix.Fstat(fd, &st)
	return st, err
}

func (b beneath) readlink(name string) (string, error) {
	fd, err := b.open(name, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	// readlinkat on the link's own descriptor says ENOENT for a file that is
	// not a link; say EINVAL, as readlink(2) and os.Readlink do.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	for size := 256; size <= 1<<16; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}
