// Package sysfs reads trees of sysfs attributes into plain structs, in the
// shape of prometheus/procfs: a reader takes the sysfs root (an
// internal/hostfs FS, so every read is bounded, non-blocking and below the
// root) and returns what it found; mapping it to metrics is a probe's job.
//
// A missing attribute is not an error: kernels and hardware differ in what
// they expose, and the field is left unset. Any other failure (EIO, a file
// that is not regular, a link out of the root, garbage where a number
// belongs) costs that one field and is returned as an Error, which the
// caller counts as a skipped input.
package sysfs

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/hostfs"
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
}

func (d dir) sub(name string) dir {
	d.name = path.Join(d.name, name)
	return d
}

func (d dir) rel(name string) string { return path.Join(d.name, name) }

func (d dir) fail(name string, err error) {
	*d.errs = append(*d.errs, Error{Path: filepath.Join(d.fs.Root(), filepath.FromSlash(d.rel(name))), Err: err})
}

// String returns the trimmed content of name; an empty file is unset.
func (d dir) String(name string) (string, bool) {
	b, err := d.fs.ReadAttr(d.rel(name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.fail(name, err)
		}
		return "", false
	}
	s := strings.TrimSpace(string(b))
	return s, s != ""
}

// Uint returns name parsed as an unsigned decimal integer.
func (d dir) Uint(name string) (uint64, bool) {
	s, ok := d.String(name)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.fail(name, err)
		return 0, false
	}
	return v, true
}

// entries lists the directory, sorted by name; a missing one is empty.
func (d dir) entries() []fs.DirEntry {
	entries, err := d.fs.ReadDir(d.name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.fail(".", err)
	}
	return entries
}
