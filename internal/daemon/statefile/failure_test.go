package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// assertOldFileKept checks that a failed write left probe's previous
// snapshot in place and no temp file behind.
func assertOldFileKept(t *testing.T, d *Dir, old Snapshot) {
	t.Helper()
	got, err := d.Load(old.Probe)
	if err != nil {
		t.Fatalf("after a failed write: %v", err)
	}
	if diff := diffSnapshots(got, old); diff != "" {
		t.Errorf("after a failed write: %s", diff)
	}
	if m := tempFiles(t, d); len(m) != 0 {
		t.Errorf("temp files left: %v", m)
	}
}

func TestFullDiskKeepsTheOldFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(f *os.File, b []byte) (int, error)
	}{
		{"at once", func(*os.File, []byte) (int, error) { return 0, syscall.ENOSPC }},
		{"halfway", func(f *os.File, b []byte) (int, error) {
			n, _ := f.Write(b[:len(b)/2])
			return n, syscall.ENOSPC
		}},
		{"short write without error", func(f *os.File, b []byte) (int, error) { return 0, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openDir(t, testHost)
			old := edgeSnapshot("smart")
			if err := d.Write(old); err != nil {
				t.Fatal(err)
			}
			d.write = tc.write
			err := d.Write(bigSnapshot("smart"))
			if err == nil {
				t.Fatal("write succeeded on a full disk")
			}
			t.Log(err)
			assertOldFileKept(t, d, old)
		})
	}
	// errors.Is sees the cause, so the caller can count ENOSPC apart.
	d := openDir(t, testHost)
	d.write = func(*os.File, []byte) (int, error) { return 0, syscall.ENOSPC }
	if err := d.Write(edgeSnapshot("smart")); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("got %v, want ENOSPC", err)
	}
}

// mountTmpfs mounts a small tmpfs at a temp dir, or skips: mounting needs
// root (or a user namespace) that a CI runner may not grant.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func TestFullTmpfsKeepsTheOldFile(t *testing.T) {
	mnt := mountTmpfs(t, "128k")
	d, err := Open(filepath.Join(mnt, "state"), testHost)
	if err != nil {
		t.Fatal(err)
	}
	old := edgeSnapshot("smart")
	if err := d.Write(old); err != nil {
		t.Fatal(err)
	}
	big := bigSnapshot("smart")
	big.Families = append(big.Families, big.Families...) // ~200 KiB
	err = d.Write(big)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	assertOldFileKept(t, d, old)
	// Once space is back, the next write succeeds.
	if err := d.Write(edgeSnapshot("smart")); err != nil {
		t.Errorf("after ENOSPC: %v", err)
	}
}

func TestReadOnlyDirectoryKeepsTheOldFile(t *testing.T) {
	var d *Dir
	var readOnly func()
	if os.Geteuid() == 0 {
		// Root ignores mode bits; a read-only mount is what it cannot write.
		mnt := mountTmpfs(t, "1m")
		readOnly = func() {
			if err := syscall.Mount("", mnt, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
				t.Skipf("cannot remount read-only: %v", err)
			}
		}
		var err error
		if d, err = Open(filepath.Join(mnt, "state"), testHost); err != nil {
			t.Fatal(err)
		}
	} else {
		d = openDir(t, testHost)
		readOnly = func() {
			if err := os.Chmod(d.path, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(d.path, 0o700) })
		}
	}
	old := edgeSnapshot("smart")
	if err := d.Write(old); err != nil {
		t.Fatal(err)
	}
	readOnly()
	err := d.Write(bigSnapshot("smart"))
	if !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EACCES) {
		t.Fatalf("got %v, want EROFS or EACCES", err)
	}
	assertOldFileKept(t, d, old)
	// Open of a read-only directory still works, so state can be restored.
	d2, err := Open(d.path, testHost)
	if err != nil {
		t.Fatal(err)
	}
	assertOldFileKept(t, d2, old)
}
