package hostfs

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// ReadNamedFile reads a whole file named by an absolute or working-directory
// path, such as the daemon's own config file, with the same rules as
// FS.ReadFile except the root: the path comes from the command line, so it
// may lead anywhere, through any symlink. What it names may still be
// anything by the time it is read (a config replaced by a FIFO, linked to
// /dev/zero, or grown to gigabytes), so only a regular file is opened, with
// O_NONBLOCK and O_NOCTTY, checked again with fstat(2), and read up to
// maxBytes (ErrTooLarge past them, never allocating more).
func ReadNamedFile(name string, maxBytes int64) ([]byte, error) {
	var look unix.Stat_t
	if err := unix.Stat(name, &look); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if look.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "open", Path: name, Err: notRegular(fileType(look.Mode))}
	}
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	// The name may have been pointed elsewhere between the look and the open.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "open", Path: name, Err: notRegular(fileType(st.Mode))}
	}
	if look.Dev != st.Dev || look.Ino != st.Ino {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errChanged}
	}
	return readAll(name, fd, maxBytes)
}
