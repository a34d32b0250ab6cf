package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/procfile"
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
		Reads:     "`/proc/mdstat` and `/sys/block/md*/md`, whichever lists an array: level, state, size, disks active/failed/spare/missing, sync action, progress, speed and time left, member states",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		New:       func() Probe { return mdraidProbe{} },
	})
}

// mdraidProbe reports Linux software RAID arrays. /proc/mdstat lists them;
// each array's md/ directory in sysfs says more precisely how it is. A host
// without /proc/mdstat has no md driver loaded and no arrays, which is not an
// error: the driver may be loaded later, so the probe stays on.
type mdraidProbe struct{}

func (mdraidProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		mdraidArrayInfo, mdraidArrayState, mdraidDegradedDisks, mdraidDisks, mdraidDisksRequired,
		mdraidSyncAction, mdraidSyncCompleted, mdraidMemberState,
		mdraidArraySize, mdraidSyncSpeed, mdraidSyncRemaining,
	} {
		ch <- d
	}
}

func (p mdraidProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	proc := env.Proc()
	stats := map[string]procfile.MDArray{}
	b, err := proc.fs.ReadFile("mdstat", procfile.MdstatMaxSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No md driver, or a procfs root without it: sysfs still says
		// whether arrays exist.
	case err != nil:
		// A mdstat that cannot be read (a link to /dev/zero, a file past
		// the bound) says nothing about which arrays exist; the arrays'
		// md/ directories in sysfs still say most of it.
		skips.Add(proc.path("mdstat"), err)
	default:
		arrays, perr := procfile.ParseMdstat(ctx, b)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if perr != nil {
			skips.Add(proc.path("mdstat"), perr)
		}
		for _, st := range arrays {
			stats[st.Name] = st
		}
	}
	// An array is one that either source lists: sysfs alone when mdstat
	// is unreadable or an entry did not parse, mdstat alone in a container
	// given the host's /proc but not its /sys.
	block := env.Sys("block")
	names := p.sysfsArrays(block)
	for name := range stats {
		names = append(names, name)
	}
	slices.Sort(names)

	var ms []prometheus.Metric
	for _, name := range slices.Compact(names) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, ok := stats[name]
		ms = append(ms, p.array(block.sub(name), name, st, ok)...)
	}
	return ms, nil
}

// sysfsArrays lists the block devices that have an md/ directory.
func (p mdraidProbe) sysfsArrays(block attrs) []string {
	var names []string
	for _, e := range block.entries() {
		if !strings.HasPrefix(e.Name(), "md") {
			continue
		}
		if fi, err := block.stat(path.Join(e.Name(), "md")); err == nil && fi.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// array reads one array from its md/ directory, falling back to its
// /proc/mdstat entry (st, when haveSt) for what sysfs lacks. sysfs is read
// attribute by attribute rather than through procfs's sysfs.Mdraids, which
// stops at the first unexpected file and drops every array after it: a
// kernel without the uuid attribute, or sync_completed reading "delayed"
// while a resync waits for another array on the same disks.
func (p mdraidProbe) array(dev attrs, name string, st procfile.MDArray, haveSt bool) []prometheus.Metric {
	a := dev.sub("md")
	array := labelValue(name)
	var ms []prometheus.Metric
	level, _ := a.String("level")
	if level == "" && haveSt {
		level = st.Level
	}
	ms = append(ms, gauge(mdraidArrayInfo, 1, array, labelValue(level)))
	if size, ok := mdraidSize(dev, st, haveSt); ok {
		ms = append(ms, gauge(mdraidArraySize, float64(size), array))
	}

	state, ok := a.String("array_state")
	if !ok && haveSt {
		state, ok = mdstatArrayState(st), true
	}
	if ok {
		ms = append(ms, stateSet(mdraidArrayState, mdraidArrayStates, state, array)...)
	}

	required, haveRequired := mdraidRaidDisks(a)
	if !haveRequired && haveSt && st.Disks > 0 {
		required, haveRequired = uint64(st.Disks), true
	}
	if haveRequired {
		ms = append(ms, gauge(mdraidDisksRequired, float64(required), array))
	}

	if v, ok := a.Uint("degraded"); ok {
		ms = append(ms, gauge(mdraidDegradedDisks, float64(v), array))
	} else if haveSt && st.Disks > 0 {
		ms = append(ms, gauge(mdraidDegradedDisks, float64(st.Disks-st.DisksActive), array))
	}

	var active, failed, spare uint64
	members := 0
	for _, e := range a.entries() {
		dev, ok := strings.CutPrefix(e.Name(), "dev-")
		if !ok {
			continue
		}
		state, ok := a.sub(e.Name()).String("state")
		if !ok {
			continue
		}
		members++
		flags := strings.Split(state, ",")
		switch {
		case slices.Contains(flags, "faulty"):
			failed++
		case slices.Contains(flags, "in_sync"):
			active++
		case slices.Contains(flags, "spare"):
			spare++
		}
		for _, f := range flags {
			ms = append(ms, gauge(mdraidMemberState, 1, array, labelValue(dev), labelValue(f)))
		}
	}
	switch {
	case members > 0:
		ms = append(ms,
			gauge(mdraidDisks, float64(active), array, "active"),
			gauge(mdraidDisks, float64(failed), array, "failed"),
			gauge(mdraidDisks, float64(spare), array, "spare"))
		if haveRequired {
			ms = append(ms, gauge(mdraidDisks, float64(required-min(active, required)), array, "missing"))
		}
	case haveSt:
		ms = append(ms,
			gauge(mdraidDisks, float64(st.DisksActive), array, "active"),
			gauge(mdraidDisks, float64(st.DisksFailed), array, "failed"),
			gauge(mdraidDisks, float64(st.DisksSpare), array, "spare"),
			gauge(mdraidDisks, float64(st.DisksDown), array, "missing"))
	}

	action, ok := a.String("sync_action")
	if !ok && haveSt {
		action, ok = mdstatSyncAction(st)
	}
	if ok {
		ms = append(ms, stateSet(mdraidSyncAction, mdraidSyncActions, action, array)...)
	}
	sync := st.Sync
	if !haveSt {
		sync = nil
	}
	if ratio, ok := mdraidReadSyncCompleted(a); ok {
		ms = append(ms, gauge(mdraidSyncCompleted, ratio, array))
	} else if sync != nil && !a.exists("sync_completed") {
		switch {
		case sync.Waiting != "":
			ms = append(ms, gauge(mdraidSyncCompleted, 0, array))
		case sync.TotalBlocks > 0 && sync.DoneBlocks <= sync.TotalBlocks:
			ms = append(ms, gauge(mdraidSyncCompleted, float64(sync.DoneBlocks)/float64(sync.TotalBlocks), array))
		}
	}
	if sync != nil && sync.Waiting == "" && sync.SpeedBytesPerSecond >= 0 {
		ms = append(ms, gauge(mdraidSyncSpeed, sync.SpeedBytesPerSecond, array))
	} else if kib, ok := mdraidReadSyncSpeed(a); ok {
		ms = append(ms, gauge(mdraidSyncSpeed, float64(kib)*1024, array))
	}
	if sync != nil && sync.Waiting == "" && sync.RemainingSeconds >= 0 {
		ms = append(ms, gauge(mdraidSyncRemaining, sync.RemainingSeconds, array))
	}
	return ms
}

// mdraidSize returns the size of a running array: the block device's
// size (512-byte sectors, 0 while inactive), else mdstat's 1 KiB blocks,
// which for an inactive array count its members and so are no size.
func mdraidSize(dev attrs, st procfile.MDArray, haveSt bool) (uint64, bool) {
	if sectors, ok := dev.Uint("size"); ok {
		return sectors * 512, sectors > 0
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

// mdraidReadSyncSpeed reads md/sync_speed, KiB/s: "none" while no action
// runs.
func mdraidReadSyncSpeed(a attrs) (uint64, bool) {
	s, ok := a.String("sync_speed")
	if !ok || s == "none" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		a.skips.Add(a.path("sync_speed"), fmt.Errorf("unexpected sync_speed %q", s))
		return 0, false
	}
	return v, true
}

// mdraidRaidDisks reads md/raid_disks: a number, or during a reshape the
// new and old numbers, "4 (3)"; the new one is what the array will need.
// An array not yet configured (inactive, assembled in part) reads 0, which
// says nothing about how many disks it needs.
func mdraidRaidDisks(a attrs) (uint64, bool) {
	s, ok := a.String("raid_disks")
	if !ok {
		return 0, false
	}
	first, _, _ := strings.Cut(s, " ")
	n, err := strconv.ParseUint(first, 10, 64)
	if err != nil {
		a.skips.Add(a.path("raid_disks"), err)
		return 0, false
	}
	return n, n > 0
}

// mdraidReadSyncCompleted reads md/sync_completed: "none" when no action runs,
// "delayed" while one waits its turn, else sectors done and
// sectors to do, "1024 / 2048".
func mdraidReadSyncCompleted(a attrs) (float64, bool) {
	s, ok := a.String("sync_completed")
	if !ok {
		return 0, false
	}
	switch s {
	case "none":
		return 0, false
	case "delayed":
		return 0, true
	}
	var done, total uint64
	if _, err := fmt.Sscanf(s, "%d / %d", &done, &total); err != nil || total == 0 || done > total {
		a.skips.Add(a.path("sync_completed"), fmt.Errorf("unexpected sync_completed %q", s))
		return 0, false
	}
	return float64(done) / float64(total), true
}
