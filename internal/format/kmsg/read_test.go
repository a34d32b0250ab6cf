package kmsg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func readAll(t *testing.T, path string, from Cursor, max int) ([]Record, Cursor, Stats) {
	t.Helper()
	var got []Record
	c, st, err := Read(context.Background(), path, from, max, func(r Record) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	return got, c, st
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kmsg")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func records(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "6,%d,%d,-;record %d\n SUBSYSTEM=test\n", i, i*1000, i)
	}
	return b.String()
}

// The dumps of /dev/kmsg published on the kernel lists (testdata/README.md).
func TestReadCaptures(t *testing.T) {
	got, c, st := readAll(t, "testdata/captures/linux-pci-asm1812.kmsg", Cursor{}, 0)
	if len(got) != 51 || st.Records != 51 || st.Malformed != 0 || st.Skipped != 0 {
		t.Fatalf("got %d records, stats %+v", len(got), st)
	}
	// A zero cursor starts at the beginning of the ring: the 1590 records
	// before the dump's first are reported as lost, and none after it.
	if st.Lost != 1590 || c.Next != 1641 || got[0].Seq != 1590 || got[50].Seq != 1640 {
		t.Errorf("lost %d, cursor %d, seqs %d..%d", st.Lost, c.Next, got[0].Seq, got[50].Seq)
	}
	byseq := map[uint64]Record{}
	for _, r := range got {
		byseq[r.Seq] = r
	}
	if r := byseq[1638]; r.Level != 3 || r.Facility != 0 || r.Device() != "+pci:0000:0a:00.0" || r.Dict["SUBSYSTEM"] != "pci" ||
		r.Message != "r8169 0000:0a:00.0 enp10s0: rtl_chipcmd_cond == 1 (loop: 100, delay: 100)." || r.Timestamp != 368861144*time.Microsecond {
		t.Errorf("record 1638: %+v", r)
	}
	if r := byseq[1595]; r.Facility != 5 || r.Level != 7 { // systemd-journald writes as LOG_SYSLOG
		t.Errorf("record 1595: %+v", r)
	}
	if r := byseq[1594]; r.Message != " intel_gtt" { // a 'c' fragment
		t.Errorf("record 1594: %q", r.Message)
	}
	if r := byseq[1611]; r.Message != " <IRQ>" {
		t.Errorf("record 1611: %q", r.Message)
	}
	for _, r := range got {
		if e, ok := Classify(r); ok {
			t.Errorf("record %d %q classified as %q", r.Seq, r.Message, describe(e))
		}
	}

	got, _, st = readAll(t, "testdata/captures/netdev-rtl8125.kmsg", Cursor{Next: 1276}, 0)
	if len(got) != 13 || st.Lost != 0 || got[0].Device() != "+pci:0000:04:02.0" || got[2].Message != `enp7s0: cmd = 0xff, should be 0x07 \x0a.` {
		t.Errorf("netdev: %d records, %+v, first %+v", len(got), st, got[0])
	}

	got, c, st = readAll(t, "testdata/captures/kernel-dev-kmsg-abi.kmsg", Cursor{}, 0)
	if len(got) != 3 || st.Lost != 160+178 || c.Next != 341 || got[0].Device() != "+acpi:PNP0A03:00" {
		t.Errorf("ABI example: %d records, %+v, cursor %d", len(got), st, c.Next)
	}
}

// Each record is delivered once across runs, maxRecords bounds a run, and a
// run that stopped early resumes where it stopped.
func TestReadCursorAcrossRuns(t *testing.T) {
	p := writeFile(t, records(0, 10))
	var c Cursor
	var seqs []uint64
	for run := 0; run < 3; run++ {
		got, next, st := readAll(t, p, c, 4)
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		if st.Skipped != int(c.Next) || st.Lost != 0 || st.Limited != (run < 2) {
			t.Errorf("run %d: %+v", run, st)
		}
		c = next
	}
	if fmt.Sprint(seqs) != "[0 1 2 3 4 5 6 7 8 9]" || c.Next != 10 {
		t.Fatalf("seqs %v, cursor %d", seqs, c.Next)
	}
	got, c, st := readAll(t, p, c, 4)
	if len(got) != 0 || st.Skipped != 10 || c.Next != 10 || st.Limited {
		t.Errorf("drained: %d records, %+v", len(got), st)
	}
	// New records appear after the old ones, as in the ring.
	if err := os.WriteFile(p, []byte(records(0, 12)), 0o600); err != nil {
		t.Fatal(err)
	}
	got, c, _ = readAll(t, p, c, 0)
	if len(got) != 2 || got[0].Seq != 10 || c.Next != 12 {
		t.Errorf("after append: %v, cursor %d", got, c.Next)
	}
}

// Records overwritten before they were read show as a gap in the sequence.
func TestReadCountsLostRecords(t *testing.T) {
	p := writeFile(t, records(5, 7)+records(20, 22))
	got, c, st := readAll(t, p, Cursor{Next: 3}, 0)
	if len(got) != 4 || st.Lost != 2+13 || !st.Wrapped() || c.Next != 22 {
		t.Errorf("%d records, %+v, cursor %d", len(got), st, c.Next)
	}
	_, _, st = readAll(t, p, c, 0)
	if st.Wrapped() {
		t.Errorf("a run with nothing new says wrapped: %+v", st)
	}
}

// A 1 MiB record, a malformed header, garbage and blank lines each cost
// themselves; the records around them are read.
func TestReadHostileInput(t *testing.T) {
	huge := "6,1,1,-;" + strings.Repeat("A", 1<<20) + "\n"
	hugeDict := "6,2,1,-;m\n " + strings.Repeat("K", 1<<20) + "=v\n"
	content := records(0, 1) + huge + "\n\n" + hugeDict + "not a record\n\x00\xff\n" + " SUBSYSTEM=orphan\n" + records(3, 5)
	p := writeFile(t, content)
	got, c, st := readAll(t, p, Cursor{}, 0)
	if len(got) != 3 || got[0].Seq != 0 || got[1].Seq != 3 || got[2].Seq != 4 {
		t.Fatalf("records %v", got)
	}
	// huge, hugeDict, "not a record", the binary line and the orphan
	// continuation line (which joins the binary line's record).
	if st.Malformed != 4 || c.Next != 5 || st.Lost != 2 {
		t.Errorf("stats %+v, cursor %d", st, c.Next)
	}
}

// A file without a trailing newline still yields its last record; a record
// split across read(2) chunks is put back together.
func TestReadStreamBoundaries(t *testing.T) {
	// Pad so that the 8000-byte record straddles the 64 KiB read chunk.
	var b strings.Builder
	for b.Len() < 64<<10-4000 {
		b.WriteString(records(0, 1))
	}
	b.WriteString("6,2,1,-;" + strings.Repeat("x", 8000) + "\n SUBSYSTEM=y\n")
	b.WriteString("6,3,1,-;last") // no newline at the end
	got, c, st := readAll(t, writeFile(t, b.String()), Cursor{}, 0)
	n := len(got)
	if n != 3 || got[2].Message != "last" || got[1].Dict["SUBSYSTEM"] != "y" || len(got[1].Message) != 8000 {
		t.Fatalf("%d records", n)
	}
	// The padding repeats seq 0: delivered once, then skipped.
	if st.Malformed != 0 || st.Skipped == 0 || st.Lost != 1 || c.Next != 4 {
		t.Errorf("stats %+v, cursor %d", st, c.Next)
	}
}

// A FIFO with its writer still open ends the drain with EAGAIN, not a wait.
func TestReadFIFOStopsAtEAGAIN(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kmsg")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	// O_RDWR opens without waiting for a reader and keeps the FIFO open.
	w, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString(records(0, 3)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var got []Record
	var st Stats
	go func() {
		defer close(done)
		got, _, st = readAll(t, p, Cursor{}, 0)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Read blocked on a FIFO with no more data")
	}
	if len(got) != 3 || st.Records != 3 {
		t.Errorf("%d records, %+v", len(got), st)
	}
}

// The character device: one record per read(2), EPIPE when the ring wrapped
// under the reader, EAGAIN at the end.
func TestDeviceReads(t *testing.T) {
	type result struct {
		data string
		err  error
	}
	script := []result{
		{"6,7,1,-;first\n", nil},
		{"", syscall.EINTR},
		{"6,8,1,-;m\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:1c.0\n", nil},
		{"", syscall.EPIPE},
		{"6,20,1,-;after the wrap\n", nil},
		{"garbage", nil},
		{"6,21,1,-;last\n", nil},
		{"", syscall.EAGAIN},
		{"6,99,1,-;never read\n", nil},
	}
	read := func(buf []byte) (int, error) {
		r := script[0]
		script = script[1:]
		return copy(buf, r.data), r.err
	}
	var got []Record
	d := drain{ctx: context.Background(), next: 7, max: 100, fn: func(r Record) { got = append(got, r) }}
	if err := d.records(read); err != nil {
		t.Fatal(err)
	}
	st := d.stats
	if len(got) != 4 || got[1].Device() != "+pci:0000:00:1c.0" || d.next != 22 {
		t.Errorf("records %v, next %d", got, d.next)
	}
	if st.Overruns != 1 || st.Lost != 11 || st.Malformed != 1 || !st.Wrapped() || len(script) != 1 {
		t.Errorf("stats %+v, %d reads left", st, len(script))
	}

	// EINVAL (a buffer too small for a record) is an error, not a loop.
	d = drain{ctx: context.Background(), max: 100}
	if err := d.records(func([]byte) (int, error) { return 0, syscall.EINVAL }); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("EINVAL: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	_, _, err := Read(context.Background(), filepath.Join(t.TempDir(), "missing"), Cursor{}, 0, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	if os.Geteuid() != 0 {
		p := writeFile(t, records(0, 1))
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Read(context.Background(), p, Cursor{}, 0, nil); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("unreadable file: %v", err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, st, err := Read(ctx, writeFile(t, records(0, 5)), Cursor{Next: 2}, 0, nil)
	if !errors.Is(err, context.Canceled) || c.Next != 2 || st.Records != 0 {
		t.Errorf("canceled: %v, cursor %d, %+v", err, c.Next, st)
	}

	// A nil fn still advances the cursor: the caller only wants to skip.
	c, st, err = Read(context.Background(), writeFile(t, records(0, 5)), Cursor{}, 0, nil)
	if err != nil || c.Next != 5 || st.Records != 5 {
		t.Errorf("nil fn: %v, cursor %d, %+v", err, c.Next, st)
	}
}
