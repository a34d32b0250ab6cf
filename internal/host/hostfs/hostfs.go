// Package hostfs is the one reader every probe uses for the host's
// pseudo-files: sysfs, procfs and files such as /etc/os-release, below a
// configured root ("/sys", "/proc", "/" or a fixture tree).
//
// The bytes and the tree belong to the host, and a daemon that runs on every
// host of a fleet must not hang, balloon or read what it was not pointed at
// because of them. So every method keeps these rules, and no caller can opt
// out of them:
//
//   - No path resolves outside the root. Names are relative and slash
//     separated; an absolute name, or one that cleans to "..", is refused
//     before any system call. Symlinks are followed only while they stay
//     below the root, at every component: an absolute link, or a relative
//     one that climbs out, fails with ErrOutsideRoot. Real sysfs is made of
//     relative links such as class/net/eth0 -> ../../devices/..., and those
//     work. Resolution is done by the kernel with openat2(2) and
//     RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS, so there is no window between
//     checking a path and opening it. Where openat2 is missing (kernels before
//     5.6) or filtered (seccomp answers EPERM), os.Root does the same walk in
//     user space, one component at a time.
//   - Only regular files are read. A FIFO blocks open(2) until a writer
//     comes; a character device such as /dev/zero or /dev/urandom never ends;
//     opening a device can have side effects (a watchdog starts its timer).
//     So a file is first resolved without being opened (O_PATH), its type
//     checked, and only a regular file is then opened, with O_NONBLOCK and
//     O_NOCTTY, and checked again with fstat(2) against the first look.
//     Anything else fails with ErrNotRegular.
//   - Reads use the raw file descriptor. Some drivers answer a sysfs read
//     with EAGAIN; Go's poller would then park the goroutine waiting for
//     readiness that never comes, past the probe's timeout. A raw read(2)
//     returns the error instead, which costs that one attribute.
//   - Every read is bounded. ReadAttr does one read(2) of at most
//     MaxAttrSize, as sysfs serves an attribute (at most a page) in one read.
//     ReadFile and Open take the bound from the caller and fail with
//     ErrTooLarge past it, never allocating more than the bound, so a sparse
//     1 GiB file or a link to an endless file costs a small, fixed amount.
//
// Errors are *fs.PathError values naming the root-joined path, so a log line
// says which file on which host. A missing file matches fs.ErrNotExist and a
// refused one fs.ErrPermission, through errors.Is.
package hostfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// MaxAttrSize bounds ReadAttr. A sysfs attribute is at most a page, and
// pages are 64 KiB on some arm64 and ppc64 kernels.
const MaxAttrSize = 64 << 10

// MaxDirEntries bounds ReadDir, so a hostile directory cannot grow memory
// without end. It is far above real trees: /sys/devices/system/memory holds
// about 100,000 entries on a 12 TiB host with 128 MiB memory blocks.
const MaxDirEntries = 1 << 20

var (
	// ErrOutsideRoot is wrapped by errors for names and links that would
	// resolve outside the root.
	ErrOutsideRoot = errors.New("path resolves outside the root")
	// ErrNotRegular is wrapped by errors for reads of anything but a regular
	// file: a FIFO, a device, a socket, a directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is wrapped by errors for reads past their bound.
	ErrTooLarge = errors.New("file larger than the read limit")
)

// FS reads below one root. It holds no open descriptor, so it is free to
// copy and needs no Close; the zero value reads below the working directory.
type FS struct {
	root string
	// noOpenat2 forces the os.Root walk, so tests cover the path that kernels
	// without openat2 take.
	noOpenat2 bool
}

// New returns an FS that reads below root. The root itself is trusted (it
// comes from the configuration) and may be a symlink.
func New(root string) FS {
	return FS{root: filepath.Clean(root)}
}

// Root returns the directory names are resolved below.
func (fsys FS) Root() string {
	if fsys.root == "" {
		return "."
	}
	return fsys.root
}

// ReadAttr reads a sysfs attribute (or another small pseudo-file) with one
// read(2), as the kernel serves it. A file with more than MaxAttrSize bytes
// is an error wrapping ErrTooLarge, rather than a silently cut value. The
// bytes come back exactly as read, trailing newline included.
func (fsys FS) ReadAttr(name string) ([]byte, error) {
	p, fd, err := fsys.openRegular(name)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	bufp := attrBuffers.Get().(*[]byte)
	defer attrBuffers.Put(bufp)
	// One byte past the bound tells a full attribute from a longer file.
	n, err := readFD(fd, (*bufp)[:MaxAttrSize+1])
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: err}
	}
	if n > MaxAttrSize {
		return nil, &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("%w (%d bytes)", ErrTooLarge, MaxAttrSize)}
	}
	return bytes.Clone((*bufp)[:n]), nil
}

// attrBuffers keeps ReadAttr from allocating 64 KiB for every attribute of a
// few bytes; only the bytes read are copied out.
var attrBuffers = sync.Pool{New: func() any {
	b := make([]byte, MaxAttrSize+1)
	return &b
}}

// ReadFile reads a whole file of up to maxBytes bytes, in as many reads as it
// takes: procfs files such as /proc/cpuinfo come in several. A longer file
// is an error wrapping ErrTooLarge, found after reading maxBytes+1 bytes, so
// no buffer grows past that whatever the file claims or holds.
func (fsys FS) ReadFile(name string, maxBytes int64) ([]byte, error) {
	p, fd, err := fsys.openRegular(name)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readAll(p, fd, maxBytes)
}

// readAll reads fd to its end, failing with ErrTooLarge past maxBytes; p
// names the file in errors.
func readAll(p string, fd int, maxBytes int64) ([]byte, error) {
	maxBytes = max(maxBytes, 0)
	limit := maxBytes + 1
	// Pseudo-files report a size of 0 or a page, whatever they hold, so the
	// size only sets the first allocation and never the bound.
	size := int64(512)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Size > 0 {
		size = st.Size + 1
	}
	buf := make([]byte, 0, min(size, limit))
	for {
		if int64(len(buf)) == limit {
			return nil, &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxBytes)}
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), limit))
			copy(grown, buf)
			buf = grown
		}
		n, err := readFD(fd, buf[len(buf):cap(buf)])
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// Open opens a file for a streaming parser, such as one that reads pci.ids
// line by line and checks its context between lines. Reading past maxBytes
// bytes fails with an error wrapping ErrTooLarge.
func (fsys FS) Open(name string, maxBytes int64) (*File, error) {
	p, fd, err := fsys.openRegular(name)
	if err != nil {
		return nil, err
	}
	f := &File{fd: fd, path: p, left: max(maxBytes, 0)}
	// A probe that forgets Close leaks a descriptor per run; the cleanup
	// closes it once the File is garbage. Close stops it, so a reused
	// descriptor number is never closed twice.
	f.cleanup = runtime.AddCleanup(f, func(fd int) { unix.Close(fd) }, fd)
	return f, nil
}

// File is a regular file opened by Open. It is not safe for concurrent use.
type File struct {
	fd      int
	path    string
	left    int64 // bytes the caller's bound still allows
	cleanup runtime.Cleanup
}

// Read reads with read(2) on the descriptor, so EAGAIN from a driver is an
// error and never a wait. Past the bound it returns the bytes up to the
// bound and an error wrapping ErrTooLarge.
func (f *File) Read(b []byte) (int, error) {
	if f.fd < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: fs.ErrClosed}
	}
	if f.left < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: ErrTooLarge}
	}
	if len(b) == 0 {
		return 0, nil
	}
	if int64(len(b)) > f.left+1 {
		b = b[:f.left+1]
	}
	n, err := readFD(f.fd, b)
	if err != nil {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
	}
	if n == 0 {
		return 0, io.EOF
	}
	if int64(n) > f.left {
		n, f.left = int(f.left), -1
		return n, &fs.PathError{Op: "read", Path: f.path, Err: ErrTooLarge}
	}
	f.left -= int64(n)
	return n, nil
}

// Close closes the file. Closing twice is an error, as with os.File.
func (f *File) Close() error {
	if f.fd < 0 {
		return &fs.PathError{Op: "close", Path: f.path, Err: fs.ErrClosed}
	}
	f.cleanup.Stop()
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.path, Err: err}
	}
	return nil
}

// Name returns the root-joined path the file was opened as.
func (f *File) Name() string { return f.path }

// ReadDir returns a directory's entries sorted by name, as os.ReadDir does.
// An entry's Info is an Lstat through the root, never a path lookup.
func (fsys FS) ReadDir(name string) ([]fs.DirEntry, error) {
	rel, p, d, err := fsys.openDir(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var entries []fs.DirEntry
	for {
		batch, err := d.ReadDir(1024)
		for _, e := range batch {
			entries = append(entries, dirEntry{DirEntry: e, fsys: fsys, name: path.Join(rel, e.Name())})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: p, Err: errors.Unwrap(err)}
		}
		if len(entries) > MaxDirEntries {
			return nil, &fs.PathError{Op: "readdir", Path: p, Err: fmt.Errorf("%w (%d entries)", ErrTooLarge, MaxDirEntries)}
		}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// ReadDirNames returns the names in a directory, sorted, under the same
// rules and bound as ReadDir: what a caller that only compares names needs,
// without an entry (and its joined path) per name.
func (fsys FS) ReadDirNames(name string) ([]string, error) {
	_, p, d, err := fsys.openDir(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var names []string
	for {
		batch, err := d.Readdirnames(1024)
		names = append(names, batch...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: p, Err: errors.Unwrap(err)}
		}
		if len(names) > MaxDirEntries {
			return nil, &fs.PathError{Op: "readdir", Path: p, Err: fmt.Errorf("%w (%d entries)", ErrTooLarge, MaxDirEntries)}
		}
	}
	slices.Sort(names)
	return names, nil
}

// openDir opens the directory name below the root.
func (fsys FS) openDir(name string) (rel, p string, d *os.File, err error) {
	rel, p, err = fsys.clean("readdir", name)
	if err != nil {
		return "", "", nil, err
	}
	fd, err := resolve(fsys, func(r resolver) (int, error) {
		// O_DIRECTORY refuses a FIFO or a device before opening it.
		return r.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
	})
	if err != nil {
		return "", "", nil, fsys.pathError("open", p, err)
	}
	return rel, p, os.NewFile(uintptr(fd), p), nil
}

type dirEntry struct {
	fs.DirEntry
	fsys FS
	name string
}

func (e dirEntry) Info() (fs.FileInfo, error) { return e.fsys.Lstat(e.name) }

// Readlink returns a symlink's target as written, such as sysfs's
// "../../../bus/pci/drivers/e1000e" for a device's driver link. The link
// itself must be below the root; its target is only text and may point
// anywhere.
func (fsys FS) Readlink(name string) (string, error) {
	rel, p, err := fsys.clean("readlink", name)
	if err != nil {
		return "", err
	}
	target, err := resolve(fsys, func(r resolver) (string, error) { return r.readlink(rel) })
	if err != nil {
		return "", fsys.pathError("readlink", p, err)
	}
	return target, nil
}

// Stat describes a file, following symlinks that stay below the root.
func (fsys FS) Stat(name string) (fs.FileInfo, error) {
	return fsys.stat("stat", name, true)
}

// Lstat describes a file; a symlink is described, not followed.
func (fsys FS) Lstat(name string) (fs.FileInfo, error) {
	return fsys.stat("lstat", name, false)
}

// Exists reports whether name resolves below the root to something that
// can be described. Any error, permission included, reads as absent.
func (fsys FS) Exists(name string) bool {
	_, err := fsys.Stat(name)
	return err == nil
}

func (fsys FS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	rel, p, err := fsys.clean(op, name)
	if err != nil {
		return nil, err
	}
	fi, err := resolve(fsys, func(r resolver) (fs.FileInfo, error) { return r.stat(rel, follow) })
	if err != nil {
		return nil, fsys.pathError(op, p, err)
	}
	return fi, nil
}

// openRegular resolves name to a regular file and opens it for reading. It
// returns the root-joined path for errors and the raw descriptor.
func (fsys FS) openRegular(name string) (string, int, error) {
	rel, p, err := fsys.clean("open", name)
	if err != nil {
		return "", -1, err
	}
	fd, err := resolve(fsys, func(r resolver) (int, error) {
		// Look before opening: opening a FIFO or a device is already too much.
		look, err := r.lookup(rel)
		if err != nil {
			return -1, err
		}
		if uint32(look.Mode)&unix.S_IFMT != unix.S_IFREG {
			return -1, notRegular(fileType(uint32(look.Mode)))
		}
		fd, err := r.open(rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
		if err != nil {
			return -1, err
		}
		// The name may have been pointed elsewhere between the look and the
		// open; refuse anything but the file that was looked at.
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			return -1, notRegular(fs.FileMode(0))
		}
		if look.Dev != st.Dev || look.Ino != st.Ino {
			unix.Close(fd)
			return -1, errChanged
		}
		return fd, nil
	})
	if err != nil {
		return "", -1, fsys.pathError("open", p, err)
	}
	return p, fd, nil
}

var errChanged = errors.New("file changed while it was opened")

// fileType is the type bits of a stat(2) mode as fs.FileMode spells them,
// so that ErrNotRegular says what was found instead.
func fileType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFSOCK:
		return fs.ModeSocket
	}
	return fs.ModeIrregular
}

func notRegular(m fs.FileMode) error {
	if t := m.Type(); t != 0 {
		return fmt.Errorf("%w (%v)", ErrNotRegular, t)
	}
	return ErrNotRegular
}

// clean checks a name before any system call and returns it cleaned, with
// the root-joined path that errors name.
func (fsys FS) clean(op, name string) (rel, joined string, err error) {
	if path.IsAbs(name) {
		return "", "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: absolute name", ErrOutsideRoot)}
	}
	rel = path.Clean(name)
	joined = filepath.Join(fsys.Root(), filepath.FromSlash(rel))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", "", &fs.PathError{Op: op, Path: joined, Err: ErrOutsideRoot}
	}
	return rel, joined, nil
}

func (fsys FS) pathError(op, p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// os.Root's errors name the relative path; name the joined one.
		err = pe.Err
	}
	if isEscape(err) {
		err = ErrOutsideRoot
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// isEscape tells an escape refused by either resolver. openat2 answers
// EXDEV under RESOLVE_BENEATH; os.Root answers an unexported error whose
// text is all that can be matched (TestOutsideRoot checks it still does).
func isEscape(err error) bool {
	return errors.Is(err, unix.EXDEV) || (err != nil && err.Error() == "path escapes from parent")
}

// readFD reads once from a raw descriptor, retrying only an interrupted call.
func readFD(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}
