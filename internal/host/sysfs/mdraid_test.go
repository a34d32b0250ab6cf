package sysfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// plant writes files (slash paths relative to root) with their contents.
func plant(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Arrays are the md* block devices with an md/ directory, in name order.
func TestMDArrayNames(t *testing.T) {
	root := t.TempDir()
	plant(t, root, map[string]string{
		"block/md1/md/level":  "raid1\n",
		"block/md0/md/level":  "raid5\n",
		"block/md9/size":      "0\n", // no md/: not an array
		"block/sda/md/level":  "raid1\n",
		"block/md127/md/junk": "",
	})
	names, errs := MDArrayNames(hostfs.New(root))
	if want := []string{"md0", "md1", "md127"}; !reflect.DeepEqual(names, want) || errs != nil {
		t.Errorf("MDArrayNames = %v, %v; want %v and no errors", names, errs, want)
	}
	if names, errs := MDArrayNames(hostfs.New(filepath.Join(root, "none"))); names != nil || errs != nil {
		t.Errorf("no block/: MDArrayNames = %v, %v; want nothing", names, errs)
	}
}

// A RAID 5 in a reshape waiting its turn, with one malformed attribute:
// each attribute is read on its own, a bad one costs its field and is
// returned as an error naming its path, and sync_speed's error is kept
// apart for a caller that falls back on it.
func TestReadMDArray(t *testing.T) {
	root := t.TempDir()
	plant(t, root, map[string]string{
		"block/md2/size":                 "15627542528\n",
		"block/md2/md/level":             "raid5\n",
		"block/md2/md/array_state":       "clean\n",
		"block/md2/md/raid_disks":        "4 (3)\n",
		"block/md2/md/degraded":          "one\n",
		"block/md2/md/dev-sdd1/state":    "in_sync\n",
		"block/md2/md/dev-sde1/state":    "faulty,write_error\n",
		"block/md2/md/dev-sdf1/slot":     "2\n", // no state: not listed
		"block/md2/md/sync_action":       "reshape\n",
		"block/md2/md/sync_completed":    "delayed\n",
		"block/md2/md/sync_speed":        "fast\n",
		"block/md2/md/uuid_unknown_attr": "x\n",
	})
	got, errs := ReadMDArray(hostfs.New(root), "md2")
	want := MDArray{
		Name: "md2", Level: "raid5", SizeSectors: 15627542528, HasSize: true, State: "clean", RaidDisks: 4,
		Members: []MDMember{
			{Device: "sdd1", Flags: []string{"in_sync"}},
			{Device: "sde1", Flags: []string{"faulty", "write_error"}},
		},
		SyncAction: "reshape", SyncCompleted: 0, HasSyncCompleted: true, SyncCompletedExists: true,
	}
	speedErr := got.SyncSpeedErr
	got.SyncSpeedErr = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadMDArray =\n%+v\nwant\n%+v", got, want)
	}
	if len(errs) != 1 || errs[0].Path != filepath.Join(root, "block", "md2", "md", "degraded") {
		t.Errorf("errors = %v, want one for md/degraded", errs)
	}
	if speedErr == nil || !strings.Contains(speedErr.Error(), `unexpected sync_speed "fast"`) {
		t.Errorf("SyncSpeedErr = %v, want unexpected sync_speed", speedErr)
	}
}

// An array only /proc/mdstat lists reads as all unset, without errors; a
// running one mid-resync reads its progress and speed.
func TestReadMDArrayProgress(t *testing.T) {
	root := t.TempDir()
	plant(t, root, map[string]string{
		"block/md0/md/sync_completed": "1024 / 4096\n",
		"block/md0/md/sync_speed":     "7640\n",
		"block/md0/md/raid_disks":     "0\n",
	})
	got, errs := ReadMDArray(hostfs.New(root), "md0")
	want := MDArray{Name: "md0", SyncCompleted: 0.25, HasSyncCompleted: true, SyncCompletedExists: true,
		SyncSpeedKiB: 7640, HasSyncSpeed: true}
	if !reflect.DeepEqual(got, want) || errs != nil {
		t.Errorf("ReadMDArray = %+v, %v; want %+v", got, errs, want)
	}
	if got, errs := ReadMDArray(hostfs.New(root), "md9"); !reflect.DeepEqual(got, MDArray{Name: "md9"}) || errs != nil {
		t.Errorf("unlisted array: ReadMDArray = %+v, %v; want all unset", got, errs)
	}
}

// MDArrayFrom, given the members and a reader, reads exactly the files
// MDArrayAttrs names and builds what ReadMDArray does: a caller that keeps
// those files open (the mdraid probe) gets the same array. A reader that
// says a file is missing leaves its field unset, sync_completed's
// existence included.
func TestMDArrayFrom(t *testing.T) {
	root := t.TempDir()
	plant(t, root, map[string]string{
		"block/md2/size":              "15627542528\n",
		"block/md2/md/level":          "raid5\n",
		"block/md2/md/array_state":    "clean\n",
		"block/md2/md/raid_disks":     "3\n",
		"block/md2/md/degraded":       "1\n",
		"block/md2/md/dev-sdd1/state": "in_sync\n",
		"block/md2/md/dev-sdf1/state": "spare\n",
		"block/md2/md/sync_action":    "recover\n",
		"block/md2/md/sync_completed": "1024 / 4096\n",
		"block/md2/md/sync_speed":     "7640\n",
	})
	fsys := hostfs.New(root)
	members, errs := MDArrayMembers(fsys, "md2")
	if want := []string{"sdd1", "sdf1"}; !reflect.DeepEqual(members, want) || errs != nil {
		t.Fatalf("MDArrayMembers = %v, %v; want %v", members, errs, want)
	}
	want, _ := ReadMDArray(fsys, "md2")
	var asked []string
	got, errs := MDArrayFrom(fsys, "md2", members, func(name string) ([]byte, error) {
		asked = append(asked, name)
		return fsys.ReadAttr(name)
	})
	if !reflect.DeepEqual(got, want) || errs != nil {
		t.Errorf("MDArrayFrom =\n%+v, %v\nwant\n%+v", got, errs, want)
	}
	slices.Sort(asked)
	attrs := slices.Sorted(slices.Values(MDArrayAttrs("md2", members)))
	if !reflect.DeepEqual(asked, attrs) {
		t.Errorf("MDArrayFrom read %v, MDArrayAttrs names %v", asked, attrs)
	}

	got, errs = MDArrayFrom(fsys, "md2", members, func(name string) ([]byte, error) {
		if strings.HasSuffix(name, "/sync_completed") {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return fsys.ReadAttr(name)
	})
	if got.HasSyncCompleted || got.SyncCompletedExists || errs != nil {
		t.Errorf("sync_completed missing: MDArrayFrom = %+v, %v; want it unset, not there", got, errs)
	}
}
