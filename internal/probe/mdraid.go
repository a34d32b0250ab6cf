package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

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
	proc := procAttrs(p.paths, skips)
	b, err := proc.fs.ReadFile("mdstat", mdstatMaxSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		// A mdstat that cannot be read (a link to /dev/zero, a file past
		// the bound) says nothing about which arrays exist; the arrays'
		// md/ directories in sysfs still say most of it.
		skips.Add(proc.path("mdstat"), err)
	}
	var names []string
	stats := map[string]mdstatArray{}
	if err == nil {
		arrays, perr := parseMdstat(ctx, b)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		for _, st := range arrays {
			names = append(names, st.name)
			stats[st.name] = st
		}
		if perr != nil {
			skips.Add(proc.path("mdstat"), perr)
		}
		err = perr
	}
	if err != nil {
		// An array whose lines did not parse is still listed by sysfs.
		names = append(names, p.sysfsArrays(sysAttrs(p.paths, skips, "block"))...)
	}
	slices.Sort(names)

	var ms []prometheus.Metric
	for _, name := range slices.Compact(names) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, ok := stats[name]
		ms = append(ms, p.array(sysAttrs(p.paths, skips, "block", name, "md"), name, st, ok)...)
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
func (p mdraidProbe) array(a attrs, name string, st mdstatArray, haveSt bool) []prometheus.Metric {
	array := labelValue(name)
	var ms []prometheus.Metric
	level, _ := a.String("level")
	if level == "" && haveSt {
		level = st.level
	}
	ms = append(ms, gauge(mdraidArrayInfo, 1, array, labelValue(level)))

	if state, ok := a.String("array_state"); ok {
		ms = append(ms, stateSet(mdraidArrayState, mdraidArrayStates, state, array)...)
	}

	required, haveRequired := mdraidRaidDisks(a)
	if !haveRequired && haveSt && st.disksTotal > 0 {
		required, haveRequired = uint64(st.disksTotal), true
	}
	if haveRequired {
		ms = append(ms, gauge(mdraidDisksRequired, float64(required), array))
	}

	if v, ok := a.Uint("degraded"); ok {
		ms = append(ms, gauge(mdraidDegradedDisks, float64(v), array))
	} else if haveSt && st.disksTotal > 0 {
		ms = append(ms, gauge(mdraidDegradedDisks, float64(st.disksTotal-st.disksActive), array))
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
			gauge(mdraidDisks, float64(st.disksActive), array, "active"),
			gauge(mdraidDisks, float64(st.disksFailed), array, "failed"),
			gauge(mdraidDisks, float64(st.disksSpare), array, "spare"),
			gauge(mdraidDisks, float64(st.disksDown), array, "missing"))
	}

	if action, ok := a.String("sync_action"); ok {
		ms = append(ms, stateSet(mdraidSyncAction, mdraidSyncActions, action, array)...)
	}
	if ratio, ok := mdraidReadSyncCompleted(a); ok {
		ms = append(ms, gauge(mdraidSyncCompleted, ratio, array))
	} else if haveSt && !a.exists("sync_completed") && st.blocksToBeSynced > 0 &&
		slices.Contains([]string{"recovering", "resyncing", "checking", "reshaping"}, st.activity) {
		ms = append(ms, gauge(mdraidSyncCompleted, float64(st.blocksSynced)/float64(st.blocksToBeSynced), array))
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

// mdstatMaxSize bounds /proc/mdstat: a few lines per array, and a host
// has at most some hundreds of arrays.
const mdstatMaxSize = 1 << 20

// mdstatArray is what /proc/mdstat says of one array, where sysfs may not.
type mdstatArray struct {
	name  string
	level string // raid1, raid5...; "" for an inactive array
	// activity is the state word (active, inactive), or the sync action
	// under way: recovering, resyncing, checking or reshaping.
	activity                                                    string
	disksTotal, disksActive, disksFailed, disksSpare, disksDown int64
	blocksSynced, blocksToBeSynced                              int64
}

// parseMdstat parses /proc/mdstat as md_seq_show writes it: per array a
// line "md0 : active raid1 sdb2[1](F) sda2[0]", then indented lines: the
// personality's status ("1046528 blocks super 1.2 [2/1] [U_]"), a sync
// progress line while an action runs, a bitmap line. An array whose lines
// do not parse is left out and counted in the error; the others are
// returned. The loop stops when ctx ends.
func parseMdstat(ctx context.Context, b []byte) ([]mdstatArray, error) {
	var (
		arrays []mdstatArray
		bad    []string
	)
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if ctx.Err() != nil {
			return arrays, ctx.Err()
		}
		line := lines[i]
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != ":" || line[0] == ' ' || line[0] == '\t' ||
			f[0] == "Personalities" || f[0] == "unused" {
			continue
		}
		// The array's own lines are the indented ones that follow.
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "" && (lines[j][0] == ' ' || lines[j][0] == '\t') {
			j++
		}
		a, err := parseMdstatArray(f, lines[i+1:j])
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", f[0], err))
		} else {
			arrays = append(arrays, a)
		}
		i = j - 1
	}
	if len(bad) > 0 {
		return arrays, fmt.Errorf("%d arrays not parsed, first %s", len(bad), bad[0])
	}
	return arrays, nil
}

// mdstatProgress finds the count of blocks done in a progress line:
// "recovery =  7.3% (285212672/3906885632) finish=301.5min".
var mdstatProgress = regexp.MustCompile(`\((\d+)/(\d+)\)`)

// mdstatSlots finds the slot counts of a status line, "[3/2] [UU_]".
var mdstatSlots = regexp.MustCompile(`\[(\d+)/(\d+)\] \[([U_]*)\]`)

func parseMdstatArray(head []string, body []string) (mdstatArray, error) {
	a := mdstatArray{name: head[0], activity: head[2]}
	rest := head[3:]
	// "(read-only)" or "(auto-read-only)" may follow the state word.
	for len(rest) > 0 && strings.HasPrefix(rest[0], "(") {
		rest = rest[1:]
	}
	// Members are "name[slot]" with flags such as (F), (S), (W); a word
	// without a slot before them is the level, which inactive arrays lack.
	if len(rest) > 0 && !strings.Contains(rest[0], "[") {
		a.level, rest = rest[0], rest[1:]
	}
	members := 0
	for _, m := range rest {
		members++
		if strings.Contains(m, "(F)") {
			a.disksFailed++
		}
		if strings.Contains(m, "(S)") {
			a.disksSpare++
		}
	}
	if len(body) == 0 {
		return a, errors.New("no status line")
	}
	size, err := strconv.ParseInt(strings.Fields(body[0])[0], 10, 64)
	if err != nil {
		return a, fmt.Errorf("status line %q: %w", strings.TrimSpace(body[0]), err)
	}
	switch m := mdstatSlots.FindStringSubmatch(body[0]); {
	case m != nil:
		a.disksTotal, _ = strconv.ParseInt(m[1], 10, 64)
		a.disksActive, _ = strconv.ParseInt(m[2], 10, 64)
		a.disksDown = int64(strings.Count(m[3], "_"))
	case a.activity != "inactive":
		// raid0 and linear have no redundancy and print no slots: every
		// member is needed and active.
		a.disksTotal, a.disksActive = int64(members), int64(members)
	}
	a.blocksSynced, a.blocksToBeSynced = size, size
	for _, l := range body[1:] {
		action := ""
		for _, w := range []struct{ word, activity string }{
			{"recovery", "recovering"}, {"reshape", "reshaping"}, {"check", "checking"}, {"resync", "resyncing"},
		} {
			if strings.Contains(l, w.word) {
				action = w.activity
				break
			}
		}
		if action == "" || strings.HasPrefix(strings.TrimSpace(l), "bitmap") {
			continue
		}
		a.activity = action
		if strings.Contains(l, "PENDING") || strings.Contains(l, "DELAYED") {
			a.blocksSynced = 0
			break
		}
		m := mdstatProgress.FindStringSubmatch(l)
		if m == nil {
			return a, fmt.Errorf("progress line %q", strings.TrimSpace(l))
		}
		a.blocksSynced, _ = strconv.ParseInt(m[1], 10, 64)
		a.blocksToBeSynced, _ = strconv.ParseInt(m[2], 10, 64)
		break
	}
	return a, nil
}
