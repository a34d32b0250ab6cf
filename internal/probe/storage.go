package probe

import (
	"context"
	"errors"
	"io/fs"
	"regexp"

	"github.com/hardware-exporter/hardware_exporter/internal/format/scsi"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	storageDeviceInfo = Inventory(newDesc("storage", "device_info",
		"Block device backed by hardware, value 1. Serial is empty when the device does not report one; wwn is the kernel's wwid (naa., eui., t10. prefixed).",
		"device", "model", "vendor", "serial", "firmware", "wwn"))
	storageDeviceSize = Inventory(newDesc("storage", "device_size_bytes",
		"Capacity of the block device.", "device"))
	storageDeviceRotational = newDesc("storage", "device_rotational",
		"1 if the kernel treats the block device as rotational (a spinning disk), 0 if not (queue/rotational).", "device")
	storageDeviceLogicalBlockSize = newDesc("storage", "device_logical_block_size_bytes",
		"Smallest unit the block device addresses (queue/logical_block_size).", "device")
	storageDevicePhysicalBlockSize = newDesc("storage", "device_physical_block_size_bytes",
		"Smallest unit the block device writes without a read-modify-write (queue/physical_block_size).", "device")

	storageNVMeControllerInfo = Inventory(newDesc("storage", "nvme_controller_info",
		"NVMe controller, value 1; address is the transport address (the PCI address for pcie).",
		"controller", "model", "serial", "firmware", "transport", "address"))
	storageNVMeControllerState = newDesc("storage", "nvme_controller_state",
		"1 for the NVMe controller's current state, 0 for the others; live is the only state in which it serves I/O.",
		"controller", "state")
	storageNVMeNamespaceCapacity = Inventory(newDesc("storage", "nvme_namespace_capacity_bytes",
		"Capacity of the NVMe namespace.", "controller", "namespace"))
)

// storageNVMeStates are the controller states the kernel reports
// (nvme_sysfs_show_state). Each gets a series so that an alert can test for
// "live == 0" without the series vanishing in between.
var storageNVMeStates = []string{"new", "live", "resetting", "connecting", "deleting", "deleting (no IO)", "dead"}

// storageNVMeNamespace matches the namespace directories below a controller:
// nvme0n1, and nvme0c0n1 for a path of a multipath namespace.
var storageNVMeNamespace = regexp.MustCompile(`^nvme[0-9]+(c[0-9]+)?n[0-9]+$`)

func init() {
	Register(Spec{
		Name:      "storage",
		Summary:   "Block devices and NVMe controllers and namespaces: models, serials, firmware, sizes.",
		Reads:     "every physical block device in `/sys/block` (size, model, vendor, serial from VPD page 0x80 or the disk's own `serial` (virtio), firmware, rotational, block sizes, WWN) and `/sys/class/nvme` controllers and namespaces (model, serial, firmware, state, capacity)",
		Privilege: "none",
		Options:   func() any { return newStorageOptions() },
		New:       func() Probe { return storageProbe{} },
	})
}

// StorageOptions are the storage probe's filters (probes.storage.*),
// named as node_exporter's --collector.diskstats.device-* flags. A device
// filtered out is not read at all.
type StorageOptions struct {
	DeviceInclude confval.Regexp `yaml:"device_include" flag:"device-include" help:"Regular expression on device names: /sys/block entries (sda, nvme0n1), NVMe controllers (nvme0) and namespaces (nvme0n1). Read only those that match. Empty: all."`
	DeviceExclude confval.Regexp `yaml:"device_exclude" flag:"device-exclude" help:"Regular expression on device names: skip those that match. Empty: none."`
}

func newStorageOptions() *StorageOptions { return &StorageOptions{} }

// keep says whether o lets the device called name be read.
func (o *StorageOptions) keep(name string) bool {
	return o.DeviceInclude.MatchOr(name, true) && !o.DeviceExclude.MatchOr(name, false)
}

// storageProbe lists block devices backed by hardware and NVMe controllers.
type storageProbe struct{}

func (storageProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		storageDeviceInfo, storageDeviceSize, storageDeviceRotational,
		storageDeviceLogicalBlockSize, storageDevicePhysicalBlockSize,
		storageNVMeControllerInfo, storageNVMeControllerState, storageNVMeNamespaceCapacity, firmwareInfoDesc,
	} {
		ch <- d
	}
}

func (p storageProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Every Linux host has /sys/block, if only with loop devices: without
	// it the sysfs root is wrong, and the run says nothing.
	block := env.Sys("block")
	devices, err := block.fs.ReadDir(block.dir)
	if err != nil {
		return nil, err
	}
	o := optionsOf(env, newStorageOptions)
	var ms []prometheus.Metric
	for _, dev := range devices {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !o.keep(dev.Name()) {
			continue
		}
		ms = append(ms, p.blockDevice(block.sub(dev.Name()), dev.Name())...)
	}
	nvme, err := p.nvmeControllers(ctx, env, o)
	if err != nil {
		return nil, err
	}
	return append(ms, nvme...), nil
}

// blockDevice reads one entry of /sys/block. Virtual devices (loop, dm-,
// md, ram, zram) have no device link and are passed over: they are not
// hardware, and md arrays have a probe of their own.
//
// size, rotational and the block sizes are read attribute by attribute
// rather than through procfs's blockdevice, which reads them with
// os.ReadFile (a 1 GiB size file would be read whole) and whose
// SysBlockDeviceQueueStats fails if any one of some thirty queue
// attributes is missing, and which exist depends on the kernel version.
func (p storageProbe) blockDevice(dir attrs, dev string) []prometheus.Metric {
	if _, err := dir.stat("device"); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			dir.skips.Add(dir.path("device"), err)
		}
		return nil
	}
	name := labelValue(dev)
	id := storageIdentify(dir)
	ms := []prometheus.Metric{gauge(storageDeviceInfo, 1,
		name, labelValue(id.model), labelValue(id.vendor), labelValue(id.serial), labelValue(id.firmware), labelValue(id.wwn))}
	ms = append(ms, diskFirmware(name, id)...)

	// The block layer counts 512-byte sectors whatever the device's
	// logical block size.
	if sectors, ok := dir.Uint("size"); ok {
		ms = append(ms, gauge(storageDeviceSize, float64(sectors)*512, name))
	}
	q := dir.sub("queue")
	if rot, ok := q.Uint("rotational"); ok {
		ms = append(ms, gauge(storageDeviceRotational, float64(rot), name))
	}
	if v, ok := q.Uint("logical_block_size"); ok {
		ms = append(ms, gauge(storageDeviceLogicalBlockSize, float64(v), name))
	}
	if v, ok := q.Uint("physical_block_size"); ok {
		ms = append(ms, gauge(storageDevicePhysicalBlockSize, float64(v), name))
	}
	return ms
}

// storageIdentity is what a block device says about itself.
type storageIdentity struct {
	model, vendor, serial, firmware, wwn string
}

// storageIdentify reads a block device's identity from its device
// directory: the SCSI device for sd (vendor, model, rev, VPD pages), the
// controller for NVMe namespaces (model, serial, firmware_rev). procfs has
// no parser for these.
func storageIdentify(blockDir attrs) storageIdentity {
	dev := blockDir.sub("device")
	var id storageIdentity
	id.model, _ = dev.String("model")
	id.vendor, _ = dev.String("vendor")
	if id.firmware, _ = dev.String("firmware_rev"); id.firmware == "" { // NVMe controller
		id.firmware, _ = dev.String("rev") // SCSI INQUIRY revision
	}
	if id.serial, _ = dev.String("serial"); id.serial == "" {
		// sd devices have no serial attribute: the Unit Serial Number VPD
		// page holds it.
		id.serial = storageVPDSerial(dev)
	}
	if id.serial == "" {
		// virtio-blk, and SCSI hosts that fill no VPD page, put the serial
		// on the disk itself (/sys/block/vda/serial).
		id.serial, _ = blockDir.String("serial")
	}
	// Namespaces have their wwid on the block device, SCSI devices on the
	// SCSI device.
	if id.wwn, _ = blockDir.String("wwid"); id.wwn == "" {
		id.wwn, _ = dev.String("wwid")
	}
	// SCSI INQUIRY cuts an ATA disk's model to 16 characters and its
	// firmware to 4 ("SAMSUNG MZ7L3480", "404Q"): the ATA Information VPD
	// page carries the IDENTIFY data with the whole strings.
	if model, firmware, ok := storageVPDATA(dev); ok {
		id.model, id.firmware = model, firmware
	}
	return id
}

// storageVPDSerial returns the serial number from the Unit Serial Number VPD
// page. A missing page is "" with no skip; a malformed one is "" and a skip.
func storageVPDSerial(dev attrs) string {
	b, ok := dev.read("vpd_pg80")
	if !ok {
		return ""
	}
	serial, err := scsi.UnitSerialNumber(b)
	if err != nil {
		dev.skips.Add(dev.path("vpd_pg80"), err)
	}
	return serial
}

// storageVPDATA returns the model and firmware of an ATA disk behind a SAT
// layer (libata) from vpd_pg89, kernels 5.19 and later. Devices that are not
// ATA have no such page, which is not a skip; neither is a page holding
// IDENTIFY PACKET DEVICE data (an ATAPI drive).
func storageVPDATA(dev attrs) (model, firmware string, ok bool) {
	b, ok := dev.read("vpd_pg89")
	if !ok {
		return "", "", false
	}
	model, firmware, ok, err := scsi.ATAIdentity(b)
	if err != nil {
		dev.skips.Add(dev.path("vpd_pg89"), err)
	}
	return model, firmware, ok
}

// nvmeControllers reads /sys/class/nvme. procfs's NVMeClass parses it but
// fails for every controller when one attribute of one is missing (state
// and cntlid are absent on older kernels, such as RHEL 7's), turns a
// malformed namespace size into 0, and lacks transport and address: read
// attribute by attribute instead, so that one bad file costs one series.
func (p storageProbe) nvmeControllers(ctx context.Context, env Env, o *StorageOptions) ([]prometheus.Metric, error) {
	class := env.Sys("class/nvme")
	var ms []prometheus.Metric
	for _, ctrl := range class.indexed("nvme") {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !o.keep(ctrl) {
			continue
		}
		a := class.sub(ctrl)
		model, _ := a.String("model")
		serial, _ := a.String("serial")
		firmware, _ := a.String("firmware_rev")
		transport, _ := a.String("transport")
		address, _ := a.String("address")
		ms = append(ms, gauge(storageNVMeControllerInfo, 1,
			ctrl, labelValue(model), labelValue(serial), labelValue(firmware), labelValue(transport), labelValue(address)))
		ms = append(ms, firmwareInfo(firmwareNVMe, ctrl, "", labelValue(model), labelValue(firmware))...)

		if state, ok := a.String("state"); ok {
			ms = append(ms, stateSet(storageNVMeControllerState, storageNVMeStates, state, ctrl)...)
		}

		for _, e := range a.entries() {
			if !storageNVMeNamespace.MatchString(e.Name()) || !o.keep(e.Name()) {
				continue
			}
			if size, ok := a.sub(e.Name()).Uint("size"); ok {
				// The block layer counts 512-byte sectors whatever the
				// namespace's LBA format.
				ms = append(ms, gauge(storageNVMeNamespaceCapacity, float64(size)*512, ctrl, e.Name()))
			}
		}
	}
	return ms, nil
}
