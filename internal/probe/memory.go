package probe

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/procfile"
	"github.com/hardware-exporter/hardware_exporter/internal/format/smbios"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	memoryTotalBytes = newDesc("memory", "total_bytes",
		"Memory the kernel manages (MemTotal in /proc/meminfo): installed memory less what firmware and the kernel reserve at boot.")
	memorySwapDeviceSize = newDesc("memory", "swap_device_size_bytes",
		"Size of an active swap device or file (/proc/swaps).", "device")

	memoryHugepagesPool = newDesc("memory", "hugepages_pool_pages",
		"Huge pages of this size in the kernel's pool, free or in use (nr_hugepages).", "size_bytes")
	memoryHugepagesFree = newDesc("memory", "hugepages_free_pages",
		"Huge pages of this size in the pool and not allocated (free_hugepages).", "size_bytes")
	memoryHugepagesReserved = newDesc("memory", "hugepages_reserved_pages",
		"Huge pages of this size promised to mappings but not yet faulted in (resv_hugepages).", "size_bytes")
	memoryHugepagesSurplus = newDesc("memory", "hugepages_surplus_pages",
		"Huge pages of this size allocated beyond the persistent pool by overcommit (surplus_hugepages).", "size_bytes")

	memoryEDACControllerInfo = Inventory(newDesc("memory", "edac_controller_info",
		"EDAC memory controller, value 1; name is the driver's mc_name.", "controller", "name"))
	memoryEDACControllerSize = Inventory(newDesc("memory", "edac_controller_size_bytes",
		"Memory behind the EDAC memory controller (size_mb).", "controller"))
	memoryEDACCorrectable = newDesc("memory", "edac_correctable_errors_total",
		"Correctable memory errors the controller reported since boot or its last counter reset (ce_count).", "controller")
	memoryEDACUncorrectable = newDesc("memory", "edac_uncorrectable_errors_total",
		"Uncorrectable memory errors the controller reported since boot or its last counter reset (ue_count).", "controller")
	memoryEDACUnattributedCorrectable = newDesc("memory", "edac_unattributed_correctable_errors_total",
		"Correctable memory errors the controller could not attribute to a DIMM (ce_noinfo_count); part of hardware_memory_edac_correctable_errors_total.", "controller")
	memoryEDACUnattributedUncorrectable = newDesc("memory", "edac_unattributed_uncorrectable_errors_total",
		"Uncorrectable memory errors the controller could not attribute to a DIMM (ue_noinfo_count); part of hardware_memory_edac_uncorrectable_errors_total.", "controller")
	memoryEDACCsrowCorrectable = newDesc("memory", "edac_csrow_correctable_errors_total",
		"Correctable memory errors on a chip-select row (csrowN/ce_count), exported only by kernels without per-DIMM EDAC directories.", "controller", "csrow")
	memoryEDACCsrowUncorrectable = newDesc("memory", "edac_csrow_uncorrectable_errors_total",
		"Uncorrectable memory errors on a chip-select row (csrowN/ue_count), exported only by kernels without per-DIMM EDAC directories.", "controller", "csrow")

	memoryDIMMInfo = Inventory(newDesc("memory", "dimm_info",
		"DIMM as EDAC sees it, value 1; label is the silkscreen name firmware or the driver gives the slot.",
		"controller", "dimm", "label", "location", "mem_type", "dev_type", "edac_mode"))
	memoryDIMMSize = Inventory(newDesc("memory", "dimm_size_bytes",
		"Size of the DIMM as EDAC sees it.", "controller", "dimm"))
	memoryDIMMCorrectable = newDesc("memory", "dimm_correctable_errors_total",
		"Correctable memory errors attributed to the DIMM since boot or the controller's last counter reset.", "controller", "dimm")
	memoryDIMMUncorrectable = newDesc("memory", "dimm_uncorrectable_errors_total",
		"Uncorrectable memory errors attributed to the DIMM since boot or the controller's last counter reset.", "controller", "dimm")

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

func init() {
	Register(Spec{
		Name:      "memory",
		Summary:   "Memory size, huge pages, EDAC error counters per controller and DIMM, DIMM inventory from SMBIOS (root only).",
		Reads:     "`/proc/meminfo` total, `/proc/swaps`, huge page pools, EDAC controllers and DIMMs (`/sys/devices/system/edac/mc`) with error counters; DIMM inventory from SMBIOS type 17 (`/sys/firmware/dmi/entries/17-*/raw`: locator, size, type, speed, manufacturer, part, serial, rank; empty slots counted)",
		Privilege: "none; SMBIOS entries need root or `CAP_DAC_READ_SEARCH`",
		New:       func() Probe { return memoryProbe{} },
	})
}

// memoryProbe reports memory size, huge page pools, EDAC error counts and
// the DIMM inventory from SMBIOS.
type memoryProbe struct{}

func (memoryProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		memoryTotalBytes, memorySwapDeviceSize,
		memoryHugepagesPool, memoryHugepagesFree, memoryHugepagesReserved, memoryHugepagesSurplus,
		memoryEDACControllerInfo, memoryEDACControllerSize,
		memoryEDACCorrectable, memoryEDACUncorrectable,
		memoryEDACUnattributedCorrectable, memoryEDACUnattributedUncorrectable,
		memoryEDACCsrowCorrectable, memoryEDACCsrowUncorrectable,
		memoryDIMMInfo, memoryDIMMSize, memoryDIMMCorrectable, memoryDIMMUncorrectable,
		memoryModuleInfo, memoryModuleSize, memoryModuleSpeed, memoryModuleConfiguredSpeed, memoryModuleSlots,
	} {
		ch <- d
	}
}

func (p memoryProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	var ms []prometheus.Metric
	proc := env.Proc()
	b, err := proc.readFileErr("meminfo", procfile.MeminfoMaxSize)
	if err != nil {
		// No meminfo means the procfs root is wrong, not that the host
		// lacks memory; a meminfo that cannot be read is as wrong.
		return nil, err
	}
	if total, err := procfile.ParseMemTotal(b); err != nil {
		// A malformed MemTotal costs that series; EDAC is still worth reading.
		skips.Add(proc.path("meminfo"), err)
	} else {
		ms = append(ms, gauge(memoryTotalBytes, float64(total)))
	}

	ms = append(ms, p.swapDevices(proc)...)
	ms = append(ms, p.hugepages(env.Sys("kernel/mm/hugepages"))...)

	mcs := env.Sys("devices/system/edac/mc")
	for _, mc := range mcs.indexed("mc") {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ms = append(ms, edacController(mcs.sub(mc), mc)...)
	}

	modules, err := memoryModules(ctx, env.Sys("firmware/dmi/entries"))
	if err != nil {
		return nil, err
	}
	return append(ms, modules...), nil
}

// swapDevices reads /proc/swaps. No /proc/swaps (swap not compiled in)
// means no series.
func (p memoryProbe) swapDevices(proc attrs) []prometheus.Metric {
	b, ok := proc.readFile("swaps", procfile.SwapsMaxSize)
	if !ok {
		return nil
	}
	devices, err := procfile.ParseSwaps(b)
	if err != nil {
		proc.skips.Add(proc.path("swaps"), err)
	}
	sort.Slice(devices, func(i, j int) bool { return devices[i].Filename < devices[j].Filename })
	ms := make([]prometheus.Metric, 0, len(devices))
	seen := map[string]bool{}
	for _, d := range devices {
		name := labelValue(d.Filename)
		if seen[name] { // one line twice would make a duplicate series and fail the scrape
			proc.skips.Add(proc.path("swaps"), fmt.Errorf("swap device %q listed twice", d.Filename))
			continue
		}
		seen[name] = true
		ms = append(ms, gauge(memorySwapDeviceSize, float64(d.SizeBytes), name))
	}
	return ms
}

// hugepages reads the per-size pools in sysfs rather than meminfo's
// HugePages_* lines, which cover only the default huge page size.
func (p memoryProbe) hugepages(dir attrs) []prometheus.Metric {
	pools := dir.numbered("hugepages-", "kB")

	var ms []prometheus.Metric
	for _, pl := range pools {
		a := dir.sub(pl.name)
		size := strconv.FormatUint(pl.n*1024, 10) // the directory names the size in kB
		for _, f := range []struct {
			file string
			desc *prometheus.Desc
		}{
			{"nr_hugepages", memoryHugepagesPool},
			{"free_hugepages", memoryHugepagesFree},
			{"resv_hugepages", memoryHugepagesReserved},
			{"surplus_hugepages", memoryHugepagesSurplus},
		} {
			if v, ok := a.Uint(f.file); ok {
				ms = append(ms, gauge(f.desc, float64(v), size))
			}
		}
	}
	return ms
}

// edacController reads one mcN directory. Kernels since 3.6 describe each
// DIMM (or rank) in its own directory; older ones only have csrowN with
// per-channel counts, and newer ones may keep csrowN alongside for
// compatibility, so csrowN is read only when there is nothing better.
func edacController(a attrs, mc string) []prometheus.Metric {
	var ms []prometheus.Metric

	name, _ := a.String("mc_name")
	ms = append(ms, gauge(memoryEDACControllerInfo, 1, mc, labelValue(name)))
	if mb, ok := a.Uint("size_mb"); ok {
		ms = append(ms, gauge(memoryEDACControllerSize, float64(mb)*(1<<20), mc))
	}
	for _, c := range []struct {
		desc *prometheus.Desc
		file string
	}{
		{memoryEDACCorrectable, "ce_count"},
		{memoryEDACUncorrectable, "ue_count"},
		{memoryEDACUnattributedCorrectable, "ce_noinfo_count"},
		{memoryEDACUnattributedUncorrectable, "ue_noinfo_count"},
	} {
		if v, ok := a.Uint(c.file); ok {
			ms = append(ms, counter(c.desc, float64(v), mc))
		}
	}

	dimms := a.indexed("dimm")
	if len(dimms) == 0 {
		// Drivers with a chip-select-rank layout name the directories rankN.
		dimms = a.indexed("rank")
	}
	for _, d := range dimms {
		ms = append(ms, edacDIMM(a.sub(d), mc, d)...)
	}
	if len(dimms) == 0 {
		for _, cs := range a.indexed("csrow") {
			ms = append(ms, edacCsrow(a.sub(cs), mc, cs)...)
		}
	}
	return ms
}

func edacDIMM(a attrs, mc, dimm string) []prometheus.Metric {
	label, _ := a.String("dimm_label")
	location, _ := a.String("dimm_location")
	memType, _ := a.String("dimm_mem_type")
	devType, _ := a.String("dimm_dev_type")
	edacMode, _ := a.String("dimm_edac_mode")
	ms := []prometheus.Metric{gauge(memoryDIMMInfo, 1,
		mc, dimm, labelValue(label), labelValue(location), labelValue(memType), labelValue(devType), labelValue(edacMode))}
	if mib, ok := a.Uint("size"); ok {
		ms = append(ms, gauge(memoryDIMMSize, float64(mib)*(1<<20), mc, dimm))
	}
	if v, ok := a.Uint("dimm_ce_count"); ok {
		ms = append(ms, counter(memoryDIMMCorrectable, float64(v), mc, dimm))
	}
	if v, ok := a.Uint("dimm_ue_count"); ok {
		ms = append(ms, counter(memoryDIMMUncorrectable, float64(v), mc, dimm))
	}
	return ms
}

// edacCsrow reads the legacy layout. A csrow spans channels, each holding one
// DIMM: the channel's DIMM gets its own dimm series (named csrowN_chM, its
// label from chM_dimm_label) with the correctable count the kernel keeps per
// channel. Uncorrectable errors are counted only per csrow, so they go on the
// csrow series. Size is per csrow too and is not split across its DIMMs.
func edacCsrow(a attrs, mc, csrow string) []prometheus.Metric {
	var ms []prometheus.Metric
	if v, ok := a.Uint("ce_count"); ok {
		ms = append(ms, counter(memoryEDACCsrowCorrectable, float64(v), mc, csrow))
	}
	if v, ok := a.Uint("ue_count"); ok {
		ms = append(ms, counter(memoryEDACCsrowUncorrectable, float64(v), mc, csrow))
	}
	memType, _ := a.String("mem_type")
	devType, _ := a.String("dev_type")
	edacMode, _ := a.String("edac_mode")
	csN := strings.TrimPrefix(csrow, "csrow")

	channels := a.numbered("ch", "_ce_count")
	for _, ch := range channels {
		chN := strconv.FormatUint(ch.n, 10)
		dimm := csrow + "_ch" + chN
		label, _ := a.String("ch" + chN + "_dimm_label")
		ms = append(ms, gauge(memoryDIMMInfo, 1,
			mc, dimm, labelValue(label), "csrow "+csN+" channel "+chN, labelValue(memType), labelValue(devType), labelValue(edacMode)))
		if v, ok := a.Uint("ch" + chN + "_ce_count"); ok {
			ms = append(ms, counter(memoryDIMMCorrectable, float64(v), mc, dimm))
		}
	}
	return ms
}

// DIMM inventory from SMBIOS type 17 (Memory Device) structures, which the
// kernel exposes one per directory in /sys/firmware/dmi/entries/17-N/raw,
// decoded by internal/format/smbios. The raw files are root-only (mode 0400): run
// as another user, the probe exports no module series and counts no skips.
// memoryModules reads every type 17 entry below sysfs and returns the module
// and slot series. An unreadable or malformed entry is skipped; the others
// are kept.
func memoryModules(ctx context.Context, dir attrs) ([]prometheus.Metric, error) {
	skips := dir.skips
	type module struct {
		path string
		d    smbios.MemoryDevice
	}
	var (
		modules       []module
		read, empties int
	)
	for _, e := range dir.numbered("17-", "") {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := dir.sub(e.name).path("raw")
		b, ok := dir.sub(e.name).RestrictedBytes("raw")
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
		gauge(memoryModuleSlots, float64(read-empties), "populated"),
		gauge(memoryModuleSlots, float64(empties), "empty"),
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
		ms = append(ms, gauge(memoryModuleInfo, 1,
			l, labelValue(d.BankLocator), d.Type, d.FormFactor, labelValue(d.Manufacturer),
			labelValue(d.PartNumber), labelValue(d.Serial), rank))
		if d.SizeBytes != 0 {
			ms = append(ms, gauge(memoryModuleSize, float64(d.SizeBytes), l))
		}
		if d.Speed != 0 {
			ms = append(ms, gauge(memoryModuleSpeed, float64(d.Speed)*1e6, l))
		}
		if d.ConfiguredSpeed != 0 {
			ms = append(ms, gauge(memoryModuleConfiguredSpeed, float64(d.ConfiguredSpeed)*1e6, l))
		}
	}
	return ms, nil
}
