package probe

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// attrs reads the small one-value files that sysfs and procfs expose, below
// one directory. A missing file reports ok=false and is not an error: kernels
// and hardware differ in what they expose. Any other failure (EIO from a
// flaky sensor, garbage where a number belongs) is recorded in skips and also
// reports ok=false, so it costs that one series and nothing else.
type attrs struct {
	dir   string
	skips *Skips
}

// maxAttrSize bounds what is read of one attribute: sysfs attributes are at
// most a page, and a misbehaving driver must not make a probe allocate more.
const maxAttrSize = 64 << 10

// read returns the raw content of name, or ok=false.
func (a attrs) read(name string) ([]byte, bool) {
	path := filepath.Join(a.dir, name)
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			a.skips.Add(path, err)
		}
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAttrSize))
	if err != nil {
		a.skips.Add(path, err)
		return nil, false
	}
	return b, true
}

// String returns the trimmed content of name. An empty file reports ok=false:
// firmware leaves unset DMI strings empty, and an empty label value says
// nothing.
func (a attrs) String(name string) (string, bool) {
	b, ok := a.read(name)
	if !ok {
		return "", false
	}
	s := strings.TrimSpace(string(b))
	return s, s != ""
}

// Uint returns name parsed as an unsigned decimal integer.
func (a attrs) Uint(name string) (uint64, bool) {
	s, ok := a.String(name)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		a.skips.Add(filepath.Join(a.dir, name), err)
		return 0, false
	}
	return v, true
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
		a.skips.Add(filepath.Join(a.dir, name), err)
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
	path := filepath.Join(a.dir, name)
	f, err := os.Open(path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrPermission):
		a.skips.logger.Debug("not permitted to read root-only attribute", "path", path)
		return nil, false
	case errors.Is(err, fs.ErrNotExist):
		return nil, false
	default:
		a.skips.Add(path, err)
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAttrSize))
	if err != nil {
		a.skips.Add(path, err)
		return nil, false
	}
	return b, true
}

// readDir lists dir like os.ReadDir. A missing dir has no entries and is not
// an error (no EDAC on this host, no hwmon in this VM); any other failure is
// recorded in skips.
func readDir(dir string, skips *Skips) []os.DirEntry {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		skips.Add(dir, err)
	}
	return entries
}
