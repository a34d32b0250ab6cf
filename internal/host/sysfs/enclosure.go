package sysfs

import (
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// Enclosure is what sysfs says of one enclosure the kernel's enclosure
// class lists (/sys/class/enclosure/NAME; drivers/misc/enclosure.c, and
// drivers/scsi/ses.c, which registers the SCSI Enclosure Services ones).
type Enclosure struct {
	// Name is the class directory's name: for SES, the SCSI address of
	// the enclosure's own device ("11:0:53:0").
	Name string
	// ID is the id attribute, the enclosure's logical identifier ("0x500..."
	// for SES); empty when the driver gives none.
	ID string
	// Vendor, Model and Revision are the INQUIRY strings of the device the
	// enclosure hangs on (its device link: vendor, model, rev).
	Vendor, Model, Revision string
	// Components are the directories below the enclosure with a type
	// attribute, in name order.
	Components []EnclosureComponent
}

// EnclosureComponent is one component of an enclosure. Mainline ses.c
// registers only the device slots (type "device" or "array device");
// other types are read the same way where a driver registers them.
type EnclosureComponent struct {
	// Name is the directory's name: the element's descriptor text from SES
	// page 7 ("Drive Slot #24_5000CCA26128B1F5"), or its index when the
	// enclosure gives no descriptors.
	Name   string
	Type   string // type: "device", "array device", ...
	Status string // status: "OK", "critical", "not installed", ... (empty when unreadable)
	// Slot is the slot attribute, the number the enclosure gives the slot;
	// HasSlot is false when it is missing or negative (the kernel's "no
	// slot number").
	Slot    int64
	HasSlot bool
	// Fault, Locate and Active are the LEDs (1 on, 0 off); a Has flag is
	// false when the attribute is missing or unreadable (an enclosure
	// whose element has no such control answers the read with an error).
	Fault, Locate, Active          bool
	HasFault, HasLocate, HasActive bool
	// Device names what sits in the slot: the last element of the
	// component's device link, the disk's SCSI address ("11:0:8:0"). Empty
	// when the slot is empty or the kernel has not matched its device.
	Device string
	// Block is the block device of Device ("sdw") and BlockDir its
	// directory below the root, reached through the device link; both
	// empty when it has none (no disk driver bound).
	Block, BlockDir string
}

// EnclosureNames lists the enclosures below class/enclosure, in name order.
// A host without the class (no enclosure driver loaded) has none.
func EnclosureNames(fsys hostfs.FS) ([]string, []Error) {
	var errs []Error
	class := dir{fs: fsys, name: "class/enclosure", errs: &errs}
	var names []string
	for _, e := range class.entries() {
		names = append(names, e.Name())
	}
	return names, errs
}

// ReadEnclosure reads class/enclosure/name attribute by attribute: one
// unreadable LED costs that LED, not the slot.
func ReadEnclosure(fsys hostfs.FS, name string) (Enclosure, []Error) {
	var errs []Error
	d := dir{fs: fsys, name: path.Join("class/enclosure", name), errs: &errs}
	e := Enclosure{Name: name}
	e.ID, _ = d.String("id")
	dev := d.sub("device")
	e.Vendor, _ = dev.String("vendor")
	e.Model, _ = dev.String("model")
	e.Revision, _ = dev.String("rev")
	for _, c := range d.entries() {
		// Components are directories holding a type attribute; the
		// enclosure's other entries are links (device, subsystem) and
		// power/.
		if !c.IsDir() || !fsys.Exists(d.rel(path.Join(c.Name(), "type"))) {
			continue
		}
		e.Components = append(e.Components, readComponent(fsys, d.sub(c.Name())))
	}
	return e, errs
}

func readComponent(fsys hostfs.FS, d dir) EnclosureComponent {
	c := EnclosureComponent{Name: path.Base(d.name)}
	c.Type, _ = d.String("type")
	c.Status, _ = d.String("status")
	if s, ok := d.String("slot"); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil:
			d.fail("slot", err)
		case n >= 0:
			c.Slot, c.HasSlot = n, true
		}
	}
	c.Fault, c.HasFault = led(d, "fault")
	c.Locate, c.HasLocate = led(d, "locate")
	c.Active, c.HasActive = led(d, "active")

	target, err := fsys.Readlink(d.rel("device"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c // an empty slot has no device link
	case err != nil:
		d.fail("device", err)
		return c
	}
	c.Device = path.Base(target)
	for _, b := range d.sub("device/block").entries() {
		c.Block = b.Name()
		c.BlockDir = d.rel("device/block/" + b.Name())
		break
	}
	return c
}

// led reads an LED attribute: "0" or "1" (the kernel prints an int; any
// value but 0 is on).
func led(d dir, name string) (on, ok bool) {
	s, ok := d.String(name)
	if !ok {
		return false, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		d.fail(name, err)
		return false, false
	}
	return n != 0, true
}
