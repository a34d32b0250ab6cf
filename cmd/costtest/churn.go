package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The fixture tree's files never change, which is the exporter's best case:
// a probe reuses the series of a value whose bytes did not change, a store
// whose families did not change encodes nothing, a render reuses its
// compressed blocks. A real host's sensors and counters change every
// minute; with -churn a churner rewrites the readings of the materialized
// tree once per simulated minute, so that the day measures that host.

// churnKind says how a reading moves from one minute to the next.
type churnKind int

const (
	// gauge wanders around the fixture's value: within ±2% of it, or
	// ±minSpread units for a small one; a zero (a stopped fan, an idle
	// sensor) stays zero.
	gauge churnKind = iota
	// state is a cooling device's cur_state: ±1 within [0, max_state].
	state
	// counter increases every minute by 1 to step.
	counter
)

// churnPattern is a glob under the tree (path.Match syntax, following the
// class symlinks as the probes do) and how its files move.
type churnPattern struct {
	glob string
	kind churnKind
	step int64 // counter: the most it grows in a minute
}

// churnPatterns are the reading files the one-minute probes (hwmon,
// thermal, cpu, power, network) read as values on a real host, and
// node_exporter's collectors read by name: the files whose bytes change
// minute to minute there. Layout (names, labels, limits such as tempN_max,
// max_state, links) is left alone, as is anything that is not a plain
// integer in the fixture. Only files that exist are touched; a file reached
// by two paths (a class link and its device directory) is one file.
// hw_counters/lifespan is a setting (ms), not a counter: not churned.
// Besides these, /proc/mdstat's progress line of a syncing array, and its
// md/sync_completed, move on a minute each time (mdChurn).
var churnPatterns = []churnPattern{
	// hwmon: readings in millidegrees, RPM, mV, mA, µW; energy in µJ.
	{glob: "sys/class/hwmon/*/temp*_input", kind: gauge},
	{glob: "sys/class/hwmon/*/fan*_input", kind: gauge},
	{glob: "sys/class/hwmon/*/in*_input", kind: gauge},
	{glob: "sys/class/hwmon/*/curr*_input", kind: gauge},
	{glob: "sys/class/hwmon/*/power*_input", kind: gauge},
	{glob: "sys/class/hwmon/*/power*_average", kind: gauge},
	{glob: "sys/class/hwmon/*/energy*_input", kind: counter, step: 30_000_000}, // ~500 W
	// ACPI power meters (power probe), µW.
	{glob: "sys/bus/acpi/drivers/power_meter/*/power*_average", kind: gauge},
	// Thermal zones and cooling devices.
	{glob: "sys/class/thermal/thermal_zone*/temp", kind: gauge},
	{glob: "sys/class/thermal/cooling_device*/cur_state", kind: state},
	// Network interfaces (node_exporter's netclass; the exporter reads
	// carrier_changes).
	{glob: "sys/class/net/*/statistics/*", kind: counter, step: 50_000_000},
	{glob: "sys/class/net/*/carrier_changes", kind: counter, step: 2},
	// CPU thermal throttling (cpu probe).
	{glob: "sys/devices/system/cpu/cpu*/thermal_throttle/*_count", kind: counter, step: 5},
	{glob: "sys/devices/system/cpu/cpu*/thermal_throttle/*_time_ms", kind: counter, step: 2_000},
	// RAPL (power probe), µJ: up to ~300 W a package. Not wrapped at
	// max_energy_range_uj: a day stays far below 2^63.
	{glob: "sys/class/powercap/intel-rapl:*/energy_uj", kind: counter, step: 18_000_000_000},
	// InfiniBand ports (network probe).
	{glob: "sys/class/infiniband/*/ports/*/counters/*", kind: counter, step: 10_000_000},
	{glob: "sys/class/infiniband/*/ports/*/hw_counters/*", kind: counter, step: 1_000},
	// Power supplies (power probe; none in the fixture).
	{glob: "sys/class/power_supply/*/voltage_now", kind: gauge},
	{glob: "sys/class/power_supply/*/current_now", kind: gauge},
	{glob: "sys/class/power_supply/*/power_now", kind: gauge},
	{glob: "sys/class/power_supply/*/energy_now", kind: gauge},
	{glob: "sys/class/power_supply/*/charge_now", kind: gauge},
	{glob: "sys/class/power_supply/*/capacity", kind: gauge},
}

// churnSkip are file names a pattern matches that are not readings.
var churnSkip = []string{"lifespan"}

// minSpread is how far a small gauge may wander (a few units).
const minSpread = 3

// churnFile is one file the churner rewrites.
type churnFile struct {
	path       string // resolved, inside the tree
	kind       churnKind
	step       int64
	base, last int64 // the fixture's value, and the last one written
	max        int64 // state: max_state
}

// churner rewrites its files with new values, once per call of step.
type churner struct {
	files []*churnFile
	md    *mdChurn // nil: no array syncs in the tree's /proc/mdstat
	rng   *rand.Rand
}

// mdProgress is /proc/mdstat's progress line of a syncing array (md.c's
// status_resync): the bar, the action, per mille, blocks done/total,
// minutes left, speed in K/sec.
var mdProgress = regexp.MustCompile(`\[[=>.]+\]\s+(resync|recovery|check|reshape|repair) =\s*[0-9]+\.[0-9]% \(([0-9]+)/([0-9]+)\)\s+finish=[0-9.]+min speed=([0-9]+)K/sec`)

// mdChurn moves the sync of the first array that syncs in /proc/mdstat
// on by a minute at its speed, starting over at 0 when it ends (a periodic
// check comes round again), and its md/sync_completed (sectors) with it.
type mdChurn struct {
	mdstat, completed  string // completed: "" if the tree lacks it
	text               string // mdstat as in the fixture
	loc                []int  // the progress line's submatch indexes in text
	done, total, speed int64  // K blocks, K blocks, K/sec
}

// newMDChurn finds a syncing array in root's /proc/mdstat; nil if none.
func newMDChurn(root string) *mdChurn {
	path := filepath.Join(root, "proc", "mdstat")
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 1<<20 {
		return nil
	}
	text := string(b)
	loc := mdProgress.FindStringSubmatchIndex(text)
	if loc == nil {
		return nil
	}
	num := func(i int) int64 {
		v, _ := strconv.ParseInt(text[loc[2*i]:loc[2*i+1]], 10, 64)
		return v
	}
	m := &mdChurn{mdstat: path, text: text, loc: loc, done: num(2), total: num(3), speed: num(4)}
	if m.total <= 0 || m.speed <= 0 || m.done > m.total {
		return nil
	}
	// The array is the last "mdN : " line above the progress line.
	heads := regexp.MustCompile(`(?m)^(md[0-9a-z_]+) : `).FindAllStringSubmatch(text[:loc[0]], -1)
	if len(heads) > 0 {
		c := filepath.Join(root, "sys", "block", heads[len(heads)-1][1], "md", "sync_completed")
		if _, err := os.Stat(c); err == nil {
			m.completed = c
		}
	}
	return m
}

// step moves the sync on by a minute and writes mdstat (whole, in place)
// and sync_completed.
func (m *mdChurn) step(rng *rand.Rand) error {
	speed := max(m.speed+rng.Int63n(m.speed/25+1)-m.speed/50, 1)
	m.done += speed * 60
	if m.done >= m.total {
		m.done = 0
	}
	perMille := m.done * 1000 / m.total
	x := perMille / 50
	left := float64(m.total-m.done) / float64(speed) / 60
	line := fmt.Sprintf("[%s>%s]  %s =%3d.%d%% (%d/%d) finish=%.1fmin speed=%dK/sec",
		strings.Repeat("=", int(x)), strings.Repeat(".", int(20-x)), m.text[m.loc[2]:m.loc[3]],
		perMille/10, perMille%10, m.done, m.total, left, speed)
	if err := writeInPlace(m.mdstat, m.text[:m.loc[0]]+line+m.text[m.loc[1]:]); err != nil {
		return err
	}
	if m.completed != "" {
		return writeInPlace(m.completed, fmt.Sprintf("%d / %d\n", 2*m.done, 2*m.total))
	}
	return nil
}

// newChurner finds the files of churnPatterns under tree. seed makes the
// values the same from one run to the next.
func newChurner(tree string, seed int64) (*churner, error) {
	root, err := filepath.EvalSymlinks(tree)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	c := &churner{rng: rand.New(rand.NewSource(seed))}
	for _, p := range churnPatterns {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(p.glob)))
		if err != nil {
			return nil, fmt.Errorf("churn pattern %s: %w", p.glob, err)
		}
		for _, m := range matches {
			if slices.Contains(churnSkip, filepath.Base(m)) {
				continue
			}
			real, err := filepath.EvalSymlinks(m)
			if err != nil || seen[real] {
				continue
			}
			// A link out of the tree is not the tree's to write.
			if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				continue
			}
			if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			v, ok := readInt(real)
			if !ok {
				continue
			}
			f := &churnFile{path: real, kind: p.kind, step: max(p.step, 1), base: v, last: v}
			if p.kind == state {
				m, ok := readInt(filepath.Join(filepath.Dir(real), "max_state"))
				if !ok {
					m = v
				}
				f.max = m
			}
			seen[real] = true
			c.files = append(c.files, f)
		}
	}
	c.md = newMDChurn(root)
	return c, nil
}

// readInt reads a small file holding one integer (a sysfs attribute).
func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 32 {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// next is f's value for the coming minute.
func (c *churner) next(f *churnFile) int64 {
	switch f.kind {
	case counter:
		return f.last + 1 + c.rng.Int63n(f.step)
	case state:
		return min(max(f.last+c.rng.Int63n(3)-1, 0), f.max)
	default:
		if f.base == 0 {
			return 0
		}
		spread := max(abs(f.base)/50, minSpread)
		v := f.base + c.rng.Int63n(2*spread+1) - spread
		if f.base > 0 {
			v = max(v, 0) // a reading that was positive does not turn negative
		}
		return v
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// step rewrites every file once, in place: O_TRUNC and one write of
// "N\n", as the kernel's attribute is one integer and a newline. In place,
// because the exporter keeps its descriptors open and re-reads them with
// pread at offset 0, which sees the new bytes (a rename would leave it
// reading the old inode); node_exporter opens them by name.
func (c *churner) step() error {
	for _, f := range c.files {
		v := c.next(f)
		if err := writeInPlace(f.path, strconv.FormatInt(v, 10)+"\n"); err != nil {
			return err
		}
		f.last = v
	}
	if c.md != nil {
		return c.md.step(c.rng)
	}
	return nil
}

// writeInPlace replaces path's content, keeping its inode.
func writeInPlace(path, content string) error {
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = w.WriteString(content)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("churn %s: %w", path, err)
	}
	return nil
}

// count is how many files step rewrites.
func (c *churner) count() int {
	n := len(c.files)
	if c.md != nil {
		n++
		if c.md.completed != "" {
			n++
		}
	}
	return n
}

// run calls step every interval until ctx ends, and returns the first
// write error (which ends it) or nil.
func (c *churner) run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.step(); err != nil {
				return err
			}
		}
	}
}

// startChurn starts c's goroutine, one rewrite per simulated minute (a
// minute ÷ k of wall time). stop ends it and waits for it, at most a few
// seconds, returning its error; it may be called more than once.
func startChurn(ctx context.Context, c *churner, k float64) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.run(ctx, time.Duration(float64(time.Minute)/k)) }()
	var result error
	stopped := false
	return func() error {
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-done:
		case <-time.After(10 * time.Second):
			result = fmt.Errorf("churner did not stop within 10s")
		}
		return result
	}
}
