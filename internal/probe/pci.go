package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/pciids"
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

	pciAERErrors = withNote(newDesc("pci", "aer_errors_total",
		"PCIe Advanced Error Reporting errors the device reported since boot (TOTAL_ERR_* of aer_dev_correctable, aer_dev_nonfatal, aer_dev_fatal), by kind: correctable, nonfatal or fatal.", "address", "kind"),
		"nonfatal errors are uncorrectable but the link survives them; fatal ones reset the link. Absent for devices without AER.")
	pciAERRootPortErrors = newDesc("pci", "aer_rootport_errors_total",
		"PCIe AER errors a root port received since boot from the devices below it, itself included (aer_rootport_total_err_cor, _nonfatal, _fatal); kind as for hardware_pci_aer_errors_total.",
		"address", "kind")
	pciAERErrorsByType = newDesc("pci", "aer_errors_by_type_total",
		"PCIe AER errors the device reported since boot by error type (RxErr, BadTLP, CmpltTO, ...; the lines of aer_dev_*); only with the pci probe's aer_details option.",
		"address", "kind", "error")
)

// pciAERFiles are the per-device AER statistics files (Linux 4.19 and
// later) and the kind each counts.
var pciAERFiles = []struct{ file, kind string }{
	{"aer_dev_correctable", "correctable"},
	{"aer_dev_nonfatal", "nonfatal"},
	{"aer_dev_fatal", "fatal"},
}

// pciAERRootPortFiles are a root port's totals of what it received.
var pciAERRootPortFiles = []struct{ file, kind string }{
	{"aer_rootport_total_err_cor", "correctable"},
	{"aer_rootport_total_err_nonfatal", "nonfatal"},
	{"aer_rootport_total_err_fatal", "fatal"},
}

// PCIOptions are the pci probe's options.
type PCIOptions struct {
	AERDetails bool `yaml:"aer_details" help:"Also export PCIe AER errors by error type (hardware_pci_aer_errors_by_type_total): 40 to 60 series (by kernel version) for every device with AER, so off by default; the totals per kind are always exported."`
}

func newPCIOptions() *PCIOptions { return &PCIOptions{} }

func init() {
	Register(Spec{
		Name:      "pci",
		Summary:   "PCI devices (IDs, names from pci.ids), link speed and width, NUMA node, PCIe AER error counts.",
		Reads:     "every device in `/sys/bus/pci/devices` (IDs, driver, NUMA node, link speed and width, current and maximum, AER error totals from `aer_dev_*` and `aer_rootport_total_err_*`) with names from `pci.ids` under the root fs (`/usr/share/misc/pci.ids`, `/usr/share/hwdata/pci.ids`)",
		Privilege: "none",
		Options:   func() any { return newPCIOptions() },
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
type pciProbe struct{}

func (pciProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		pciDeviceInfo, pciDeviceNUMANode, pciLinkSpeed, pciLinkMaxSpeed, pciLinkWidth, pciLinkMaxWidth,
		pciAERErrors, pciAERRootPortErrors, pciAERErrorsByType,
	} {
		ch <- d
	}
}

func (p pciProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	opts := optionsOf(env, newPCIOptions)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	devices := env.Sys("bus/pci/devices")
	entries := devices.entries()
	if len(entries) == 0 {
		return nil, nil // no PCI bus (some VMs, containers without /sys/bus)
	}
	ids, err := pciLoadIDs(ctx, env.Root())
	if err != nil {
		return nil, err
	}
	var ms []prometheus.Metric
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ms = append(ms, pciDevice(devices.sub(e.Name()), e.Name(), ids)...)
		ms = append(ms, pciAER(devices.sub(e.Name()), e.Name(), opts.AERDetails)...)
	}
	return ms, nil
}

// pciIDsPaths are where distributions install pci.ids, below the root:
// Debian and Ubuntu (misc), Fedora, RHEL and Arch (hwdata), and the
// pciutils default for a build from source.
var pciIDsPaths = []string{"usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids"}

// pciLoadIDs reads the first pci.ids found. None installed means no names,
// which is not an error; a malformed line costs that line (one skip for the
// file). Only the run's context ending is an error.
func pciLoadIDs(ctx context.Context, root attrs) (*pciids.DB, error) {
	for _, rel := range pciIDsPaths {
		path := root.path(rel)
		// The parser stops at its own MaxSize too; the bound here makes a
		// link to /dev/urandom or a sparse file fail at the same size
		// without relying on it.
		f, err := root.fs.Open(root.name(rel), pciids.MaxSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			root.skips.Add(path, err)
			continue
		}
		ids, err := pciids.Parse(ctx, f)
		f.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if err != nil {
			root.skips.Add(path, err)
		}
		return ids, nil
	}
	return &pciids.DB{}, nil
}

// pciDevice reads one device directory.
func pciDevice(a attrs, address string, ids *pciids.DB) []prometheus.Metric {
	addr := labelValue(address)
	var ms []prometheus.Metric

	// Every PCI device has these; one that does not parse costs the info
	// series, since a half-filled identity would be a different device.
	hex := func(name string, bits int) (uint64, string, bool) {
		s, ok := a.String(name)
		if !ok {
			return 0, "", false
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, bits)
		if err != nil {
			a.skips.Add(a.path(name), err)
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
		if t, err := a.readlink("driver"); err == nil {
			driver = path.Base(t)
		} else if !errors.Is(err, fs.ErrNotExist) {
			a.skips.Add(a.path("driver"), err)
		}
		ms = append(ms, gauge(pciDeviceInfo, 1,
			addr, vendorID, deviceID, subVendorID, subDeviceID, classID, revision,
			labelValue(ids.Vendor(uint16(vendor))), labelValue(ids.Device(uint16(vendor), uint16(device))),
			labelValue(ids.Class(uint32(class))), labelValue(driver)))
	}

	if node, ok := a.Int("numa_node"); ok && node >= 0 {
		ms = append(ms, gauge(pciDeviceNUMANode, float64(node), addr))
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
			a.skips.Add(a.path(l.speedFile), err)
		case !known:
			continue
		default:
			ms = append(ms, gauge(l.speedDesc, speed, addr))
		}
		if w, ok := a.Uint(l.widthFile); ok {
			ms = append(ms, gauge(l.widthDesc, float64(w), addr))
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

// pciAER reads a device's AER statistics. They are world-readable and
// cost a read of kernel counters, no config space access. Devices without
// the AER capability, and kernels before 4.19, have no such files.
func pciAER(a attrs, address string, details bool) []prometheus.Metric {
	addr := labelValue(address)
	var ms []prometheus.Metric
	for _, f := range pciAERFiles {
		b, ok := a.read(f.file)
		if !ok {
			continue
		}
		stats, err := pciParseAER(b)
		if err != nil {
			a.skips.Add(a.path(f.file), err)
		}
		if stats.hasTotal {
			ms = append(ms, counter(pciAERErrors, float64(stats.total), addr, f.kind))
		}
		if details {
			for _, c := range stats.types {
				ms = append(ms, counter(pciAERErrorsByType, float64(c.count), addr, f.kind, labelValue(c.name)))
			}
		}
	}
	for _, f := range pciAERRootPortFiles {
		if v, ok := a.Uint(f.file); ok {
			ms = append(ms, counter(pciAERRootPortErrors, float64(v), addr, f.kind))
		}
	}
	return ms
}

// pciAERStats is one aer_dev_* file: a count per error type and the total.
type pciAERStats struct {
	types    []pciAERCount
	total    uint64
	hasTotal bool
}

type pciAERCount struct {
	name  string
	count uint64
}

// pciParseAER parses an aer_dev_* file: "NAME COUNT" lines, one per error
// type the kernel knows, then "TOTAL_ERR_COR N" (or _NONFATAL, _FATAL). A
// malformed or repeated line costs that line and is reported in err; the
// total is taken from its own line, not summed: the kernel adds one to the
// total per error message and one to each type per status bit the message
// carries, so the types need not add up to it.
func pciParseAER(b []byte) (pciAERStats, error) {
	var st pciAERStats
	var errs []error
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			errs = append(errs, fmt.Errorf("line %d: %q, want \"NAME COUNT\"", i+1, line))
			continue
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || seen[f[0]] {
			errs = append(errs, fmt.Errorf("line %d: %q: malformed or repeated", i+1, line))
			continue
		}
		seen[f[0]] = true
		if strings.HasPrefix(f[0], "TOTAL_") {
			st.total, st.hasTotal = n, true
			continue
		}
		st.types = append(st.types, pciAERCount{f[0], n})
	}
	if !st.hasTotal {
		errs = append(errs, errors.New("no TOTAL_ERR_* line"))
	}
	return st, errors.Join(errs...)
}
