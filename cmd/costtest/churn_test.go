package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/procfile"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

const fixtureServer = "../../internal/probe/testdata/server"

// The devices of the fixture tree the churn tests copy (names as stored,
// colons spelled %3A), and the class links to them.
const (
	churnHwmon   = "sys/devices/platform/coretemp.0/hwmon/hwmon1"
	churnCooling = "sys/devices/virtual/thermal/cooling_device0"
	churnZone    = "sys/devices/virtual/thermal/thermal_zone0"
	churnCPU     = "sys/devices/system/cpu/cpu0/thermal_throttle"
	churnRAPL    = "sys/devices/virtual/powercap/intel-rapl/intel-rapl%3A0"
	churnIB      = "sys/devices/pci0000%3Ac9/0000%3Ac9%3A02.0/0000%3Aca%3A00.0/infiniband/mlx5_2"
	churnBond    = "sys/devices/virtual/net/bond0"
)

// churnTree copies a few devices of the fixture tree into a temporary
// directory, with their class links and, as hostile input, a hwmon link
// that leaves the tree and a reading that is not a number.
func churnTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	for _, dir := range []string{churnHwmon, churnCooling, churnZone, churnCPU, churnRAPL, churnIB, churnBond} {
		if err := fixture.CopyTree(filepath.Join(fixtureServer, dir), filepath.Join(root, fixture.Decode(dir)), fixture.Decode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(class, target string) {
		t.Helper()
		p := filepath.Join(root, class)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	link("sys/class/hwmon/hwmon1", "../../../"+churnHwmon)
	// A second link to the same chip: its files are still one file each.
	link("sys/class/hwmon/hwmon5", "../../../"+churnHwmon)
	link("sys/class/thermal/cooling_device0", "../../../"+churnCooling)
	link("sys/class/thermal/thermal_zone0", "../../../"+churnZone)
	link("sys/class/powercap/intel-rapl:0", "../../../"+fixture.Decode(churnRAPL))
	link("sys/class/powercap/intel-rapl:0:0", "../../../"+fixture.Decode(churnRAPL)+"/intel-rapl:0:0")
	link("sys/class/infiniband/mlx5_2", "../../../"+fixture.Decode(churnIB))
	link("sys/class/net/bond0", "../../../"+churnBond)
	// Outside the tree: never written.
	outside := filepath.Join(filepath.Dir(root), "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "temp1_input"), []byte("40000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link("sys/class/hwmon/hwmon9", outside)
	if err := os.WriteFile(filepath.Join(root, churnHwmon, "temp9_input"), []byte("N/A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// churned is the churner's files, relative to root.
func churned(t *testing.T, root string, c *churner) []string {
	t.Helper()
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range c.files {
		r, err := filepath.Rel(real, f.path)
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, filepath.ToSlash(r))
	}
	return rel
}

func TestChurnerPicksTheReadings(t *testing.T) {
	root := churnTree(t)
	c, err := newChurner(root, 1)
	if err != nil {
		t.Fatal(err)
	}
	files := churned(t, root, c)
	ib := fixture.Decode(churnIB) + "/ports/1/"
	rapl := fixture.Decode(churnRAPL)
	for _, want := range []string{
		churnHwmon + "/temp1_input",
		churnHwmon + "/temp5_input",
		churnCooling + "/cur_state",
		churnZone + "/temp",
		churnCPU + "/package_throttle_count",
		churnCPU + "/core_throttle_total_time_ms",
		rapl + "/energy_uj",
		rapl + "/intel-rapl:0:0/energy_uj",
		ib + "counters/port_rcv_data",
		ib + "counters/symbol_error",
		ib + "hw_counters/out_of_sequence",
		churnBond + "/carrier_changes",
	} {
		if !slices.Contains(files, want) {
			t.Errorf("%s is not churned", want)
		}
	}
	for _, f := range files {
		base := filepath.Base(f)
		switch {
		case strings.HasSuffix(base, "_max"), strings.HasSuffix(base, "_crit"), strings.HasSuffix(base, "_label"),
			base == "name", base == "max_state", base == "max_energy_range_uj", base == "lifespan",
			base == "mtu", base == "speed", base == "temp9_input":
			t.Errorf("%s is churned: it is not a reading", f)
		case strings.HasPrefix(f, ".."):
			t.Errorf("%s is churned: it is outside the tree", f)
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			t.Errorf("%s is churned twice (a class link and its device)", f)
		}
		seen[f] = true
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(root), "outside", "temp1_input")); err != nil || string(b) != "40000\n" {
		t.Errorf("the file outside the tree: %q, %v", b, err)
	}
}

// Over many minutes counters only increase, gauges stay integers near the
// fixture's value, cooling states within [0, max_state], and what is not
// churned keeps its bytes.
func TestChurnerValues(t *testing.T) {
	root := churnTree(t)
	c, err := newChurner(root, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.files) == 0 {
		t.Fatal("nothing to churn")
	}
	limit := filepath.Join(root, churnHwmon, "temp1_max")
	limitBefore, err := os.ReadFile(limit)
	if err != nil {
		t.Fatal(err)
	}
	integer := regexp.MustCompile(`^-?[0-9]+\n$`)
	prev := map[string]int64{}
	for _, f := range c.files {
		prev[f.path] = f.base
	}
	changed := map[churnKind]bool{}
	for minute := range 100 {
		if err := c.step(); err != nil {
			t.Fatal(err)
		}
		for _, f := range c.files {
			b, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			if !integer.Match(b) {
				t.Fatalf("minute %d: %s holds %q, not an integer and a newline", minute, f.path, b)
			}
			v, _ := readInt(f.path)
			switch f.kind {
			case counter:
				if v <= prev[f.path] {
					t.Fatalf("minute %d: counter %s went from %d to %d", minute, f.path, prev[f.path], v)
				}
			case state:
				if v < 0 || v > f.max {
					t.Fatalf("minute %d: %s = %d, outside [0, %d]", minute, f.path, v, f.max)
				}
			case gauge:
				if spread := max(abs(f.base)/50, minSpread); abs(v-f.base) > spread {
					t.Fatalf("minute %d: gauge %s = %d, more than %d from %d", minute, f.path, v, spread, f.base)
				}
			}
			if v != prev[f.path] {
				changed[f.kind] = true
			}
			prev[f.path] = v
		}
	}
	for _, k := range []churnKind{gauge, state, counter} {
		if !changed[k] {
			t.Errorf("no file of kind %d changed in 100 minutes", k)
		}
	}
	if b, err := os.ReadFile(limit); err != nil || string(b) != string(limitBefore) {
		t.Errorf("temp1_max changed: %q, was %q (%v)", b, limitBefore, err)
	}
}

// The same seed writes the same values.
func TestChurnerIsRepeatable(t *testing.T) {
	var runs [2][]string
	for i := range runs {
		root := churnTree(t)
		c, err := newChurner(root, 42)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := c.step(); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range c.files {
			b, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			runs[i] = append(runs[i], string(b))
		}
	}
	if !slices.Equal(runs[0], runs[1]) {
		t.Errorf("two runs with seed 42 wrote different values:\n%q\n%q", runs[0], runs[1])
	}
}

// The churner's goroutine rewrites until its context ends, then stops: a
// bounded wait, and no write after it returned.
func TestChurnStopsWithItsContext(t *testing.T) {
	root := churnTree(t)
	c, err := newChurner(root, 1)
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(root, churnCPU, "package_throttle_count")
	before, _ := readInt(probe)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := startChurn(ctx, c, float64(time.Minute/time.Millisecond)) // a rewrite every millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, _ := readInt(probe); v > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the churner wrote nothing in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the churner did not stop when its context ended")
	}
	after, _ := readInt(probe)
	time.Sleep(20 * time.Millisecond)
	if v, _ := readInt(probe); v != after {
		t.Errorf("a write after the churner stopped: %d, then %d", after, v)
	}
	if err := stop(); err != nil { // a second stop is harmless
		t.Error(err)
	}
}

// With -churn the report's header says so, with the count; without it the
// header is the earlier runs'.
func TestReportSaysChurn(t *testing.T) {
	var off strings.Builder
	dayFixture().print(&off)
	if strings.Contains(off.String(), "churn") {
		t.Errorf("a report without -churn mentions churn:\n%s", off.String())
	}
	r := dayFixture()
	r.opts.churn, r.opts.churnSeed, r.churnFiles = true, 3, 177
	var on strings.Builder
	r.print(&on)
	if want := "churn:         on (-churn, seed 3): 177 files of the tree rewritten in place each simulated minute (every 3s of wall time)"; !strings.Contains(on.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, on.String())
	}
}

// A syncing array's progress in /proc/mdstat moves on each minute, in the
// kernel's format, with md/sync_completed; the other lines keep their bytes.
func TestChurnerMovesTheSync(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tree")
	for _, p := range []string{"proc/mdstat", "sys/block/md1/md/sync_completed"} {
		b, err := os.ReadFile(filepath.Join(fixtureServer, p))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.ReadFile(filepath.Join(root, "proc/mdstat"))
	c, err := newChurner(root, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.count() != 2 {
		t.Fatalf("%d files churned, want mdstat and md1's sync_completed", c.count())
	}
	progress := regexp.MustCompile(`\[(=*)>(\.*)\]  check =\s*([0-9]+)\.([0-9])% \(([0-9]+)/467144704\) finish=[0-9]+\.[0-9]min speed=[0-9]+K/sec`)
	var last int64 = 196668000
	for minute := range 3 {
		if err := c.step(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(root, "proc/mdstat"))
		m := progress.FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("minute %d: no progress line in\n%s", minute, b)
		}
		done, _ := strconv.ParseInt(m[5], 10, 64)
		if done <= last {
			t.Errorf("minute %d: %d blocks done, was %d", minute, done, last)
		}
		perMille := done * 1000 / 467144704
		if got := m[3] + m[4]; got != strconv.FormatInt(perMille, 10) || len(m[1]) != int(perMille/50) || len(m[1])+len(m[2]) != 20 {
			t.Errorf("minute %d: %q for %d/467144704", minute, m[0], done)
		}
		// The exporter's parser reads it as the kernel's.
		arrays, err := procfile.ParseMdstat(context.Background(), b)
		if err != nil || len(arrays) != 2 || arrays[0].Sync == nil || arrays[0].Sync.DoneBlocks != uint64(done) {
			t.Errorf("minute %d: ParseMdstat: %+v, %v", minute, arrays, err)
		}
		last = done
		// Only the progress line changed.
		if a, b := progress.ReplaceAllString(string(before), ""), progress.ReplaceAllString(string(b), ""); a != b {
			t.Errorf("minute %d: mdstat's other lines changed:\n%s", minute, b)
		}
		sc, _ := os.ReadFile(filepath.Join(root, "sys/block/md1/md/sync_completed"))
		if want := strconv.FormatInt(2*done, 10) + " / 934289408\n"; string(sc) != want {
			t.Errorf("minute %d: sync_completed %q, want %q", minute, sc, want)
		}
	}
}
