package probe

import (
	"context"
	"path"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/host/sysfs"

	"github.com/prometheus/client_golang/prometheus"
)

// AMD GPUs are read from the amdgpu driver's sysfs attributes, with no
// tool and no ROCm: each series is labelled by the GPU's PCI address, the
// address label of hardware_pci_* (where the PCIe link speed and width
// already are), so no value is exported twice.
var (
	gpuAMDInfo = Inventory(withNote(newDesc("gpu", "amd_info",
		"AMD GPU bound to the amdgpu driver, value 1; chip is its hwmon chip, to join temperature and power from hardware_hwmon_* on(instance, chip).", "address", "card", "chip", "product_name", "vbios_version", "unique_id"),
		"Temperature and power: `hardware_hwmon_temperature_celsius * on(instance, chip) group_left(address) hardware_gpu_amd_info`; PCIe link: `hardware_pci_link_width * on(instance, address) group_left(card) hardware_gpu_amd_info`. card (cardN) is numbered in probe order and may change between boots; address does not. A runtime-suspended GPU has no info series (hardware_gpu_amd_runtime_suspended)."))
	gpuAMDSuspended = withNote(newDesc("gpu", "amd_runtime_suspended",
		"1 while the GPU is runtime suspended (power/runtime_status), when nothing else of it is read, so as not to wake it; else 0.", "address"),
		"amdgpu resumes a suspended GPU to answer most of its attributes, and a read every minute would keep an idle GPU powered (node_exporter #2681).")
	gpuAMDUtilization = newDesc("gpu", "amd_utilization_ratio",
		"Share of time the GPU (resource gpu, gpu_busy_percent) or its memory controller (resource memory, mem_busy_percent) was busy, 0 to 1, as the firmware averages it.", "address", "resource")
	gpuAMDMemoryTotal = Inventory(newDesc("gpu", "amd_memory_total_bytes",
		"Size of the GPU's memory pool (mem_info_POOL_total): vram, vis_vram (the VRAM the CPU can map), gtt (system memory the GPU maps).", "address", "pool"))
	gpuAMDMemoryUsed = newDesc("gpu", "amd_memory_used_bytes",
		"Memory of the pool in use (mem_info_POOL_used).", "address", "pool")
	gpuAMDRASErrors = withNote(newDesc("gpu", "amd_ras_errors_total",
		"Errors the GPU's RAS block counted since the driver loaded (ras/BLOCK_err_count): correctable (ce), uncorrectable (ue), deferred (de, kernels from 6.10).", "address", "block", "type"),
		"Blocks are the driver's names: umc is the memory controller (VRAM ECC), gfx, sdma, mmhub, xgmi_wafl, ... Only GPUs with RAS (Instinct, some Radeon Pro) have ras/.")
	gpuAMDBadPages = withNote(newDesc("gpu", "amd_vram_bad_pages",
		"VRAM pages the driver retired after memory errors (ras/gpu_vram_bad_pages), by state: reserved (retired), pending (to be retired), failed (could not be retired).", "address", "state"),
		"The AMD counterpart of NVIDIA's remapped rows. The driver keeps the list in the board's EEPROM and declares the board bad past amdgpu.bad_page_threshold.")
)

// gpuAMDDescs are the AMD series' descriptors, for Describe.
var gpuAMDDescs = []*prometheus.Desc{
	gpuAMDInfo, gpuAMDSuspended, gpuAMDUtilization, gpuAMDMemoryTotal, gpuAMDMemoryUsed, gpuAMDRASErrors, gpuAMDBadPages,
}

// amdGPUCards lists the cards bound to amdgpu, recording what it cannot
// read.
func amdGPUCards(env Env, skips *Skips) []string {
	cards, errs := sysfs.AMDGPUCards(hostfs.New(env.Paths.SysFS))
	for _, e := range errs {
		skips.Add(e.Path, e.Err)
	}
	return cards
}

// amdGPUMetrics reads and exports the AMD GPUs cards names.
func amdGPUMetrics(ctx context.Context, env Env, cards []string, skips *Skips) ([]prometheus.Metric, error) {
	sys := hostfs.New(env.Paths.SysFS)
	var ms []prometheus.Metric
	seen := map[string]bool{}
	for _, card := range cards {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		g, errs := sysfs.ReadAMDGPU(sys, card)
		for _, e := range errs {
			skips.Add(e.Path, e.Err)
		}
		address := labelValue(g.Address)
		if address == "" || seen[address] {
			// Partitioned GPUs (MI300 compute partitions) show one PCI
			// function as several cards: its counters are the
			// function's, exported once.
			continue
		}
		seen[address] = true
		ms = append(ms, amdGPUSeries(env, g, address)...)
	}
	return ms, nil
}

func amdGPUSeries(env Env, g sysfs.AMDGPU, address string) []prometheus.Metric {
	if g.Suspended() {
		return []prometheus.Metric{gauge(gpuAMDSuspended, 1, address)}
	}
	ms := []prometheus.Metric{
		gauge(gpuAMDSuspended, 0, address),
		gauge(gpuAMDInfo, 1, address, labelValue(g.Card), amdGPUHwmonChip(env, g),
			labelValue(g.ProductName), labelValue(g.VBIOSVersion), labelValue(g.UniqueID)),
	}
	ms = append(ms, firmwareInfo(firmwareGPUVBIOS, address, "AMD", labelValue(g.ProductName), labelValue(g.VBIOSVersion))...)
	if g.HasBusy {
		ms = append(ms, gauge(gpuAMDUtilization, float64(g.BusyPercent)/100, address, "gpu"))
	}
	if g.HasMemBusy {
		ms = append(ms, gauge(gpuAMDUtilization, float64(g.MemBusyPercent)/100, address, "memory"))
	}
	for _, m := range g.Memory {
		if m.HasTotal {
			ms = append(ms, gauge(gpuAMDMemoryTotal, float64(m.Total), address, m.Pool))
		}
		if m.HasUsed {
			ms = append(ms, gauge(gpuAMDMemoryUsed, float64(m.Used), address, m.Pool))
		}
	}
	for _, b := range g.RAS {
		block := labelValue(b.Block)
		for key, typ := range map[string]string{"ce": "correctable", "ue": "uncorrectable", "de": "deferred"} {
			if n, ok := b.Counts[key]; ok {
				ms = append(ms, counter(gpuAMDRASErrors, float64(n), address, block, typ))
			}
		}
	}
	if g.HasBadPages {
		ms = append(ms,
			gauge(gpuAMDBadPages, float64(g.BadPages.Reserved), address, "reserved"),
			gauge(gpuAMDBadPages, float64(g.BadPages.Pending), address, "pending"),
			gauge(gpuAMDBadPages, float64(g.BadPages.Failed), address, "failed"))
	}
	return ms
}

// amdGPUHwmonChip is the chip label the hwmon probe gives the GPU's hwmon
// chip (hwmonChipID), so that its temperature and power join the GPU's
// info series; empty when the card has no hwmon directory.
func amdGPUHwmonChip(env Env, g sysfs.AMDGPU) string {
	if len(g.Hwmon) == 0 {
		return ""
	}
	dir := env.Sys(g.Hwmon[0])
	name, _ := dir.String("name")
	return hwmonChipID(dir, name, path.Base(g.Hwmon[0]))
}
