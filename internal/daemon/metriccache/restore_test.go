package metriccache

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/statefile"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// A snapshot is restored only for the settings it was read with: after a
// change of the probe's options (another smartctl, other filters) the old
// data and its success are not served, and the log says why.
func TestRestoreRefusesOtherSettings(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	c := New()
	c.Store("smart", Result{Metrics: disks("S2", 2e12, 30), Start: now.Add(-time.Minute), Options: 0xaaaa})
	var l logs
	st := newState(t, openDir(t, dir, hostA), c, &l)
	st.Save("smart")
	st.Flush(5 * time.Second)

	other := New()
	if newState(t, openDir(t, dir, hostA), other, &l).Restore("smart", Want{Interval: time.Hour, MaxAge: 2 * time.Hour, Options: 0xbbbb}, now) {
		t.Error("restored data read with other settings")
	}
	if other.Ready("smart") {
		t.Error("a refused restore left data in the cache")
	}
	if !strings.Contains(l.String(), "other settings") {
		t.Errorf("the log does not say why:\n%s", l.String())
	}
	same := New()
	if !newState(t, openDir(t, dir, hostA), same, &l).Restore("smart", Want{Interval: time.Hour, MaxAge: 2 * time.Hour, Options: 0xaaaa}, now) {
		t.Errorf("not restored with the same settings:\n%s", l.String())
	}
}

// A snapshot dated a year ahead (written while the clock was wrong) is not
// restored, so hardware_inventory_last_change_timestamp_seconds is not
// carried a year into the future by the next run either.
func TestRestoreRefusesFutureSnapshot(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	ahead := now.AddDate(1, 0, 0)
	c := New()
	c.Store("storage", Result{Metrics: disks("S2", 2e12, 30), Start: ahead})
	var l logs
	st := newState(t, openDir(t, dir, hostA), c, &l)
	st.Save("storage")
	st.Flush(5 * time.Second)

	after := New()
	if newState(t, openDir(t, dir, hostA), after, &l).Restore("storage", Want{Interval: time.Hour, MaxAge: 2 * time.Hour}, now) {
		t.Error("restored a snapshot a year in the future")
	}
	if !strings.Contains(l.String(), "future") || !strings.Contains(l.String(), "level=WARN") {
		t.Errorf("no warning about the future date:\n%s", l.String())
	}
	after.Store("storage", Result{Metrics: disks("S2", 2e12, 31), Start: now, Interval: time.Hour})
	if v := value(t, after, "hardware_inventory_last_change_timestamp_seconds", "storage"); v > float64(now.Add(MaxClockSkew).Unix()) {
		t.Errorf("inventory change time %v after the next run, want at most now (%d)", v, now.Unix())
	}

	// A clock that stepped by less than the skew is no reason to start empty.
	c.Store("storage", Result{Metrics: disks("S2", 2e12, 30), Start: now.Add(time.Minute)})
	st.Save("storage")
	st.Flush(5 * time.Second)
	if !newState(t, openDir(t, dir, hostA), New(), &l).Restore("storage", Want{Interval: time.Hour, MaxAge: 2 * time.Hour}, now) {
		t.Errorf("a snapshot a minute ahead was refused:\n%s", l.String())
	}
}

// A state file with a valid checksum may still carry families its probe
// does not export (forged, or written before a metric moved to another
// probe) and repeated series. The restore keeps neither, and a render of
// the cache then gathers without error.
func TestRestoreDropsForeignFamiliesAndDuplicates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	d := openDir(t, dir, hostA)
	forged := statefile.Snapshot{
		Probe: "textfile", Run: now, Success: true, LastSuccess: now,
		Families: []statefile.Family{
			{Name: "hardware_probe_success", Help: "Forged.", Type: statefile.Gauge, LabelNames: []string{"probe"},
				Samples: []statefile.Sample{{LabelValues: []string{"sel"}, Value: 1}}},
			{Name: "site_backup_ok", Help: "Backup.", Type: statefile.Gauge, LabelNames: []string{"job"},
				Samples: []statefile.Sample{{LabelValues: []string{"db"}, Value: 1}, {LabelValues: []string{"db"}, Value: 0}}},
			{Name: "hardware_smart_device_info", Help: "Not textfile's.", Type: statefile.Gauge, LabelNames: []string{"device"},
				Samples: []statefile.Sample{{LabelValues: []string{"sda"}, Value: 1}}},
		},
	}
	if err := d.Write(forged); err != nil {
		t.Fatal(err)
	}
	c := New()
	c.Store("sel", Result{Err: errors.New("no BMC"), Start: now, Interval: time.Hour}) // the real sel status: failing
	var l logs
	textfile, err := probe.New("textfile")
	if err != nil {
		t.Fatal(err)
	}
	if !newState(t, d, c, &l).Restore("textfile", Want{Interval: time.Hour, MaxAge: 2 * time.Hour, MayExport: probe.MayExport(textfile)}, now) {
		t.Fatalf("not restored:\n%s", l.String())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("a render of the restored cache: %v", err)
	}
	got := map[string]int{}
	for _, mf := range mfs {
		got[mf.GetName()] = len(mf.GetMetric())
	}
	if got["site_backup_ok"] != 1 {
		t.Errorf("site_backup_ok has %d series, want 1 (the first of the duplicates)", got["site_backup_ok"])
	}
	if got["hardware_smart_device_info"] != 0 {
		t.Error("the textfile snapshot restored the smart probe's family")
	}
	if v := value(t, c, "hardware_probe_success", "sel"); v != 0 {
		t.Errorf("hardware_probe_success{probe=\"sel\"} = %v, want the real 0", v)
	}
	if got["hardware_probe_success"] != 2 { // sel's and textfile's own
		t.Errorf("%d hardware_probe_success series, want 2", got["hardware_probe_success"])
	}
	if !strings.Contains(l.String(), "hardware_probe_success (not this probe's)") {
		t.Errorf("the log does not name the dropped family:\n%s", l.String())
	}
}
