package probe

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/host/sysfs"
)

// attrs reads the small one-value files that sysfs and procfs expose, below
// one directory of one root. Every read goes through hostfs, so a FIFO, a
// device, a file that never ends or a link out of the root costs that one
// attribute and cannot hang the probe, grow its memory or leak another
// file's content.
//
// A missing file reports ok=false and is not an error: kernels and hardware
// differ in what they expose. Any other failure (EIO from a flaky sensor,
// a file that is not regular, a link out of the root, garbage where a number
// belongs) is recorded in skips and also reports ok=false, so it costs that
// one series and nothing else.
type attrs struct {
	fs    hostfs.FS
	dir   string // slash separated, relative to fs's root; "." is the root
	skips *Skips
}

// Sys, Proc and Root read below rel of this run's sysfs, procfs or root
// filesystem root, recording what they cannot read in the run's skips (see
// Env.Bind). A probe reads its files through these, so it keeps no copy of
// the roots and passes env, not (paths, skips), to its helpers.
func (e Env) Sys(rel ...string) attrs  { return e.attrs(e.Paths.SysFS, rel) }
func (e Env) Proc(rel ...string) attrs { return e.attrs(e.Paths.ProcFS, rel) }
func (e Env) Root(rel ...string) attrs { return e.attrs(e.Paths.RootFS, rel) }

func (e Env) attrs(root string, rel []string) attrs {
	skips := e.skips
	if skips == nil {
		// An Env no run bound (Available, a test helper): nothing to count.
		skips = NewSkips(e.Logger)
	}
	return attrs{fs: hostfs.New(root), skips: skips}.sub(rel...)
}

// sub returns the attrs of a directory below a's.
func (a attrs) sub(rel ...string) attrs {
	a.dir = path.Join(append([]string{a.dir}, rel...)...)
	if a.dir == "" {
		a.dir = "."
	}
	return a
}

// root returns the attrs of the root itself.
func (a attrs) root() attrs {
	a.dir = "."
	return a
}

// name returns name below a's directory, relative to the root.
func (a attrs) name(name string) string { return path.Join(a.dir, name) }

// path returns name below a's directory joined to the root, for log lines.
func (a attrs) path(name string) string {
	return filepath.Join(a.fs.Root(), filepath.FromSlash(a.name(name)))
}

// read returns the raw content of name, read with one read(2) of at most
// hostfs.MaxAttrSize bytes, or ok=false.
func (a attrs) read(name string) ([]byte, bool) {
	b, ok, err := sysfs.Read(a.fs, a.name(name))
	if err != nil {
		a.skips.Add(a.path(name), err)
	}
	return b, ok
}

// readFile returns the content of a file longer than an attribute, such as
// /proc/cpuinfo, of up to maxBytes bytes, or ok=false as read does.
func (a attrs) readFile(name string, maxBytes int64) ([]byte, bool) {
	b, err := a.readFileErr(name, maxBytes)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			a.skips.Add(a.path(name), err)
		}
		return nil, false
	}
	return b, true
}

// readFileErr is readFile for a file the caller cannot do without, such as
// a procfs root's cpuinfo: it returns the error and records no skip.
func (a attrs) readFileErr(name string, maxBytes int64) ([]byte, error) {
	return a.fs.ReadFile(a.name(name), maxBytes)
}

// String returns the trimmed content of name. An empty file reports ok=false:
// firmware leaves unset DMI strings empty, and an empty label value says
// nothing.
func (a attrs) String(name string) (string, bool) {
	s, ok, err := sysfs.String(a.fs, a.name(name))
	if err != nil {
		a.skips.Add(a.path(name), err)
	}
	return s, ok
}

// Uint returns name parsed as an unsigned decimal integer.
func (a attrs) Uint(name string) (uint64, bool) {
	v, ok, err := sysfs.Uint(a.fs, a.name(name))
	if err != nil {
		a.skips.Add(a.path(name), err)
	}
	return v, ok
}

// Int returns name parsed as a signed decimal integer (sensor readings can be
// negative).
func (a attrs) Int(name string) (int64, bool) {
	s, ok := a.String(name)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		a.skips.Add(a.path(name), err)
		return 0, false
	}
	return v, true
}

// RestrictedString is String for attributes that only root may read, such as
// DMI serial numbers (mode 0400) or powercap energy counters.
func (a attrs) RestrictedString(name string) (string, bool) {
	b, ok := a.RestrictedBytes(name)
	if !ok {
		return "", false
	}
	s := strings.TrimSpace(string(b))
	return s, s != ""
}

// RestrictedBytes returns the raw content of a root-only file, such as an
// SMBIOS entry's raw structure. Permission denied is the expected answer
// when the exporter does not run as root, so it is logged at debug level and
// not counted as a skip; any other failure but a missing file is.
func (a attrs) RestrictedBytes(name string) ([]byte, bool) {
	b, err := a.fs.ReadAttr(a.name(name))
	switch {
	case err == nil:
		return b, true
	case errors.Is(err, fs.ErrPermission):
		a.skips.logger.Debug("not permitted to read root-only attribute", "path", a.path(name))
	case !errors.Is(err, fs.ErrNotExist):
		a.skips.Add(a.path(name), err)
	}
	return nil, false
}

// entries lists a's directory, sorted by name. A missing directory has no
// entries and is not an error (no EDAC on this host, no hwmon in this VM);
// any other failure is recorded in skips.
func (a attrs) entries() []fs.DirEntry {
	entries, err := a.fs.ReadDir(a.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.skips.Add(a.path("."), err)
	}
	return entries
}

// readlink returns the target of the symlink name as written, such as a
// device's "../../../bus/pci/drivers/e1000e". The target is only text: it
// is never followed out of the root.
func (a attrs) readlink(name string) (string, error) {
	return a.fs.Readlink(a.name(name))
}

// stat describes name, following links that stay below the root; lstat
// describes a link itself.
func (a attrs) stat(name string) (fs.FileInfo, error)  { return a.fs.Stat(a.name(name)) }
func (a attrs) lstat(name string) (fs.FileInfo, error) { return a.fs.Lstat(a.name(name)) }

// maxLinkHops bounds realpath as the kernel bounds a path walk (MAXSYMLINKS).
const maxLinkHops = 40

// realpath resolves every symlink in name below a's directory and returns
// the path it names relative to the root, as filepath.EvalSymlinks would
// below a chroot. A link that leaves the root fails with hostfs.ErrOutsideRoot.
// sysfs names a device by where its class link points (class/hwmon/hwmon0/
// device -> ../../../devices/platform/coretemp.0), so probes need the
// resolved path itself, not just its content.
func (a attrs) realpath(name string) (string, error) {
	pending := strings.Split(a.name(name), "/")
	var done []string
	for hops := 0; len(pending) > 0; {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", &fs.PathError{Op: "realpath", Path: a.path(name), Err: hostfs.ErrOutsideRoot}
			}
			done = done[:len(done)-1]
			continue
		}
		cur := path.Join(append(done, c)...)
		fi, err := a.fs.Lstat(cur)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", &fs.PathError{Op: "realpath", Path: a.path(name), Err: fmt.Errorf("more than %d symlinks", maxLinkHops)}
		}
		target, err := a.fs.Readlink(cur)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			return "", &fs.PathError{Op: "realpath", Path: a.path(name), Err: hostfs.ErrOutsideRoot}
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}
