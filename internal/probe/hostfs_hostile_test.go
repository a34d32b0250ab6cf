package probe

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The sysfs probes read the host's trees only through hostfs, so a hostile
// tree costs series and never the process: these tests build one in a temp
// dir and check that each probe returns promptly, allocates little, and
// exports nothing from outside its roots.

// hostileSecret is the content of a file outside the roots that links in
// the tree point at; it must never reach a label.
const hostileSecret = "SECRET-outside-the-root"

// copyWholeFixture copies the materialized server fixture, symlinks as
// symlinks, so a test can plant hostile files in a tree every probe reads.
func copyWholeFixture(t *testing.T) Paths {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(fixtureRoot, func(src string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(fixtureRoot, src)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return Paths{
		ProcFS: filepath.Join(dst, "proc"),
		SysFS:  filepath.Join(dst, "sys"),
		RootFS: filepath.Join(dst, "root"),
	}
}

// secretOutside writes hostileSecret to a 0600 file outside any root and
// returns its path.
func secretOutside(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(hostileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceWith removes path and lets make put something else there.
func replaceWith(t *testing.T, path string, make func(string) error) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := make(path); err != nil {
		t.Fatalf("planting %s: %v", path, err)
	}
}

func fifo(p string) error { return syscall.Mkfifo(p, 0o644) }

func symlinkTo(target string) func(string) error {
	return func(p string) error { return os.Symlink(target, p) }
}

// sparse makes a file that claims size bytes and holds none.
func sparse(size int64) func(string) error {
	return func(p string) error {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Truncate(size)
	}
}

// escapeLink returns a relative link target from dir that climbs out of
// the roots and reaches abs.
func escapeLink(t *testing.T, dir, abs string) string {
	t.Helper()
	rel, err := filepath.Rel(dir, abs)
	if err != nil || !strings.HasPrefix(rel, "..") {
		t.Fatalf("no escaping link from %s to %s", dir, abs)
	}
	return rel
}

// hostileRun runs probe name on paths with a deadline the probe must meet by
// a wide margin, and returns its exposition, its skips, its error and the
// bytes it allocated. A probe that hangs fails the test instead of hanging
// it.
type hostileResult struct {
	text  string
	skips int
	err   error
	alloc uint64
}

func hostileRun(t *testing.T, name string, paths Paths) hostileResult {
	t.Helper()
	p, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Paths: paths, Options: fixtureOptions[name]}
	skips := NewSkips(nil)
	type result struct {
		c     collected
		err   error
		alloc uint64
	}
	done := make(chan result, 1)
	go func() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ms, err := p.Probe(context.Background(), env, skips)
		runtime.ReadMemStats(&after)
		done <- result{collected{p: p, metrics: ms}, err, after.TotalAlloc - before.TotalAlloc}
	}()
	select {
	case r := <-done:
		text := ""
		if r.err == nil {
			text = string(exposition(t, r.c))
		}
		return hostileResult{text, skips.Count(), r.err, r.alloc}
	case <-time.After(10 * time.Second):
		t.Fatalf("probe %s did not return within 10s on a hostile tree", name)
		return hostileResult{}
	}
}

// A FIFO at one hwmon attribute costs that attribute: opening a FIFO for
// reading blocks until a writer comes, which once held the whole probe
// until its timeout and leaked a thread per run.
func TestHwmonFIFOAttributeCostsItsSeries(t *testing.T) {
	paths := copyWholeFixture(t)
	dir := filepath.Join(paths.SysFS, "class/hwmon/hwmon1")
	before := hostileRun(t, "hwmon", fixturePaths)
	replaceWith(t, filepath.Join(dir, "temp1_input"), fifo)

	start := time.Now()
	r := hostileRun(t, "hwmon", paths)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("hwmon took %v with a FIFO in the tree", d)
	}
	if r.skips != 1 {
		t.Errorf("skips = %d, want 1 (the FIFO)", r.skips)
	}
	lost := strings.Count(before.text, "\nhardware_hwmon_temperature_celsius{") -
		strings.Count(r.text, "\nhardware_hwmon_temperature_celsius{")
	if lost != 1 {
		t.Errorf("%d temperature series lost, want 1", lost)
	}
	if strings.Count(before.text, "\n")-strings.Count(r.text, "\n") != 1 {
		t.Errorf("output lost more than one line:\n%s", r.text)
	}
}

// Files that never end or only claim to be huge cost their series, with a
// small, fixed amount of memory: the reads are bounded, not the timeouts.
func TestUnboundedFilesCostTheirSeries(t *testing.T) {
	for _, tc := range []struct {
		name, probe, file string
		plant             func(string) error
		want, absent      []string // series that stay, metric names that go
		gone              []string // series that go
		wantErr           bool
	}{
		{
			name: "mdstat linked to /dev/zero", probe: "mdraid", file: "proc/mdstat",
			plant: symlinkTo("/dev/zero"),
			// sysfs still lists and describes the arrays.
			want: []string{`hardware_mdraid_array_info{array="md0",level="raid1"} 1`},
		},
		{
			name: "mdstat a 1 GiB sparse file", probe: "mdraid", file: "proc/mdstat",
			plant: sparse(1 << 30),
			want:  []string{`hardware_mdraid_array_info{array="md1",level="raid1"} 1`},
		},
		{
			name: "block size a 1 GiB sparse file", probe: "storage", file: "sys/block/sda/size",
			plant: sparse(1 << 30),
			want:  []string{`hardware_storage_device_size_bytes{device="sdb"} 4.80103981056e+11`},
			gone:  []string{`hardware_storage_device_size_bytes{device="sda"}`},
		},
		{
			name: "cpuinfo a 1 GiB sparse file", probe: "cpu", file: "proc/cpuinfo",
			plant:  sparse(1 << 30),
			absent: []string{"hardware_cpu_info", "hardware_cpu_threads"},
		},
		{
			name: "meminfo a FIFO", probe: "memory", file: "proc/meminfo",
			plant: fifo, wantErr: true, // the probe's mandatory file: a clear error
		},
		{
			name: "pci.ids linked to /dev/urandom", probe: "pci", file: "root/usr/share/misc/pci.ids",
			plant: symlinkTo("/dev/urandom"),
			want:  []string{"hardware_pci_link_width"},
		},
		{
			name: "vulnerability a FIFO", probe: "cpu", file: "sys/devices/system/cpu/vulnerabilities/meltdown",
			plant: fifo,
			want:  []string{`hardware_cpu_vulnerability_info{mitigation="",name="l1tf",state="not affected"} 1`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths := copyWholeFixture(t)
			replaceWith(t, filepath.Join(filepath.Dir(paths.ProcFS), tc.file), tc.plant)
			r := hostileRun(t, tc.probe, paths)
			if tc.wantErr {
				if r.err == nil {
					t.Fatal("probe succeeded without its mandatory file")
				}
				t.Logf("error, as wanted: %v", r.err)
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.skips == 0 {
				t.Error("no skip counted")
			}
			// The bounds are 1 MiB for mdstat, 16 MiB for pci.ids and 8 MiB
			// for cpuinfo; reading the files whole took gigabytes.
			if r.alloc > 48<<20 {
				t.Errorf("probe allocated %d MiB", r.alloc>>20)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.text, w) {
					t.Errorf("missing %s", w)
				}
			}
			checkSeries(t, r.text, nil, tc.absent)
			for _, g := range tc.gone {
				if strings.Contains(r.text, g) {
					t.Errorf("series from the hostile file exported: %s", g)
				}
			}
		})
	}
}

// A DMI string that is a link out of the sysfs root, absolute or relative,
// is not read: its target's content never becomes a label.
func TestLinksOutOfTheRootAreNotExported(t *testing.T) {
	secret := secretOutside(t)
	for _, absolute := range []bool{true, false} {
		name := map[bool]string{true: "absolute", false: "relative"}[absolute]
		t.Run(name, func(t *testing.T) {
			paths := copyWholeFixture(t)
			file := filepath.Join(paths.SysFS, "class/dmi/id/product_name")
			target := secret
			if !absolute {
				real, err := filepath.EvalSymlinks(filepath.Dir(file))
				if err != nil {
					t.Fatal(err)
				}
				target = escapeLink(t, real, secret)
			}
			replaceWith(t, file, symlinkTo(target))
			r := hostileRun(t, "system", paths)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if strings.Contains(r.text, hostileSecret) {
				t.Errorf("content from outside the root exported:\n%s", r.text)
			}
			if !strings.Contains(r.text, `product_name=""`) {
				t.Errorf("product_name not empty:\n%s", r.text)
			}
			if r.skips == 0 {
				t.Error("the refused link counted no skip")
			}
		})
	}
}

// Every sysfs probe on one tree where something hostile sits in each of
// their inputs: FIFOs, links to endless devices and out of the root, a huge
// sparse file. Each probe returns promptly, with small memory, leaks
// nothing from outside its roots, and keeps the series of the inputs that
// are sound.
func TestSysfsProbesOnAHostileTree(t *testing.T) {
	paths := copyWholeFixture(t)
	secret := secretOutside(t)
	top := filepath.Dir(paths.ProcFS)
	for file, plant := range map[string]func(string) error{
		"sys/class/hwmon/hwmon1/temp1_input":                 fifo,
		"sys/class/hwmon/hwmon0/name":                        symlinkTo("/dev/zero"),
		"sys/class/thermal/thermal_zone0/temp":               fifo,
		"sys/class/powercap/intel-rapl:0/energy_uj":          symlinkTo("/dev/urandom"),
		"sys/class/net/eno8303/mtu":                          fifo,
		"sys/class/net/eno8403/address":                      symlinkTo(secret),
		"sys/block/sda/size":                                 sparse(1 << 30),
		"sys/block/sdb/device/model":                         symlinkTo(secret),
		"sys/class/dmi/id/product_name":                      symlinkTo(secret),
		"sys/class/dmi/id/board_name":                        fifo,
		"sys/devices/system/cpu/vulnerabilities/meltdown":    fifo,
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_driver": symlinkTo(secret),
		"proc/mdstat":                 symlinkTo("/dev/zero"),
		"proc/cpuinfo":                sparse(1 << 30),
		"proc/swaps":                  fifo,
		"proc/modules":                symlinkTo("/dev/zero"),
		"root/etc/os-release":         symlinkTo(secret),
		"root/usr/share/misc/pci.ids": symlinkTo("/dev/urandom"),
	} {
		replaceWith(t, filepath.Join(top, file), plant)
	}
	for _, name := range sysfsProbes {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			r := hostileRun(t, name, paths)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s took %v", name, d)
			}
			if r.err != nil {
				t.Fatalf("%s failed: %v", name, r.err)
			}
			if r.alloc > 64<<20 {
				t.Errorf("%s allocated %d MiB", name, r.alloc>>20)
			}
			if strings.Contains(r.text, hostileSecret) {
				t.Errorf("%s exported content from outside its roots:\n%s", name, r.text)
			}
			if strings.Count(r.text, "\n") < 3 {
				t.Errorf("%s kept almost nothing:\n%s", name, r.text)
			}
			t.Logf("%s: %d skips, %d KiB allocated", name, r.skips, r.alloc>>10)
		})
	}
}
