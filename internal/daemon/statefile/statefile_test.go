package statefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/v2.state")

func TestRoundTripIsExact(t *testing.T) {
	d := openDir(t, testHost)
	for _, want := range []Snapshot{edgeSnapshot("smart"), bigSnapshot("big"), {Probe: "bare"}} {
		if err := d.Write(want); err != nil {
			t.Fatal(err)
		}
		got, err := d.Load(want.Probe)
		if err != nil {
			t.Fatal(err)
		}
		if diff := diffSnapshots(got, want); diff != "" {
			t.Errorf("%s: %s", want.Probe, diff)
		}
	}
	// Zero times stay zero rather than becoming some date in 1677.
	got, _ := d.Load("bare")
	if !got.Run.IsZero() || !got.LastSuccess.IsZero() || !got.InventoryChange.IsZero() {
		t.Errorf("zero times came back as %v %v %v", got.Run, got.LastSuccess, got.InventoryChange)
	}
	if m := tempFiles(t, d); len(m) != 0 {
		t.Errorf("temp files left: %v", m)
	}
	fi, err := os.Stat(d.Path("smart"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600: it holds serial numbers", fi.Mode().Perm())
	}
}

func TestWriteReplacesTheProbesSnapshotOnly(t *testing.T) {
	d := openDir(t, testHost)
	first, second := edgeSnapshot("smart"), bigSnapshot("smart")
	other := edgeSnapshot("cpu")
	for _, s := range []Snapshot{first, other, second} {
		if err := d.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := d.Load("smart"); err != nil || diffSnapshots(got, second) != "" {
		t.Errorf("smart: %v %s", err, diffSnapshots(got, second))
	}
	if got, err := d.Load("cpu"); err != nil || diffSnapshots(got, other) != "" {
		t.Errorf("cpu: %v %s", err, diffSnapshots(got, other))
	}
}

func TestMissingFileIsNotExist(t *testing.T) {
	d := openDir(t, testHost)
	if _, err := d.Load("smart"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist", err)
	}
}

// Every single flipped byte is caught, and reported as the file's damage:
// never as a restorable snapshot, and never as another host's file.
func TestFlippedByteIsCorrupt(t *testing.T) {
	d := openDir(t, testHost)
	s := edgeSnapshot("smart")
	if err := d.Write(s); err != nil {
		t.Fatal(err)
	}
	orig := mustRead(t, d.Path("smart"))
	for i := range orig {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(orig)
			b[i] ^= mask
			if err := os.WriteFile(d.Path("smart"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := d.Load("smart")
			want := ErrCorrupt
			if i >= 8 && i < 12 {
				want = ErrVersion // the version field itself
			}
			if !errors.Is(err, want) {
				t.Fatalf("byte %d ^ %#x: got %v, want %v", i, mask, err, want)
			}
		}
	}
}

func TestEveryTruncationIsCorrupt(t *testing.T) {
	d := openDir(t, testHost)
	if err := d.Write(edgeSnapshot("smart")); err != nil {
		t.Fatal(err)
	}
	orig := mustRead(t, d.Path("smart"))
	for n := range len(orig) {
		if err := os.WriteFile(d.Path("smart"), orig[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Load("smart"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d of %d bytes: got %v, want ErrCorrupt", n, len(orig), err)
		}
	}
	// Bytes appended to a complete file are caught too.
	if err := os.WriteFile(d.Path("smart"), append(bytes.Clone(orig), 0), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load("smart"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("extended file: got %v, want ErrCorrupt", err)
	}
}

func TestOtherVersionIsRefused(t *testing.T) {
	d := openDir(t, testHost)
	if err := d.Write(edgeSnapshot("smart")); err != nil {
		t.Fatal(err)
	}
	b := mustRead(t, d.Path("smart"))
	binary.LittleEndian.PutUint32(b[8:], 3)
	if err := os.WriteFile(d.Path("smart"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := d.Load("smart")
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("got %v, want ErrVersion", err)
	}
	if errors.Is(err, ErrCorrupt) {
		t.Errorf("%v is also ErrCorrupt", err)
	}
}

func TestOtherHostIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	donor, err := Open(dir, testHost)
	if err != nil {
		t.Fatal(err)
	}
	if err := donor.Write(edgeSnapshot("smart")); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"ffffffffffffffffffffffffffffffff", ""} {
		clone, err := Open(dir, host)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := clone.Load("smart"); !errors.Is(err, ErrForeignHost) {
			t.Errorf("host %q: got %v, want ErrForeignHost", host, err)
		}
	}
}

// A file renamed to another probe's name is not served as that probe.
func TestFileOfAnotherProbeIsCorrupt(t *testing.T) {
	d := openDir(t, testHost)
	if err := d.Write(edgeSnapshot("smart")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(d.Path("smart"), d.Path("cpu")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load("cpu"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("got %v, want ErrCorrupt", err)
	}
}

func TestLoadRefusesWhatIsNotARegularFile(t *testing.T) {
	d := openDir(t, testHost)
	if err := os.WriteFile(filepath.Join(d.path, "target"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target", d.Path("link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(d.Path("fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(d.Path("dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"link", "fifo", "dir"} {
		done := make(chan error, 1)
		go func() { _, err := d.Load(name); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: got %v, want ErrCorrupt", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Load hangs", name)
		}
	}
}

func TestOversizedFileIsRefusedUnread(t *testing.T) {
	d := openDir(t, testHost)
	f, err := os.Create(d.Path("smart"))
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: costs no disk, and reading it would cost the test seconds.
	if err := f.Truncate(MaxSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := d.Load("smart"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("got %v, want ErrCorrupt", err)
	}
}

func TestProbeNamesStayInTheDirectory(t *testing.T) {
	d := openDir(t, testHost)
	for _, name := range []string{"", "../smart", "a/b", ".hidden", "smart.state", "x\x00"} {
		s := edgeSnapshot(name)
		if err := d.Write(s); err == nil {
			t.Errorf("Write(%q) succeeded", name)
		}
		if _, err := d.Load(name); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%q): %v", name, err)
		}
	}
}

func TestUnsupportedTypeIsNotWritten(t *testing.T) {
	d := openDir(t, testHost)
	s := edgeSnapshot("smart")
	s.Families[0].Type = Counter + 1
	if err := d.Write(s); err == nil {
		t.Error("wrote an unknown type")
	}
	s = edgeSnapshot("smart")
	s.Families[0].Samples[0].LabelValues = nil
	if err := d.Write(s); err == nil {
		t.Error("wrote a sample without its label values")
	}
	if _, err := os.Stat(d.Path("smart")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused snapshot left a file: %v", err)
	}
}

func TestOpenRemovesLeftoverTempFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".smart.tmp", ".gone.tmp", "keep.state", "README"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Open(dir, testHost)
	if err != nil {
		t.Fatal(err)
	}
	if m := tempFiles(t, d); len(m) != 0 {
		t.Errorf("left: %v", m)
	}
	for _, name := range []string{"keep.state", "README"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("removed %s: %v", name, err)
		}
	}
}

// A crash's leftover temp file is overwritten, not appended to or served.
func TestWriteOverwritesALeftoverTempFile(t *testing.T) {
	d := openDir(t, testHost)
	junk := bytes.Repeat([]byte("junk"), 1<<14)
	if err := os.WriteFile(filepath.Join(d.path, ".smart.tmp"), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	want := edgeSnapshot("smart")
	if err := d.Write(want); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Load("smart"); err != nil || diffSnapshots(got, want) != "" {
		t.Errorf("%v %s", err, diffSnapshots(got, want))
	}
	if m := tempFiles(t, d); len(m) != 0 {
		t.Errorf("left: %v", m)
	}
}

func TestConcurrentWritesEachLeaveACompleteFile(t *testing.T) {
	d := openDir(t, testHost)
	var wg sync.WaitGroup
	for _, probe := range []string{"smart", "smart", "smart", "cpu", "cpu", "hwmon"} {
		wg.Go(func() {
			for range 5 {
				if err := d.Write(edgeSnapshot(probe)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, probe := range []string{"smart", "cpu", "hwmon"} {
		if got, err := d.Load(probe); err != nil || diffSnapshots(got, edgeSnapshot(probe)) != "" {
			t.Errorf("%s: %v %s", probe, err, diffSnapshots(got, edgeSnapshot(probe)))
		}
	}
}

// testdata/v2.state pins format version 2: if encode ever writes other
// bytes for the same snapshot, files written by released versions would be
// misread, so the change needs a new version number.
func TestFormatVersion2IsStable(t *testing.T) {
	golden := filepath.Join("testdata", "v2.state")
	want := edgeSnapshot("smart")
	want.Options = 0x0123_4567_89ab_cdef
	b, err := encode(testHost, want)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stored := mustRead(t, golden)
	if !bytes.Equal(b, stored) {
		t.Errorf("encode writes %d bytes that differ from %s (%d bytes)", len(b), golden, len(stored))
	}
	got, err := decode(stored, testHost, "smart")
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffSnapshots(got, want); diff != "" {
		t.Error(diff)
	}
}

// Files of format version 1 (testdata/v1.state, written by the releases
// before the options fingerprint) still decode, with Options 0, so an
// upgrade logs why each is not restored instead of calling them corrupt.
func TestFormatVersion1StillDecodes(t *testing.T) {
	got, err := decode(mustRead(t, filepath.Join("testdata", "v1.state")), testHost, "smart")
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffSnapshots(got, edgeSnapshot("smart")); diff != "" {
		t.Error(diff)
	}
	if got.Options != 0 {
		t.Errorf("a version 1 file decodes with Options %#x, want 0", got.Options)
	}
}

func ExampleDir_Load() {
	dir, _ := os.MkdirTemp("", "state")
	defer os.RemoveAll(dir)
	d, _ := Open(dir, HostIdentity("testdata/sosreport-master1", "testdata/sosreport-master1/sys"))
	_ = d.Write(Snapshot{Probe: "cpu", Run: time.Unix(1767225600, 0), Success: true,
		Families: []Family{{Name: "hardware_cpu_info", Help: "CPU model.", Type: Gauge,
			LabelNames: []string{"model"}, Samples: []Sample{{LabelValues: []string{"EPYC 9654"}, Value: 1}}}}})
	s, err := d.Load("cpu")
	fmt.Println(s.Families[0].Samples[0].LabelValues, err)
	_, err = d.Load("smart")
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// [EPYC 9654] <nil>
	// true
}

func TestWriteRecreatesARemovedDirectory(t *testing.T) {
	d := openDir(t, testHost)
	if err := os.RemoveAll(d.path); err != nil {
		t.Fatal(err)
	}
	want := edgeSnapshot("smart")
	if err := d.Write(want); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Load("smart"); err != nil || diffSnapshots(got, want) != "" {
		t.Errorf("%v %s", err, diffSnapshots(got, want))
	}
}

// A symlink or a directory at a probe's temp file or state file (left by
// hand, or planted) does not stop its writes: the writer removes what is
// in its way, never following a link, so the link's target is untouched.
func TestWriteClearsWhatIsInItsWay(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("not yours"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		plant func(d *Dir) error
	}{
		{"symlink at the temp file", func(d *Dir) error {
			return os.Symlink(outside, filepath.Join(d.path, ".smart.tmp"))
		}},
		{"dangling symlink at the temp file", func(d *Dir) error {
			return os.Symlink(filepath.Join(t.TempDir(), "nothing"), filepath.Join(d.path, ".smart.tmp"))
		}},
		{"directory at the temp file", func(d *Dir) error {
			return os.MkdirAll(filepath.Join(d.path, ".smart.tmp", "sub"), 0o700)
		}},
		{"symlink at the state file", func(d *Dir) error { return os.Symlink(outside, d.Path("smart")) }},
		{"directory at the state file", func(d *Dir) error { return os.MkdirAll(filepath.Join(d.Path("smart"), "sub"), 0o700) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openDir(t, testHost)
			if err := tc.plant(d); err != nil {
				t.Fatal(err)
			}
			want := edgeSnapshot("smart")
			for i := range 2 { // the second write meets a clean directory
				if err := d.Write(want); err != nil {
					t.Fatalf("write %d: %v", i+1, err)
				}
			}
			if got, err := d.Load("smart"); err != nil || diffSnapshots(got, want) != "" {
				t.Errorf("load: %v %s", err, diffSnapshots(got, want))
			}
			if b := mustRead(t, outside); string(b) != "not yours" {
				t.Errorf("the link's target was changed: %q", b)
			}
			if left := tempFiles(t, d); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// A state directory that others may write is reported, so the daemon can
// warn: its files decide what a restart serves.
func TestOthersMayWriteTheDirectory(t *testing.T) {
	d := openDir(t, testHost)
	if why := d.OthersMayWrite(); why != "" {
		t.Errorf("a fresh 0700 directory: %q", why)
	}
	if err := os.Chmod(d.path, 0o777); err != nil {
		t.Fatal(err)
	}
	if why := d.OthersMayWrite(); !strings.Contains(why, "every user") {
		t.Errorf("mode 0777: %q, want it to say every user may write", why)
	}
}
