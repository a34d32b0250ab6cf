package probe

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// ipmiCopy copies the fixture's fake ipmitool and its captures into a
// directory of the test's, beside a wrapper that logs each invocation's
// arguments, one line each, before running it: tests change the captures
// and count the runs. prelude runs in the wrapper first (it may exit).
func ipmiCopy(t *testing.T, prelude string) (dir, tool, log string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "fixture"), os.DirFS(testTools)); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "calls")
	tool = filepath.Join(dir, "ipmitool")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\n" + prelude + "\nexec " + filepath.Join(dir, "fixture", "ipmitool") + " \"$@\"\n"
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "fixture", "ipmitool.d"), tool, log
}

// ipmiCalls returns the invocations logged since the last call, and
// forgets them.
func ipmiCalls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.Remove(log); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "exec ") {
			l = "exec" // the file's name is the run's own
		}
		calls = append(calls, l)
	}
	return calls
}

// ipmiStep runs p once at now and returns its exposition.
func ipmiStep(t *testing.T, p *ipmiProbe, tool string, skipsWant int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	skips := NewSkips(nil)
	ms, err := p.Probe(ctx, Env{Options: withCommand("ipmi", tool)}, skips)
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != skipsWant {
		t.Errorf("skips = %d, want %d", skips.Count(), skipsWant)
	}
	return exposition(t, collected{p: p, metrics: ms})
}

// newIPMITestProbe is a probe on a clock the test moves, with a hint
// counter of its own.
func newIPMITestProbe(now *time.Time, hints *atomic.Uint64) *ipmiProbe {
	return &ipmiProbe{now: func() time.Time { return *now }, hints: hints}
}

// Over six simulated hours at the default 5-minute interval, each reading
// is one ipmitool run (exec of sdr elist, dcmi power reading and chassis
// status); fru print and mc info run on the first run and again at 6h.
// Every run exports the golden file's series: nothing a client sees
// changes. A fresh probe, as one whose series were restored from its
// state file at start, reads the inventory on its first run.
func TestIPMIInventoryIntervalAndOneRunPerReading(t *testing.T) {
	_, tool, log := ipmiCopy(t, "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the exec file is written, and removed
	want, err := os.ReadFile(filepath.Join("testdata", "ipmi.golden"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newIPMITestProbe(&now, new(atomic.Uint64))
	inventory := []string{"exec", "fru print", "mc info"}
	runs := 0
	for at := time.Duration(0); at <= 6*time.Hour; at += 5 * time.Minute {
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(at)
		got := ipmiStep(t, p, tool, 0)
		if string(got) != string(want) {
			t.Fatalf("run at %v: series differ from testdata/ipmi.golden:\n%s", at, got)
		}
		calls := ipmiCalls(t, log)
		wantCalls := []string{"exec"}
		if at == 0 || at == 6*time.Hour {
			wantCalls = inventory
		}
		if !slices.Equal(calls, wantCalls) {
			t.Errorf("run at %v: ipmitool runs %q, want %q", at, calls, wantCalls)
		}
		runs++
	}
	if runs != 73 {
		t.Fatalf("%d runs, want 73", runs)
	}

	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("exec files left in $TMPDIR: %v", left)
	}

	// A restart builds a new probe; its series may come from the state
	// file, but its first run reads the inventory all the same.
	restarted := newIPMITestProbe(&now, new(atomic.Uint64))
	ipmiStep(t, restarted, tool, 0)
	if calls := ipmiCalls(t, log); !slices.Equal(calls, inventory) {
		t.Errorf("first run after a restart: ipmitool runs %q, want %q", calls, inventory)
	}

	// The interval is an option.
	short := newIPMITestProbe(&now, new(atomic.Uint64))
	for i, wantCalls := range [][]string{inventory, {"exec"}, inventory} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		opts := withCommand("ipmi", tool).(*IPMIOptions)
		opts.InventoryInterval = confval.Duration(10 * time.Minute)
		if _, err := short.Probe(ctx, Env{Options: opts}, NewSkips(nil)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if calls := ipmiCalls(t, log); !slices.Equal(calls, wantCalls) {
			t.Errorf("inventory_interval 10m, run %d: ipmitool runs %q, want %q", i, calls, wantCalls)
		}
		now = now.Add(5 * time.Minute)
	}
}

// Hints that parts changed read the inventory at once: a SEL entry of a
// hot-swap type (the sel probe's hint), a sensor whose part went absent,
// a sensor that disappeared, and a failed sensor read.
func TestIPMIInventoryHints(t *testing.T) {
	captures, tool, log := ipmiCopy(t, `[ -f "$(dirname "$0")/sdr-fails" ] && [ "$*" = "sdr elist" ] && { echo "Get SDR 0001h command failed: Timeout" >&2; exit 1; }`)
	sdrFile := filepath.Join(captures, "sdr-elist.txt")
	sdr, err := os.ReadFile(sdrFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hints := new(atomic.Uint64)
	p := newIPMITestProbe(&now, hints)
	inventory := []string{"exec", "fru print", "mc info"}
	step := func(name string, skips int, want []string) {
		t.Helper()
		now = now.Add(5 * time.Minute)
		ipmiStep(t, p, tool, skips)
		if calls := ipmiCalls(t, log); !slices.Equal(calls, want) {
			t.Errorf("%s: ipmitool runs %q, want %q", name, calls, want)
		}
	}
	step("first run", 0, inventory)
	step("nothing changed", 0, []string{"exec"})

	hints.Add(1)
	step("a hot-swap hint", 0, inventory)
	step("after the hint", 0, []string{"exec"})

	// PS2 Status (PS2 has lost AC in the fixture) now reads absent.
	lines := strings.Split(string(sdr), "\n")
	var absent, fewer []string
	found := false
	for _, l := range lines {
		if strings.HasPrefix(l, "PS2 Status") {
			found = true
			cols := strings.Split(l, "|")
			cols[4] = " Device Absent"
			absent = append(absent, strings.Join(cols, "|"))
			continue
		}
		absent = append(absent, l)
		fewer = append(fewer, l)
	}
	if !found {
		t.Fatal("no PS2 Status line in the fixture's sdr elist")
	}
	writeFile(t, sdrFile, strings.Join(absent, "\n"))
	step("a PSU pulled", 0, inventory)
	step("PSU still out", 0, []string{"exec"})
	writeFile(t, sdrFile, strings.Join(fewer, "\n"))
	step("its sensor gone", 0, inventory)
	step("sensor still gone", 0, []string{"exec"})

	// The sdr part of exec fails too (the wrapper only fails a separate
	// sdr run, so empty the capture): the sensors are run on their own,
	// fail, and the inventory is read again.
	writeFile(t, sdrFile, "")
	writeFile(t, filepath.Join(filepath.Dir(tool), "sdr-fails"), "")
	step("sensors fail", 1, []string{"exec", "sdr elist", "fru print", "mc info"})
	writeFile(t, sdrFile, string(sdr))
	if err := os.Remove(filepath.Join(filepath.Dir(tool), "sdr-fails")); err != nil {
		t.Fatal(err)
	}
	step("sensors back", 0, inventory)
	step("steady again", 0, []string{"exec"})
}

// An ipmitool whose exec fails (one built without it, a wrapper that takes
// one command) gets the commands one by one, with the same series; exec is
// not tried again until ipmiReaskUnsupported has passed. A part of exec's
// output that does not parse is asked again on its own.
func TestIPMIExecFallback(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "ipmi.golden"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("exec fails", func(t *testing.T) {
		_, tool, log := ipmiCopy(t, `[ "$1" = exec ] && { echo "Invalid command: exec" >&2; exit 1; }`)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		p := newIPMITestProbe(&now, new(atomic.Uint64))
		separate := []string{"sdr elist", "dcmi power reading", "chassis status"}
		for i, tc := range []struct {
			after time.Duration
			want  []string
		}{
			{0, append(append([]string{"exec"}, separate...), "fru print", "mc info")},
			{5 * time.Minute, separate},
			// 6h on: exec is tried again, and the inventory is due.
			{ipmiReaskUnsupported, append(append([]string{"exec"}, separate...), "fru print", "mc info")},
		} {
			now = now.Add(tc.after)
			if got := ipmiStep(t, p, tool, 0); string(got) != string(want) {
				t.Errorf("run %d: series differ from testdata/ipmi.golden:\n%s", i, got)
			}
			if calls := ipmiCalls(t, log); !slices.Equal(calls, tc.want) {
				t.Errorf("run %d: ipmitool runs %q, want %q", i, calls, tc.want)
			}
		}
	})
	t.Run("one part garbled", func(t *testing.T) {
		captures, _, log := ipmiCopy(t, "")
		// The fake prints one DCMI capture in exec and on its own: garble
		// it, and let dcmi on its own read the real one.
		real := filepath.Join(captures, "dcmi-power-reading.txt")
		b, err := os.ReadFile(real)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(captures, "dcmi-real.txt"), string(b))
		writeFile(t, real, "Error: Unable to establish IPMI v2 / RMCP+ session\n")
		// dcmi on its own reads the real capture.
		fixed := fakeTool(t, "ipmitool", `echo "$*" >> `+log+`
if [ "$*" = "dcmi power reading" ]; then exec cat `+filepath.Join(captures, "dcmi-real.txt")+`; fi
exec `+filepath.Join(filepath.Dir(captures), "ipmitool")+` "$@"
`)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		p := newIPMITestProbe(&now, new(atomic.Uint64))
		if got := ipmiStep(t, p, fixed, 0); string(got) != string(want) {
			t.Errorf("series differ from testdata/ipmi.golden:\n%s", got)
		}
		if calls, w := ipmiCalls(t, log), []string{"exec", "dcmi power reading", "fru print", "mc info"}; !slices.Equal(calls, w) {
			t.Errorf("ipmitool runs %q, want %q", calls, w)
		}
	})
}

// A BMC that does not implement chassis status is asked once, then again
// only after ipmiReaskUnsupported, as for DCMI: otherwise its failing part
// of exec would cost a separate run every interval.
func TestIPMIChassisUnsupportedIsRemembered(t *testing.T) {
	captures, tool, log := ipmiCopy(t, `[ "$*" = "chassis status" ] && { echo "Error sending Chassis Status command: Invalid command" >&2; exit 1; }`)
	writeFile(t, filepath.Join(captures, "chassis-status.txt"), "")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newIPMITestProbe(&now, new(atomic.Uint64))
	for i, tc := range []struct {
		after time.Duration
		want  []string
	}{
		{0, []string{"exec", "chassis status", "fru print", "mc info"}},
		{5 * time.Minute, []string{"exec"}},
		{ipmiReaskUnsupported, []string{"exec", "chassis status", "fru print", "mc info"}},
	} {
		now = now.Add(tc.after)
		got := string(ipmiStep(t, p, tool, 0))
		if strings.Contains(got, "hardware_ipmi_chassis_") || !strings.Contains(got, "hardware_ipmi_dcmi_power_watts") {
			t.Errorf("run %d: want DCMI and no chassis series:\n%s", i, got)
		}
		if calls := ipmiCalls(t, log); !slices.Equal(calls, tc.want) {
			t.Errorf("run %d: ipmitool runs %q, want %q", i, calls, tc.want)
		}
	}
}
