package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A kept attribute reads the file's current value at each Read: a value
// rewritten in place (as the kernel changes an attribute's value) is seen
// without opening the file again.
func TestAttrReadsNewValue(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		root := t.TempDir()
		name := filepath.Join(root, "hwmon0", "temp1_input")
		writeFile(t, name, "41000\n")
		a, err := open(root).OpenAttr("hwmon0/temp1_input")
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		buf := make([]byte, 64)
		for _, want := range []string{"41000\n", "52000\n", "7\n"} {
			if err := os.WriteFile(name, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := a.Read(buf)
			if err != nil || string(b) != want {
				t.Errorf("Read = %q, %v; want %q", b, err, want)
			}
		}
	})
}

// A file removed, or replaced by a rename, since it was opened is an error
// (ErrRemoved), so the caller looks for it again rather than reading a
// value no one updates any more.
func TestAttrRemovedOrReplaced(t *testing.T) {
	for _, change := range []struct {
		name string
		do   func(t *testing.T, path string)
	}{
		{"removed", func(t *testing.T, path string) { os.Remove(path) }},
		{"replaced", func(t *testing.T, path string) {
			writeFile(t, path+".new", "1\n")
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(change.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, "a"), "5\n")
			a, err := New(root).OpenAttr("a")
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			change.do(t, filepath.Join(root, "a"))
			if _, err := a.Read(make([]byte, 64)); !errors.Is(err, ErrRemoved) {
				t.Errorf("Read after the file was %s: %v, want ErrRemoved", change.name, err)
			}
		})
	}
}

// OpenAttr keeps ReadAttr's rules: a FIFO is refused without blocking, a
// link out of the root is refused, and a value too long for the buffer is
// an error, not a cut value.
func TestAttrRules(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, "/etc/passwd", filepath.Join(root, "out"))
	writeFile(t, filepath.Join(root, "long"), "123456789\n")
	fsys := New(root)
	before := Kept()
	if _, err := fsys.OpenAttr("fifo"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenAttr(fifo) = %v, want ErrNotRegular", err)
	}
	if _, err := fsys.OpenAttr("out"); !errors.Is(err, ErrOutsideRoot) {
		t.Errorf("OpenAttr(out) = %v, want ErrOutsideRoot", err)
	}
	if _, err := fsys.OpenAttr("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenAttr(missing) = %v, want ErrNotExist", err)
	}
	if Kept() != before {
		t.Errorf("failed opens keep %d descriptors", Kept()-before)
	}
	a, err := fsys.OpenAttr("long")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Read(make([]byte, 5)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Read into a short buffer = %v, want ErrTooLarge", err)
	}
}

// No more than MaxKept attributes are open at once; Close gives a
// descriptor back to the budget.
func TestAttrBudget(t *testing.T) {
	old := setMaxKept(Kept() + 3)
	defer setMaxKept(old)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a"), "1\n")
	fsys := New(root)
	var open []*Attr
	for range 3 {
		a, err := fsys.OpenAttr("a")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, a)
	}
	if _, err := fsys.OpenAttr("a"); !errors.Is(err, ErrKeptBudget) {
		t.Fatalf("fourth OpenAttr with a budget of 3: %v, want ErrKeptBudget", err)
	}
	if err := open[0].Close(); err != nil {
		t.Fatal(err)
	}
	if err := open[0].Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	a, err := fsys.OpenAttr("a")
	if err != nil {
		t.Fatalf("OpenAttr after a Close: %v", err)
	}
	for _, a := range append(open[1:], a) {
		a.Close()
	}
}

// ReadAll reads a kept file whole, in several reads when it is longer than
// the buffer, and again from the start at each call: a file rewritten in
// place (as /proc/mdstat changes) is read new, longer or shorter. Past the
// bound it is ErrTooLarge; removed, ErrRemoved.
func TestAttrReadAll(t *testing.T) {
	root := t.TempDir()
	name := filepath.Join(root, "mdstat")
	long := strings.Repeat("md0 : active raid1 sda1[0] sdb1[1]\n", 100) // 3,500 bytes: several reads from 512
	writeFile(t, name, long)
	a, err := New(root).OpenAttr("mdstat")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var buf []byte
	for _, want := range []string{long, "short\n", "", long + "x\n"} {
		if err := os.WriteFile(name, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		buf, err = a.ReadAll(buf, 1<<20)
		if err != nil || string(buf) != want {
			t.Errorf("ReadAll = %d bytes, %v; want %d bytes", len(buf), err, len(want))
		}
	}
	if b, err := a.ReadAll(buf, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadAll past the bound = %d bytes, %v; want ErrTooLarge", len(b), err)
	}
	if b, err := a.ReadAll(nil, int64(len(long)+2)); err != nil || string(b) != long+"x\n" {
		t.Errorf("ReadAll at exactly the bound = %d bytes, %v; want the file", len(b), err)
	}
	os.Remove(name)
	if _, err := a.ReadAll(buf, 1<<20); !errors.Is(err, ErrRemoved) {
		t.Errorf("ReadAll after remove: %v, want ErrRemoved", err)
	}
	a.Close()
	if _, err := a.ReadAll(buf, 1<<20); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("ReadAll after Close: %v, want fs.ErrClosed", err)
	}
}
