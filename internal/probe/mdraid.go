package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
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
		Reads:     "`/proc/mdstat` and `/sys/block/md*/md`: level, state, disks active/failed/spare/missing, sync action and progress, member states",
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
type mdraidProbe struct {
	paths Paths
}

func (mdraidProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		mdraidArrayInfo, mdraidArrayState, mdraidDegradedDisks, mdraidDisks, mdraidDisksRequired,
		mdraidSyncAction, mdraidSyncCompleted, mdraidMemberState,
	} {
		ch <- d
	}
}

func (p mdraidProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	p.paths = env.Paths // this run's settings, on this run's copy of p
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path := filepath.Join(p.paths.ProcFS, "mdstat")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	pfs, err := procfs.NewFS(p.paths.ProcFS)
	if err != nil {
		return nil, err
	}
	var names []string
	stats := map[string]procfs.MDStat{}
	mdstat, err := pfs.MDStat()
	if err == nil {
		for _, st := range mdstat {
			names = append(names, st.Name)
			stats[st.Name] = st
		}
	} else {
		// procfs fails the whole file on one line it cannot parse; the
		// arrays' md/ directories in sysfs still say most of it.
		skips.Add(path, err)
		names = p.sysfsArrays(skips)
	}
	slices.Sort(names)

	var ms []prometheus.Metric
	for _, name := range slices.Compact(names) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, ok := stats[name]
		ms = append(ms, p.array(name, st, ok, skips)...)
	}
	return ms, nil
}

// sysfsArrays lists the block devices that have an md/ directory.
func (p mdraidProbe) sysfsArrays(skips *Skips) []string {
	var names []string
	for _, e := range readDir(filepath.Join(p.paths.SysFS, "block"), skips) {
		if !strings.HasPrefix(e.Name(), "md") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(p.paths.SysFS, "block", e.Name(), "md")); err == nil && fi.IsDir() {
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
func (p mdraidProbe) array(name string, st procfs.MDStat, haveSt bool, skips *Skips) []prometheus.Metric {
	dir := filepath.Join(p.paths.SysFS, "block", name, "md")
	a := attrs{dir: dir, skips: skips}
	array := labelValue(name)
	var ms []prometheus.Metric
	level, _ := a.String("level")
	if level == "" && haveSt && st.Type != "unknown" {
		level = st.Type
	}
	ms = append(ms, gauge(mdraidArrayInfo, 1, array, labelValue(level)))

	if state, ok := a.String("array_state"); ok {
		ms = append(ms, stateSet(mdraidArrayState, mdraidArrayStates, state, array)...)
	}

	required, haveRequired := mdraidRaidDisks(a)
	if !haveRequired && haveSt && st.DisksTotal > 0 {
		required, haveRequired = uint64(st.DisksTotal), true
	}
	if haveRequired {
		ms = append(ms, gauge(mdraidDisksRequired, float64(required), array))
	}

	if v, ok := a.Uint("degraded"); ok {
		ms = append(ms, gauge(mdraidDegradedDisks, float64(v), array))
	} else if haveSt && st.DisksTotal > 0 {
		ms = append(ms, gauge(mdraidDegradedDisks, float64(st.DisksTotal-st.DisksActive), array))
	}

	var active, failed, spare uint64
	members := 0
	for _, e := range readDir(dir, skips) {
		dev, ok := strings.CutPrefix(e.Name(), "dev-")
		if !ok {
			continue
		}
		state, ok := (attrs{dir: filepath.Join(dir, e.Name()), skips: skips}).String("state")
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

	if action, ok := a.String("sync_action"); ok {
		ms = append(ms, stateSet(mdraidSyncAction, mdraidSyncActions, action, array)...)
	}
	if ratio, ok := mdraidReadSyncCompleted(a); ok {
		ms = append(ms, gauge(mdraidSyncCompleted, ratio, array))
	} else if haveSt && !mdraidFileExists(filepath.Join(dir, "sync_completed")) && st.BlocksToBeSynced > 0 &&
		slices.Contains([]string{"recovering", "resyncing", "checking", "reshaping"}, st.ActivityState) {
		ms = append(ms, gauge(mdraidSyncCompleted, float64(st.BlocksSynced)/float64(st.BlocksToBeSynced), array))
	}
	return ms
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
		a.skips.Add(filepath.Join(a.dir, "raid_disks"), err)
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
		a.skips.Add(filepath.Join(a.dir, "sync_completed"), fmt.Errorf("unexpected sync_completed %q", s))
		return 0, false
	}
	return float64(done) / float64(total), true
}

// mdraidFileExists reports whether path exists.
func mdraidFileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
