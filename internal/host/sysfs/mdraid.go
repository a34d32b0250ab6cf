package sysfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// MDArray is what sysfs says of one Linux software RAID array: its md/
// directory (Documentation/admin-guide/md.rst) and its block device's size.
// A field whose attribute is missing is unset: zero, with its Has flag
// false where zero is a value.
type MDArray struct {
	Name  string
	Level string // md/level; empty while inactive
	// SizeSectors is the block device's size in 512-byte sectors, 0 while
	// the array is inactive.
	SizeSectors uint64
	HasSize     bool
	State       string // md/array_state
	// RaidDisks is md/raid_disks, the disks the array has slots for (the
	// new number during a reshape); 0 is unset, as for an array not yet
	// configured.
	RaidDisks   uint64
	Degraded    uint64 // md/degraded: slots without a working, in-sync disk
	HasDegraded bool
	// Members are the md/dev-* directories whose state could be read, in
	// name order.
	Members    []MDMember
	SyncAction string // md/sync_action
	// SyncCompleted is md/sync_completed as a ratio: 0 while the action
	// waits its turn ("delayed"); HasSyncCompleted is false when no action
	// runs ("none"). SyncCompletedExists says whether the attribute is
	// there at all, which an older kernel's md/ lacks.
	SyncCompleted       float64
	HasSyncCompleted    bool
	SyncCompletedExists bool
	// SyncSpeedKiB is md/sync_speed in KiB/s; HasSyncSpeed is false while
	// no action runs ("none"). SyncSpeedErr is why it could not be read;
	// it is kept apart from the errors ReadMDArray returns because
	// /proc/mdstat's speed, where it has one, is the better source, and a
	// caller counts it only when it falls back on this one.
	SyncSpeedKiB uint64
	HasSyncSpeed bool
	SyncSpeedErr *Error
}

// MDMember is one member disk of an array: md/dev-NAME/state.
type MDMember struct {
	Device string   // NAME, the block device ("sda1")
	Flags  []string // state's comma-separated flags: in_sync, faulty, spare, write_mostly, ...
}

// MDArrayNames lists the block devices below block/ that have an md/
// directory.
func MDArrayNames(fsys hostfs.FS) ([]string, []Error) {
	var errs []Error
	block := dir{fs: fsys, name: "block", errs: &errs}
	var names []string
	for _, e := range block.entries() {
		if !strings.HasPrefix(e.Name(), "md") {
			continue
		}
		if fi, err := fsys.Stat(path.Join("block", e.Name(), "md")); err == nil && fi.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, errs
}

// ReadMDArray reads the array block/name. It reads attribute by attribute
// rather than as procfs's sysfs.Mdraids does, which stops at the first
// unexpected file and drops every array after it: a kernel without the uuid
// attribute, or sync_completed reading "delayed" while a resync waits for
// another array on the same disks. An array sysfs does not list (one only
// /proc/mdstat shows) reads as all unset.
func ReadMDArray(fsys hostfs.FS, name string) (MDArray, []Error) {
	members, errs := MDArrayMembers(fsys, name)
	r, more := MDArrayFrom(fsys, name, members, nil)
	return r, append(errs, more...)
}

// MDArrayMembers lists the member disks of the array block/name: the
// devices of its md/dev-* directories, in name order.
func MDArrayMembers(fsys hostfs.FS, name string) ([]string, []Error) {
	var errs []Error
	a := dir{fs: fsys, name: path.Join("block", name, "md"), errs: &errs}
	var members []string
	for _, e := range a.entries() {
		if device, ok := strings.CutPrefix(e.Name(), "dev-"); ok {
			members = append(members, device)
		}
	}
	return members, errs
}

// MDArrayAttrs are the attributes, below fsys's root, that MDArrayFrom
// reads for the array block/name with these members: a caller that keeps
// them open (the mdraid probe) opens these.
func MDArrayAttrs(name string, members []string) []string {
	dev := path.Join("block", name)
	names := []string{path.Join(dev, "size")}
	for _, a := range mdArrayAttrs {
		names = append(names, path.Join(dev, "md", a))
	}
	for _, m := range members {
		names = append(names, path.Join(dev, "md", "dev-"+m, "state"))
	}
	return names
}

// mdArrayAttrs are the md/ attributes of an array MDArrayFrom reads.
var mdArrayAttrs = []string{"level", "array_state", "raid_disks", "degraded", "sync_action", "sync_completed", "sync_speed"}

// MDArrayFrom is ReadMDArray given the array's members (MDArrayMembers)
// and a reader of its attributes: read(name) returns the content of name
// below fsys's root (one of MDArrayAttrs) as fsys.ReadAttr would, a missing
// file matching fs.ErrNotExist; nil reads with fsys.ReadAttr. The bytes
// read returns are not kept past the call, so a reader may reuse a buffer.
// A member is one whose state reads non-empty.
func MDArrayFrom(fsys hostfs.FS, name string, members []string, read func(name string) ([]byte, error)) (MDArray, []Error) {
	var errs []Error
	dev := dir{fs: fsys, name: path.Join("block", name), errs: &errs, read: read}
	a := dev.sub("md")
	r := MDArray{Name: name}
	r.Level, _ = a.String("level")
	r.SizeSectors, r.HasSize = dev.Uint("size")
	r.State, _ = a.String("array_state")
	r.RaidDisks = mdRaidDisks(a)
	r.Degraded, r.HasDegraded = a.Uint("degraded")
	for _, device := range members {
		if state, ok := a.sub("dev-" + device).String("state"); ok {
			r.Members = append(r.Members, MDMember{Device: device, Flags: strings.Split(state, ",")})
		}
	}
	r.SyncAction, _ = a.String("sync_action")
	var exists bool
	r.SyncCompleted, r.HasSyncCompleted, exists = mdSyncCompleted(a)
	r.SyncCompletedExists = r.HasSyncCompleted || exists

	var speedErrs []Error
	speed := a
	speed.errs = &speedErrs
	r.SyncSpeedKiB, r.HasSyncSpeed = mdSyncSpeed(speed)
	if len(speedErrs) > 0 {
		r.SyncSpeedErr = &speedErrs[0]
	}
	return r, errs
}

// mdRaidDisks reads md/raid_disks: a number, or during a reshape the new
// and old numbers, "4 (3)"; the new one is what the array will need.
func mdRaidDisks(a dir) uint64 {
	s, ok := a.String("raid_disks")
	if !ok {
		return 0
	}
	first, _, _ := strings.Cut(s, " ")
	n, err := strconv.ParseUint(first, 10, 64)
	if err != nil {
		a.fail("raid_disks", err)
		return 0
	}
	return n
}

// mdSyncCompleted reads md/sync_completed: "none" when no action runs,
// "delayed" while one waits its turn, else sectors done and sectors to do,
// "1024 / 2048".
// exists says whether the file is there, which an older kernel's md/
// lacks: anything but a missing file (an empty one, one that cannot be
// read) is there.
func mdSyncCompleted(a dir) (v float64, ok, exists bool) {
	b, err := a.readAttr(a.rel("sync_completed"))
	exists = !errors.Is(err, fs.ErrNotExist)
	s, ok, err := stringOf(b, err)
	if err != nil {
		a.fail("sync_completed", err)
	}
	if !ok {
		return 0, false, exists
	}
	switch s {
	case "none":
		return 0, false, true
	case "delayed":
		return 0, true, true
	}
	var done, total uint64
	if _, err := fmt.Sscanf(s, "%d / %d", &done, &total); err != nil || total == 0 || done > total {
		a.fail("sync_completed", fmt.Errorf("unexpected sync_completed %q", s))
		return 0, false, true
	}
	return float64(done) / float64(total), true, true
}

// mdSyncSpeed reads md/sync_speed, KiB/s: "none" while no action runs.
func mdSyncSpeed(a dir) (uint64, bool) {
	s, ok := a.String("sync_speed")
	if !ok || s == "none" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		a.fail("sync_speed", fmt.Errorf("unexpected sync_speed %q", s))
		return 0, false
	}
	return v, true
}
