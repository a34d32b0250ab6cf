package probe

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The server fixture is read whole: golden output and not one skip.
func TestMdraidGolden(t *testing.T) {
	checkGolden(t, "mdraid")
	if _, skips := runProbe(t, "mdraid", fixturePaths); skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// mdraidTestRun plants files and checks that the mdraid probe exports
// exactly want, with skips skips.
func mdraidTestRun(t *testing.T, files map[string]string, want map[string]float64, skips int) {
	t.Helper()
	root := t.TempDir()
	plantTree(t, root, files)
	c, s := runProbe(t, "mdraid", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_mdraid_", want)
	if s.Count() != skips {
		t.Errorf("skips = %d, want %d", s.Count(), skips)
	}
}

// mdraidTestStateSet is a state set's series: 1 for current, 0 for the
// other known values.
func mdraidTestStateSet(metric, array, label string, known []string, current string) map[string]float64 {
	m := map[string]float64{}
	for _, s := range known {
		v := 0.0
		if s == current {
			v = 1
		}
		l := label + `="` + s + `"`
		if label < "array" { // gatherSeries sorts labels by name
			m[metric+`{`+l+`,array="`+array+`"}`] = v
		} else {
			m[metric+`{array="`+array+`",`+l+`}`] = v
		}
	}
	return m
}

// A RAID 5 rebuilding onto a replacement disk: the rebuilding disk is not
// in sync, so it counts as a spare until the recovery ends, and its slot as
// missing.
const mdraidTestRecoveringMdstat = `Personalities : [raid6] [raid5] [raid4] [raid1] 
md2 : active raid5 sdf1[4] sde1[1] sdd1[0]
      7813771264 blocks super 1.2 level 5, 512k chunk, algorithm 2 [3/2] [UU_]
      [=>...................]  recovery =  7.3% (285212672/3906885632) finish=301.5min speed=200164K/sec
      bitmap: 0/30 pages [0KB], 65536KB chunk

unused devices: <none>
`

var mdraidTestRecoveringSysfs = map[string]string{
	"sys/block/md2":                                            "-> ../devices/virtual/block/md2",
	"sys/devices/virtual/block/md2/md/level":                   "raid5\n",
	"sys/devices/virtual/block/md2/md/array_state":             "clean\n",
	"sys/devices/virtual/block/md2/md/raid_disks":              "3\n",
	"sys/devices/virtual/block/md2/md/degraded":                "1\n",
	"sys/devices/virtual/block/md2/md/sync_action":             "recover\n",
	"sys/devices/virtual/block/md2/md/sync_completed":          "570425344 / 7813771264\n",
	"sys/devices/virtual/block/md2/md/dev-sdd1/state":          "in_sync\n",
	"sys/devices/virtual/block/md2/md/dev-sde1/state":          "in_sync\n",
	"sys/devices/virtual/block/md2/md/dev-sdf1/state":          "spare\n",
	"sys/devices/virtual/block/md2/md/dev-sdf1/recovery_start": "570425344\n",
}

func TestMdraidRecovering(t *testing.T) {
	files := maps.Clone(mdraidTestRecoveringSysfs)
	files["proc/mdstat"] = mdraidTestRecoveringMdstat
	want := map[string]float64{
		`hardware_mdraid_array_info{array="md2",level="raid5"}`:                   1,
		`hardware_mdraid_disks_required{array="md2"}`:                             3,
		`hardware_mdraid_degraded_disks{array="md2"}`:                             1,
		`hardware_mdraid_disks{array="md2",state="active"}`:                       2,
		`hardware_mdraid_disks{array="md2",state="failed"}`:                       0,
		`hardware_mdraid_disks{array="md2",state="spare"}`:                        1,
		`hardware_mdraid_disks{array="md2",state="missing"}`:                      1,
		`hardware_mdraid_member_state{array="md2",device="sdd1",state="in_sync"}`: 1,
		`hardware_mdraid_member_state{array="md2",device="sde1",state="in_sync"}`: 1,
		`hardware_mdraid_member_state{array="md2",device="sdf1",state="spare"}`:   1,
		`hardware_mdraid_sync_completed_ratio{array="md2"}`:                       570425344.0 / 7813771264,
		// sysfs has no size for md2 here: mdstat's 1 KiB blocks stand in.
		`hardware_mdraid_array_size_bytes{array="md2"}`:            7813771264 * 1024,
		`hardware_mdraid_sync_speed_bytes_per_second{array="md2"}`: 200164 * 1024,
		`hardware_mdraid_sync_remaining_seconds{array="md2"}`:      301*60 + 30,
	}
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_array_state", "md2", "state", mdraidArrayStates, "clean"))
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_sync_action", "md2", "action", mdraidSyncActions, "recover"))
	mdraidTestRun(t, files, want, 0)

	// A second array on the same disks waits for the first: sync_completed
	// says "delayed", which is 0 done rather than a malformed file.
	delayed := maps.Clone(files)
	delayed["sys/devices/virtual/block/md2/md/sync_completed"] = "delayed\n"
	want[`hardware_mdraid_sync_completed_ratio{array="md2"}`] = 0
	mdraidTestRun(t, delayed, want, 0)
}

// Without sysfs (a container given the host's /proc only), /proc/mdstat
// stands in: the rebuilding disk has no flag there, so it counts nowhere;
// the state is mdstat's (active, clean or not) and the action its progress
// line's, with size, speed and time left.
func TestMdraidRecoveringMdstatOnly(t *testing.T) {
	want := map[string]float64{
		`hardware_mdraid_array_info{array="md2",level="raid5"}`:    1,
		`hardware_mdraid_disks_required{array="md2"}`:              3,
		`hardware_mdraid_degraded_disks{array="md2"}`:              1,
		`hardware_mdraid_disks{array="md2",state="active"}`:        2,
		`hardware_mdraid_disks{array="md2",state="failed"}`:        0,
		`hardware_mdraid_disks{array="md2",state="spare"}`:         0,
		`hardware_mdraid_disks{array="md2",state="missing"}`:       1,
		`hardware_mdraid_sync_completed_ratio{array="md2"}`:        285212672.0 / 3906885632,
		`hardware_mdraid_array_size_bytes{array="md2"}`:            7813771264 * 1024,
		`hardware_mdraid_sync_speed_bytes_per_second{array="md2"}`: 200164 * 1024,
		`hardware_mdraid_sync_remaining_seconds{array="md2"}`:      301*60 + 30,
	}
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_array_state", "md2", "state", mdraidArrayStates, "active"))
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_sync_action", "md2", "action", mdraidSyncActions, "recover"))
	mdraidTestRun(t, map[string]string{"proc/mdstat": mdraidTestRecoveringMdstat}, want, 0)
}

// procfs's real mdstat capture, without sysfs: each array's state and sync
// action come from mdstat. Inactive arrays and those without redundancy
// (raid0, linear) have no sync action, as they have no md/sync_action.
func TestMdraidMdstatOnlyStates(t *testing.T) {
	b, err := os.ReadFile("../format/procfile/testdata/procfs-mdstat")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	plantTree(t, root, map[string]string{"proc/mdstat": string(b)})
	c, s := runProbe(t, "mdraid", treePaths(root))
	if s.Count() != 0 {
		t.Errorf("skips = %d, want 0", s.Count())
	}
	got := gatherSeries(t, c)
	for array, tc := range map[string]struct {
		state, action string
		ratio         float64 // -1: absent
		size          float64 // -1: absent
	}{
		"md3":   {"active", "idle", -1, 5853468288 * 1024},
		"md4":   {"inactive", "", -1, -1},
		"md6":   {"active", "recover", 16775552.0 / 195310144, 195310144 * 1024},
		"md8":   {"active", "resync", 16775552.0 / 195310144, 195310144 * 1024},
		"md201": {"active", "check", 114176.0 / 1993728, 1993728 * 1024},
		"md9":   {"active", "resync", 0, 523968 * 1024},
		"md11":  {"read-auto", "resync", 0, 4190208 * 1024},
		"md10":  {"active", "", -1, 314159265 * 1024},
		"md101": {"readonly", "", -1, 322560 * 1024},
		"md219": {"inactive", "", -1, -1},
		"md42":  {"active", "reshape", 1096879076.0 / 1953381440, 1953381440 * 1024},
	} {
		if v := got[`hardware_mdraid_array_state{array="`+array+`",state="`+tc.state+`"}`]; v != 1 {
			t.Errorf("%s: state %s = %v, want 1", array, tc.state, v)
		}
		_, hasAction := got[`hardware_mdraid_sync_action{action="idle",array="`+array+`"}`]
		if tc.action == "" && hasAction {
			t.Errorf("%s: has a sync action", array)
		}
		if tc.action != "" && got[`hardware_mdraid_sync_action{action="`+tc.action+`",array="`+array+`"}`] != 1 {
			t.Errorf("%s: sync action %s not 1", array, tc.action)
		}
		for name, want := range map[string]float64{"sync_completed_ratio": tc.ratio, "array_size_bytes": tc.size} {
			v, ok := got[`hardware_mdraid_`+name+`{array="`+array+`"}`]
			if want < 0 && ok || want >= 0 && v != want {
				t.Errorf("%s: %s = %v (exported %v), want %v", array, name, v, ok, want)
			}
		}
	}
	// md4 is inactive with its two members failed and spare: none is
	// active (procfs's own test of this capture says 0), and an inactive
	// array has no personality to say how many it needs.
	for state, want := range map[string]float64{"active": 0, "failed": 1, "spare": 1, "missing": 0} {
		if v, ok := got[`hardware_mdraid_disks{array="md4",state="`+state+`"}`]; !ok || v != want {
			t.Errorf("md4 %s disks = %v (exported %v), want %v", state, v, ok, want)
		}
	}
	for _, name := range []string{"disks_required", "degraded_disks"} {
		if _, ok := got[`hardware_mdraid_`+name+`{array="md4"}`]; ok {
			t.Errorf("md4: %s exported for an inactive array", name)
		}
	}
	// Waiting actions have no speed or time left; running ones do.
	for _, k := range []string{`{array="md9"}`, `{array="md11"}`, `{array="md3"}`} {
		if _, ok := got[`hardware_mdraid_sync_speed_bytes_per_second`+k]; ok {
			t.Errorf("speed exported for %s", k)
		}
	}
	if v := got[`hardware_mdraid_sync_remaining_seconds{array="md42"}`]; v != 1868*60+6 {
		t.Errorf("md42 remaining = %v, want %v", v, 1868*60+6)
	}
	if v := got[`hardware_mdraid_sync_speed_bytes_per_second{array="md42"}`]; v != 7640*1024 {
		t.Errorf("md42 speed = %v, want %v", v, 7640*1024)
	}
}

// An array assembled only in part (mdadm --incremental waiting for its
// other disks) is inactive: no level, no personality and so no degraded,
// sync_action or sync_completed, and its disks are spares until it runs.
func TestMdraidInactive(t *testing.T) {
	want := map[string]float64{
		`hardware_mdraid_array_info{array="md127",level=""}`:                     1,
		`hardware_mdraid_disks{array="md127",state="active"}`:                    0,
		`hardware_mdraid_disks{array="md127",state="failed"}`:                    0,
		`hardware_mdraid_disks{array="md127",state="spare"}`:                     2,
		`hardware_mdraid_member_state{array="md127",device="sdc",state="spare"}`: 1,
		`hardware_mdraid_member_state{array="md127",device="sdd",state="spare"}`: 1,
	}
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_array_state", "md127", "state", mdraidArrayStates, "inactive"))
	mdraidTestRun(t, map[string]string{
		"proc/mdstat": `Personalities : [raid1] 
md127 : inactive sdc[1](S) sdd[0](S)
      7813774336 blocks super 1.2
       
unused devices: <none>
`,
		"sys/block/md127":                                  "-> ../devices/virtual/block/md127",
		"sys/devices/virtual/block/md127/md/level":         "\n",
		"sys/devices/virtual/block/md127/md/array_state":   "inactive\n",
		"sys/devices/virtual/block/md127/md/raid_disks":    "0\n",
		"sys/devices/virtual/block/md127/md/dev-sdc/state": "spare\n",
		"sys/devices/virtual/block/md127/md/dev-sdd/state": "spare\n",
	}, want, 0)
}

// An array sysfs lists is reported whether or not /proc/mdstat lists it:
// without mdstat at all, and beside the arrays a readable mdstat lists.
func TestMdraidSysfsOnly(t *testing.T) {
	want := map[string]float64{
		`hardware_mdraid_array_info{array="md2",level="raid5"}`:                   1,
		`hardware_mdraid_disks_required{array="md2"}`:                             3,
		`hardware_mdraid_degraded_disks{array="md2"}`:                             1,
		`hardware_mdraid_disks{array="md2",state="active"}`:                       2,
		`hardware_mdraid_disks{array="md2",state="failed"}`:                       0,
		`hardware_mdraid_disks{array="md2",state="spare"}`:                        1,
		`hardware_mdraid_disks{array="md2",state="missing"}`:                      1,
		`hardware_mdraid_member_state{array="md2",device="sdd1",state="in_sync"}`: 1,
		`hardware_mdraid_member_state{array="md2",device="sde1",state="in_sync"}`: 1,
		`hardware_mdraid_member_state{array="md2",device="sdf1",state="spare"}`:   1,
		`hardware_mdraid_sync_completed_ratio{array="md2"}`:                       570425344.0 / 7813771264,
		`hardware_mdraid_sync_speed_bytes_per_second{array="md2"}`:                150000 * 1024,
		`hardware_mdraid_array_size_bytes{array="md2"}`:                           15627542528 * 512,
	}
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_array_state", "md2", "state", mdraidArrayStates, "clean"))
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_sync_action", "md2", "action", mdraidSyncActions, "recover"))
	files := maps.Clone(mdraidTestRecoveringSysfs)
	files["sys/devices/virtual/block/md2/md/sync_speed"] = "150000\n"
	files["sys/devices/virtual/block/md2/size"] = "15627542528\n"
	mdraidTestRun(t, files, want, 0)

	files["proc/mdstat"] = "Personalities : [raid1]\nmd9 : active raid1 sda1[0] sdb1[1]\n      100 blocks [2/2] [UU]\n\nunused devices: <none>\n"
	want[`hardware_mdraid_array_info{array="md9",level="raid1"}`] = 1
	want[`hardware_mdraid_array_size_bytes{array="md9"}`] = 100 * 1024
	want[`hardware_mdraid_disks_required{array="md9"}`] = 2
	want[`hardware_mdraid_degraded_disks{array="md9"}`] = 0
	for _, st := range []string{"active", "failed", "spare", "missing"} {
		want[`hardware_mdraid_disks{array="md9",state="`+st+`"}`] = map[string]float64{"active": 2}[st]
	}
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_array_state", "md9", "state", mdraidArrayStates, "active"))
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_sync_action", "md9", "action", mdraidSyncActions, "idle"))
	mdraidTestRun(t, files, want, 0)
}

// A /proc/mdstat procfs cannot parse is one skip; the arrays are listed
// from sysfs instead, which holds all but the mdstat-only fallbacks.
func TestMdraidMalformedMdstat(t *testing.T) {
	files := maps.Clone(mdraidTestRecoveringSysfs)
	files["proc/mdstat"] = "Personalities : [raid5] \nmd2 : active raid5 sdf1[4] sde1[1] sdd1[0]\n"
	want := map[string]float64{
		`hardware_mdraid_array_info{array="md2",level="raid5"}`:                   1,
		`hardware_mdraid_disks_required{array="md2"}`:                             3,
		`hardware_mdraid_degraded_disks{array="md2"}`:                             1,
		`hardware_mdraid_disks{array="md2",state="active"}`:                       2,
		`hardware_mdraid_disks{array="md2",state="failed"}`:                       0,
		`hardware_mdraid_disks{array="md2",state="spare"}`:                        1,
		`hardware_mdraid_disks{array="md2",state="missing"}`:                      1,
		`hardware_mdraid_member_state{array="md2",device="sdd1",state="in_sync"}`: 1,
		`hardware_mdraid_member_state{array="md2",device="sde1",state="in_sync"}`: 1,
		`hardware_mdraid_member_state{array="md2",device="sdf1",state="spare"}`:   1,
		`hardware_mdraid_sync_completed_ratio{array="md2"}`:                       570425344.0 / 7813771264,
	}
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_array_state", "md2", "state", mdraidArrayStates, "clean"))
	maps.Copy(want, mdraidTestStateSet("hardware_mdraid_sync_action", "md2", "action", mdraidSyncActions, "recover"))
	mdraidTestRun(t, files, want, 1)
}

// One malformed md attribute costs its series and one skip.
func TestMdraidMalformedAttributes(t *testing.T) {
	base := maps.Clone(mdraidTestRecoveringSysfs)
	base["proc/mdstat"] = mdraidTestRecoveringMdstat
	for _, tc := range []struct {
		name, file, value string
		lost              []string
		gained            map[string]float64
	}{
		// raid_disks falls back to mdstat's count, so nothing is lost.
		{"raid_disks", "sys/devices/virtual/block/md2/md/raid_disks", "three\n", nil, nil},
		{"degraded", "sys/devices/virtual/block/md2/md/degraded", "-1\n", nil, nil},
		{"sync_completed", "sys/devices/virtual/block/md2/md/sync_completed", "570425344 of 7813771264\n",
			[]string{`hardware_mdraid_sync_completed_ratio{array="md2"}`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := maps.Clone(base)
			files[tc.file] = tc.value
			root := t.TempDir()
			plantTree(t, root, files)
			c, s := runProbe(t, "mdraid", treePaths(root))
			got := gatherSeries(t, c)
			for _, k := range tc.lost {
				if _, ok := got[k]; ok {
					t.Errorf("%s is exported", k)
				}
			}
			for _, k := range []string{`hardware_mdraid_disks_required{array="md2"}`, `hardware_mdraid_degraded_disks{array="md2"}`} {
				if _, ok := got[k]; !ok {
					t.Errorf("missing %s", k)
				}
			}
			if s.Count() != 1 {
				t.Errorf("skips = %d, want 1", s.Count())
			}
		})
	}
}

// "md3 : invalid" (procfs's TestInvalidMdstat input) and a head line that
// lost its colon are read errors, not an array in state "invalid" nor a
// line passed over; the array beside them is still read.
func TestMdraidMdstatCorruptHeadLines(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, map[string]string{"proc/mdstat": "Personalities : [raid1]\n" +
		"md3 : invalid\n      314159265 blocks 64k chunks\n\n" +
		"md5 active raid1 sda1[0] sdb1[1]\n      10 blocks [2/2] [UU]\n\n" +
		"md1 : active raid1 sdc1[0] sdd1[1]\n      10 blocks [2/2] [UU]\n\nunused devices: <none>\n"})
	c, s := runProbe(t, "mdraid", treePaths(root))
	if s.Count() != 1 {
		t.Errorf("skips = %d, want 1 (mdstat, with both bad arrays)", s.Count())
	}
	got := gatherSeries(t, c)
	if got[`hardware_mdraid_array_state{array="md1",state="active"}`] != 1 {
		t.Error("md1 not read")
	}
	for k := range got {
		if strings.Contains(k, `array="md3"`) || strings.Contains(k, `array="md5"`) || strings.Contains(k, `state="invalid"`) {
			t.Errorf("series from a corrupt head line: %s", k)
		}
	}
}

// mdraidKeptRun runs the kept probe p once on the tree at root and returns
// its series and skips.
func mdraidKeptRun(t *testing.T, p Probe, root string) (map[string]float64, *Skips) {
	t.Helper()
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), Env{Paths: treePaths(root)}, skips)
	if err != nil {
		t.Fatal(err)
	}
	return gatherSeries(t, collected{p: p, metrics: ms}), skips
}

const mdraidTestDev = "sys/devices/virtual/block/md2/md/"

// What moves while an array runs is seen at the next run, from the kept
// descriptors: sync progress in md/ and in mdstat's indented progress
// line, and a member going faulty. What the layout holds, the members,
// waits for it when only sysfs says so: a member directory that appears
// while mdstat's array line stays the same shows up within layoutEvery
// runs, not at the next one.
func TestMdraidKeptValuesNextRunLayoutWaits(t *testing.T) {
	root := t.TempDir()
	files := maps.Clone(mdraidTestRecoveringSysfs)
	files["proc/mdstat"] = mdraidTestRecoveringMdstat
	plantTree(t, root, files)
	p := newLayoutProbe(t, "mdraid")
	before := hostfs.Kept()
	mdraidKeptRun(t, p, root)
	if p.kept() == 0 {
		t.Fatal("no descriptor kept")
	}

	writeFile(t, filepath.Join(root, mdraidTestDev, "sync_completed"), "1140850688 / 7813771264\n")
	writeFile(t, filepath.Join(root, mdraidTestDev, "dev-sde1/state"), "faulty\n")
	writeFile(t, filepath.Join(root, "proc/mdstat"), strings.Replace(mdraidTestRecoveringMdstat,
		"recovery =  7.3% (285212672/3906885632) finish=301.5min speed=200164K/sec",
		"recovery = 14.6% (570425344/3906885632) finish=280.0min speed=198000K/sec", 1))
	got, skips := mdraidKeptRun(t, p, root)
	for k, v := range map[string]float64{
		`hardware_mdraid_sync_completed_ratio{array="md2"}`:                       1140850688.0 / 7813771264,
		`hardware_mdraid_sync_remaining_seconds{array="md2"}`:                     280 * 60,
		`hardware_mdraid_sync_speed_bytes_per_second{array="md2"}`:                198000 * 1024,
		`hardware_mdraid_member_state{array="md2",device="sde1",state="faulty"}`:  1,
		`hardware_mdraid_disks{array="md2",state="failed"}`:                       1,
		`hardware_mdraid_disks{array="md2",state="active"}`:                       1,
		`hardware_mdraid_member_state{array="md2",device="sdd1",state="in_sync"}`: 1,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("next run: %s = %v (exported %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got[`hardware_mdraid_member_state{array="md2",device="sde1",state="in_sync"}`]; ok {
		t.Error("sde1 still in_sync")
	}
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}

	// A member only sysfs shows (mdstat's array line unchanged).
	writeFile(t, filepath.Join(root, mdraidTestDev, "dev-sdg1/state"), "spare\n")
	const added = `hardware_mdraid_member_state{array="md2",device="sdg1",state="spare"}`
	got, _ = mdraidKeptRun(t, p, root)
	if _, ok := got[added]; ok {
		t.Errorf("%s seen at the next run: the layout was read again", added)
	}
	for run := 3; run <= layoutEvery+1; run++ {
		if got, _ = mdraidKeptRun(t, p, root); got[added] == 1 {
			break
		}
	}
	if got[added] != 1 {
		t.Errorf("%s not seen within %d runs", added, layoutEvery)
	}

	p.Close()
	if p.kept() != 0 || hostfs.Kept() > before {
		t.Errorf("after Close: probe keeps %d, process %d more than before; want 0", p.kept(), hostfs.Kept()-before)
	}
}

// An array that mdstat starts listing, or stops listing, is seen at the
// next run: mdstat's lines at the margin are the layout's, and a change
// there reads it again. So is mdstat itself appearing (the md driver
// loaded after the daemon started) and a member added to a running array.
func TestMdraidArrayAppearsAndGoesNextRun(t *testing.T) {
	root := t.TempDir()
	p := newLayoutProbe(t, "mdraid")
	if got, skips := mdraidKeptRun(t, p, root); len(got) != 0 || skips.Count() != 0 {
		t.Fatalf("no md driver: %d series, %d skips; want none", len(got), skips.Count())
	}
	const md9 = "md9 : active raid1 sda1[0] sdb1[1]\n      100 blocks [2/2] [UU]\n\n"
	mdstat := func(arrays string) string {
		return "Personalities : [raid1] \n" + arrays + "unused devices: <none>\n"
	}
	writeFile(t, filepath.Join(root, "proc/mdstat"), mdstat(""))
	mdraidKeptRun(t, p, root)

	const info9 = `hardware_mdraid_array_info{array="md9",level="raid1"}`
	const info2 = `hardware_mdraid_array_info{array="md2",level="raid5"}`
	plantTree(t, root, mdraidTestRecoveringSysfs)
	steps := []struct {
		name, mdstat string
		rm           string // sysfs directory to remove first
		want, absent []string
	}{
		{"md9 and md2 start", mdstat(md9) + strings.TrimPrefix(mdraidTestRecoveringMdstat, "Personalities : [raid6] [raid5] [raid4] [raid1] \n"), "",
			[]string{info9, info2, `hardware_mdraid_member_state{array="md2",device="sdf1",state="spare"}`}, nil},
		{"md9 stops", mdstat("") + strings.TrimPrefix(mdraidTestRecoveringMdstat, "Personalities : [raid6] [raid5] [raid4] [raid1] \n"), "",
			[]string{info2}, []string{info9}},
		{"md2 stops", mdstat(md9), "sys/devices/virtual/block/md2", []string{info9}, []string{info2}},
	}
	for _, s := range steps {
		if s.rm != "" {
			if err := os.RemoveAll(filepath.Join(root, s.rm)); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, filepath.Join(root, "proc/mdstat"), s.mdstat)
		got, skips := mdraidKeptRun(t, p, root)
		for _, k := range s.want {
			if got[k] != 1 {
				t.Errorf("%s: %s missing", s.name, k)
			}
		}
		for _, k := range s.absent {
			if _, ok := got[k]; ok {
				t.Errorf("%s: %s still exported", s.name, k)
			}
		}
		if skips.Count() != 0 {
			t.Errorf("%s: skips = %d, want 0", s.name, skips.Count())
		}
	}

	// A member added: mdstat's array line names it, so the next run reads
	// its state.
	writeFile(t, filepath.Join(root, "sys/devices/virtual/block/md9/md/dev-sdc1/state"), "spare\n")
	plantTree(t, root, map[string]string{"sys/block/md9": "-> ../devices/virtual/block/md9"})
	writeFile(t, filepath.Join(root, "proc/mdstat"), mdstat(strings.Replace(md9, "sdb1[1]", "sdb1[1] sdc1[2](S)", 1)))
	got, _ := mdraidKeptRun(t, p, root)
	if got[`hardware_mdraid_member_state{array="md9",device="sdc1",state="spare"}`] != 1 {
		t.Error("member added to md9 not seen at the next run")
	}
}

// A kept file that goes away makes the run read the layout again at once:
// it costs that file's series and nothing else, and no skip.
func TestMdraidRemovedFileCostsItsSeries(t *testing.T) {
	root := t.TempDir()
	files := maps.Clone(mdraidTestRecoveringSysfs)
	plantTree(t, root, files)
	p := newLayoutProbe(t, "mdraid")
	want, _ := mdraidKeptRun(t, p, root)
	const ratio = `hardware_mdraid_sync_completed_ratio{array="md2"}`
	if _, ok := want[ratio]; !ok {
		t.Fatalf("%s missing before the file goes", ratio)
	}
	delete(want, ratio)
	if err := os.Remove(filepath.Join(root, mdraidTestDev, "sync_completed")); err != nil {
		t.Fatal(err)
	}
	got, skips := mdraidKeptRun(t, p, root)
	if !maps.Equal(got, want) {
		t.Errorf("after sync_completed went:\n%v\nwant\n%v", got, want)
	}
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0: a file that went away is not a read error", skips.Count())
	}
}

// An mdstat longer than a page comes in several reads; the kept descriptor
// reads it whole at every run.
func TestMdraidLongMdstatKept(t *testing.T) {
	root := t.TempDir()
	var b strings.Builder
	b.WriteString("Personalities : [raid1] \n")
	for i := range 200 {
		fmt.Fprintf(&b, "md%d : active raid1 sda%d[0] sdb%d[1]\n      100 blocks [2/2] [UU]\n\n", i, i, i)
	}
	b.WriteString("unused devices: <none>\n")
	if b.Len() < 3*4096 {
		t.Fatalf("mdstat of %d bytes, want several pages", b.Len())
	}
	writeFile(t, filepath.Join(root, "proc/mdstat"), b.String())
	p := newLayoutProbe(t, "mdraid")
	for run := range 3 {
		got, skips := mdraidKeptRun(t, p, root)
		for _, i := range []int{0, 101, 199} {
			if got[fmt.Sprintf(`hardware_mdraid_array_info{array="md%d",level="raid1"}`, i)] != 1 {
				t.Errorf("run %d: md%d missing", run+1, i)
			}
		}
		if skips.Count() != 0 {
			t.Errorf("run %d: skips = %d", run+1, skips.Count())
		}
	}
}

// The memo hands back the last pass's series only where descriptor,
// labels and value are all the same at the same place; anything else is
// built anew, so a run says what it read.
func TestSeriesMemo(t *testing.T) {
	var sm seriesMemo
	pass := func() []prometheus.Metric {
		sm.next()
		return append(sm.stateSet(mdraidArrayState, mdraidArrayStates, "clean", "md0"),
			sm.gauge(mdraidDegradedDisks, 0, "md0"),
			sm.gauge(mdraidMemberState, 1, "md0", "sda1", "in_sync"))
	}
	first, second := pass(), pass()
	if len(first) != len(mdraidArrayStates)+2 {
		t.Fatalf("%d series, want %d", len(first), len(mdraidArrayStates)+2)
	}
	for i := range first {
		if first[i] != second[i] {
			t.Errorf("series %d built again though unchanged", i)
		}
	}
	sm.next()
	third := append(sm.stateSet(mdraidArrayState, mdraidArrayStates, "active", "md0"),
		sm.gauge(mdraidDegradedDisks, 1, "md0"),
		sm.gauge(mdraidMemberState, 1, "md0", "sdb1", "in_sync"))
	want := append(stateSet(mdraidArrayState, mdraidArrayStates, "active", "md0"),
		gauge(mdraidDegradedDisks, 1, "md0"),
		gauge(mdraidMemberState, 1, "md0", "sdb1", "in_sync"))
	for i := range third {
		if got, w := metricText(t, third[i]), metricText(t, want[i]); got != w {
			t.Errorf("series %d = %s, want %s", i, got, w)
		}
	}
}

// metricText is one series as its descriptor and written value.
func metricText(t *testing.T, m prometheus.Metric) string {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	return m.Desc().String() + " " + d.String()
}

// The probe keeps at most maxKeptPerProbe descriptors, however many arrays
// the host has; the files past it are read by name every run, and every
// array is still exported from the kept layout.
func TestMdraidDescriptorBound(t *testing.T) {
	root := t.TempDir()
	const arrays = 120 // 1 + 10 files each: past the bound
	files := map[string]string{}
	for i := range arrays {
		dev := fmt.Sprintf("sys/devices/virtual/block/md%d", i)
		files[fmt.Sprintf("sys/block/md%d", i)] = "-> ../devices/virtual/block/md" + fmt.Sprint(i)
		files[dev+"/size"] = "2048\n"
		for name, v := range map[string]string{"level": "raid1", "array_state": "clean", "raid_disks": "2", "degraded": "0",
			"sync_action": "idle", "sync_completed": "none", "sync_speed": "none", "dev-sda1/state": "in_sync", "dev-sdb1/state": "in_sync"} {
			files[dev+"/md/"+name] = v + "\n"
		}
	}
	plantTree(t, root, files)
	before := hostfs.Kept()
	p := newLayoutProbe(t, "mdraid")
	for run := range 3 {
		got, skips := mdraidKeptRun(t, p, root)
		if p.kept() != maxKeptPerProbe {
			t.Errorf("run %d: %d descriptors kept, want the bound, %d", run+1, p.kept(), maxKeptPerProbe)
		}
		if n := hostfs.Kept() - before; n > maxKeptPerProbe {
			t.Errorf("run %d: %d descriptors open in the process, want at most %d", run+1, n, maxKeptPerProbe)
		}
		for _, k := range []string{`hardware_mdraid_array_state{array="md0",state="clean"}`, `hardware_mdraid_array_state{array="md99",state="clean"}`,
			`hardware_mdraid_member_state{array="md99",device="sdb1",state="in_sync"}`} {
			if got[k] != 1 {
				t.Errorf("run %d: %s missing", run+1, k)
			}
		}
		if skips.Count() != 0 {
			t.Errorf("run %d: skips = %d", run+1, skips.Count())
		}
	}
}
