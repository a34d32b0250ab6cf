package hostfs

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A file named on the command line (the config) is read as host files are:
// a FIFO, a socket, a directory or a character device is refused without
// blocking, a huge file past the bound without allocating it; symlinks
// anywhere are followed, since the path is the operator's.
func TestReadNamedFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/config.yml", "cache:\n  ttl: 1h\n")
	other := t.TempDir()
	writeFile(t, other+"/real.yml", "x: 1\n")
	symlink(t, other+"/real.yml", dir+"/abs-link.yml")
	if err := unix.Mkfifo(dir+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, dir+"/fifo", dir+"/fifolink")
	if err := os.Mkdir(dir+"/dir", 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"fifo", "fifolink", "dir"}
	// A copy of /dev/zero's node, made here so the host's /dev is not read.
	if err := unix.Mknod(dir+"/zero", unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err == nil {
		names = append(names, "zero")
	} else {
		t.Logf("no character device test: mknod: %v", err)
	}
	if sock, err := net.Listen("unix", dir+"/sock"); err == nil {
		defer sock.Close()
		names = append(names, "sock")
	}
	sparse, err := os.Create(dir + "/sparse")
	if err != nil {
		t.Fatal(err)
	}
	if err := sparse.Truncate(200 << 20); err != nil {
		t.Fatal(err)
	}
	sparse.Close()

	if b, err := ReadNamedFile(dir+"/config.yml", 1<<20); err != nil || string(b) != "cache:\n  ttl: 1h\n" {
		t.Errorf("regular file = %q, %v", b, err)
	}
	if b, err := ReadNamedFile(dir+"/abs-link.yml", 1<<20); err != nil || string(b) != "x: 1\n" {
		t.Errorf("absolute symlink elsewhere = %q, %v; want it followed", b, err)
	}
	for _, name := range names {
		within(t, 5*time.Second, func() {
			b, err := ReadNamedFile(dir+"/"+name, 1<<20)
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), dir+"/"+name) {
				t.Errorf("%s = %d bytes, %v; want ErrNotRegular naming the path", name, len(b), err)
			}
		})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := ReadNamedFile(dir+"/sparse", 1<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) || b != nil {
		t.Errorf("200 MiB file = %d bytes, %v; want ErrTooLarge", len(b), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3<<20 {
		t.Errorf("reading a 200 MiB file with a 1 MiB bound allocated %d bytes", alloc)
	}
	if _, err := ReadNamedFile(dir+"/missing", 1<<20); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
