package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	pciDeviceInfo = Inventory(newDesc("pci", "device_info",
		"PCI device, value 1. IDs are hex as sysfs spells them; vendor, device and class are names from the pci.ids database, empty when it lacks them or is not installed; driver is empty when none is bound.",
		"address", "vendor_id", "device_id", "subsystem_vendor_id", "subsystem_device_id", "class_id", "revision",
		"vendor", "device", "class", "driver"))
	pciDeviceNUMANode = Inventory(newDesc("pci", "device_numa_node",
		"NUMA node the device is attached to; absent when the platform reports none.", "address"))
	pciLinkSpeed = newDesc("pci", "link_speed_transfers_per_second",
		"Speed the PCIe link trained at, per lane (16 GT/s is 16e9). Devices save power by training down, GPUs at idle for one; absent while the link is down.", "address")
	pciLinkMaxSpeed = Inventory(newDesc("pci", "link_max_speed_transfers_per_second",
		"Highest speed the device's PCIe link supports, per lane.", "address"))
	pciLinkWidth = newDesc("pci", "link_width",
		"Lanes the PCIe link trained with; below hardware_pci_link_max_width means a degraded link (bad seating, riser, slot); absent while the link is down.", "address")
	pciLinkMaxWidth = Inventory(newDesc("pci", "link_max_width",
		"Most lanes the device's PCIe link supports.", "address"))
)

func init() {
	Register(Spec{
		Name:      "pci",
		Summary:   "PCI devices (IDs, names from pci.ids), link speed and width, NUMA node.",
		Reads:     "every device in `/sys/bus/pci/devices` (IDs, driver, NUMA node, link speed and width, current and maximum) with names from `pci.ids` under the root fs (`/usr/share/misc/pci.ids`, `/usr/share/hwdata/pci.ids`)",
		Privilege: "none",
		New:       func() Probe { return pciProbe{} },
	})
}

// pciProbe reports every PCI device with its IDs, names, NUMA node and
// PCIe link.
//
// It reads sysfs itself rather than through procfs' PciDevices, which fails
// for every device when one attribute of one device does not parse (a
// malformed link speed must cost that one series) and does not read the
// driver link.
type pciProbe struct {
	paths Paths
}

func (pciProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		pciDeviceInfo, pciDeviceNUMANode, pciLinkSpeed, pciLinkMaxSpeed, pciLinkWidth, pciLinkMaxWidth,
	} {
		ch <- d
	}
}

func (p pciProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	p.paths = env.Paths // this run's settings, on this run's copy of p
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	devicesDir := filepath.Join(p.paths.SysFS, "bus/pci/devices")
	entries := readDir(devicesDir, skips)
	if len(entries) == 0 {
		return nil, nil // no PCI bus (some VMs, containers without /sys/bus)
	}
	ids := pciLoadIDs(p.paths.RootFS, skips)
	var ms []prometheus.Metric
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ms = append(ms, pciDevice(filepath.Join(devicesDir, e.Name()), e.Name(), ids, skips)...)
	}
	return ms, nil
}

// pciIDsPaths are where distributions install pci.ids, below the root:
// Debian and Ubuntu (misc), Fedora, RHEL and Arch (hwdata), and the
// pciutils default for a build from source.
var pciIDsPaths = []string{"usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids"}

// pciLoadIDs reads the first pci.ids found. None installed means no names,
// which is not an error; a malformed line costs that line (one skip for the
// file).
func pciLoadIDs(root string, skips *Skips) *pciIDs {
	for _, rel := range pciIDsPaths {
		path := filepath.Join(root, rel)
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			skips.Add(path, err)
			continue
		}
		ids, err := pciParseIDs(f)
		f.Close()
		if err != nil {
			skips.Add(path, err)
		}
		return ids
	}
	return &pciIDs{}
}

// pciDevice reads one device directory.
func pciDevice(dir, address string, ids *pciIDs, skips *Skips) []prometheus.Metric {
	a := attrs{dir: dir, skips: skips}
	addr := labelValue(address)
	var ms []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64) {
		ms = append(ms, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, addr))
	}

	// Every PCI device has these; one that does not parse costs the info
	// series, since a half-filled identity would be a different device.
	hex := func(name string, bits int) (uint64, string, bool) {
		s, ok := a.String(name)
		if !ok {
			return 0, "", false
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, bits)
		if err != nil {
			skips.Add(filepath.Join(dir, name), err)
			return 0, "", false
		}
		return v, fmt.Sprintf("0x%0*x", bits/4, v), true
	}
	vendor, vendorID, ok1 := hex("vendor", 16)
	device, deviceID, ok2 := hex("device", 16)
	_, subVendorID, ok3 := hex("subsystem_vendor", 16)
	_, subDeviceID, ok4 := hex("subsystem_device", 16)
	class, classID, ok5 := hex("class", 24)
	_, revision, ok6 := hex("revision", 8)
	if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 {
		driver := ""
		if t, err := os.Readlink(filepath.Join(dir, "driver")); err == nil {
			driver = filepath.Base(t)
		} else if !errors.Is(err, fs.ErrNotExist) {
			skips.Add(filepath.Join(dir, "driver"), err)
		}
		ms = append(ms, prometheus.MustNewConstMetric(pciDeviceInfo, prometheus.GaugeValue, 1,
			addr, vendorID, deviceID, subVendorID, subDeviceID, classID, revision,
			labelValue(ids.vendor(uint16(vendor))), labelValue(ids.device(uint16(vendor), uint16(device))),
			labelValue(ids.class(uint32(class))), labelValue(driver)))
	}

	if node, ok := a.Int("numa_node"); ok && node >= 0 {
		gauge(pciDeviceNUMANode, float64(node))
	}

	// Conventional PCI devices and integrated endpoints have no link
	// attributes. A link that is down reads "Unknown": then the width (0)
	// says nothing either.
	for _, l := range []struct {
		speedFile, widthFile string
		speedDesc, widthDesc *prometheus.Desc
	}{
		{"current_link_speed", "current_link_width", pciLinkSpeed, pciLinkWidth},
		{"max_link_speed", "max_link_width", pciLinkMaxSpeed, pciLinkMaxWidth},
	} {
		s, ok := a.String(l.speedFile)
		if !ok {
			continue
		}
		speed, known, err := pciParseLinkSpeed(s)
		switch {
		case err != nil:
			skips.Add(filepath.Join(dir, l.speedFile), err)
		case !known:
			continue
		default:
			gauge(l.speedDesc, speed)
		}
		if w, ok := a.Uint(l.widthFile); ok {
			gauge(l.widthDesc, float64(w))
		}
	}
	return ms
}

// pciParseLinkSpeed parses a link speed attribute: "16.0 GT/s PCIe" since
// Linux 4.17, "8 GT/s" before, "Unknown" (or "Unknown speed") when the
// link is down. It returns transfers per second and whether the speed is
// known.
func pciParseLinkSpeed(s string) (float64, bool, error) {
	if strings.HasPrefix(s, "Unknown") {
		return 0, false, nil
	}
	f := strings.Fields(s)
	if (len(f) == 2 || len(f) == 3 && f[2] == "PCIe") && f[1] == "GT/s" {
		if gts, err := strconv.ParseFloat(f[0], 64); err == nil && gts > 0 {
			return gts * 1e9, true, nil
		}
	}
	return 0, false, fmt.Errorf("link speed %q, want \"N GT/s PCIe\"", s)
}

// pciIDs holds the names of the pci.ids database (https://pci-ids.ucw.cz/)
// the probe uses: vendors, devices, and classes with their subclasses and
// programming interfaces. Subsystem names are not kept. The zero value has
// no names.
type pciIDs struct {
	vendors    map[uint16]string
	devices    map[uint32]string // vendor<<16 | device
	classes    map[uint8]string
	subclasses map[uint16]string // class<<8 | subclass
	progIfs    map[uint32]string // class<<16 | subclass<<8 | prog-if
}

func (db *pciIDs) vendor(v uint16) string { return db.vendors[v] }

func (db *pciIDs) device(v, d uint16) string { return db.devices[uint32(v)<<16|uint32(d)] }

// class names a 24-bit class code as lspci does: the subclass name (or the
// class name when pci.ids has no subclass entry), then the programming
// interface's in parentheses when it has one ("SATA controller (AHCI 1.0)").
func (db *pciIDs) class(code uint32) string {
	name := db.subclasses[uint16(code>>8)]
	if name == "" {
		name = db.classes[uint8(code>>16)]
	}
	if name == "" {
		return ""
	}
	if pi := db.progIfs[code]; pi != "" {
		name += " (" + pi + ")"
	}
	return name
}

// pciParseIDs reads a pci.ids file:
//
//	vendor  vendor_name
//		device  device_name
//			subvendor subdevice  subsystem_name
//	C class  class_name
//		subclass  subclass_name
//			prog-if  prog-if_name
//
// with # comments and blank lines between. A malformed line is passed
// over, and so are the lines nested below it, since they would otherwise
// be filed under the wrong parent; the returned error counts them and
// quotes the first. The database holds what could be read either way.
func pciParseIDs(r io.Reader) (*pciIDs, error) {
	db := &pciIDs{
		vendors:    map[uint16]string{},
		devices:    map[uint32]string{},
		classes:    map[uint8]string{},
		subclasses: map[uint16]string{},
		progIfs:    map[uint32]string{},
	}
	const (
		none = iota
		inVendor
		inClass
	)
	var (
		section          = none
		vendor           uint16
		class, subclass  uint8
		haveSubclass     bool
		bad, firstBadNum int
		firstBad         string
	)
	malformed := func(n int, line string) {
		if bad == 0 {
			firstBadNum, firstBad = n, line
		}
		bad++
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		body := strings.TrimLeft(line, "\t")
		depth := len(line) - len(body)
		if strings.TrimSpace(body) == "" || strings.HasPrefix(body, "#") {
			continue
		}
		switch {
		case depth == 0 && strings.HasPrefix(body, "C "):
			id, name, ok := pciIDLine(strings.TrimPrefix(body, "C "), 2)
			if !ok {
				malformed(n, line)
				section = none
				continue
			}
			section, class, haveSubclass = inClass, uint8(id), false
			db.classes[class] = name
		case depth == 0:
			id, name, ok := pciIDLine(body, 4)
			if !ok {
				malformed(n, line)
				section = none
				continue
			}
			section, vendor = inVendor, uint16(id)
			db.vendors[vendor] = name
		case section == inVendor && depth == 1:
			id, name, ok := pciIDLine(body, 4)
			if !ok {
				malformed(n, line)
				continue
			}
			db.devices[uint32(vendor)<<16|uint32(id)] = name
		case section == inVendor && depth == 2:
			// Subsystem names are not exported.
		case section == inClass && depth == 1:
			id, name, ok := pciIDLine(body, 2)
			if !ok {
				malformed(n, line)
				haveSubclass = false
				continue
			}
			subclass, haveSubclass = uint8(id), true
			db.subclasses[uint16(class)<<8|uint16(subclass)] = name
		case section == inClass && depth == 2 && haveSubclass:
			id, name, ok := pciIDLine(body, 2)
			if !ok {
				malformed(n, line)
				continue
			}
			db.progIfs[uint32(class)<<16|uint32(subclass)<<8|uint32(id)] = name
		case section == none || section == inClass && depth == 2:
			// Below a malformed line: already counted.
		default:
			malformed(n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return db, err
	}
	if bad > 0 {
		return db, fmt.Errorf("%d malformed lines, the first line %d: %q", bad, firstBadNum, firstBad)
	}
	return db, nil
}

// pciIDLine splits "id  name" with id of digits hex digits.
func pciIDLine(s string, digits int) (uint64, string, bool) {
	id, name, ok := strings.Cut(s, " ")
	name = strings.TrimSpace(name)
	if !ok || len(id) != digits || name == "" {
		return 0, "", false
	}
	v, err := strconv.ParseUint(id, 16, digits*4)
	if err != nil {
		return 0, "", false
	}
	return v, name, true
}
