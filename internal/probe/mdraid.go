package probe

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math"
	"slices"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/procfile"
	"github.com/hardware-exporter/hardware_exporter/internal/host/sysfs"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	mdraidArrayInfo = newDesc("mdraid", "array_info",
		"Linux software RAID (md) array, value 1; level is empty for an inactive array.", "array", "level")
	mdraidArrayState = newDesc("mdraid", "array_state",
		"1 for the md array's current state (md/array_state), 0 for the others.", "array", "state")
	mdraidDegradedDisks = newDesc("mdraid", "degraded_disks",
		"Slots of the md array without a working, in-sync disk (md/degraded); above 0 the array has lost redundancy.", "array")
	mdraidDisks = newDesc("mdraid", "disks",
		"Member disks of the md array by state: active (in sync), failed (faulty), spare (not in sync: hot spares and disks being rebuilt), missing (slots no active disk fills).",
		"array", "state")
	mdraidDisksRequired = newDesc("mdraid", "disks_required",
		"Disks the md array has slots for when complete (md/raid_disks).", "array")
	mdraidSyncAction = newDesc("mdraid", "sync_action",
		"1 for what the md array is doing (md/sync_action), 0 for the others.", "array", "action")
	mdraidSyncCompleted = newDesc("mdraid", "sync_completed_ratio",
		"Part of the md array's current sync action done, 0 to 1; absent while none runs, 0 while one waits for another array on the same disks.", "array")
	mdraidArraySize = Inventory(newDesc("mdraid", "array_size_bytes",
		"Size of the running md array (the block device's size in sysfs, else /proc/mdstat's blocks); absent while inactive.", "array"))
	mdraidSyncSpeed = newDesc("mdraid", "sync_speed_bytes_per_second",
		"Recent speed of the md array's current sync action (/proc/mdstat's speed=, else md/sync_speed); absent while none runs.", "array")
	mdraidSyncRemaining = newDesc("mdraid", "sync_remaining_seconds",
		"Time the kernel estimates the md array's current sync action needs to finish (/proc/mdstat's finish=); absent while none runs.", "array")
	mdraidMemberState = newDesc("mdraid", "member_state",
		"Member disk of the md array, value 1, once for each flag of its md/dev-*/state (in_sync, faulty, spare, write_mostly, blocked, write_error, ...).",
		"array", "device", "state")
)

// mdraidArrayStates are the values of md/array_state (Documentation/admin-guide/md.rst).
var mdraidArrayStates = []string{"clear", "inactive", "suspended", "readonly", "read-auto",
	"clean", "active", "write-pending", "active-idle", "broken"}

// mdraidSyncActions are the values of md/sync_action.
var mdraidSyncActions = []string{"idle", "resync", "recover", "check", "repair", "reshape", "frozen"}

func init() {
	Register(Spec{
		Name:      "mdraid",
		Summary:   "Linux software RAID: state, disks, sync progress.",
		Reads:     "`/proc/mdstat` and `/sys/block/md*/md`, whichever lists an array: level, state, size, disks active/failed/spare/missing, sync action, progress, speed and time left, member states (mdstat and each array's md/ attributes re-read from descriptors kept open; the arrays and their members found again every 60 runs, and at once when mdstat's array lines change or a kept file goes away)",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		New:       func() Probe { return &mdraidProbe{} },
	})
}

// mdraidProbe reports Linux software RAID arrays. /proc/mdstat lists them;
// each array's md/ directory in sysfs says more precisely how it is. A host
// without /proc/mdstat has no md driver loaded and no arrays, which is not an
// error: the driver may be loaded later, so the probe stays on.
//
// The probe keeps a layout between runs (layout.go): which arrays there are,
// their members, and the files to read, kept open. Each run re-reads
// /proc/mdstat and every array's attributes (MDArrayAttrs: size, level,
// state, disks, sync action and progress, member states) from the kept
// descriptors, and parses mdstat only when its bytes changed. The layout is
// found again every layoutEvery runs (an array only sysfs lists, as an
// empty one mdstat leaves out, shows up then), and at once when a kept
// file cannot be read (an array stopped or a member removed: sysfs answers
// ENODEV), when mdstat's lines at the margin change (an array started or
// stopped, a member added, failed or removed; the indented lines below
// them, status and progress, are values), or when mdstat appears or goes.
//
// The series of a run are built through a memo that reuses the last run's
// series where nothing changed (seriesMemo); it outlives the layout, so a
// run that reads the layout again reuses them too.
type mdraidProbe struct {
	layout keptLayout
	memo   seriesMemo // used under the layout's lock
}

// Close closes the descriptors the probe keeps.
func (p *mdraidProbe) Close() { p.layout.close() }

func (p *mdraidProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		mdraidArrayInfo, mdraidArrayState, mdraidDegradedDisks, mdraidDisks, mdraidDisksRequired,
		mdraidSyncAction, mdraidSyncCompleted, mdraidMemberState,
		mdraidArraySize, mdraidSyncSpeed, mdraidSyncRemaining,
	} {
		ch <- d
	}
}

func (p *mdraidProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	return p.layout.run(ctx, env, skips, func(b *layoutBuilder) error { return mdraidDiscover(ctx, env, b, &p.memo) })
}

// mdraidLayout is what the probe keeps: the arrays and their files.
type mdraidLayout struct {
	l      *layout // for its read buffer
	proc   attrs
	sys    attrs
	mdstat *layoutValue // nil: no /proc/mdstat at discovery
	// heads are mdstat's lines at the margin at discovery (mdstatHeads).
	heads  string
	arrays []mdraidArray
	// files are the arrays' attributes, by name below the sysfs root; one
	// missing at discovery is not there.
	files map[string]*layoutValue
	read  func(name string) ([]byte, error) // readAttr, bound once
	// failed: a kept file could not be read in this pass.
	failed bool

	// buf is mdstat's read buffer; last the bytes last parsed, and stats
	// and perr what they parsed to.
	buf, last []byte
	stats     map[string]procfile.MDArray
	perr      error
	got       []mdraidRead
	memo      *seriesMemo
}

type mdraidArray struct {
	name    string
	members []string
}

// mdraidRead is one array as a pass read it.
type mdraidRead struct {
	r    sysfs.MDArray
	errs []sysfs.Error
}

// mdraidDiscover finds the arrays, their members and files, and keeps the
// files open. It counts what it cannot list; what it cannot read is counted
// by the pass that follows it.
func mdraidDiscover(ctx context.Context, env Env, b *layoutBuilder, memo *seriesMemo) error {
	m := &mdraidLayout{l: b.l, proc: env.Proc(), sys: env.Sys(), files: map[string]*layoutValue{}, memo: memo}
	m.read = m.readAttr
	b.l.pass = m.pass
	if v, missing := b.keep(m.proc, "mdstat"); !missing {
		m.mdstat = v
	}
	// An array is one that either source lists: sysfs alone when mdstat
	// is unreadable or an entry did not parse, mdstat alone in a container
	// given the host's /proc but not its /sys.
	names, errs := sysfs.MDArrayNames(m.sys.fs)
	sysfsSkip(b.skips, errs...)
	if raw, err := m.readMdstat(); err == nil {
		m.heads = mdstatHeads(raw)
		if err := m.parse(ctx, raw); err != nil {
			return err
		}
		for name := range m.stats {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if err := ctx.Err(); err != nil {
			return err
		}
		members, errs := sysfs.MDArrayMembers(m.sys.fs, name)
		sysfsSkip(b.skips, errs...)
		m.arrays = append(m.arrays, mdraidArray{name: name, members: members})
		for _, f := range sysfs.MDArrayAttrs(name, members) {
			if v, missing := b.keep(m.sys, f); !missing {
				m.files[f] = v
			}
		}
	}
	return nil
}

// readMdstat reads /proc/mdstat whole: from the kept descriptor, where a
// pread at offset 0 starts md's listing afresh (seq_read_iter resets a
// seq_file's iterator at offset 0; mdadm --monitor keeps mdstat open and
// re-reads it the same way), else by name.
func (m *mdraidLayout) readMdstat() ([]byte, error) {
	switch {
	case m.mdstat == nil:
		return nil, fs.ErrNotExist
	case m.mdstat.attr == nil:
		return m.mdstat.fs.ReadFile(m.mdstat.name, procfile.MdstatMaxSize)
	}
	b, err := m.mdstat.attr.ReadAll(m.buf, procfile.MdstatMaxSize)
	if err == nil {
		m.buf = b
	}
	return b, err
}

// parse parses mdstat's bytes into stats and perr, unless they are the
// bytes parsed last: an idle array's mdstat reads the same every minute.
func (m *mdraidLayout) parse(ctx context.Context, raw []byte) error {
	if m.stats != nil && bytes.Equal(raw, m.last) {
		return nil
	}
	arrays, perr := procfile.ParseMdstat(ctx, raw)
	if err := ctx.Err(); err != nil {
		return err
	}
	m.stats = make(map[string]procfile.MDArray, len(arrays))
	for _, st := range arrays {
		m.stats[st.Name] = st
	}
	m.perr = perr
	m.last = append(m.last[:0], raw...)
	return nil
}

// mdstatHeads returns mdstat's lines that start at the margin: the
// personalities, each array's "mdN : state level members" line and the
// unused devices. They change when an array starts or stops, changes level
// or state, or a member is added, removed, fails or becomes a spare: what
// the layout holds. The indented lines below them (status, progress,
// bitmap) are the values that move while an array runs.
func mdstatHeads(b []byte) string {
	var heads []byte
	for line := range bytes.Lines(b) {
		if line[0] != ' ' && line[0] != '\t' {
			heads = append(heads, line...)
		}
	}
	return string(heads)
}

// readAttr reads an array's attribute for sysfs.MDArrayFrom: from its kept
// descriptor into the layout's buffer (MDArrayFrom keeps no bytes past
// the call), by name past the descriptor budget; one missing at discovery
// is not there until the next.
func (m *mdraidLayout) readAttr(name string) ([]byte, error) {
	v := m.files[name]
	if v == nil {
		return nil, fs.ErrNotExist
	}
	var b []byte
	var err error
	if v.attr == nil {
		b, err = v.fs.ReadAttr(v.name)
	} else {
		b, err = v.attr.Read(m.l.buf)
	}
	if err != nil {
		m.failed = true
	}
	return b, err
}

// pass is the layout's pass (layout.values' contract): it reads mdstat
// and every array first, and only then counts skips and maps the arrays,
// so a pass found stale has counted nothing.
func (m *mdraidLayout) pass(ctx context.Context, skips *Skips, final bool) ([]prometheus.Metric, bool, error) {
	raw, rerr := m.readMdstat()
	switch {
	case final:
	case m.mdstat == nil:
		if m.proc.fs.Exists(m.proc.name("mdstat")) { // the md driver was loaded
			return nil, true, nil
		}
	case rerr != nil: // gone (the driver unloaded: EIO) or unreadable
		return nil, true, nil
	case !bytes.Equal(raw, m.last) && mdstatHeads(raw) != m.heads:
		return nil, true, nil
	}
	var stats map[string]procfile.MDArray
	if rerr == nil {
		if err := m.parse(ctx, raw); err != nil {
			return nil, false, err
		}
		stats = m.stats
	}

	m.failed = false
	m.got = m.got[:0]
	for _, a := range m.arrays {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		r, errs := sysfs.MDArrayFrom(m.sys.fs, a.name, a.members, m.read)
		m.got = append(m.got, mdraidRead{r, errs})
	}
	if m.failed && !final {
		return nil, true, nil
	}

	switch {
	case errors.Is(rerr, fs.ErrNotExist):
		// No md driver, or a procfs root without it: sysfs still says
		// whether arrays exist.
	case rerr != nil:
		// A mdstat that cannot be read (a link to /dev/zero, a file past
		// the bound) says nothing about which arrays exist; the arrays'
		// md/ directories in sysfs still say most of it.
		skips.Add(m.proc.path("mdstat"), rerr)
	case m.perr != nil:
		// An entry that does not parse costs what it would have told.
		skips.Add(m.proc.path("mdstat"), m.perr)
	}
	var ms []prometheus.Metric
	m.memo.next()
	for i, a := range m.arrays {
		sysfsSkip(skips, m.got[i].errs...)
		st, ok := stats[a.name]
		ms = append(ms, mdraidArrayMetrics(m.memo, m.got[i].r, st, ok, skips)...)
	}
	return ms, false, nil
}

// sysfsSkip records what a host/sysfs reader could not read.
func sysfsSkip(skips *Skips, errs ...sysfs.Error) {
	for _, e := range errs {
		skips.Add(e.Path, e.Err)
	}
}

// seriesMemo hands back the series a pass built at the same place in the
// last pass when its descriptor, labels and value are the same, rather than
// building it again: a const metric never changes, and most of an array's
// series from one minute to the next are those of the last (every state
// set's zeros, the disk counts). Building them was most of a pass's
// allocations. A series placed differently (an array or member added) is
// built anew, so the memo changes what a pass costs, never what it says.
type seriesMemo struct {
	last, cur []memoSeries
}

// memoSeries is one gauge series with at most len(labels) labels.
type memoSeries struct {
	d      *prometheus.Desc
	v      float64
	n      int
	labels [3]string
	m      prometheus.Metric
}

// next starts a pass: what the last one built is what this one may reuse.
func (sm *seriesMemo) next() { sm.last, sm.cur = sm.cur, sm.last[:0] }

// gauge is gauge(d, v, labels...), reused from the last pass when the same.
func (sm *seriesMemo) gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	if len(labels) > len(memoSeries{}.labels) {
		return gauge(d, v, labels...)
	}
	i := len(sm.cur)
	if i < len(sm.last) {
		l := sm.last[i]
		if l.d == d && math.Float64bits(l.v) == math.Float64bits(v) && slices.Equal(l.labels[:l.n], labels) {
			sm.cur = append(sm.cur, l)
			return l.m
		}
	}
	s := memoSeries{d: d, v: v, n: len(labels), m: gauge(d, v, labels...)}
	copy(s.labels[:], labels)
	sm.cur = append(sm.cur, s)
	return s.m
}

// stateSet is stateSet(d, known, current, labels...) with each series from
// gauge.
func (sm *seriesMemo) stateSet(d *prometheus.Desc, known []string, current string, labels ...string) []prometheus.Metric {
	if len(labels) >= len(memoSeries{}.labels) {
		return stateSet(d, known, current, labels...)
	}
	if !slices.Contains(known, current) {
		known = append(slices.Clip(known), labelValue(current))
	}
	var ls [3]string
	n := copy(ls[:], labels)
	ms := make([]prometheus.Metric, 0, len(known))
	for _, s := range known {
		v := 0.0
		if s == current {
			v = 1
		}
		ls[n] = s
		ms = append(ms, sm.gauge(d, v, ls[:n+1]...))
	}
	return ms
}

// mdraidArrayMetrics maps one array as sysfs tells it, falling back to its
// /proc/mdstat entry (st, when haveSt) for what sysfs lacks.
func mdraidArrayMetrics(sm *seriesMemo, sys sysfs.MDArray, st procfile.MDArray, haveSt bool, skips *Skips) []prometheus.Metric {
	array := labelValue(sys.Name)
	var ms []prometheus.Metric
	level := sys.Level
	if level == "" && haveSt {
		level = st.Level
	}
	ms = append(ms, sm.gauge(mdraidArrayInfo, 1, array, labelValue(level)))
	if size, ok := mdraidSize(sys, st, haveSt); ok {
		ms = append(ms, sm.gauge(mdraidArraySize, float64(size), array))
	}

	state, ok := sys.State, sys.State != ""
	if !ok && haveSt {
		state, ok = mdstatArrayState(st), true
	}
	if ok {
		ms = append(ms, sm.stateSet(mdraidArrayState, mdraidArrayStates, state, array)...)
	}
	ms = append(ms, mdraidDiskMetrics(sm, array, sys, st, haveSt)...)
	return append(ms, mdraidSyncMetrics(sm, array, sys, st, haveSt, skips)...)
}

// mdraidDiskMetrics maps the array's slots and member disks.
func mdraidDiskMetrics(sm *seriesMemo, array string, sys sysfs.MDArray, st procfile.MDArray, haveSt bool) []prometheus.Metric {
	var ms []prometheus.Metric
	required, haveRequired := sys.RaidDisks, sys.RaidDisks > 0
	if !haveRequired && haveSt && st.Disks > 0 {
		required, haveRequired = uint64(st.Disks), true
	}
	if haveRequired {
		ms = append(ms, sm.gauge(mdraidDisksRequired, float64(required), array))
	}

	if sys.HasDegraded {
		ms = append(ms, sm.gauge(mdraidDegradedDisks, float64(sys.Degraded), array))
	} else if haveSt && st.Disks > 0 {
		ms = append(ms, sm.gauge(mdraidDegradedDisks, float64(st.Disks-st.DisksActive), array))
	}

	var active, failed, spare uint64
	for _, m := range sys.Members {
		switch {
		case slices.Contains(m.Flags, "faulty"):
			failed++
		case slices.Contains(m.Flags, "in_sync"):
			active++
		case slices.Contains(m.Flags, "spare"):
			spare++
		}
		for _, f := range m.Flags {
			ms = append(ms, sm.gauge(mdraidMemberState, 1, array, labelValue(m.Device), labelValue(f)))
		}
	}
	switch {
	case len(sys.Members) > 0:
		ms = append(ms,
			sm.gauge(mdraidDisks, float64(active), array, "active"),
			sm.gauge(mdraidDisks, float64(failed), array, "failed"),
			sm.gauge(mdraidDisks, float64(spare), array, "spare"))
		if haveRequired {
			ms = append(ms, sm.gauge(mdraidDisks, float64(required-min(active, required)), array, "missing"))
		}
	case haveSt:
		ms = append(ms,
			sm.gauge(mdraidDisks, float64(st.DisksActive), array, "active"),
			sm.gauge(mdraidDisks, float64(st.DisksFailed), array, "failed"),
			sm.gauge(mdraidDisks, float64(st.DisksSpare), array, "spare"),
			sm.gauge(mdraidDisks, float64(st.DisksDown), array, "missing"))
	}
	return ms
}

// mdraidSyncMetrics maps the array's sync action and its progress. mdstat's
// speed and time left are preferred over sysfs's: they come from one
// reading, and sysfs has no time left.
func mdraidSyncMetrics(sm *seriesMemo, array string, sys sysfs.MDArray, st procfile.MDArray, haveSt bool, skips *Skips) []prometheus.Metric {
	var ms []prometheus.Metric
	action, ok := sys.SyncAction, sys.SyncAction != ""
	if !ok && haveSt {
		action, ok = mdstatSyncAction(st)
	}
	if ok {
		ms = append(ms, sm.stateSet(mdraidSyncAction, mdraidSyncActions, action, array)...)
	}
	sync := st.Sync
	if !haveSt {
		sync = nil
	}
	if sys.HasSyncCompleted {
		ms = append(ms, sm.gauge(mdraidSyncCompleted, sys.SyncCompleted, array))
	} else if sync != nil && !sys.SyncCompletedExists {
		switch {
		case sync.Waiting != "":
			ms = append(ms, sm.gauge(mdraidSyncCompleted, 0, array))
		case sync.TotalBlocks > 0 && sync.DoneBlocks <= sync.TotalBlocks:
			ms = append(ms, sm.gauge(mdraidSyncCompleted, float64(sync.DoneBlocks)/float64(sync.TotalBlocks), array))
		}
	}
	switch {
	case sync != nil && sync.Waiting == "" && sync.SpeedBytesPerSecond >= 0:
		ms = append(ms, sm.gauge(mdraidSyncSpeed, sync.SpeedBytesPerSecond, array))
	case sys.SyncSpeedErr != nil:
		sysfsSkip(skips, *sys.SyncSpeedErr)
	case sys.HasSyncSpeed:
		ms = append(ms, sm.gauge(mdraidSyncSpeed, float64(sys.SyncSpeedKiB)*1024, array))
	}
	if sync != nil && sync.Waiting == "" && sync.RemainingSeconds >= 0 {
		ms = append(ms, sm.gauge(mdraidSyncRemaining, sync.RemainingSeconds, array))
	}
	return ms
}

// mdraidSize returns the size of a running array: the block device's
// size (512-byte sectors, 0 while inactive), else mdstat's 1 KiB blocks,
// which for an inactive array count its members and so are no size.
func mdraidSize(sys sysfs.MDArray, st procfile.MDArray, haveSt bool) (uint64, bool) {
	if sys.HasSize {
		return sys.SizeSectors * 512, sys.SizeSectors > 0
	}
	if haveSt && st.State != "inactive" && st.Blocks > 0 {
		return st.Blocks * 1024, true
	}
	return 0, false
}

// mdstatArrayState is md/array_state as far as /proc/mdstat tells it:
// running arrays are all "active" there, clean or not.
func mdstatArrayState(st procfile.MDArray) string {
	switch {
	case st.State != "active":
		return st.State // inactive, broken
	case st.ReadOnly == "read-only":
		return "readonly"
	case st.ReadOnly == "auto-read-only":
		return "read-auto"
	}
	return "active"
}

// mdstatSyncAction is md/sync_action as far as /proc/mdstat tells it. Only
// a running array with redundancy (mdstat prints its slots) has a sync
// action, as only its md/ directory has the attribute.
func mdstatSyncAction(st procfile.MDArray) (string, bool) {
	switch {
	case !st.Redundant || st.State == "inactive":
		return "", false
	case st.Sync == nil:
		return "idle", true
	}
	return st.Sync.Action, true
}
