package hostfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// resolvers runs a test on both ways of resolving: openat2 where this
// kernel has it, and os.Root as kernels without it (or with seccomp) do.
func resolvers(t *testing.T, test func(t *testing.T, open func(root string) FS)) {
	t.Run("openat2", func(t *testing.T) {
		if !haveOpenat2(t) {
			t.Skip("openat2 unavailable on this kernel")
		}
		test(t, New)
	})
	t.Run("osroot", func(t *testing.T) {
		test(t, func(root string) FS { fsys := New(root); fsys.noOpenat2 = true; return fsys })
	})
}

func haveOpenat2(t *testing.T) bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, t.TempDir(), &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// sysfsTree builds the shape of a real sysfs: class entries are relative
// links into devices/, and devices link to their driver and back.
func sysfsTree(t *testing.T) string {
	root := t.TempDir()
	dev := filepath.Join(root, "devices/pci0000:00/0000:00:1f.6")
	writeFile(t, dev+"/vendor", "0x8086\n")
	writeFile(t, dev+"/net/eno1/address", "3c:ec:ef:01:02:03\n")
	symlink(t, "../../../0000:00:1f.6", dev+"/net/eno1/device")
	symlink(t, "../../../bus/pci/drivers/e1000e", dev+"/driver")
	writeFile(t, root+"/bus/pci/drivers/e1000e/new_id", "")
	symlink(t, "../../devices/pci0000:00/0000:00:1f.6/net/eno1", root+"/class/net/eno1")
	writeFile(t, root+"/devices/platform/coretemp.0/hwmon/hwmon0/temp1_input", "42000\n")
	symlink(t, "../../devices/platform/coretemp.0/hwmon/hwmon0", root+"/class/hwmon/hwmon0")
	return root
}

func TestRelativeLinksInsideRoot(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		fsys := open(sysfsTree(t))
		for name, want := range map[string]string{
			"class/net/eno1/address":                  "3c:ec:ef:01:02:03\n",
			"class/net/eno1/device/vendor":            "0x8086\n", // two links deep
			"class/hwmon/hwmon0/temp1_input":          "42000\n",
			"class/hwmon/../hwmon/hwmon0/temp1_input": "42000\n", // cleans inside
		} {
			for reader, read := range readers(fsys) {
				got, err := read(name)
				if err != nil || string(got) != want {
					t.Errorf("%s(%q) = %q, %v; want %q", reader, name, got, err, want)
				}
			}
		}
		link, err := fsys.Readlink("class/net/eno1/device/driver")
		if want := "../../../bus/pci/drivers/e1000e"; err != nil || link != want {
			t.Errorf("Readlink(driver) = %q, %v; want %q", link, err, want)
		}
		if fi, err := fsys.Stat("class/net/eno1/device/driver"); err != nil || !fi.IsDir() {
			t.Errorf("Stat(driver) = %v, %v; want a directory", fi, err)
		}
		if fi, err := fsys.Lstat("class/net/eno1"); err != nil || fi.Mode().Type() != fs.ModeSymlink || fi.Name() != "eno1" {
			t.Errorf("Lstat(class/net/eno1) = %v, %v; want the link eno1", fi, err)
		}
		if _, err := fsys.Readlink("class/net/eno1/address"); err == nil {
			t.Error("Readlink of a regular file succeeded")
		}
		entries, err := fsys.ReadDir("class/net/eno1")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if got := strings.Join(names, " "); got != "address device" {
			t.Errorf("ReadDir(class/net/eno1) = %q, want sorted \"address device\"", got)
		}
		if names, err := fsys.ReadDirNames("class/net/eno1"); err != nil || strings.Join(names, " ") != "address device" {
			t.Errorf("ReadDirNames(class/net/eno1) = %q, %v; want sorted \"address device\"", names, err)
		}
		if entries[1].Type() != fs.ModeSymlink {
			t.Errorf("device entry type = %v, want a symlink", entries[1].Type())
		}
		if fi, err := entries[1].Info(); err != nil || fi.Mode().Type() != fs.ModeSymlink {
			t.Errorf("device entry Info = %v, %v; want the link", fi, err)
		}
		if root, err := fsys.ReadDir("."); err != nil || len(root) != 3 {
			t.Errorf("ReadDir(.) = %v, %v; want bus class devices", root, err)
		}
		if !fsys.Exists("class/hwmon/hwmon0") || fsys.Exists("class/hwmon/hwmon1") {
			t.Error("Exists disagrees with the tree")
		}
	})
}

// readers names every way of reading a file's bytes, so a rule is checked
// on each of them.
func readers(fsys FS) map[string]func(string) ([]byte, error) {
	return map[string]func(string) ([]byte, error){
		"ReadAttr": fsys.ReadAttr,
		"ReadFile": func(name string) ([]byte, error) { return fsys.ReadFile(name, 1<<20) },
		"Open": func(name string) ([]byte, error) {
			f, err := fsys.Open(name, 1<<20)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return io.ReadAll(f)
		},
	}
}

func TestOutsideRoot(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		outside := t.TempDir()
		writeFile(t, outside+"/secret", "secret\n")
		root := sysfsTree(t)
		symlink(t, outside+"/secret", root+"/abs")                      // absolute link out
		symlink(t, "../"+filepath.Base(outside)+"/secret", root+"/rel") // both are t.TempDir siblings
		symlink(t, outside, root+"/class/absdir")                       // absolute link in the middle
		symlink(t, "../../..", root+"/class/net/up")                    // relative link in the middle
		symlink(t, root+"/class/hwmon/hwmon0/temp1_input", root+"/absinside")
		fsys := open(root)
		for _, name := range []string{
			"/etc/passwd",
			"..",
			"../secret",
			"class/../../secret",
			"abs",
			"rel",
			"class/absdir/secret",
			"class/net/up/" + filepath.Base(outside) + "/secret",
			// Absolute links are refused even when they name a file below
			// the root: the root's own path is not known to the host.
			"absinside",
		} {
			for reader, read := range readers(fsys) {
				got, err := read(name)
				if !errors.Is(err, ErrOutsideRoot) {
					t.Errorf("%s(%q) = %q, %v; want ErrOutsideRoot", reader, name, got, err)
				}
			}
			if _, err := fsys.Stat(name); !errors.Is(err, ErrOutsideRoot) {
				t.Errorf("Stat(%q) = %v, want ErrOutsideRoot", name, err)
			}
			if _, err := fsys.ReadDir(name); !errors.Is(err, ErrOutsideRoot) && !errors.Is(err, syscall.ENOTDIR) {
				t.Errorf("ReadDir(%q) = %v, want ErrOutsideRoot", name, err)
			}
		}
		if _, err := fsys.ReadDir("class/absdir"); !errors.Is(err, ErrOutsideRoot) {
			t.Errorf("ReadDir(class/absdir) = %v, want ErrOutsideRoot", err)
		}
		if _, err := fsys.ReadDirNames("class/absdir"); !errors.Is(err, ErrOutsideRoot) {
			t.Errorf("ReadDirNames(class/absdir) = %v, want ErrOutsideRoot", err)
		}
		if _, err := fsys.Readlink("class/absdir/secret"); !errors.Is(err, ErrOutsideRoot) {
			t.Errorf("Readlink through an escaping link = %v, want ErrOutsideRoot", err)
		}
		// The link itself is below the root: its text may be read, and
		// described, without following it.
		if target, err := fsys.Readlink("abs"); err != nil || target != outside+"/secret" {
			t.Errorf("Readlink(abs) = %q, %v", target, err)
		}
		if fi, err := fsys.Lstat("abs"); err != nil || fi.Mode().Type() != fs.ModeSymlink {
			t.Errorf("Lstat(abs) = %v, %v", fi, err)
		}
		_, err := fsys.ReadAttr("abs")
		if want := filepath.Join(root, "abs"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	})
}

func TestLinkLoopFails(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		root := t.TempDir()
		symlink(t, "b", root+"/a")
		symlink(t, "a", root+"/b")
		if _, err := open(root).ReadAttr("a"); !errors.Is(err, syscall.ELOOP) {
			t.Errorf("ReadAttr(a) = %v, want ELOOP", err)
		}
	})
}

// within fails the test, rather than hanging it, when f does not return in
// time: a regression here would block forever.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still blocked after %v", d)
	}
}

func TestNotRegular(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		root := t.TempDir()
		if err := unix.Mkfifo(root+"/fifo", 0o644); err != nil {
			t.Fatal(err)
		}
		symlink(t, "fifo", root+"/fifolink")
		if err := os.Mkdir(root+"/dir", 0o755); err != nil {
			t.Fatal(err)
		}
		names := []string{"fifo", "fifolink", "dir"}
		// A copy of /dev/zero's node: made here, so the host's /dev is not
		// read. It needs CAP_MKNOD.
		if err := unix.Mknod(root+"/zero", unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err == nil {
			names = append(names, "zero")
		} else {
			t.Logf("no character device test: mknod: %v", err)
		}
		sock, err := net.Listen("unix", root+"/sock")
		if err == nil {
			defer sock.Close()
			names = append(names, "sock")
		}
		// Links to the host's devices leave the root, whatever else they are.
		symlink(t, "/dev/zero", root+"/devzero")
		symlink(t, "/dev/urandom", root+"/urandom")
		fsys := open(root)
		for _, name := range names {
			for reader, read := range readers(fsys) {
				within(t, 5*time.Second, func() {
					if got, err := read(name); !errors.Is(err, ErrNotRegular) {
						t.Errorf("%s(%q) = %d bytes, %v; want ErrNotRegular", reader, name, len(got), err)
					}
				})
			}
		}
		for _, name := range []string{"devzero", "urandom"} {
			for reader, read := range readers(fsys) {
				within(t, 5*time.Second, func() {
					if got, err := read(name); err == nil {
						t.Errorf("%s(%q) = %d bytes, want an error", reader, name, len(got))
					}
				})
			}
		}
	})
}

func TestTooLarge(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		root := t.TempDir()
		sparse, err := os.Create(root + "/sparse")
		if err != nil {
			t.Fatal(err)
		}
		if err := sparse.Truncate(1 << 30); err != nil {
			t.Fatal(err)
		}
		sparse.Close()
		writeFile(t, root+"/page", strings.Repeat("x", MaxAttrSize))
		fsys := open(root)

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		got, err := fsys.ReadFile("sparse", 1<<20)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) || got != nil {
			t.Errorf("ReadFile(sparse, 1 MiB) = %d bytes, %v; want ErrTooLarge", len(got), err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3<<20 {
			t.Errorf("ReadFile(sparse, 1 MiB) allocated %d bytes", alloc)
		}
		if took > 2*time.Second {
			t.Errorf("ReadFile(sparse, 1 MiB) took %v", took)
		}

		if got, err := fsys.ReadAttr("sparse"); !errors.Is(err, ErrTooLarge) || got != nil {
			t.Errorf("ReadAttr(sparse) = %d bytes, %v; want ErrTooLarge", len(got), err)
		}
		if got, err := fsys.ReadAttr("page"); err != nil || len(got) != MaxAttrSize {
			t.Errorf("ReadAttr(page) = %d bytes, %v; want all %d", len(got), err, MaxAttrSize)
		}
		if got, err := fsys.ReadFile("page", MaxAttrSize); err != nil || len(got) != MaxAttrSize {
			t.Errorf("ReadFile(page, its size) = %d bytes, %v", len(got), err)
		}
		if _, err := fsys.ReadFile("page", MaxAttrSize-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("ReadFile(page, a byte short) = %v, want ErrTooLarge", err)
		}

		f, err := fsys.Open("sparse", 1000)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n, err := io.Copy(io.Discard, f)
		if !errors.Is(err, ErrTooLarge) || n != 1000 {
			t.Errorf("Open(sparse, 1000) gave %d bytes, %v; want 1000 and ErrTooLarge", n, err)
		}
		if _, err := f.Read(make([]byte, 10)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Read after the bound = %v, want ErrTooLarge again", err)
		}
	})
}

// TestReadFileGrows reads a file longer than its size says, as procfs
// files are (they report 0), across several reads and buffer growths.
func TestReadFileGrows(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		root := t.TempDir()
		want := strings.Repeat("0123456789", 10000)
		writeFile(t, root+"/big", want)
		got, err := open(root).ReadFile("big", int64(len(want)))
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(big) = %d bytes, %v; want %d", len(got), err, len(want))
		}
		if got, err := open(root).ReadFile("big", 0); !errors.Is(err, ErrTooLarge) {
			t.Errorf("ReadFile(big, 0) = %d bytes, %v; want ErrTooLarge", len(got), err)
		}
	})
}

func TestBytesComeBackExact(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		root := t.TempDir()
		// 0xFF-filled DMI fields and stray bytes in driver names are real.
		want := "\xff\xfe\x00To Be Filled\xc3\x28\n"
		writeFile(t, root+"/product_name", want)
		writeFile(t, root+"/empty", "")
		for reader, read := range readers(open(root)) {
			if got, err := read("product_name"); err != nil || !bytes.Equal(got, []byte(want)) {
				t.Errorf("%s = %q, %v; want %q", reader, got, err, want)
			}
			if got, err := read("empty"); err != nil || len(got) != 0 {
				t.Errorf("%s(empty) = %q, %v", reader, got, err)
			}
		}
	})
}

func TestMissing(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		root := sysfsTree(t)
		symlink(t, "nowhere", root+"/dangling")
		fsys := open(root)
		for _, name := range []string{"nope", "class/nope/x", "dangling"} {
			for reader, read := range readers(fsys) {
				if _, err := read(name); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s(%q) = %v, want fs.ErrNotExist", reader, name, err)
				}
			}
			if _, err := fsys.ReadDir(name); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadDir(%q) = %v, want fs.ErrNotExist", name, err)
			}
			if _, err := fsys.Stat(name); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(%q) = %v, want fs.ErrNotExist", name, err)
			}
		}
		if _, err := fsys.Readlink("nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Readlink(nope) = %v, want fs.ErrNotExist", err)
		}
		_, err := fsys.ReadAttr("class/nope/x")
		if want := filepath.Join(root, "class/nope/x"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
		if _, err := open(root + "/nope").ReadAttr("x"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadAttr under a missing root = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestClosedFile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root+"/x", "x")
	f, err := New(root).Open("x", 10)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != filepath.Join(root, "x") {
		t.Errorf("Name() = %q", f.Name())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close = %v, want fs.ErrClosed", err)
	}
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Read after Close = %v, want fs.ErrClosed", err)
	}
}

// TestPermission needs a user that mode bits apply to. Root bypasses them,
// so as root the test binary runs itself again as nobody.
func TestPermission(t *testing.T) {
	if os.Getuid() == 0 {
		if os.Getenv("HOSTFS_TEST_AS_NOBODY") != "" {
			t.Skip("still root after dropping to nobody")
		}
		runAsNobody(t, "TestPermission")
		return
	}
	resolvers(t, func(t *testing.T, open func(string) FS) {
		root := t.TempDir()
		writeFile(t, root+"/shut", "x")
		writeFile(t, root+"/closed/x", "x")
		if err := os.Chmod(root+"/shut", 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(root+"/closed", 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(root+"/closed", 0o755) })
		fsys := open(root)
		for _, name := range []string{"shut", "closed/x"} {
			for reader, read := range readers(fsys) {
				if _, err := read(name); !errors.Is(err, fs.ErrPermission) {
					t.Errorf("%s(%q) = %v, want fs.ErrPermission", reader, name, err)
				}
			}
		}
		if _, err := fsys.ReadDir("closed"); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("ReadDir(closed) = %v, want fs.ErrPermission", err)
		}
	})
}

// runAsNobody runs one test of this binary as uid 65534 and reports its
// output; it skips where the binary cannot be started that way.
func runAsNobody(t *testing.T, test string) {
	dir, err := os.MkdirTemp("", "hostfs-nobody")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A copy in a directory nobody may enter: go test builds in a 0700 one.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Skip(err)
	}
	bin := filepath.Join(dir, "hostfs.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOSTFS_TEST_AS_NOBODY=1", "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("cannot run as nobody: %v", err)
	}
	t.Logf("as nobody:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+test)) {
		t.Errorf("%s as nobody failed: %v", test, err)
	}
}

func BenchmarkReadAttr(b *testing.B) {
	root := b.TempDir()
	if err := os.WriteFile(root+"/temp1_input", []byte("42000\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("hostfs", func(b *testing.B) {
		fsys := New(root)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fsys.ReadAttr("temp1_input"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hostfs-osroot", func(b *testing.B) {
		fsys := New(root)
		fsys.noOpenat2 = true
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fsys.ReadAttr("temp1_input"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("os.ReadFile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := os.ReadFile(root + "/temp1_input"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
