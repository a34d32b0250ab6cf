package probe

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/format/ipmitool"
	"github.com/hardware-exporter/hardware_exporter/internal/host/ethtool"
	"github.com/hardware-exporter/hardware_exporter/internal/host/sysfs"
)

// hardware_firmware_info is the one firmware inventory: every probe that
// reads a version feeds it, with the same five labels, so that a fleet can
// count hosts per (component, model, version) and find the odd one out
// (deploy/prometheus/rules, HardwareFirmwareDrift). The older *_info
// families keep their own labels for their own probes' detail; this family
// is the one to compare across probes and hosts.
//
// A probe adds a call to firmwareInfo where it already has the version in
// hand. The family is declared here, once, and each probe that emits it
// sends this descriptor from its Describe: the metric cache is one
// collector, and the registry merges one name's series from several probes
// into one family.

// firmwareComponent is a value of the component label. Every value is
// declared below and listed in firmwareComponents, which documents it.
type firmwareComponent string

const (
	firmwareBIOS           firmwareComponent = "bios"
	firmwareBMC            firmwareComponent = "bmc"
	firmwareCPUMicrocode   firmwareComponent = "cpu_microcode"
	firmwareNIC            firmwareComponent = "nic"
	firmwareNICROM         firmwareComponent = "nic_rom"
	firmwareHCA            firmwareComponent = "hca"
	firmwareNVMe           firmwareComponent = "nvme"
	firmwareDisk           firmwareComponent = "disk"
	firmwareRAIDController firmwareComponent = "raid_controller"
	firmwareGPUVBIOS       firmwareComponent = "gpu_vbios"
	firmwareGPUDriver      firmwareComponent = "gpu_driver"
	firmwarePSU            firmwareComponent = "psu"
)

// firmwareComponents is the vocabulary of the component label, with where
// each value comes from and what its other labels hold. docs/metrics.md
// shows it (the descriptor's note).
var firmwareComponents = []struct {
	name  firmwareComponent
	probe string
	what  string
}{
	{firmwareBIOS, "system", "DMI bios_version; vendor bios_vendor, model the system's product_name (a BIOS build is per platform), device empty"},
	{firmwareBMC, "ipmi", "ipmitool mc info Firmware Revision (major.minor); vendor the manufacturer, model the product ID, device empty"},
	{firmwareCPUMicrocode, "cpu", "/proc/cpuinfo microcode; device the package, vendor vendor_id, model model name"},
	{firmwareNIC, "network", "the kernel's ethtool driver info (ETHTOOL_GDRVINFO) fw_version; device the interface, vendor and model the PCI vendor and device IDs; read only when paths.sysfs is /sys, where the kernel answering is the one sysfs shows"},
	{firmwareNICROM, "network", "the same driver info's expansion ROM (boot ROM) version, when the driver reports one"},
	{firmwareHCA, "network", "RDMA device fw_ver (/sys/class/infiniband); device the RDMA device, model its board ID (PSID), else its HCA type"},
	{firmwareNVMe, "storage", "NVMe controller firmware_rev; device the controller, model its model"},
	{firmwareDisk, "storage, raid", "SCSI/SATA disk revision (the ATA Information VPD page's full firmware where present), device the block device, NVMe namespaces left to nvme; and a drive behind a RAID controller (storcli, ssacli), device the controller and the drive's enclosure:slot (`/c0 32:4`, `slot=0 1I:1:1`)"},
	{firmwareRAIDController, "raid", "controller firmware (storcli firmware package, ssacli firmware version); device the tool's name for the controller"},
	{firmwareGPUVBIOS, "gpu", "NVIDIA (nvidia-smi or NVML) and AMD (amdgpu vbios_version) VBIOS; device the PCI address, vendor NVIDIA or AMD, model the product name"},
	{firmwareGPUDriver, "gpu", "NVIDIA driver version (nvidia-smi or NVML); device the PCI address"},
	{firmwarePSU, "ipmi", "a power supply's FRU Product Version, where its FRU states one; device the FRU description"},
}

var firmwareInfoDesc = Inventory(withNote(newDesc("firmware", "info",
	"One inventory of firmware versions fed by every probe that reads one, value 1: component names the part (bios, bmc, nic, disk, ...), device the part on this host.",
	"component", "device", "vendor", "model", "version"), firmwareNote()))

// firmwareNote documents the component vocabulary from the table above.
func firmwareNote() string {
	var b strings.Builder
	b.WriteString("Compare versions across hosts with this family (the fleet's recording rules count hosts per component, model and version); the older `*_info` families keep each probe's own detail. Component values: ")
	for i, c := range firmwareComponents {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString("`" + string(c.name) + "` (" + c.probe + "): " + c.what)
	}
	b.WriteString(". A part whose version is empty or not available (N/A) has no series.")
	return b.String()
}

// firmwareNoValue are the placeholders sources print for "no version":
// nvidia-smi's [N/A], drivers' N/A, ipmitool's Unknown.
var firmwareNoValue = map[string]bool{"": true, "n/a": true, "[n/a]": true, "not available": true, "unknown": true, "none": true}

// firmwareInfo is the hardware_firmware_info series of one part, or none
// when version is empty or a placeholder. Labels are trimmed: fixed-width
// sources (SCSI INQUIRY, ethtool's char arrays) pad with spaces, and a
// padded version would count as another version across the fleet.
func firmwareInfo(c firmwareComponent, device, vendor, model, version string) []prometheus.Metric {
	version = strings.TrimSpace(version)
	if firmwareNoValue[strings.ToLower(version)] {
		return nil
	}
	clean := func(s string) string {
		s = strings.TrimSpace(s)
		if firmwareNoValue[strings.ToLower(s)] {
			return ""
		}
		return s
	}
	return []prometheus.Metric{gauge(firmwareInfoDesc, 1, string(c), clean(device), clean(vendor), clean(model), version)}
}

// nicDriverInfo asks for a network interface's ethtool driver info. The
// daemon's is the running kernel (ethtool.DrvInfoReader); tests give the
// network probe a fake, so that no test asks the host's kernel.
type nicDriverInfo interface {
	DrvInfo(iface string) (ethtool.DrvInfo, error)
}

// openNICDriverInfo returns what the network probe asks for driver info
// this run, and a func to close it; nil when nothing should be asked. The
// ioctl answers for the kernel the exporter runs on, which is the one
// sysfs shows only at /sys: below any other root (a fixture tree, a copy
// of another host's sysfs) the interfaces would be another machine's, so
// their NICs get no firmware series rather than this host's.
func openNICDriverInfo(fake nicDriverInfo, env Env) (nicDriverInfo, func()) {
	if fake != nil {
		return fake, func() {}
	}
	if filepath.Clean(env.Paths.SysFS) != "/sys" {
		return nil, func() {}
	}
	r, err := ethtool.OpenDrvInfo()
	if err != nil {
		env.logger().Debug("no ethtool socket; NIC firmware not read", "err", err)
		return nil, func() {}
	}
	return r, func() { r.Close() }
}

// nicFirmware is the nic and nic_rom series of the interface whose sysfs
// directory is a, when it has a device and a driver that reports its
// firmware. A reply whose bus address is not the sysfs device's is
// another device's (an interface renamed between the two reads) and is
// dropped.
func nicFirmware(a attrs, iface string, r nicDriverInfo) []prometheus.Metric {
	if r == nil {
		return nil
	}
	target, err := a.readlink("device")
	if err != nil {
		return nil // not hardware, or already skipped by networkInterface
	}
	info, err := r.DrvInfo(iface)
	switch {
	case errors.Is(err, ethtool.ErrNotSupported):
		return nil
	case err != nil:
		a.skips.Add(a.path(""), err)
		return nil
	}
	if info.BusInfo != "" && info.BusInfo != networkBusAddress(a, target) {
		return nil
	}
	vendor, _ := a.String("device/vendor")
	model, _ := a.String("device/device")
	dev := labelValue(iface)
	return append(firmwareInfo(firmwareNIC, dev, vendor, model, info.FirmwareVersion),
		firmwareInfo(firmwareNICROM, dev, vendor, model, info.ExpansionROMVersion)...)
}

// hcaFirmware is an RDMA device's hca series: the PSID names the exact
// board (its firmware images are built per PSID), the HCA type only the
// chip.
func hcaFirmware(d sysfs.InfiniBandDevice) []prometheus.Metric {
	model := d.BoardID
	if model == "" {
		model = d.HCAType
	}
	return firmwareInfo(firmwareHCA, labelValue(d.Name), "", labelValue(model), labelValue(d.FirmwareVersion))
}

// biosFirmware is the bios series from the DMI strings the system probe
// read (names and values in the same order).
func biosFirmware(names, values []string) []prometheus.Metric {
	get := func(name string) string {
		if i := slices.Index(names, name); i >= 0 && i < len(values) {
			return values[i]
		}
		return ""
	}
	return firmwareInfo(firmwareBIOS, "", get("bios_vendor"), get("product_name"), get("bios_version"))
}

// psuFirmware is a power supply's psu series, when its FRU states a
// product version.
func psuFirmware(f ipmitool.FRU) []prometheus.Metric {
	if !ipmitool.IsPowerSupply(f) {
		return nil
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := strings.TrimSpace(f.Fields[k]); v != "" {
				return labelValue(v)
			}
		}
		return ""
	}
	return firmwareInfo(firmwarePSU, labelValue(f.Name), first("Product Manufacturer", "Board Mfg"),
		first("Product Name", "Board Product"), first("Product Version"))
}

// nvidiaFirmware is an NVIDIA GPU's gpu_vbios and gpu_driver series, from
// nvidia-smi or NVML alike. address is the kernel's form of its bus ID.
func nvidiaFirmware(address, name, vbios, driver string) []prometheus.Metric {
	return append(firmwareInfo(firmwareGPUVBIOS, address, "NVIDIA", name, vbios),
		firmwareInfo(firmwareGPUDriver, address, "NVIDIA", name, driver)...)
}

// diskFirmware is a block device's disk series. An NVMe namespace's
// firmware is its controller's, which has the nvme series.
func diskFirmware(dev string, id storageIdentity) []prometheus.Metric {
	if strings.HasPrefix(dev, "nvme") {
		return nil
	}
	return firmwareInfo(firmwareDisk, dev, labelValue(id.vendor), labelValue(id.model), labelValue(id.firmware))
}

// raidDriveFirmware is the disk series of a drive behind a RAID
// controller, which the host's block layer does not show: its device is
// the controller and the drive's address there, as the tool names them.
func raidDriveFirmware(ctrl, enclosure, slot, model, firmware string) []prometheus.Metric {
	return firmwareInfo(firmwareDisk, ctrl+" "+enclosure+":"+slot, "", model, firmware)
}
