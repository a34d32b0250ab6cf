package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
	gopsutilcommon "github.com/shirou/gopsutil/v3/common"
	"github.com/shirou/gopsutil/v3/mem"
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
// the DIMM inventory from SMBIOS (smbios.go).
type memoryProbe struct {
	paths Paths
}

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
	p.paths = env.Paths // this run's settings, on this run's copy of p
	var ms []prometheus.Metric
	total, err := p.memTotal()
	switch {
	case errors.Is(err, procfs.ErrFileParse):
		// A line procfs cannot parse costs MemTotal; EDAC is still worth reading.
		skips.Add(filepath.Join(p.paths.ProcFS, "meminfo"), err)
	case err != nil:
		// No meminfo means the procfs root is wrong, not that the host lacks memory.
		return nil, err
	default:
		ms = append(ms, prometheus.MustNewConstMetric(memoryTotalBytes, prometheus.GaugeValue, float64(total)))
	}

	ms = append(ms, p.swapDevices(ctx, skips)...)
	ms = append(ms, p.hugepages(skips)...)

	mcDir := filepath.Join(p.paths.SysFS, "devices/system/edac/mc")
	for _, mc := range indexedEntries(mcDir, "mc", skips) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ms = append(ms, edacController(filepath.Join(mcDir, mc), mc, skips)...)
	}

	modules, err := memoryModules(ctx, p.paths.SysFS, skips)
	if err != nil {
		return nil, err
	}
	return append(ms, modules...), nil
}

func (p memoryProbe) memTotal() (uint64, error) {
	pfs, err := procfs.NewFS(p.paths.ProcFS)
	if err != nil {
		return 0, err
	}
	mi, err := pfs.Meminfo()
	if err != nil {
		return 0, err
	}
	if mi.MemTotalBytes == nil {
		return 0, fmt.Errorf("%w: no MemTotal in %s", procfs.ErrFileParse, filepath.Join(p.paths.ProcFS, "meminfo"))
	}
	return *mi.MemTotalBytes, nil
}

// swapDevices reads /proc/swaps through gopsutil, with the procfs root
// passed in the context rather than through HOST_PROC in the process
// environment. No /proc/swaps (swap not compiled in) means no series.
func (p memoryProbe) swapDevices(ctx context.Context, skips *Skips) []prometheus.Metric {
	path := filepath.Join(p.paths.ProcFS, "swaps")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	ctx = context.WithValue(ctx, gopsutilcommon.EnvKey, gopsutilcommon.EnvMap{gopsutilcommon.HostProcEnvKey: p.paths.ProcFS})
	devices, err := mem.SwapDevicesWithContext(ctx)
	if err != nil {
		skips.Add(path, err)
		return nil
	}
	sort.Slice(devices, func(i, j int) bool { return devices[i].Name < devices[j].Name })
	ms := make([]prometheus.Metric, 0, len(devices))
	seen := map[string]bool{}
	for _, d := range devices {
		name := labelValue(d.Name)
		if seen[name] { // one line twice would make a duplicate series and fail the scrape
			skips.Add(path, fmt.Errorf("swap device %q listed twice", d.Name))
			continue
		}
		seen[name] = true
		ms = append(ms, prometheus.MustNewConstMetric(memorySwapDeviceSize, prometheus.GaugeValue,
			float64(d.UsedBytes+d.FreeBytes), name))
	}
	return ms
}

// hugepages reads the per-size pools in sysfs rather than meminfo's
// HugePages_* lines, which cover only the default huge page size.
func (p memoryProbe) hugepages(skips *Skips) []prometheus.Metric {
	dir := filepath.Join(p.paths.SysFS, "kernel/mm/hugepages")
	pools := numberedEntries(dir, "hugepages-", "kB", skips)

	var ms []prometheus.Metric
	for _, pl := range pools {
		a := attrs{dir: filepath.Join(dir, pl.name), skips: skips}
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
				ms = append(ms, prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, float64(v), size))
			}
		}
	}
	return ms
}

// edacController reads one mcN directory. Kernels since 3.6 describe each
// DIMM (or rank) in its own directory; older ones only have csrowN with
// per-channel counts, and newer ones may keep csrowN alongside for
// compatibility, so csrowN is read only when there is nothing better.
func edacController(dir, mc string, skips *Skips) []prometheus.Metric {
	a := attrs{dir: dir, skips: skips}
	var ms []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ms = append(ms, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...))
	}
	counter := func(d *prometheus.Desc, file string, lv ...string) {
		if v, ok := a.Uint(file); ok {
			ms = append(ms, prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...))
		}
	}

	name, _ := a.String("mc_name")
	gauge(memoryEDACControllerInfo, 1, mc, labelValue(name))
	if mb, ok := a.Uint("size_mb"); ok {
		gauge(memoryEDACControllerSize, float64(mb)*(1<<20), mc)
	}
	counter(memoryEDACCorrectable, "ce_count", mc)
	counter(memoryEDACUncorrectable, "ue_count", mc)
	counter(memoryEDACUnattributedCorrectable, "ce_noinfo_count", mc)
	counter(memoryEDACUnattributedUncorrectable, "ue_noinfo_count", mc)

	dimms := indexedEntries(dir, "dimm", skips)
	if len(dimms) == 0 {
		// Drivers with a chip-select-rank layout name the directories rankN.
		dimms = indexedEntries(dir, "rank", skips)
	}
	for _, d := range dimms {
		ms = append(ms, edacDIMM(filepath.Join(dir, d), mc, d, skips)...)
	}
	if len(dimms) == 0 {
		for _, cs := range indexedEntries(dir, "csrow", skips) {
			ms = append(ms, edacCsrow(filepath.Join(dir, cs), mc, cs, skips)...)
		}
	}
	return ms
}

func edacDIMM(dir, mc, dimm string, skips *Skips) []prometheus.Metric {
	a := attrs{dir: dir, skips: skips}
	label, _ := a.String("dimm_label")
	location, _ := a.String("dimm_location")
	memType, _ := a.String("dimm_mem_type")
	devType, _ := a.String("dimm_dev_type")
	edacMode, _ := a.String("dimm_edac_mode")
	ms := []prometheus.Metric{prometheus.MustNewConstMetric(memoryDIMMInfo, prometheus.GaugeValue, 1,
		mc, dimm, labelValue(label), labelValue(location), labelValue(memType), labelValue(devType), labelValue(edacMode))}
	if mib, ok := a.Uint("size"); ok {
		ms = append(ms, prometheus.MustNewConstMetric(memoryDIMMSize, prometheus.GaugeValue, float64(mib)*(1<<20), mc, dimm))
	}
	if v, ok := a.Uint("dimm_ce_count"); ok {
		ms = append(ms, prometheus.MustNewConstMetric(memoryDIMMCorrectable, prometheus.CounterValue, float64(v), mc, dimm))
	}
	if v, ok := a.Uint("dimm_ue_count"); ok {
		ms = append(ms, prometheus.MustNewConstMetric(memoryDIMMUncorrectable, prometheus.CounterValue, float64(v), mc, dimm))
	}
	return ms
}

// edacCsrow reads the legacy layout. A csrow spans channels, each holding one
// DIMM: the channel's DIMM gets its own dimm series (named csrowN_chM, its
// label from chM_dimm_label) with the correctable count the kernel keeps per
// channel. Uncorrectable errors are counted only per csrow, so they go on the
// csrow series. Size is per csrow too and is not split across its DIMMs.
func edacCsrow(dir, mc, csrow string, skips *Skips) []prometheus.Metric {
	a := attrs{dir: dir, skips: skips}
	var ms []prometheus.Metric
	if v, ok := a.Uint("ce_count"); ok {
		ms = append(ms, prometheus.MustNewConstMetric(memoryEDACCsrowCorrectable, prometheus.CounterValue, float64(v), mc, csrow))
	}
	if v, ok := a.Uint("ue_count"); ok {
		ms = append(ms, prometheus.MustNewConstMetric(memoryEDACCsrowUncorrectable, prometheus.CounterValue, float64(v), mc, csrow))
	}
	memType, _ := a.String("mem_type")
	devType, _ := a.String("dev_type")
	edacMode, _ := a.String("edac_mode")
	csN := strings.TrimPrefix(csrow, "csrow")

	channels := numberedEntries(dir, "ch", "_ce_count", skips)
	for _, ch := range channels {
		chN := strconv.FormatUint(ch.n, 10)
		dimm := csrow + "_ch" + chN
		label, _ := a.String("ch" + chN + "_dimm_label")
		ms = append(ms, prometheus.MustNewConstMetric(memoryDIMMInfo, prometheus.GaugeValue, 1,
			mc, dimm, labelValue(label), "csrow "+csN+" channel "+chN, labelValue(memType), labelValue(devType), labelValue(edacMode)))
		if v, ok := a.Uint("ch" + chN + "_ce_count"); ok {
			ms = append(ms, prometheus.MustNewConstMetric(memoryDIMMCorrectable, prometheus.CounterValue, float64(v), mc, dimm))
		}
	}
	return ms
}

// indexedEntries lists the entries of dir named prefix followed by a decimal
// index (mc0, dimm12, hwmon3), ordered by index so that mc10 follows mc9. A
// missing dir has no entries.
func indexedEntries(dir, prefix string, skips *Skips) []string {
	found := numberedEntries(dir, prefix, "", skips)
	names := make([]string, len(found))
	for i, f := range found {
		names[i] = f.name
	}
	return names
}

// numbered is a directory entry whose name carries a number.
type numbered struct {
	name string
	n    uint64
}

// numberedEntries lists the entries of dir named prefix, a decimal number,
// suffix (hugepages-2048kB, ch1_ce_count), ordered by that number. Names of
// any other shape are not what the caller looks for and are passed over.
func numberedEntries(dir, prefix, suffix string, skips *Skips) []numbered {
	var found []numbered
	for _, e := range readDir(dir, skips) {
		s, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		if s, ok = strings.CutSuffix(s, suffix); !ok || s == "" || strings.TrimLeft(s, "0123456789") != "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			continue
		}
		found = append(found, numbered{e.Name(), n})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].n < found[j].n })
	return found
}

// labelValue makes a string read from hardware safe as a label value:
// firmware strings are not always UTF-8, and MustNewConstMetric panics on
// invalid UTF-8.
func labelValue(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
