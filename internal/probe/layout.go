package probe

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// The one-minute sysfs probes (hwmon, network, thermal, power, cpu, and
// mdraid through a pass of its own, layout.pass) read their tree in two
// passes. Discovery walks it as any probe does: lists the class,
// follows the links, reads names, labels and limits, and decides which
// attributes carry values that change from minute to minute. Those are
// opened once and kept (hostfs.Attr), and what discovery found is kept as
// a layout: the series that do not change (info, limits) already built,
// and for each value its descriptor, labels and parser. A run then only
// re-reads the kept values, one pread(2) each, with no directory listing,
// readlink or name resolution: on the fixture host that is about half the
// files and a tenth of the system calls of a full walk.
//
// The layout is read again, and every kept descriptor closed first:
//   - at once, in the same run, when the set of devices changed: each run
//     lists the class directories the layout came from (/sys/class/hwmon,
//     /sys/class/net, ...; one directory read each, see layoutWatch) and
//     compares the names with those discovery saw, so a chip, an interface
//     or a zone that appears or goes away is seen on the very next run;
//   - every layoutEvery runs, so that what a listing cannot see (a limit
//     written by `sensors -s`, a renamed label, a trip point) is read
//     again within that many runs;
//   - at once, in the same run, when a kept value cannot be read (the
//     device went away: ENODEV, a file removed or replaced) or a gate
//     changed (a runtime-suspended GPU woke, a bond's members changed), so
//     the run's output is what a full walk would give;
//   - on the next run after a discovery that recorded a skip (a file that
//     could not be read), so that a failing file is retried as often as
//     before; a file that fails on every run costs a full walk every run,
//     as it did before layouts;
//   - when the run's roots or options differ (a config reload), and the
//     descriptors are closed when the probe is closed (the daemon stops).
//
// 60 runs is an hour at the one-minute default: hot-plug no longer waits
// for it (the listing sees it), so what it bounds is only how late a
// changed limit, label or firmware string shows, which are set by hand or
// by a firmware update and read by dashboards, not alerts that need the
// minute. At 10 runs the full walk was half of these probes' CPU.
const layoutEvery = 60

// maxKeptPerProbe bounds the attributes one probe keeps open, so that a
// host with thousands of sensors cannot take the whole process budget
// (hostfs.MaxKept, 4096) from the other probes. Values past it are read
// by name on every run, as before layouts: slower, not wrong.
const maxKeptPerProbe = 1024

// keepAttrs turns kept descriptors off: every value is then read by name
// on every run (open, read, close), as it is past the budget. A test sets
// it to compare both ways.
var keepAttrs = true

// layoutValueSize bounds a kept value's read: the values kept are numbers
// and short words; a longer file is an error, as garbage would be.
const layoutValueSize = 4096

// keptLayout is a probe's layout and the state that says when to read it
// again; the zero value has none. Runs of one probe are serialized by it.
type keptLayout struct {
	mu   sync.Mutex
	l    *layout
	key  layoutKey
	runs int // runs the layout has served, discovery included
	// discoveries counts the layouts read, for tests.
	discoveries int
	// closing is a close asked for while a run held mu: the run closes
	// the layout as it ends, so close never waits on a run (one stuck in
	// a driver's read would hold the daemon's shutdown).
	closing atomic.Bool
}

// layoutKey is what a layout was discovered with: the roots and the
// options (a pointer: a reload decodes a new struct).
type layoutKey struct {
	paths   Paths
	options any
}

// run returns one run's series: from the kept layout when it is still
// good, else from a new one that discover builds.
func (k *keptLayout) run(ctx context.Context, env Env, skips *Skips, discover func(b *layoutBuilder) error) ([]prometheus.Metric, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer func() {
		if k.closing.Swap(false) {
			k.closeLocked()
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := layoutKey{env.Paths, env.Options}
	if k.l != nil && (k.key != key || k.runs >= layoutEvery || !k.l.clean) {
		k.closeLocked()
	}
	if k.l != nil {
		ms, stale, err := k.l.values(ctx, skips, false)
		if !stale {
			k.runs++
			return ms, err
		}
		k.closeLocked()
	}
	k.discoveries++
	b := &layoutBuilder{l: &layout{buf: make([]byte, layoutValueSize+1)}, skips: skips}
	before := skips.Count()
	if err := discover(b); err != nil {
		b.l.close()
		return nil, err
	}
	ms, _, err := b.l.values(ctx, skips, true)
	if err != nil {
		b.l.close()
		return nil, err
	}
	b.l.clean = skips.Count() == before
	k.l, k.key, k.runs = b.l, key, 1
	return ms, nil
}

// close closes the kept descriptors; the next run discovers again. It
// does not wait for a run in flight: that run closes them as it ends.
func (k *keptLayout) close() {
	if !k.mu.TryLock() {
		k.closing.Store(true)
		// The run may have ended between TryLock and Store: try once more,
		// so the request is not left for the next run to find.
		if !k.mu.TryLock() {
			return
		}
		k.closing.Store(false)
	}
	defer k.mu.Unlock()
	k.closeLocked()
}

func (k *keptLayout) closeLocked() {
	if k.l != nil {
		k.l.close()
		k.l = nil
	}
}

// kept counts the descriptors the layout holds, for tests.
func (k *keptLayout) kept() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.l == nil {
		return 0
	}
	return k.l.nKept
}

// layout is what discovery found: groups of series in output order.
type layout struct {
	groups  []*layoutGroup
	watches []*layoutWatch
	nKept   int
	// clean: discovery recorded no skip.
	clean bool
	buf   []byte
	got   []readValue // a pass's reads, kept to reuse
	// pass, when set, is the layout's pass in place of the groups': a
	// probe whose values depend on each other (mdraid: /proc/mdstat and
	// md/ together) reads and maps what it keeps itself, with values'
	// contract (stale, final). own are its kept attributes (layoutBuilder.
	// keep), closed with the layout.
	pass func(ctx context.Context, skips *Skips, final bool) ([]prometheus.Metric, bool, error)
	own  []*hostfs.Attr
	nOut int // the most series a pass gave, to size the next
}

// layoutWatch is a directory whose names say which devices there are
// (/sys/class/hwmon's hwmonN): a run lists it and finds the layout stale
// when a name that matters appeared or went away.
type layoutWatch struct {
	fs  hostfs.FS
	dir string
	// names: what discovery listed, sorted; each with whether it matters.
	names   []string
	matters []bool
	// relevant, when set, says whether a new name matters (a physical
	// NIC does, a container's veth does not): one that does not is
	// remembered and does not make the layout stale. nil: every name.
	relevant func(name string) bool
}

// unchanged lists the directory again and reports whether the names that
// matter are the same. A name that does not matter is added to the
// remembered names; a missing directory has no names, as attrs.entries
// has it, and any other error is a change (discovery says what it is).
func (w *layoutWatch) unchanged() bool {
	names, err := w.fs.ReadDirNames(w.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if slices.Equal(names, w.names) {
		return true
	}
	// Both lists are sorted: walk them together.
	matters := make([]bool, len(names))
	i := 0
	for j, name := range names {
		for i < len(w.names) && w.names[i] < name {
			if w.matters[i] {
				return false // went away
			}
			i++
		}
		if i < len(w.names) && w.names[i] == name {
			matters[j] = w.matters[i]
			i++
			continue
		}
		if w.relevant == nil || w.relevant(name) {
			return false // appeared
		}
	}
	for ; i < len(w.names); i++ {
		if w.matters[i] {
			return false
		}
	}
	w.names, w.matters = names, matters
	return true
}

// layoutGroup is one device's series (a chip, an interface, a zone).
type layoutGroup struct {
	// gate, when set, is read first: gateSkip says from its content
	// whether the group's values are to be left unread (a suspended GPU's
	// sensors); when that differs from skip, what discovery saw, the
	// layout is stale (the GPU woke up, or went to sleep). While skip, only
	// fixed is exported.
	gate     *layoutValue
	gateSkip func(s string) bool
	skip     bool
	fixed    []prometheus.Metric
	values   []*layoutValue
	// build, when set, makes the group's series that are not one value's
	// own (a bond's member counts depend on every member's state; a
	// supply's health is a label): it runs after values, and get returns
	// the content of one of the group's values added with no parse, ok
	// when it was read (a nil value is never read).
	build func(get func(*layoutValue) (string, bool), skips *Skips) []prometheus.Metric
	// built is what build made the last time it recorded no skip (nil:
	// none), reused while every value it reads gives the same content.
	built []prometheus.Metric
}

// layoutValue is one attribute re-read on every run.
type layoutValue struct {
	attr *hostfs.Attr // nil: read by name
	fs   hostfs.FS
	name string // below fs's root
	// parse turns the trimmed content into a sample value: ok=false
	// exports nothing (unknown), an error is a skip. nil: the value has no
	// series of its own; its group's build reads it.
	parse func(s string) (v float64, ok bool, err error)
	// unknown, when set, says which read errors mean "no value now"
	// rather than a failure (speed reads EINVAL while a link is down).
	unknown func(error) bool
	desc    *prometheus.Desc
	vt      prometheus.ValueType
	labels  []string
	// missing: read by name, it was not there after discovery; it is left
	// alone until the next discovery.
	missing bool
	idx     int // the value's place in layout.got in a pass
	// last is the content the last read gave (hasLast: there was one);
	// parsed says series is what it parsed to (nil: no series), so that a
	// run whose value did not change reuses the series built for it
	// (a series is never changed once built) instead of a new one.
	last    string
	hasLast bool
	parsed  bool
	series  prometheus.Metric
}

// path is the value's file joined to its root, for log lines.
func (v *layoutValue) path() string {
	return filepath.Join(v.fs.Root(), filepath.FromSlash(v.name))
}

func (l *layout) close() {
	for _, g := range l.groups {
		if g.gate != nil && g.gate.attr != nil {
			g.gate.attr.Close()
		}
		for _, v := range g.values {
			if v.attr != nil {
				v.attr.Close()
			}
		}
	}
	for _, a := range l.own {
		a.Close()
	}
	l.groups, l.own, l.nKept = nil, nil, 0
}

// read returns the value's trimmed content, and same when it is what the
// last read gave: that string is returned again, so a value that did not
// change costs no allocation.
func (l *layout) read(v *layoutValue) (s string, same bool, err error) {
	var b []byte
	if v.attr == nil {
		b, err = v.fs.ReadAttr(v.name)
	} else {
		b, err = v.attr.Read(l.buf)
	}
	if err != nil {
		return "", false, err
	}
	b = bytes.TrimSpace(b)
	if v.hasLast && string(b) == v.last {
		return v.last, true, nil
	}
	v.last, v.hasLast, v.series, v.parsed = string(b), true, nil, false
	return v.last, false, nil
}

// values reads every value. Unless final, a value that cannot be read or
// a gate that changed stops the pass and reports stale; final (the pass
// right after discovery) records such a value as a skip and goes on.
//
// The pass reads everything first and only then parses, counts skips and
// runs the live groups, so that a pass found stale half way has recorded
// nothing: the discovery that follows counts each problem once.
func (l *layout) values(ctx context.Context, skips *Skips, final bool) (ms []prometheus.Metric, stale bool, err error) {
	if l.pass != nil {
		return l.pass(ctx, skips, final)
	}
	l.got = l.got[:0]
	ms = make([]prometheus.Metric, 0, l.nOut)
	defer func() { l.nOut = max(l.nOut, len(ms)) }()
	if !final {
		for _, w := range l.watches {
			if !w.unchanged() {
				return nil, true, nil
			}
		}
	}
	for _, g := range l.groups {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		if g.gate != nil && !final {
			s, _, err := l.read(g.gate)
			if errors.Is(err, fs.ErrNotExist) {
				s, err = "", nil // as attrs.String reads a missing file
			}
			if err != nil || g.gateSkip(s) != g.skip {
				return nil, true, nil
			}
		}
		if g.skip {
			continue
		}
		for _, v := range g.values {
			v.idx = len(l.got)
			if v.missing {
				l.got = append(l.got, readValue{})
				continue
			}
			s, same, err := l.read(v)
			if err != nil && !final && (v.unknown == nil || !v.unknown(err)) {
				return nil, true, nil
			}
			l.got = append(l.got, readValue{s: s, err: err, same: same})
		}
	}

	i := 0
	for _, g := range l.groups {
		ms = append(ms, g.fixed...)
		if g.skip {
			continue
		}
		same := true // every value for build read as last time
		for _, v := range g.values {
			r := l.got[i]
			i++
			if v.parse == nil && !(r.same && r.err == nil) {
				same = false
			}
			switch {
			case v.missing:
				continue
			case r.err != nil && v.unknown != nil && v.unknown(r.err):
				continue
			case errors.Is(r.err, fs.ErrNotExist):
				// Only a value read by name (past the budget) gets here,
				// from the pass after discovery: a missing file is no
				// series, and later passes leave it alone rather than
				// finding the layout stale every run.
				v.missing = true
				continue
			case r.err != nil:
				skips.Add(v.path(), r.err)
				continue
			case v.parse == nil:
				l.got[i-1].ok = true
				continue
			case r.same && v.parsed:
				if v.series != nil {
					ms = append(ms, v.series)
				}
				continue
			}
			f, ok, err := v.parse(r.s)
			if err != nil {
				skips.Add(v.path(), err)
				continue
			}
			v.series, v.parsed = nil, true
			if ok {
				v.series = constMetric(v.desc, v.vt, f, v.labels...)
				ms = append(ms, v.series)
			}
		}
		switch {
		case g.build == nil:
		case same && g.built != nil:
			ms = append(ms, g.built...)
		default:
			before := skips.Count()
			built := g.build(l.get, skips)
			g.built = nil
			if skips.Count() == before {
				g.built = built
			}
			ms = append(ms, built...)
		}
	}
	return ms, false, nil
}

// get returns v's content as this pass read it, for a group's build.
func (l *layout) get(v *layoutValue) (string, bool) {
	if v == nil {
		return "", false
	}
	r := l.got[v.idx]
	return r.s, r.ok
}

// readValue is one value's content as a pass read it.
type readValue struct {
	s    string
	err  error
	ok   bool // read with no error, for a build
	same bool // the content the value's last read gave
}

// layoutBuilder is what a probe's discovery fills.
type layoutBuilder struct {
	l     *layout
	skips *Skips
}

// group starts the series of one device.
func (b *layoutBuilder) group() *layoutGroup {
	g := &layoutGroup{}
	b.l.groups = append(b.l.groups, g)
	return g
}

// watch lists a's directory, whose names are the devices discovery is
// about to read, so that a run finds the layout stale when they change
// (see layoutWatch). Call it before discovery lists the directory itself:
// a device that appears in between is then seen again by the next run,
// never missed. relevant, when set, says which names matter.
func (b *layoutBuilder) watch(a attrs, relevant func(name string) bool) {
	w := &layoutWatch{fs: a.fs, dir: a.dir, relevant: relevant}
	w.names, _ = a.fs.ReadDirNames(a.dir) // an error shows in discovery's own listing
	w.matters = make([]bool, len(w.names))
	for i, name := range w.names {
		w.matters[i] = relevant == nil || relevant(name)
	}
	b.l.watches = append(b.l.watches, w)
}

// fixed adds a series read at discovery, exported as is until the next.
func (g *layoutGroup) add(m prometheus.Metric) { g.fixed = append(g.fixed, m) }

// gate makes name, below a, the group's gate (see layoutGroup): skipIf
// says from its content whether to leave the group's values unread, and
// skip is what it said at discovery.
func (b *layoutBuilder) gate(g *layoutGroup, a attrs, name string, skipIf func(string) bool, skip bool) {
	g.gate, _ = b.attr(a, name)
	g.gateSkip, g.skip = skipIf, skip
}

// value adds name, below a, as a value re-read every run; a missing file
// adds nothing (no series, as attrs' readers have it) and returns nil.
// With parse nil the value is only read, for the group's build.
func (b *layoutBuilder) value(g *layoutGroup, a attrs, name string, parse func(string) (float64, bool, error),
	desc *prometheus.Desc, vt prometheus.ValueType, labels ...string) *layoutValue {
	v, missing := b.attr(a, name)
	if missing {
		return nil
	}
	v.parse, v.desc, v.vt, v.labels = parse, desc, vt, labels
	g.values = append(g.values, v)
	return v
}

// attr opens name below a to keep, within the probe's and the process's
// budget; past either, or when the open fails for another reason than a
// missing file, it is read by name (and the first read says why, as it
// would have).
func (b *layoutBuilder) attr(a attrs, name string) (v *layoutValue, missing bool) {
	v = &layoutValue{fs: a.fs, name: a.name(name)}
	if !keepAttrs || b.l.nKept >= maxKeptPerProbe {
		return v, false
	}
	at, err := a.fs.OpenAttr(v.name)
	switch {
	case err == nil:
		v.attr = at
		b.l.nKept++
	case errors.Is(err, fs.ErrNotExist):
		return v, true
	}
	return v, false
}

// keep opens name below a to keep for the layout's own pass (layout.pass),
// as attr does: missing says the file is not there; a value with no attr
// is read by name.
func (b *layoutBuilder) keep(a attrs, name string) (v *layoutValue, missing bool) {
	v, missing = b.attr(a, name)
	if v.attr != nil {
		b.l.own = append(b.l.own, v.attr)
	}
	return v, missing
}

// Parsers of kept values.

// parseIntDiv is a signed decimal integer divided by div (sensor readings
// can be negative; dividing keeps 1150 mV at exactly 1.15 V). An empty
// file is no value, as attrs.Int has it.
func parseIntDiv(div float64) func(string) (float64, bool, error) {
	return func(s string) (float64, bool, error) {
		if s == "" {
			return 0, false, nil
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return float64(v) / div, err == nil, err
	}
}

// parseUintDiv is an unsigned decimal integer divided by div (RAPL's
// microjoules); an empty file is no value.
func parseUintDiv(div float64) func(string) (float64, bool, error) {
	return func(s string) (float64, bool, error) {
		v, ok, err := parseUintValue(s)
		return v / div, ok, err
	}
}

// parseUintValue is an unsigned decimal integer; an empty file is no
// value, as attrs.Uint has it.
func parseUintValue(s string) (float64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return float64(v), err == nil, err
}
