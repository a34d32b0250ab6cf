package probe

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/hardware-exporter/hardware_exporter/internal/smbios"
	"github.com/prometheus/client_golang/prometheus"
)

// DIMM inventory from SMBIOS type 17 (Memory Device) structures, which the
// kernel exposes one per directory in /sys/firmware/dmi/entries/17-N/raw,
// decoded by internal/smbios. The raw files are root-only (mode 0400): run
// as another user, the probe exports no module series and counts no skips.

var (
	memoryModuleInfo = Inventory(newDesc("memory", "module_info",
		"Memory module in a slot, value 1, from SMBIOS type 17 (Memory Device); strings are as firmware gives them (manufacturer may be a JEDEC ID), rank is \"\" when unknown.",
		"locator", "bank", "type", "form_factor", "manufacturer", "part_number", "serial", "rank"))
	memoryModuleSize = Inventory(newDesc("memory", "module_size_bytes",
		"Size of the memory module (SMBIOS type 17 Size or Extended Size).", "locator"))
	memoryModuleSpeed = Inventory(newDesc("memory", "module_speed_transfers_per_second",
		"Maximum speed the memory module is rated for (SMBIOS type 17 Speed).", "locator"))
	memoryModuleConfiguredSpeed = newDesc("memory", "module_configured_speed_transfers_per_second",
		"Speed the memory controller runs the memory module at (SMBIOS type 17 Configured Memory Speed).", "locator")
	memoryModuleSlots = Inventory(newDesc("memory", "module_slots",
		"Memory device slots SMBIOS describes, by whether a module is installed.", "state"))
)

// memoryModules reads every type 17 entry below sysfs and returns the module
// and slot series. An unreadable or malformed entry is skipped; the others
// are kept.
func memoryModules(ctx context.Context, sysfs string, skips *Skips) ([]prometheus.Metric, error) {
	dir := filepath.Join(sysfs, "firmware/dmi/entries")
	type module struct {
		path string
		d    smbios.MemoryDevice
	}
	var (
		modules       []module
		read, empties int
	)
	for _, e := range numberedEntries(dir, "17-", "", skips) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, e.name, "raw")
		b, ok := (attrs{dir: filepath.Join(dir, e.name), skips: skips}).RestrictedBytes("raw")
		if !ok {
			continue
		}
		d, err := smbios.ParseMemoryDevice(b)
		if err != nil {
			skips.Add(path, err)
			continue
		}
		read++
		if !d.Installed {
			empties++
			continue
		}
		modules = append(modules, module{path, d})
	}
	if read == 0 {
		return nil, nil // no SMBIOS (a VM, an ARM board) or not root
	}

	// Device Locators name slots uniquely on most boards, but some (AMI
	// firmware on AMD boards) repeat "DIMM 0" in every channel and tell
	// them apart by Bank Locator only. A repeated locator is qualified with
	// its bank; one still repeated after that would make duplicate series,
	// which fail the whole scrape, so it is skipped.
	count := map[string]int{}
	for _, m := range modules {
		count[m.d.Locator]++
	}
	locators := make([]string, len(modules))
	qualified := map[string]int{}
	for i, m := range modules {
		l := m.d.Locator
		if count[l] > 1 && m.d.BankLocator != "" {
			l = m.d.BankLocator + "/" + l
		}
		locators[i] = labelValue(l)
		qualified[locators[i]]++
	}

	ms := []prometheus.Metric{
		prometheus.MustNewConstMetric(memoryModuleSlots, prometheus.GaugeValue, float64(read-empties), "populated"),
		prometheus.MustNewConstMetric(memoryModuleSlots, prometheus.GaugeValue, float64(empties), "empty"),
	}
	for i, m := range modules {
		l, d := locators[i], m.d
		if qualified[l] > 1 {
			skips.Add(m.path, fmt.Errorf("memory device locator %q is not unique", l))
			continue
		}
		rank := ""
		if d.Rank != 0 {
			rank = strconv.Itoa(int(d.Rank))
		}
		ms = append(ms, prometheus.MustNewConstMetric(memoryModuleInfo, prometheus.GaugeValue, 1,
			l, labelValue(d.BankLocator), d.Type, d.FormFactor, labelValue(d.Manufacturer),
			labelValue(d.PartNumber), labelValue(d.Serial), rank))
		if d.SizeBytes != 0 {
			ms = append(ms, prometheus.MustNewConstMetric(memoryModuleSize, prometheus.GaugeValue, float64(d.SizeBytes), l))
		}
		if d.Speed != 0 {
			ms = append(ms, prometheus.MustNewConstMetric(memoryModuleSpeed, prometheus.GaugeValue, float64(d.Speed)*1e6, l))
		}
		if d.ConfiguredSpeed != 0 {
			ms = append(ms, prometheus.MustNewConstMetric(memoryModuleConfiguredSpeed, prometheus.GaugeValue, float64(d.ConfiguredSpeed)*1e6, l))
		}
	}
	return ms, nil
}
