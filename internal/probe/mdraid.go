package probe

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/procfile"
	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
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
	stats, err := mdraidMdstat(ctx, env.Proc())
	if err != nil {
		return nil, err
	}
	// An array is one that either source lists: sysfs alone when mdstat
	// is unreadable or an entry did not parse, mdstat alone in a container
	// given the host's /proc but not its /sys.
	sys := hostfs.New(env.Paths.SysFS)
	names, errs := sysfs.MDArrayNames(sys)
	sysfsSkip(skips, errs...)
	for name := range stats {
		names = append(names, name)
	}
	slices.Sort(names)

	var ms []prometheus.Metric
	for _, name := range slices.Compact(names) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, errs := sysfs.ReadMDArray(sys, name)
		sysfsSkip(skips, errs...)
		st, ok := stats[name]
		ms = append(ms, p.array(r, st, ok, skips)...)
	}
	return ms, nil
}

// mdraidMdstat reads /proc/mdstat's arrays by name. A missing or unreadable
// mdstat, or an entry that does not parse, costs what it would have told
// (a skip), not the run: sysfs still says most of it.
func mdraidMdstat(ctx context.Context, proc attrs) (map[string]procfile.MDArray, error) {
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
		proc.skips.Add(proc.path("mdstat"), err)
	default:
		arrays, perr := procfile.ParseMdstat(ctx, b)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if perr != nil {
			proc.skips.Add(proc.path("mdstat"), perr)
		}
		for _, st := range arrays {
			stats[st.Name] = st
		}
	}
	return stats, nil
}

// sysfsSkip records what a host/sysfs reader could not read.
func sysfsSkip(skips *Skips, errs ...sysfs.Error) {
	for _, e := range errs {
		skips.Add(e.Path, e.Err)
	}
}

// array maps one array as sysfs tells it, falling back to its /proc/mdstat
// entry (st, when haveSt) for what sysfs lacks.
func (p mdraidProbe) array(sys sysfs.MDArray, st procfile.MDArray, haveSt bool, skips *Skips) []prometheus.Metric {
	array := labelValue(sys.Name)
	var ms []prometheus.Metric
	level := sys.Level
	if level == "" && haveSt {
		level = st.Level
	}
	ms = append(ms, gauge(mdraidArrayInfo, 1, array, labelValue(level)))
	if size, ok := mdraidSize(sys, st, haveSt); ok {
		ms = append(ms, gauge(mdraidArraySize, float64(size), array))
	}

	state, ok := sys.State, sys.State != ""
	if !ok && haveSt {
		state, ok = mdstatArrayState(st), true
	}
	if ok {
		ms = append(ms, stateSet(mdraidArrayState, mdraidArrayStates, state, array)...)
	}
	ms = append(ms, mdraidDiskMetrics(array, sys, st, haveSt)...)
	return append(ms, mdraidSyncMetrics(array, sys, st, haveSt, skips)...)
}

// mdraidDiskMetrics maps the array's slots and member disks.
func mdraidDiskMetrics(array string, sys sysfs.MDArray, st procfile.MDArray, haveSt bool) []prometheus.Metric {
	var ms []prometheus.Metric
	required, haveRequired := sys.RaidDisks, sys.RaidDisks > 0
	if !haveRequired && haveSt && st.Disks > 0 {
		required, haveRequired = uint64(st.Disks), true
	}
	if haveRequired {
		ms = append(ms, gauge(mdraidDisksRequired, float64(required), array))
	}

	if sys.HasDegraded {
		ms = append(ms, gauge(mdraidDegradedDisks, float64(sys.Degraded), array))
	} else if haveSt && st.Disks > 0 {
		ms = append(ms, gauge(mdraidDegradedDisks, float64(st.Disks-st.DisksActive), array))
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
			ms = append(ms, gauge(mdraidMemberState, 1, array, labelValue(m.Device), labelValue(f)))
		}
	}
	switch {
	case len(sys.Members) > 0:
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
	return ms
}

// mdraidSyncMetrics maps the array's sync action and its progress. mdstat's
// speed and time left are preferred over sysfs's: they come from one
// reading, and sysfs has no time left.
func mdraidSyncMetrics(array string, sys sysfs.MDArray, st procfile.MDArray, haveSt bool, skips *Skips) []prometheus.Metric {
	var ms []prometheus.Metric
	action, ok := sys.SyncAction, sys.SyncAction != ""
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
	if sys.HasSyncCompleted {
		ms = append(ms, gauge(mdraidSyncCompleted, sys.SyncCompleted, array))
	} else if sync != nil && !sys.SyncCompletedExists {
		switch {
		case sync.Waiting != "":
			ms = append(ms, gauge(mdraidSyncCompleted, 0, array))
		case sync.TotalBlocks > 0 && sync.DoneBlocks <= sync.TotalBlocks:
			ms = append(ms, gauge(mdraidSyncCompleted, float64(sync.DoneBlocks)/float64(sync.TotalBlocks), array))
		}
	}
	switch {
	case sync != nil && sync.Waiting == "" && sync.SpeedBytesPerSecond >= 0:
		ms = append(ms, gauge(mdraidSyncSpeed, sync.SpeedBytesPerSecond, array))
	case sys.SyncSpeedErr != nil:
		sysfsSkip(skips, *sys.SyncSpeedErr)
	case sys.HasSyncSpeed:
		ms = append(ms, gauge(mdraidSyncSpeed, float64(sys.SyncSpeedKiB)*1024, array))
	}
	if sync != nil && sync.Waiting == "" && sync.RemainingSeconds >= 0 {
		ms = append(ms, gauge(mdraidSyncRemaining, sync.RemainingSeconds, array))
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
