package sysfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// AMDGPU is what the amdgpu driver says of one GPU in sysfs, below
// class/drm/cardN/device (Documentation/gpu/amdgpu/driver-misc.rst,
// thermal.rst, ras.rst). A field whose attribute is missing is unset: zero,
// with its Has flag false where zero is a value.
type AMDGPU struct {
	Card    string // cardN, the DRM minor: numbered in probe order
	Address string // the PCI function, 0000:03:00.0: stable across boots
	// RuntimeStatus is device/power/runtime_status (active, suspended,
	// suspending, resuming, unsupported). While it is "suspended" nothing
	// else is read: the driver resumes the GPU to answer most attributes,
	// and a scrape every minute would keep an idle dGPU awake
	// (node_exporter #2681).
	RuntimeStatus string
	// Hwmon lists the card's hwmon directories (device/hwmon/hwmonN),
	// relative to the root, where temperature and power are read.
	Hwmon []string

	BusyPercent    uint64 // gpu_busy_percent
	HasBusy        bool
	MemBusyPercent uint64 // mem_busy_percent
	HasMemBusy     bool
	Memory         []AMDGPUMemory
	VBIOSVersion   string // vbios_version
	ProductName    string // product_name (from the board's FRU, often empty)
	UniqueID       string // unique_id, on GPUs that have one (Vega 10 and later server parts)
	RAS            []AMDGPURASBlock
	BadPages       AMDGPUBadPages
	HasBadPages    bool
}

// Suspended reports whether the GPU is runtime suspended, in which case
// the reader read nothing else.
func (g AMDGPU) Suspended() bool { return g.RuntimeStatus == "suspended" }

// AMDGPUMemory is one memory pool: vram, vis_vram (the part of VRAM the
// CPU can map) or gtt (system memory the GPU maps), from
// mem_info_POOL_total and mem_info_POOL_used, in bytes.
type AMDGPUMemory struct {
	Pool              string
	Total, Used       uint64
	HasTotal, HasUsed bool
}

// AMDGPURASBlock is ras/BLOCK_err_count: the errors the block (umc, the
// memory controller; gfx, sdma, mmhub, xgmi_wafl, ...) saw since the
// driver loaded. Counts holds the file's "ue", "ce" and, in kernels from
// 6.10, "de" (deferred) values as they are named there.
type AMDGPURASBlock struct {
	Block  string
	Counts map[string]uint64
}

// AMDGPUBadPages counts the lines of ras/gpu_vram_bad_pages, one per
// retired VRAM page, by its flag: R reserved (retired), P pending (to be
// retired), F failed (could not be retired).
type AMDGPUBadPages struct {
	Reserved, Pending, Failed uint64
}

// MaxBadPagesSize bounds the read of ras/gpu_vram_bad_pages: 28 bytes a
// page, so a MiB is over 37,000 pages, far past the driver's threshold for
// declaring the board bad (amdgpu.bad_page_threshold).
const MaxBadPagesSize = 1 << 20

var drmCard = regexp.MustCompile(`^card[0-9]+$`)

// AMDGPUCards lists the class/drm/cardN whose device is bound to the
// amdgpu driver, in name order. Connectors (card0-DP-1) and render nodes
// are not cards; other drivers' cards (a BMC's VGA, NVIDIA) are left out.
func AMDGPUCards(fsys hostfs.FS) ([]string, []Error) {
	var errs []Error
	drm := dir{fs: fsys, name: "class/drm", errs: &errs}
	var cards []string
	for _, e := range drm.entries() {
		if !drmCard.MatchString(e.Name()) {
			continue
		}
		target, err := fsys.Readlink(path.Join("class/drm", e.Name(), "device/driver"))
		if err != nil {
			continue // no driver bound, or no device at all (a virtual card)
		}
		if path.Base(target) == "amdgpu" {
			cards = append(cards, e.Name())
		}
	}
	return cards, errs
}

// ReadAMDGPU reads class/drm/card. It reads power/runtime_status first and
// stops there when the GPU is runtime suspended.
func ReadAMDGPU(fsys hostfs.FS, card string) (AMDGPU, []Error) {
	var errs []Error
	d := dir{fs: fsys, name: path.Join("class/drm", card, "device"), errs: &errs}
	g := AMDGPU{Card: card}
	// The device link's last element is the PCI function; a tree that
	// holds a directory there (a copy) names it in uevent instead.
	if target, err := fsys.Readlink(d.name); err == nil {
		g.Address = path.Base(target)
	} else if ue, ok := d.String("uevent"); ok {
		for _, line := range strings.Split(ue, "\n") {
			if v, ok := strings.CutPrefix(line, "PCI_SLOT_NAME="); ok {
				g.Address = v
			}
		}
	}
	g.RuntimeStatus, _ = d.String("power/runtime_status")
	for _, e := range d.sub("hwmon").entries() {
		if strings.HasPrefix(e.Name(), "hwmon") {
			g.Hwmon = append(g.Hwmon, d.rel("hwmon/"+e.Name()))
		}
	}
	if g.Suspended() {
		return g, errs
	}

	g.BusyPercent, g.HasBusy = d.Uint("gpu_busy_percent")
	g.MemBusyPercent, g.HasMemBusy = d.Uint("mem_busy_percent")
	for _, pool := range []string{"vram", "vis_vram", "gtt"} {
		m := AMDGPUMemory{Pool: pool}
		m.Total, m.HasTotal = d.Uint("mem_info_" + pool + "_total")
		m.Used, m.HasUsed = d.Uint("mem_info_" + pool + "_used")
		if m.HasTotal || m.HasUsed {
			g.Memory = append(g.Memory, m)
		}
	}
	g.VBIOSVersion, _ = d.String("vbios_version")
	g.ProductName, _ = d.String("product_name")
	g.UniqueID, _ = d.String("unique_id")

	ras := d.sub("ras")
	for _, e := range ras.entries() {
		block, ok := strings.CutSuffix(e.Name(), "_err_count")
		if !ok || block == "" {
			continue
		}
		b, ok, err := Read(fsys, ras.rel(e.Name()))
		if err == nil && ok {
			var counts map[string]uint64
			if counts, err = ParseAMDGPUErrCount(b); err == nil {
				g.RAS = append(g.RAS, AMDGPURASBlock{Block: block, Counts: counts})
			}
		}
		if err != nil {
			ras.fail(e.Name(), err)
		}
	}
	b, err := fsys.ReadFile(ras.rel("gpu_vram_bad_pages"), MaxBadPagesSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		ras.fail("gpu_vram_bad_pages", err)
	default:
		if g.BadPages, err = ParseAMDGPUBadPages(b); err != nil {
			ras.fail("gpu_vram_bad_pages", err)
		} else {
			g.HasBadPages = true
		}
	}
	return g, errs
}

// ParseAMDGPUErrCount parses a ras/BLOCK_err_count file: "ue: N\nce: N\n"
// (amdgpu_ras_sysfs_read), with "de: N" added in later kernels. While the
// driver recovers from an error the file reads "Query currently
// inaccessible", which is an error here: the counts are unknown, not 0.
func ParseAMDGPUErrCount(b []byte) (map[string]uint64, error) {
	counts := map[string]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("not a count line: %q", line)
		}
		k = strings.TrimSpace(k)
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || k == "" {
			return nil, fmt.Errorf("not a count line: %q", line)
		}
		counts[k] = n
	}
	if _, ok := counts["ue"]; !ok {
		return nil, fmt.Errorf("no ue count in %q", strings.TrimSpace(string(b)))
	}
	if _, ok := counts["ce"]; !ok {
		return nil, fmt.Errorf("no ce count in %q", strings.TrimSpace(string(b)))
	}
	return counts, nil
}

// ParseAMDGPUBadPages counts ras/gpu_vram_bad_pages by flag. Each line is
// "PFN : SIZE : FLAG" ("0x00000001 : 0x00001000 : R",
// amdgpu_ras_sysfs_badpages_read); an empty file is no bad page.
func ParseAMDGPUBadPages(b []byte) (AMDGPUBadPages, error) {
	var p AMDGPUBadPages
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) != 3 {
			return AMDGPUBadPages{}, fmt.Errorf("line %d: not PFN : SIZE : FLAG: %q", n, line)
		}
		switch strings.TrimSpace(fields[2]) {
		case "R":
			p.Reserved++
		case "P":
			p.Pending++
		case "F":
			p.Failed++
		default:
			return AMDGPUBadPages{}, fmt.Errorf("line %d: unknown flag %q", n, strings.TrimSpace(fields[2]))
		}
	}
	return p, sc.Err()
}
