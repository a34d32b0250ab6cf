package procfile

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// syncing is a running sync action as mdstat prints it.
func syncing(action string, done, total uint64, speedKiB, seconds float64) *MDSync {
	return &MDSync{Action: action, DoneBlocks: done, TotalBlocks: total,
		SpeedBytesPerSecond: speedKiB * 1024, RemainingSeconds: seconds}
}

// waiting is a sync action that has not started.
func waiting(action, why string) *MDSync {
	return &MDSync{Action: action, Waiting: why, SpeedBytesPerSecond: -1, RemainingSeconds: -1}
}

// procfs's capture holds every shape md_seq_show prints: raid0/1/5/6,
// linear, inactive with and without a level, read-only and auto-read-only,
// external (imsm) metadata, failed and spare members, and a recovery, a
// resync, a check, a reshape, a DELAYED and a PENDING resync.
func TestParseMdstatProcfsCapture(t *testing.T) {
	want := []MDArray{
		{Name: "md3", State: "active", Level: "raid6", Blocks: 5853468288, Redundant: true, Disks: 8, DisksActive: 8, DisksSpare: 2},
		{Name: "md127", State: "active", Level: "raid1", Blocks: 312319552, Redundant: true, Disks: 2, DisksActive: 2},
		{Name: "md0", State: "active", Level: "raid1", Blocks: 248896, Redundant: true, Disks: 2, DisksActive: 2},
		// Inactive: the slot counts are what the array had when it last
		// ran; none of its members is active (procfs's own test says 0).
		{Name: "md4", State: "inactive", Level: "raid1", Blocks: 4883648, Redundant: true, DisksFailed: 1, DisksSpare: 1},
		{Name: "md6", State: "active", Level: "raid1", Blocks: 195310144, Redundant: true, Disks: 2, DisksActive: 1, DisksDown: 1, DisksFailed: 1, DisksSpare: 1,
			Sync: syncing("recover", 16775552, 195310144, 259783, 17*60)},
		{Name: "md8", State: "active", Level: "raid1", Blocks: 195310144, Redundant: true, Disks: 2, DisksActive: 2, DisksSpare: 2,
			Sync: syncing("resync", 16775552, 195310144, 259783, 17*60)},
		{Name: "md201", State: "active", Level: "raid1", Blocks: 1993728, Redundant: true, Disks: 2, DisksActive: 2,
			Sync: syncing("check", 114176, 1993728, 114176, 12)},
		{Name: "md7", State: "active", Level: "raid6", Blocks: 7813735424, Redundant: true, Disks: 4, DisksActive: 3, DisksDown: 1, DisksFailed: 1},
		{Name: "md9", State: "active", Level: "raid1", Blocks: 523968, Redundant: true, Disks: 4, DisksActive: 4, DisksFailed: 2, DisksSpare: 1,
			Sync: waiting("resync", "DELAYED")},
		{Name: "md10", State: "active", Level: "raid0", Blocks: 314159265, Disks: 2, DisksActive: 2},
		{Name: "md11", State: "active", ReadOnly: "auto-read-only", Level: "raid1", Blocks: 4190208, Redundant: true, Disks: 2, DisksActive: 2, DisksFailed: 1, DisksSpare: 2,
			Sync: waiting("resync", "PENDING")},
		{Name: "md12", State: "active", Level: "raid0", Blocks: 3886394368, Disks: 2, DisksActive: 2},
		{Name: "md126", State: "active", Level: "raid0", Blocks: 1855870976, Disks: 2, DisksActive: 2},
		{Name: "md219", State: "inactive", Blocks: 7932, DisksSpare: 3},
		{Name: "md00", State: "active", Level: "raid0", Blocks: 4186624, Disks: 1, DisksActive: 1},
		{Name: "md120", State: "active", Level: "linear", Blocks: 2095104, Disks: 2, DisksActive: 2},
		{Name: "md101", State: "active", ReadOnly: "read-only", Level: "raid0", Blocks: 322560, Disks: 3, DisksActive: 3},
		{Name: "md42", State: "active", Level: "raid5", Blocks: 1953381440, Redundant: true, Disks: 3, DisksActive: 2, DisksDown: 1, DisksSpare: 1,
			Sync: syncing("reshape", 1096879076, 1953381440, 7640, 1868*60+6)},
	}
	got, err := ParseMdstat(context.Background(), readTestdata(t, "procfs-mdstat"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d arrays, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("array %d:\n got %+v %+v\nwant %+v %+v", i, got[i], got[i].Sync, want[i], want[i].Sync)
		}
	}
}

// A malformed array costs that array: the one before and after it parse.
func TestParseMdstatMalformedArray(t *testing.T) {
	for name, bad := range map[string]string{
		"no status line": "md1 : active raid1 sda1[0] sdb1[1]\n\n",
		"bad size":       "md1 : active raid1 sda1[0] sdb1[1]\n      x blocks [2/2] [UU]\n",
		"huge size":      "md1 : active raid1 sda1[0] sdb1[1]\n      99999999999999999999 blocks [2/2] [UU]\n",
		"bad slots":      "md1 : active raid1 sda1[0] sdb1[1]\n      10 blocks [99999999999999999999/2] [UU]\n",
		"bad progress":   "md1 : active raid1 sda1[0] sdb1[1]\n      10 blocks [2/2] [UU]\n      [=>...]  resync = lots\n",
		"bad finish":     "md1 : active raid1 sda1[0] sdb1[1]\n      10 blocks [2/2] [UU]\n      [=>...]  resync =  1.0% (1/10) finish=1.25min speed=1K/sec\n",
		"bad waiting":    "md1 : active raid1 sda1[0] sdb1[1]\n      10 blocks [2/2] [UU]\n      scrub=DELAYED\n",
	} {
		t.Run(name, func(t *testing.T) {
			in := "Personalities : [raid1]\nmd0 : active raid1 sda2[0] sdb2[1]\n      10 blocks [2/2] [UU]\n\n" +
				bad + "\nmd2 : active raid1 sda3[0] sdb3[1]\n      20 blocks [2/2] [UU]\n\nunused devices: <none>\n"
			got, err := ParseMdstat(context.Background(), []byte(in))
			if err == nil || !strings.Contains(err.Error(), "1 arrays not parsed") {
				t.Errorf("err = %v, want 1 array not parsed", err)
			}
			if len(got) != 2 || got[0].Name != "md0" || got[1].Name != "md2" || got[1].Blocks != 20 {
				t.Errorf("got %+v, want md0 and md2", got)
			}
		})
	}
}

// Kernels since 5.5 say broken for a raid0 or linear array that lost a
// member; a sync without speed or finish leaves them unknown (-1).
func TestParseMdstatWrittenHere(t *testing.T) {
	in := "md5 : broken raid0 sda1[0] sdb1[1]\n      100 blocks super 1.2 512k chunks\n\n" +
		"md6 : active raid1 sda2[0] sdb2[1]\n      100 blocks [2/2] [UU]\n      [>....................]  resync =  0.0% (0/100)\n"
	got, err := ParseMdstat(context.Background(), []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []MDArray{
		{Name: "md5", State: "broken", Level: "raid0", Blocks: 100, Disks: 2, DisksActive: 2},
		{Name: "md6", State: "active", Level: "raid1", Blocks: 100, Redundant: true, Disks: 2, DisksActive: 2,
			Sync: &MDSync{Action: "resync", TotalBlocks: 100, SpeedBytesPerSecond: -1, RemainingSeconds: -1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v %+v, want %+v %+v", got[0], got[1].Sync, want[0], want[1].Sync)
	}
}

// A cancelled context stops the loop over a file that never ends well.
func TestParseMdstatStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := strings.Repeat("md0 : active raid1 sda[0]\n      1 blocks [1/1] [U]\n", 10000)
	if _, err := ParseMdstat(ctx, []byte(in)); err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func FuzzParseMdstat(f *testing.F) {
	f.Add(readTestdata(f, "procfs-mdstat"))
	f.Add([]byte("md0 : active raid1 sda[0]\n      1 blocks [1/1] [U]\n      resync=DELAYED\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		arrays, _ := ParseMdstat(context.Background(), b)
		for _, a := range arrays {
			if a.Name == "" || a.State == "" {
				t.Errorf("array without name or state: %+v", a)
			}
		}
	})
}

// A head line that is not an array's ("md3 : invalid", procfs's
// TestInvalidMdstat input, or a line without " : ") is a read error, not
// an array nor a line passed over; the arrays around it still parse.
func TestParseMdstatCorruptHeadLines(t *testing.T) {
	// prometheus/procfs mdstat_test.go, TestInvalidMdstat, first input.
	procfsInvalid := "\nPersonalities : [invalid]\nmd3 : invalid\n      314159265 blocks 64k chunks\n\nunused devices: <none>\n"
	got, err := ParseMdstat(context.Background(), []byte(procfsInvalid))
	if err == nil || !strings.Contains(err.Error(), "md3") || len(got) != 0 {
		t.Errorf("md3 : invalid: %+v, %v; want no array and an error naming md3", got, err)
	}
	const good = "md1 : active raid1 sda1[0] sdb1[1]\n      10 blocks [2/2] [UU]\n\n"
	for name, bad := range map[string]string{
		"no colon":  "md2 active raid1 sdc1[0] sdd1[1]\n      10 blocks [2/2] [UU]\n\n",
		"no state":  "md2 :\n      10 blocks [2/2] [UU]\n\n",
		"garbage":   "\x00\x01 garbage here\n\n",
		"odd state": "md2 : exploded raid1 sdc1[0] sdd1[1]\n      10 blocks [2/2] [UU]\n\n",
	} {
		got, err := ParseMdstat(context.Background(), []byte("Personalities : [raid1]\n"+good+bad+strings.ReplaceAll(good, "md1", "md3")+"unused devices: <none>\n"))
		if err == nil || len(got) != 2 || got[0].Name != "md1" || got[1].Name != "md3" {
			t.Errorf("%s: %+v, %v; want md1 and md3, and an error", name, got, err)
		}
	}
}
