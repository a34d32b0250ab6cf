package probe

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Device is one piece of hardware a probe saw, for the missing-device guard
// (internal/daemon/devguard) and the log of inventory changes.
type Device struct {
	// Key names the device where it sits, in a form that does not change
	// while it stays there: a PCI address, a slot or locator, a serial.
	Key string
	// Detail is what else tells it apart for a person: model, serial,
	// interface name. It may change while Key stays (a disk swapped in
	// the same slot); "" when there is nothing more to say.
	Detail string
}

// DeviceClass is what one successful run saw of a class of devices.
type DeviceClass struct {
	Devices []Device // sorted by Key, Keys unique
	// Count is how many devices of the class there are: len(Devices), or
	// a number for a class known only as one (cores, threads).
	Count int
}

// deviceRule maps the series of one descriptor to devices. The guard's
// classes are declared here and only here: each rule reads series a probe
// already exports, so a probe needs no code of its own to take part.
type deviceRule struct {
	desc *prometheus.Desc
	// device returns the class a series counts in, the device it names
	// (Key "" for a class known only by number) and how many devices it
	// stands for (1, or the value of a count series); ok false when the
	// series names no device.
	device func(l map[string]string, v float64) (class string, d Device, n int, ok bool)
}

var deviceRules = []deviceRule{
	{pciDeviceInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		// Display controllers (class 0x03: VGA, 3D, other), by vendor; a
		// BMC's VGA counts under gpu_pci_other.
		if !strings.HasPrefix(l["class_id"], "0x03") {
			return "", Device{}, 0, false
		}
		return "gpu_pci_" + gpuVendor(l["vendor_id"]), Device{l["address"], l["device"]}, 1, true
	}},
	{gpuInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		return ClassNVIDIAGPU, Device{l["pci_bus_id"], join(l["name"], l["serial"])}, 1, true
	}},
	{gpuAMDInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		return "gpu_amd", Device{l["address"], join(l["card"], l["unique_id"])}, 1, true
	}},
	{gpuAMDSuspended, func(l map[string]string, _ float64) (string, Device, int, bool) {
		// A runtime-suspended GPU has no info series, but this one: it is
		// asleep, not gone.
		return "gpu_amd", Device{l["address"], ""}, 1, true
	}},
	{memoryModuleInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		return "dimm", Device{join(l["bank"], l["locator"]), join(l["part_number"], l["serial"])}, 1, true
	}},
	{memoryDIMMInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		return "dimm_edac", Device{l["controller"] + "/" + l["dimm"], l["label"]}, 1, true
	}},
	{storageDeviceInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		// By serial (or WWN): kernel names such as sda may be handed out
		// in another order at the next boot.
		return "disk", Device{first(l["serial"], l["wwn"], l["device"]), join(l["device"], l["model"])}, 1, true
	}},
	{storageNVMeControllerInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		return "nvme", Device{first(l["address"], l["serial"], l["controller"]), join(l["controller"], l["model"], l["serial"])}, 1, true
	}},
	{raidPDInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		slot := l["enclosure"] + ":" + l["slot"]
		return "raid_pd_" + token(l["controller"]), Device{l["controller"] + " " + slot, join(l["model"], l["serial"])}, 1, true
	}},
	{networkInterfaceInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		// The address and the interface: two ports may share one PCI
		// function (mlx4, cxgb4), so the address alone would count one.
		return "nic", Device{join(first(l["address"], l["mac"]), l["interface"]), l["mac"]}, 1, true
	}},
	{networkInterfaceSpeed, func(l map[string]string, v float64) (string, Device, int, bool) {
		// One class per negotiated speed: a link that falls from 25 to
		// 10 Gb/s leaves nic_link_25g one short.
		return "nic_link_" + linkSpeed(v), Device{l["interface"], ""}, 1, true
	}},
	{ipmiFRUInfo, func(l map[string]string, _ float64) (string, Device, int, bool) {
		if !isPSU(l["fru"]) && !isPSU(l["board_product"]) && !isPSU(l["product_name"]) {
			return "", Device{}, 0, false
		}
		return "psu", Device{l["fru"], join(l["board_product"], first(l["product_serial"], l["board_serial"]))}, 1, true
	}},
	{ipmiSensorState, func(l map[string]string, _ float64) (string, Device, int, bool) {
		// A sensor without a reading has no series: a PSU pulled from its
		// bay usually leaves its sensors unread.
		if l["type"] != "power_supply" {
			return "", Device{}, 0, false
		}
		return "psu_sensor", Device{l["sensor"], ""}, 1, true
	}},
	{cpuInfoDesc, func(l map[string]string, _ float64) (string, Device, int, bool) {
		return "cpu_package", Device{"package " + l["package"], l["model_name"]}, 1, true
	}},
	{cpuCores, func(_ map[string]string, v float64) (string, Device, int, bool) {
		return "cpu_core", Device{}, countOf(v), true
	}},
	{cpuThreads, func(_ map[string]string, v float64) (string, Device, int, bool) {
		return "cpu_thread", Device{}, countOf(v), true
	}},
}

// ClassNVIDIAGPU is the class of the GPUs nvidia-smi (or NVML) lists; the
// guard compares it with gpu_pci_nvidia, the NVIDIA display controllers on
// PCI.
const (
	ClassNVIDIAGPU    = "gpu_nvidia"
	ClassNVIDIAGPUPCI = "gpu_pci_nvidia"
	// ClassMemoryKernel is the memory the kernel manages (MemTotal) in
	// modules of the host's usual size, rounded: a module the firmware
	// mapped out at boot leaves it one short.
	ClassMemoryKernel = "memory_kernel"
)

var deviceRuleOf = func() map[*prometheus.Desc]deviceRule {
	m := map[*prometheus.Desc]deviceRule{}
	for _, r := range deviceRules {
		m[r.desc] = r
	}
	return m
}()

// DeviceClasses returns, per class, the devices the successful result ms
// of one probe run saw. Only a probe's own series count, so a class always
// comes from one probe. It runs once per stored result, never on a scrape.
func DeviceClasses(ms []prometheus.Metric) map[string]DeviceClass {
	var classes map[string]DeviceClass
	add := func(class string, d Device, n int) {
		if classes == nil {
			classes = map[string]DeviceClass{}
		}
		c := classes[class]
		if d.Key != "" {
			c.Devices = append(c.Devices, d) // counted once each, below
		} else {
			c.Count += n
		}
		classes[class] = c
	}
	var memTotal float64
	var moduleSizes []float64
	for _, m := range ms {
		desc := m.Desc()
		switch desc {
		case memoryTotalBytes, memoryModuleSize:
			var d dto.Metric
			if m.Write(&d) != nil {
				continue
			}
			if desc == memoryTotalBytes {
				memTotal = d.GetGauge().GetValue()
			} else if v := d.GetGauge().GetValue(); v > 0 {
				moduleSizes = append(moduleSizes, v)
			}
			continue
		}
		r, ok := deviceRuleOf[desc]
		if !ok {
			continue
		}
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		l := make(map[string]string, len(d.GetLabel()))
		for _, p := range d.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		v := d.GetGauge().GetValue() + d.GetCounter().GetValue() + d.GetUntyped().GetValue()
		if class, dev, n, ok := r.device(l, v); ok {
			add(class, dev, n)
		}
	}
	if memTotal > 0 && len(moduleSizes) > 0 {
		// MemTotal is installed memory less what firmware and the kernel
		// reserve (a few percent), so rounding to whole modules of the
		// median size absorbs the reserve while one module's loss shows.
		sort.Float64s(moduleSizes)
		add(ClassMemoryKernel, Device{}, int(math.Round(memTotal/moduleSizes[len(moduleSizes)/2])))
	}
	for name, c := range classes {
		c.Devices = uniqueDevices(c.Devices)
		c.Count += len(c.Devices)
		classes[name] = c
	}
	return classes
}

// uniqueDevices sorts ds by Key and keeps one of each Key, the one that
// says the most, so that two series naming one device count it once.
func uniqueDevices(ds []Device) []Device {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Key != ds[j].Key {
			return ds[i].Key < ds[j].Key
		}
		return len(ds[i].Detail) > len(ds[j].Detail)
	})
	out := ds[:0]
	for i, d := range ds {
		if i > 0 && d.Key == ds[i-1].Key {
			continue
		}
		out = append(out, d)
	}
	return out
}

func gpuVendor(id string) string {
	switch id {
	case "0x10de":
		return "nvidia"
	case "0x1002":
		return "amd"
	case "0x8086":
		return "intel"
	}
	return "other"
}

// psuName matches the names BMCs give power supply FRUs: "PS1 (ID 2)",
// "PSU2", "Power Supply 1", Dell's "PWR SPLY,1400W,RDNT".
var psuName = regexp.MustCompile(`(?i)^(ps|psu|pws)[ _-]?\d|power ?supply|pwr ?sply`)

func isPSU(s string) bool { return psuName.MatchString(s) }

// linkSpeed names a speed in bytes per second as the class suffix: "25g",
// "100m".
func linkSpeed(bytesPerSecond float64) string {
	mbps := int64(math.Round(bytesPerSecond * 8 / 1e6))
	if mbps >= 1000 && mbps%1000 == 0 {
		return strconv.FormatInt(mbps/1000, 10) + "g"
	}
	return strconv.FormatInt(mbps, 10) + "m"
}

// token keeps the letters and digits of s, lower case: "/c0" is "c0",
// "slot=0" "slot0".
func token(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

func countOf(v float64) int {
	if v < 0 || math.IsNaN(v) || v > 1<<20 {
		return 0
	}
	return int(v)
}

// first returns the first of ss that is not empty.
func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// join joins the non-empty ss with spaces.
func join(ss ...string) string {
	var parts []string
	for _, s := range ss {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}
