package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/host/sysfs"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	enclosureInfo = Inventory(withNote(newDesc("enclosure", "info",
		"Disk enclosure the kernel's enclosure class lists, value 1: its logical id and the vendor, model and revision of its SES device.",
		"enclosure", "id", "vendor", "model", "revision"),
		"`enclosure` is the directory name in `/sys/class/enclosure`: for SES, the SCSI address of the enclosure's own device (`11:0:53:0`), as `lsscsi` and `sg_ses` name it. `id` is the enclosure's logical identifier (a SAS address for most JBODs and backplanes)."))
	enclosureComponentStatus = withNote(newDesc("enclosure", "component_status",
		"1 for the enclosure component's current status (OK, critical, non-critical, unrecoverable, not installed, unknown, unavailable, unsupported), 0 for the others.",
		"enclosure", "component", "type", "status"),
		"`component` is the component's directory: the element's descriptor text from SES page 7 (`Drive Slot #24_5000CCA26128B1F5`, `Slot 01`), or its index when the enclosure gives none. Mainline `ses.c` registers only the disk slots (`type` `device` or `array device`): an enclosure's fans, power supplies and temperature elements are not in sysfs, and need `sg_ses` (or the BMC, through the ipmi probe). A component of another type, from another driver, gets the same series with its type. A status the kernel adds later gets a series of its own.")
	enclosureComponentFault = newDesc("enclosure", "component_fault",
		"1 if the enclosure component's fault LED is on (fault), 0 if off; absent when the element has no fault indicator.",
		"enclosure", "component", "type")
	enclosureComponentLocate = newDesc("enclosure", "component_locate",
		"1 if the enclosure component's locate (identify) LED is on (locate), 0 if off; absent when the element has none.",
		"enclosure", "component", "type")
	enclosureComponentActive = newDesc("enclosure", "component_active",
		"1 if the enclosure reports the component active (active), 0 if not; absent when it does not say.",
		"enclosure", "component", "type")
	enclosureSlotInfo = Inventory(withNote(newDesc("enclosure", "slot_info",
		"Disk in an enclosure slot, value 1: the slot's number, the disk's block device, serial and WWN, to join with hardware_storage_device_info on device.",
		"enclosure", "component", "slot", "device", "serial", "wwn"),
		"One series per slot the kernel has matched to a disk (the component's `device` link); an empty slot has none. `slot` is the number the enclosure gives the slot (empty when it gives none); `device` is the block device (`sdw`), or the disk's SCSI address when no block device is bound; `serial` and `wwn` are read as the storage probe reads them, so they equal `hardware_storage_device_info`'s. Join on `device` to add the bay to any disk series: `(hardware_smart_health_passed == 0) * on (instance, device) group_left (enclosure, component, slot) hardware_enclosure_slot_info` names the bay of each failing disk (the smart and storage probes name disks as `sdw` too)."))
)

// enclosureStatuses are the component statuses the kernel prints
// (enclosure_status[] in drivers/misc/enclosure.c).
var enclosureStatuses = []string{"unsupported", "OK", "critical", "non-critical", "unrecoverable",
	"not installed", "unknown", "unavailable"}

func init() {
	Register(Spec{
		Name:      "enclosure",
		Summary:   "Disk enclosures (SES): slot status, fault and locate LEDs, and which disk sits in which bay.",
		Reads:     "`/sys/class/enclosure`: each enclosure's id and SES device (vendor, model, revision), each component's type, status, slot number, fault/locate/active LEDs, and the disk its `device` link leads to (block device, serial from VPD page 0x80, WWN)",
		Privilege: "none",
		Kind:      KindRead,
		// Each status or LED read makes ses.c ask the enclosure for its
		// status page (a SCSI RECEIVE DIAGNOSTIC RESULTS), a few per slot:
		// cheap for the host, but an enclosure answers one at a time, so
		// not every scrape. A slot's fault waits for a disk swap anyway.
		Interval: 5 * time.Minute,
		New:      func() Probe { return enclosureProbe{} },
	})
}

// enclosureProbe reports SES enclosures: the state of each slot and which
// disk is in it, so that an alert can say which bay to pull.
type enclosureProbe struct{}

func (enclosureProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		enclosureInfo, enclosureComponentStatus, enclosureComponentFault,
		enclosureComponentLocate, enclosureComponentActive, enclosureSlotInfo,
	} {
		ch <- d
	}
}

// Available says why the probe has nothing to read: no enclosure class,
// which the kernel creates when the enclosure module loads (ses loads it
// when an SES device appears).
func (enclosureProbe) Available(env Env) error {
	p := "class/enclosure"
	if _, err := hostfs.New(env.Paths.SysFS).Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no %s below %s: no SES enclosure (the ses module is not loaded)", p, env.Paths.SysFS)
		}
		return err
	}
	return nil
}

func (enclosureProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	env = env.Bind(skips)
	sys := env.Sys()
	names, errs := sysfs.EnclosureNames(sys.fs)
	sysfsSkip(skips, errs...)
	var ms []prometheus.Metric
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, errs := sysfs.ReadEnclosure(sys.fs, name)
		sysfsSkip(skips, errs...)
		encl := labelValue(e.Name)
		ms = append(ms, gauge(enclosureInfo, 1, encl, labelValue(e.ID), labelValue(e.Vendor), labelValue(e.Model), labelValue(e.Revision)))
		for _, c := range e.Components {
			ms = append(ms, enclosureComponent(sys, encl, c)...)
		}
	}
	return ms, nil
}

// enclosureComponent maps one component; a slot with a disk also gets the
// disk's identity, read from its block device as the storage probe reads it.
func enclosureComponent(sys attrs, encl string, c sysfs.EnclosureComponent) []prometheus.Metric {
	labels := []string{encl, labelValue(c.Name), labelValue(c.Type)}
	var ms []prometheus.Metric
	if c.Status != "" {
		ms = append(ms, stateSet(enclosureComponentStatus, enclosureStatuses, c.Status, labels...)...)
	}
	for _, led := range []struct {
		d       *prometheus.Desc
		on, has bool
	}{
		{enclosureComponentFault, c.Fault, c.HasFault},
		{enclosureComponentLocate, c.Locate, c.HasLocate},
		{enclosureComponentActive, c.Active, c.HasActive},
	} {
		if led.has {
			ms = append(ms, gauge(led.d, boolValue(led.on), labels...))
		}
	}
	if c.Device == "" {
		return ms
	}
	slot := ""
	if c.HasSlot {
		slot = strconv.FormatInt(c.Slot, 10)
	}
	device := c.Device
	var id storageIdentity
	if c.Block != "" {
		device = c.Block
		id = storageIdentify(sys.sub(c.BlockDir))
	}
	return append(ms, gauge(enclosureSlotInfo, 1, encl, labelValue(c.Name), slot,
		labelValue(device), labelValue(id.serial), labelValue(id.wwn)))
}
