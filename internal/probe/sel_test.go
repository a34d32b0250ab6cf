package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

func init() {
	fixtureOptions["sel"] = &SELOptions{Command: confval.Path(filepath.Join(testTools, "ipmitool"))}
}

func TestSELGolden(t *testing.T) {
	checkGolden(t, "sel")
	if _, skips := runProbe(t, "sel", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

func TestSELAvailable(t *testing.T) {
	tool := filepath.Join(testTools, "ipmitool")
	p, _ := New("sel")
	c := p.(Conditional)
	if err := c.Available(Env{Paths: fixturePaths, Options: &SELOptions{Command: confval.Path(tool)}}); err != nil {
		t.Errorf("fixture host: %v", err)
	}
	empty := treePaths(t.TempDir())
	err := c.Available(Env{Paths: empty, Options: &SELOptions{Command: confval.Path(tool)}})
	if err == nil || !strings.Contains(err.Error(), "no BMC") {
		t.Errorf("host without a BMC device: err = %v, want one saying no BMC", err)
	}
	// The device node alone (ipmi_devintf without sysfs in a container) is enough.
	for _, node := range bmcDevNodes {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, node), "")
		if err := c.Available(Env{Paths: treePaths(root), Options: &SELOptions{Command: confval.Path(tool)}}); err != nil {
			t.Errorf("with only %s: %v", node, err)
		}
	}
	missing := filepath.Join(t.TempDir(), "ipmitool")
	if err := c.Available(Env{Paths: fixturePaths, Options: &SELOptions{Command: confval.Path(missing)}}); err == nil {
		t.Error("missing ipmitool: Available said yes")
	}
}

// selHost is a fake BMC: sel info and the elist output are files the test
// rewrites between runs, and the fake ipmitool appends each command line
// it is run with to a log, so the test can count full reads.
type selHost struct {
	t                *testing.T
	dir, tool, calls string
	probe            Probe
}

func newSELHost(t *testing.T) *selHost {
	t.Helper()
	dir := t.TempDir()
	h := &selHost{t: t, dir: dir, calls: filepath.Join(dir, "calls")}
	h.tool = fakeTool(t, "ipmitool", `echo "$*" >> `+h.calls+`
case "$*" in
"sel info") exec cat `+filepath.Join(dir, "info")+` ;;
"-c sel elist") exec cat `+filepath.Join(dir, "elist")+` ;;
esac
exit 1
`)
	p, err := New("sel")
	if err != nil {
		t.Fatal(err)
	}
	h.probe = p
	return h
}

// set writes the log the BMC holds: sel info with the given entry count and
// last add and erase times, and the listing.
func (h *selHost) set(entries int, lastAdd, lastErase, listing string) {
	h.t.Helper()
	info := fmt.Sprintf("SEL Information\nVersion          : 1.5 (v1.5, v2 compliant)\nEntries          : %d\n"+
		"Free Space       : 0 bytes\nPercent Used     : 100%%\nLast Add Time    : %s\nLast Del Time    : %s\nOverflow         : false\n",
		entries, lastAdd, lastErase)
	writeFile(h.t, filepath.Join(h.dir, "info"), info)
	writeFile(h.t, filepath.Join(h.dir, "elist"), listing)
}

// run runs the probe once and returns its series.
func (h *selHost) run() (map[string]float64, *Skips) {
	h.t.Helper()
	skips := NewSkips(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := h.probe.Probe(ctx, Env{Options: &SELOptions{Command: confval.Path(h.tool)}}, skips)
	if err != nil {
		h.t.Fatal(err)
	}
	return gatherSeries(h.t, collected{p: h.probe, metrics: ms}), skips
}

// fullReads counts the fake ipmitool's runs of -c sel elist.
func (h *selHost) fullReads() int {
	h.t.Helper()
	b, err := os.ReadFile(h.calls)
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.Count(string(b), "-c sel elist\n")
}

// selListing generates n CSV elist lines: a correctable ECC storm on one
// DIMM with a threshold event every tenth entry, in the shape of the
// captures in internal/format/ipmitool/testdata.
func selListing(n int) string {
	var b strings.Builder
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		ts := start.Add(time.Duration(i) * time.Minute)
		date, clock := ts.Format("01/02/06"), ts.Format("15:04:05")+" UTC"
		if i%10 == 0 {
			fmt.Fprintf(&b, "%x,%s,%s,Temperature Inlet Temp,Upper Non-critical going high,Asserted,Reading 43 > Threshold 42 degrees C\n", i, date, clock)
			continue
		}
		fmt.Fprintf(&b, "%x,%s,%s,Memory ECC Corr Err,Correctable ECC (DIMM B2),Asserted\n", i, date, clock)
	}
	return b.String()
}

func TestSELFullLogReadOnceWhileUnchanged(t *testing.T) {
	const n = 10000
	h := newSELHost(t)
	listing := selListing(n)
	h.set(n, "03/07/25 22:40:00 UTC", "02/28/25 23:00:00 UTC", listing)

	start := time.Now()
	got, skips := h.run()
	t.Logf("first run, a full read of %d entries (%d KiB): %v", n, len(listing)>>10, time.Since(start))
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
	newest := float64(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(n * time.Minute).Unix())
	want := map[string]float64{
		`hardware_sel_events{direction="asserted",kind="correctable_ecc",sensor_type="Memory",severity="warning"}`:  n * 9 / 10,
		`hardware_sel_events{direction="asserted",kind="temperature",sensor_type="Temperature",severity="warning"}`: n / 10,
		`hardware_sel_newest_event_timestamp_seconds{sensor_type="Temperature"}`:                                    newest,
		`hardware_sel_newest_event_timestamp_seconds{sensor_type="Memory"}`:                                         newest - 60,
	}
	assertSeries(t, got, "hardware_sel_events", want)
	assertSeries(t, got, "hardware_sel_newest", want)
	if got[`hardware_sel_entries{}`] != n || got[`hardware_sel_used_ratio{}`] != 1 {
		t.Errorf("entries %v, used %v", got[`hardware_sel_entries{}`], got[`hardware_sel_used_ratio{}`])
	}

	// Unchanged sel info: the log is not read again, its counts are served.
	for range 3 {
		again, _ := h.run()
		assertSeries(t, again, "hardware_sel_events", want)
	}
	if r := h.fullReads(); r != 1 {
		t.Errorf("elist ran %d times over 4 runs with sel info unchanged, want 1", r)
	}

	// A new event moves the last add time: read again.
	h.set(n+1, "03/07/25 22:41:00 UTC", "02/28/25 23:00:00 UTC",
		listing+"2711,03/07/25,22:41:00 UTC,Memory ECC Uncorr Err,Uncorrectable ECC (DIMM B2),Asserted\n")
	got, _ = h.run()
	if r := h.fullReads(); r != 2 {
		t.Errorf("elist ran %d times after the last add time moved, want 2", r)
	}
	if v := got[`hardware_sel_events{direction="asserted",kind="uncorrectable_ecc",sensor_type="Memory",severity="critical"}`]; v != 1 {
		t.Errorf("uncorrectable events = %v, want 1", v)
	}
}

func TestSELClearedLog(t *testing.T) {
	h := newSELHost(t)
	h.set(3, "06/02/25 14:03:12 UTC", "05/20/25 08:40:51 UTC", ""+
		"1,06/02/25,14:03:10 UTC,Power Supply PS2 Status,Power Supply AC lost,Asserted\n"+
		"2,06/02/25,14:03:11 UTC,Memory ECC Uncorr Err,Uncorrectable ECC (DIMM A3),Asserted\n"+
		"3,06/02/25,14:03:12 UTC,Power Supply PS Redundancy,Redundancy Lost,Asserted\n")
	got, _ := h.run()
	if v := got[`hardware_sel_events{direction="asserted",kind="uncorrectable_ecc",sensor_type="Memory",severity="critical"}`]; v != 1 {
		t.Fatalf("before the clear: uncorrectable events = %v, want 1", v)
	}

	// ipmitool sel clear: the BMC logs the clear as the one entry left.
	h.set(1, "06/03/25 09:00:01 UTC", "06/03/25 09:00:00 UTC",
		"1,06/03/25,09:00:01 UTC,Event Logging Disabled SEL,Log area reset/cleared,Asserted\n")
	got, _ = h.run()
	assertSeries(t, got, "hardware_sel_events", map[string]float64{
		`hardware_sel_events{direction="asserted",kind="log_cleared",sensor_type="Event Logging Disabled",severity="info"}`: 1,
	})
	assertSeries(t, got, "hardware_sel_newest", map[string]float64{
		`hardware_sel_newest_event_timestamp_seconds{sensor_type="Event Logging Disabled"}`: float64(time.Date(2025, 6, 3, 9, 0, 1, 0, time.UTC).Unix()),
	})
	if v := got[`hardware_sel_last_erase_timestamp_seconds{}`]; v != float64(time.Date(2025, 6, 3, 9, 0, 0, 0, time.UTC).Unix()) {
		t.Errorf("last erase = %v", v)
	}

	// A BMC that keeps no entry for the clear: nothing is read, nothing is left.
	h.set(0, "06/03/25 09:00:01 UTC", "06/03/25 09:05:00 UTC", "must not be read\n")
	got, _ = h.run()
	assertSeries(t, got, "hardware_sel_events", map[string]float64{})
	assertSeries(t, got, "hardware_sel_newest", map[string]float64{})
	if r := h.fullReads(); r != 2 {
		t.Errorf("elist ran %d times, want 2 (an empty log is not read)", r)
	}
}

func TestSELMalformedLinesCostTheirOwnCount(t *testing.T) {
	h := newSELHost(t)
	h.set(4, "06/02/25 14:03:12 UTC", "Not Available", ""+
		"1,06/02/25,14:03:10 UTC,Power Supply PS2 Status,Power Supply AC lost,Asserted\n"+
		"this is not a SEL line\n"+
		"3,99/99/99,25:61:61,Memory,Uncorrectable ECC,Asserted\n"+
		strings.Repeat("x", 8<<10)+"\n"+
		"4,06/02/25,14:03:12 UTC,Power Supply PS Redundancy,Redundancy Lost,Asserted\n")
	got, skips := h.run()
	if skips.Count() != 3 {
		t.Errorf("skips = %d, want 3 (one per malformed or overlong line)", skips.Count())
	}
	assertSeries(t, got, "hardware_sel_events", map[string]float64{
		`hardware_sel_events{direction="asserted",kind="psu_failure",sensor_type="Power Supply",severity="critical"}`:         1,
		`hardware_sel_events{direction="asserted",kind="psu_redundancy_lost",sensor_type="Power Supply",severity="critical"}`: 1,
	})
	if _, ok := got[`hardware_sel_last_erase_timestamp_seconds{}`]; ok {
		t.Error("Not Available erase time exported")
	}
}

func TestSELFailedReadKeepsCountsAndRetries(t *testing.T) {
	h := newSELHost(t)
	line := "1,06/02/25,14:03:10 UTC,Power Supply PS2 Status,Power Supply AC lost,Asserted\n"
	h.set(1, "06/02/25 14:03:10 UTC", "Not Available", line)
	h.run()
	// The BMC times out on the next read (the elist file is gone: exit 1).
	h.set(2, "06/02/25 14:04:00 UTC", "Not Available", line)
	if err := os.Remove(filepath.Join(h.dir, "elist")); err != nil {
		t.Fatal(err)
	}
	got, skips := h.run()
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1", skips.Count())
	}
	key := `hardware_sel_events{direction="asserted",kind="psu_failure",sensor_type="Power Supply",severity="critical"}`
	if got[key] != 1 {
		t.Errorf("after a failed read, %s = %v, want the last read's 1", key, got[key])
	}
	if got[`hardware_sel_entries{}`] != 2 {
		t.Errorf("entries = %v, want sel info's 2", got[`hardware_sel_entries{}`])
	}
	// Next run, same sel info: the failed read is retried.
	h.set(2, "06/02/25 14:04:00 UTC", "Not Available", line+line)
	got, _ = h.run()
	if got[key] != 2 || h.fullReads() != 3 {
		t.Errorf("retry: %s = %v, reads %d; want 2, 3", key, got[key], h.fullReads())
	}
}

func TestSELToolFailures(t *testing.T) {
	for _, tt := range []struct{ name, script, errHas string }{
		{"no BMC", `echo "Could not open device at /dev/ipmi0 or /dev/ipmi/0 or /dev/ipmidev/0: No such file or directory" >&2; exit 1`, "Could not open device"},
		{"garbage", `echo 'Welcome to the BMC'`, "no Entries line"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := New("sel")
			_, err := p.Probe(context.Background(), Env{Options: &SELOptions{Command: confval.Path(fakeTool(t, "ipmitool", tt.script))}}, NewSkips(nil))
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("err = %v, want one containing %q", err, tt.errHas)
			}
		})
	}
}

// A new SEL entry of a hot-swap type (a PSU inserted) hints the tool
// probes to read their inventory again; other new entries (an ECC error)
// and the first read of the log (the tool probes read their inventory on
// their own first run) do not.
func TestSELHotSwapHintsInventory(t *testing.T) {
	h := newSELHost(t)
	hints := 0
	h.probe.(*selProbe).hints = func() { hints++ }
	listing := selListing(20)
	h.set(20, "03/07/25 22:40:00 UTC", "02/28/25 23:00:00 UTC", listing)
	h.run()
	if hints != 0 {
		t.Errorf("first read: %d hints, want 0", hints)
	}
	listing += "15,03/07/25,22:41:00 UTC,Memory ECC Corr Err,Correctable ECC (DIMM B2),Asserted\n"
	h.set(21, "03/07/25 22:41:00 UTC", "02/28/25 23:00:00 UTC", listing)
	h.run()
	if hints != 0 {
		t.Errorf("an ECC entry: %d hints, want 0", hints)
	}
	listing += "16,03/07/25,22:42:00 UTC,Power Supply PS2 Status,Presence detected,Asserted\n"
	h.set(22, "03/07/25 22:42:00 UTC", "02/28/25 23:00:00 UTC", listing)
	h.run()
	if hints != 1 {
		t.Errorf("a PSU inserted: %d hints, want 1", hints)
	}
	h.run()
	if hints != 1 {
		t.Errorf("log unchanged: %d hints, want 1", hints)
	}
}
