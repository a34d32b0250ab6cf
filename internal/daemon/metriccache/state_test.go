package metriccache

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/statefile"
)

const (
	hostA = "0123456789abcdef0123456789abcdef"
	hostB = "fedcba9876543210fedcba9876543210"
)

// exposition renders c as a registry serves it, without the series that
// differ by design between a live and a restored probe.
func exposition(t *testing.T, c *Cache) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if mf.GetName() == "hardware_probe_restored" {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// logs is a logger whose lines the test can count.
type logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logs) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func openDir(t *testing.T, path, host string) *statefile.Dir {
	t.Helper()
	d, err := statefile.Open(path, host)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newState(t *testing.T, store StateStore, c *Cache, l *logs) *State {
	t.Helper()
	st, err := NewState(store, c, l.logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st.MinSpacing = 0 // every Save writes; TestStateSpacesWrites covers spacing
	t.Cleanup(func() { st.Close(time.Second) })
	return st
}

// countingStore counts writes per probe.
type countingStore struct {
	mu     sync.Mutex
	writes map[string]int
}

func (s *countingStore) Write(snap statefile.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes[snap.Probe]++
	return nil
}

func (s *countingStore) Load(string) (statefile.Snapshot, error) {
	return statefile.Snapshot{}, fs.ErrNotExist
}

func (s *countingStore) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[p]
}

// A sensor probe running every minute is written at most every MinSpacing
// while nothing but its readings changes; a changed inventory or a failure
// is written at once, and Close writes what was held back.
func TestStateSpacesWrites(t *testing.T) {
	store := &countingStore{writes: map[string]int{}}
	c := New()
	var l logs
	st, err := NewState(store, c, l.logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st.MinSpacing = 10 * time.Minute
	t0 := time.Unix(1_800_000_000, 0)
	run := func(minute int, serial string, fail bool) {
		t.Helper()
		r := Result{Metrics: disks(serial, 2e12, float64(30+minute)), Start: t0.Add(time.Duration(minute) * time.Minute)}
		if fail {
			r = Result{Err: errors.New("boom"), Start: r.Start}
		}
		c.Store("storage", r)
		st.Save("storage")
		st.Flush(5 * time.Second)
	}
	for m := 0; m < 9; m++ {
		run(m, "S2", false)
	}
	if n := store.count("storage"); n != 1 {
		t.Errorf("9 runs a minute apart, readings only: %d writes, want 1", n)
	}
	run(9, "S9", false) // a swapped disk
	if n := store.count("storage"); n != 2 {
		t.Errorf("after an inventory change: %d writes, want 2", n)
	}
	run(10, "S9", true) // a failure
	if n := store.count("storage"); n != 3 {
		t.Errorf("after a failure: %d writes, want 3", n)
	}
	run(11, "S9", false) // success again: a change too
	run(12, "S9", false)
	if n := store.count("storage"); n != 4 {
		t.Errorf("success after a failure, then a reading: %d writes, want 4", n)
	}
	run(22, "S9", false) // MinSpacing later
	if n := store.count("storage"); n != 5 {
		t.Errorf("ten minutes on: %d writes, want 5", n)
	}
	run(23, "S9", false)
	st.Close(5 * time.Second)
	if n := store.count("storage"); n != 6 {
		t.Errorf("after Close: %d writes, want 6 (the held result)", n)
	}
}

// A restored cache serves the same exposition as the one that wrote the
// state, keeps the inventory change time across the restart, and says it
// is restored until the probe's next run.
func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }

	before := New()
	before.Store("storage", Result{Metrics: disks("S2", 2e12, 30), Start: at(3 * time.Hour), Interval: time.Hour})
	before.Store("storage", Result{Metrics: disks("S2", 2e12, 31), Start: at(30 * time.Minute), Duration: 1500 * time.Millisecond,
		Skipped: 2, Interval: time.Hour, Expires: at(-30 * time.Minute)})
	var l logs
	st := newState(t, openDir(t, dir, hostA), before, &l)
	st.Save("storage")
	if !st.Flush(5 * time.Second) {
		t.Fatal("state write did not finish")
	}

	after := New()
	st2 := newState(t, openDir(t, dir, hostA), after, &l)
	if !st2.Restore("storage", Want{Interval: time.Hour, MaxAge: 2 * time.Hour}, now) {
		t.Fatalf("not restored; log:\n%s", l.String())
	}
	if got, want := exposition(t, after), exposition(t, before); got != want {
		t.Errorf("restored exposition differs:\n--- got\n%s--- want\n%s", got, want)
	}
	if v := value(t, after, "hardware_probe_restored", "storage"); v != 1 {
		t.Errorf("hardware_probe_restored = %v, want 1", v)
	}
	if !after.Ready("storage") || after.Ran("storage") {
		t.Errorf("restored probe: Ready %v, Ran %v; want ready but not ran", after.Ready("storage"), after.Ran("storage"))
	}
	if exp, ok := after.Expires("storage"); !ok || !exp.Equal(at(30*time.Minute).Add(time.Hour)) {
		t.Errorf("restored data expires %v, want one interval after its last success", exp)
	}

	// The first live run replaces it; an unchanged inventory keeps the
	// change time from before the restart.
	after.Store("storage", Result{Metrics: disks("S2", 2e12, 33), Start: now, Interval: time.Hour})
	if v := value(t, after, "hardware_probe_restored", "storage"); v != 0 {
		t.Errorf("after a live run hardware_probe_restored = %v, want 0", v)
	}
	if v := value(t, after, "hardware_inventory_last_change_timestamp_seconds", "storage"); v != float64(at(3*time.Hour).Unix()) {
		t.Errorf("inventory change time %v after restart, want the first run's %v", v, at(3*time.Hour).Unix())
	}
	// A swapped disk still moves it.
	after.Store("storage", Result{Metrics: disks("S9", 2e12, 33), Start: now.Add(time.Minute), Interval: time.Hour})
	if v := value(t, after, "hardware_inventory_last_change_timestamp_seconds", "storage"); v != float64(now.Add(time.Minute).Unix()) {
		t.Errorf("after a disk swap the change time is %v", v)
	}
}

func TestRestoreRefusesStaleAndMissing(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	c := New()
	c.Store("hwmon", Result{Metrics: disks("S2", 2e12, 30), Start: now.Add(-3 * time.Minute)})
	var l logs
	st := newState(t, openDir(t, dir, hostA), c, &l)
	st.Save("hwmon")
	st.Flush(5 * time.Second)

	fresh := New()
	st2 := newState(t, openDir(t, dir, hostA), fresh, &l)
	if st2.Restore("hwmon", Want{Interval: time.Minute, MaxAge: 2 * time.Minute}, now) {
		t.Error("restored data three minutes old with a bound of two")
	}
	if st2.Restore("cpu", Want{Interval: time.Minute, MaxAge: time.Hour}, now) {
		t.Error("restored a probe without a file")
	}
	if fresh.Ready("hwmon") || fresh.Ready("cpu") {
		t.Error("a refused restore left data in the cache")
	}
	if n := strings.Count(l.String(), "not restored"); n != 1 {
		t.Errorf("%d log lines for one stale file and one missing one, want 1:\n%s", n, l.String())
	}
}

// Damaged, foreign-version and other-host files are each ignored with one
// warning, and the next write replaces them.
func TestRestoreIgnoresBadFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	c := New()
	for _, p := range []string{"corrupt", "truncated", "version", "foreign"} {
		c.Store(p, Result{Metrics: disks("S2", 2e12, 30), Start: now})
	}
	var l logs
	other := newState(t, openDir(t, dir, hostB), c, &l)
	other.Save("foreign")
	other.Flush(5 * time.Second)
	mine := openDir(t, dir, hostA)
	st := newState(t, mine, c, &l)
	for _, p := range []string{"corrupt", "truncated", "version"} {
		st.Save(p)
	}
	st.Flush(5 * time.Second)
	damage := func(p string, f func([]byte) []byte) {
		b, err := os.ReadFile(mine.Path(p))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mine.Path(p), f(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	damage("corrupt", func(b []byte) []byte { b[len(b)-3] ^= 0x40; return b })
	damage("truncated", func(b []byte) []byte { return b[:len(b)/2] })
	damage("version", func(b []byte) []byte { b[8] = 99; return b })
	l = logs{}

	restored := New()
	st2 := newState(t, mine, restored, &l)
	for _, p := range []string{"corrupt", "truncated", "version", "foreign"} {
		if st2.Restore(p, Want{Interval: time.Hour, MaxAge: 2 * time.Hour}, now) {
			t.Errorf("%s: restored", p)
		}
	}
	out := l.String()
	if n := strings.Count(out, "level=WARN"); n != 4 {
		t.Errorf("%d warnings for four bad files, want 4:\n%s", n, out)
	}
	for _, want := range []string{statefile.ErrCorrupt.Error(), statefile.ErrVersion.Error(), statefile.ErrForeignHost.Error()} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not say %q:\n%s", want, out)
		}
	}
	// The next write of each replaces the bad file.
	for _, p := range []string{"corrupt", "truncated", "version", "foreign"} {
		st.Save(p)
	}
	st.Flush(5 * time.Second)
	for _, p := range []string{"corrupt", "truncated", "version", "foreign"} {
		if _, err := mine.Load(p); err != nil {
			t.Errorf("%s after the next write: %v", p, err)
		}
	}
}

// failingStore fails writes as a full disk does.
type failingStore struct {
	mu     sync.Mutex
	err    error
	writes int
}

func (f *failingStore) Write(statefile.Snapshot) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	return f.err
}

func (f *failingStore) Load(string) (statefile.Snapshot, error) {
	return statefile.Snapshot{}, os.ErrNotExist
}

func (f *failingStore) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// A full disk is counted on every failed write, logged once, and costs the
// probe nothing: its data is still served.
func TestFullDiskIsCountedAndLoggedOnce(t *testing.T) {
	store := &failingStore{err: &os.PathError{Op: "write", Path: "/state/.smart.tmp", Err: syscall.ENOSPC}}
	c := New()
	var l logs
	reg := prometheus.NewRegistry()
	st, err := NewState(store, c, l.logger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(time.Second)
	for i := range 3 {
		c.Store("smart", Result{Metrics: disks("S2", 2e12, float64(30+i)), Start: time.Now()})
		st.Save("smart")
		st.Flush(5 * time.Second)
	}
	if got := testutil.ToFloat64(st.writeErrors.WithLabelValues("smart")); got != 3 {
		t.Errorf("write errors counted %v, want 3", got)
	}
	if n := strings.Count(l.String(), "cannot write state file"); n != 1 || !strings.Contains(l.String(), "no space left") {
		t.Errorf("want one log line naming ENOSPC, got:\n%s", l.String())
	}
	if v := value(t, c, "hardware_probe_success", "smart"); v != 1 {
		t.Errorf("probe success %v on a full disk, want 1", v)
	}

	// Space again: written, and said once.
	store.setErr(nil)
	st.Save("smart")
	st.Flush(5 * time.Second)
	if !strings.Contains(l.String(), "state file written again") {
		t.Errorf("recovery not logged:\n%s", l.String())
	}
	if n, err := testutil.GatherAndCount(reg, "hardware_exporter_state_write_errors_total"); err != nil || n != 1 {
		t.Errorf("hardware_exporter_state_write_errors_total: %d series, %v", n, err)
	}
}

// A slow disk delays state files only: Save returns at once, and runs that
// come faster than the disk are coalesced into fewer writes.
func TestSlowDiskDoesNotBlockSave(t *testing.T) {
	gate := make(chan struct{})
	store := &blockingStore{gate: gate}
	c := New()
	c.Store("hwmon", Result{Metrics: disks("S2", 2e12, 30), Start: time.Now()})
	var l logs
	st := newState(t, store, c, &l)
	start := time.Now()
	for range 100 {
		st.Save("hwmon")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 Saves on a hung disk took %v", d)
	}
	close(gate)
	if !st.Flush(5 * time.Second) {
		t.Fatal("not flushed")
	}
	if n := store.count(); n < 1 || n > 2 {
		t.Errorf("%d writes for 100 Saves during one slow write, want 1 or 2", n)
	}
}

type blockingStore struct {
	gate   chan struct{}
	mu     sync.Mutex
	writes int
}

func (b *blockingStore) Write(statefile.Snapshot) error {
	<-b.gate
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return nil
}

func (b *blockingStore) Load(string) (statefile.Snapshot, error) {
	return statefile.Snapshot{}, os.ErrNotExist
}

func (b *blockingStore) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes
}

// Metrics a state file cannot hold (a textfile's histogram) remove the
// older file rather than let a restart serve data older than the last.
func TestUnstorableMetricsRemoveTheOldFile(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir, hostA)
	c := New()
	c.Store("textfile", Result{Metrics: disks("S2", 2e12, 30), Start: time.Now()})
	var l logs
	st := newState(t, d, c, &l)
	st.Save("textfile")
	st.Flush(5 * time.Second)
	if _, err := os.Stat(d.Path("textfile")); err != nil {
		t.Fatal(err)
	}
	h := prometheus.MustNewConstHistogram(prometheus.NewDesc("hardware_test_seconds", "H.", nil, nil), 1, 1, map[float64]uint64{1: 1})
	c.Store("textfile", Result{Metrics: []prometheus.Metric{h}, Start: time.Now()})
	st.Save("textfile")
	st.Flush(5 * time.Second)
	if _, err := os.Stat(d.Path("textfile")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("older state file kept: %v", err)
	}
	if !strings.Contains(l.String(), "cannot be kept") {
		t.Errorf("not logged:\n%s", l.String())
	}
}
