// Package sysfs reads trees of sysfs attributes into plain structs, in the
// shape of prometheus/procfs: a reader takes the sysfs root (an
// internal/host/hostfs FS, so every read is bounded, non-blocking and below the
// root) and returns what it found; mapping it to metrics is a probe's job.
//
// A missing attribute is not an error: kernels and hardware differ in what
// they expose, and the field is left unset. Any other failure (EIO, a file
// that is not regular, a link out of the root, garbage where a number
// belongs) costs that one field and is returned as an Error, which the
// caller counts as a skipped input. Read, String and Uint state those rules
// for one attribute; the probes' own attribute reader (internal/probe's
// attrs, for procfs and the root filesystem too) reads through them.
package sysfs

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// An Error is one attribute that could not be read or parsed.
type Error struct {
	Path string // below the root, joined to it
	Err  error
}

func (e Error) Error() string { return e.Path + ": " + e.Err.Error() }
func (e Error) Unwrap() error { return e.Err }

// dir reads the attributes of one directory below the root, collecting
// what it cannot read in errs.
type dir struct {
	fs   hostfs.FS
	name string // slash separated, relative to fs's root
	errs *[]Error
	// read, when set, reads an attribute in place of fs.ReadAttr (a
	// caller's descriptors kept open); names are below fs's root.
	read func(name string) ([]byte, error)
}

// readAttr reads name, below fs's root, with d.read or fs.ReadAttr.
func (d dir) readAttr(name string) ([]byte, error) {
	if d.read != nil {
		return d.read(name)
	}
	return d.fs.ReadAttr(name)
}

func (d dir) sub(name string) dir {
	d.name = path.Join(d.name, name)
	return d
}

func (d dir) rel(name string) string { return path.Join(d.name, name) }

func (d dir) fail(name string, err error) {
	*d.errs = append(*d.errs, Error{Path: filepath.Join(d.fs.Root(), filepath.FromSlash(d.rel(name))), Err: err})
}

// Read returns the raw content of the attribute name (slash separated,
// below fsys's root), read with one read(2) of at most hostfs.MaxAttrSize
// bytes. A missing attribute is ok=false with no error.
func Read(fsys hostfs.FS, name string) ([]byte, bool, error) {
	return readOf(fsys.ReadAttr(name))
}

// readOf is Read's rules applied to a read's result.
func readOf(b []byte, err error) ([]byte, bool, error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return b, true, nil
}

// String returns the trimmed content of name. An empty attribute is
// ok=false too: firmware leaves unset DMI strings empty, and an empty value
// says nothing.
func String(fsys hostfs.FS, name string) (string, bool, error) {
	return stringOf(fsys.ReadAttr(name))
}

// stringOf is String's rules applied to a read's result.
func stringOf(b []byte, err error) (string, bool, error) {
	b, ok, err := readOf(b, err)
	if !ok {
		return "", false, err
	}
	s := strings.TrimSpace(string(b))
	return s, s != "", nil
}

// Uint returns name parsed as an unsigned decimal integer; content that is
// not one is an error.
func Uint(fsys hostfs.FS, name string) (uint64, bool, error) {
	return uintOf(fsys.ReadAttr(name))
}

// uintOf is Uint's rules applied to a read's result.
func uintOf(b []byte, err error) (uint64, bool, error) {
	s, ok, err := stringOf(b, err)
	if !ok {
		return 0, false, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, err
	}
	return v, true, nil
}

// String and Uint are the package's String and Uint below d, recording
// failures in d's errors.
func (d dir) String(name string) (string, bool) {
	s, ok, err := stringOf(d.readAttr(d.rel(name)))
	if err != nil {
		d.fail(name, err)
	}
	return s, ok
}

func (d dir) Uint(name string) (uint64, bool) {
	v, ok, err := uintOf(d.readAttr(d.rel(name)))
	if err != nil {
		d.fail(name, err)
	}
	return v, ok
}

// entries lists the directory, sorted by name; a missing one is empty.
func (d dir) entries() []fs.DirEntry {
	entries, err := d.fs.ReadDir(d.name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.fail(".", err)
	}
	return entries
}
