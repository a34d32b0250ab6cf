package probe

import (
	"bytes"
	"context"
	"encoding/binary"
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

// DIMM inventory from SMBIOS type 17 (Memory Device) structures, which the
// kernel exposes one per directory in /sys/firmware/dmi/entries/17-N/raw.
// Neither procfs nor gopsutil parses SMBIOS, and running dmidecode would
// make a sysfs probe depend on a tool, so the structure is decoded here per
// DMTF DSP0134 (SMBIOS 3.x). The raw files are root-only (mode 0400): run
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

// memorySMBIOSDevice is the decoded part of one SMBIOS type 17 structure.
// Zero means absent or unknown for every numeric field: fields beyond the
// structure's length (older SMBIOS versions) are absent, not errors.
type memorySMBIOSDevice struct {
	Handle      uint16
	ArrayHandle uint16 // the type 16 Physical Memory Array holding the slot
	TotalWidth  uint16 // bits, ECC included
	DataWidth   uint16 // bits
	// Installed is false for an empty slot (Size 0).
	Installed bool
	// SizeBytes is 0 when firmware does not know the size of an installed module.
	SizeBytes    uint64
	FormFactor   string
	Locator      string // Device Locator: the slot's silkscreen name
	BankLocator  string
	Type         string
	TypeDetail   uint16 // bit field: 13 registered, 14 unbuffered, 15 LRDIMM
	Speed        uint32 // MT/s
	Manufacturer string
	Serial       string
	AssetTag     string
	PartNumber   string
	Rank         uint8
	// ConfiguredSpeed is in MT/s. Early versions of the spec named the
	// field a clock speed in MHz, but firmware filled it with the transfer
	// rate (DDR4-2933 as 2933) then as now, so it is read as MT/s
	// throughout, as dmidecode reads it.
	ConfiguredSpeed uint32
}

const (
	memorySMBIOSType      = 17
	memorySMBIOSMinLength = 0x15 // SMBIOS 2.1's, the shortest type 17 the spec defines
)

// memorySMBIOSFormFactors are the Form Factor names, indexed by value.
var memorySMBIOSFormFactors = []string{
	1: "Other", 2: "Unknown", 3: "SIMM", 4: "SIP", 5: "Chip", 6: "DIP", 7: "ZIP",
	8: "Proprietary Card", 9: "DIMM", 10: "TSOP", 11: "Row of chips", 12: "RIMM",
	13: "SODIMM", 14: "SRIMM", 15: "FB-DIMM", 16: "Die",
}

// memorySMBIOSTypes are the Memory Type names, indexed by value.
var memorySMBIOSTypes = []string{
	1: "Other", 2: "Unknown", 3: "DRAM", 4: "EDRAM", 5: "VRAM", 6: "SRAM", 7: "RAM",
	8: "ROM", 9: "Flash", 10: "EEPROM", 11: "FEPROM", 12: "EPROM", 13: "CDRAM",
	14: "3DRAM", 15: "SDRAM", 16: "SGRAM", 17: "RDRAM", 18: "DDR", 19: "DDR2",
	20: "DDR2 FB-DIMM", 24: "DDR3", 25: "FBD2", 26: "DDR4", 27: "LPDDR", 28: "LPDDR2",
	29: "LPDDR3", 30: "LPDDR4", 31: "Logical non-volatile device", 32: "HBM", 33: "HBM2",
	34: "DDR5", 35: "LPDDR5", 36: "HBM3",
}

// memorySMBIOSEnum names v from names; a value the table lacks (reserved, or
// newer than this code) is "".
func memorySMBIOSEnum(names []string, v byte) string {
	if int(v) < len(names) {
		return names[v]
	}
	return ""
}

// memorySMBIOSParse decodes one type 17 structure as the kernel gives
// it in an entry's raw file: the formatted area (its length in byte 1)
// followed by the string set. A string set without its double-NUL
// terminator is read up to the end of b; a string number beyond the set
// reads as "".
func memorySMBIOSParse(b []byte) (memorySMBIOSDevice, error) {
	var d memorySMBIOSDevice
	if len(b) < 4 {
		return d, fmt.Errorf("SMBIOS structure of %d bytes is shorter than its header", len(b))
	}
	if b[0] != memorySMBIOSType {
		return d, fmt.Errorf("SMBIOS structure type %d, want %d", b[0], memorySMBIOSType)
	}
	length := int(b[1])
	if length < memorySMBIOSMinLength {
		return d, fmt.Errorf("SMBIOS type 17 length %#x is below the minimum %#x", length, memorySMBIOSMinLength)
	}
	if length > len(b) {
		return d, fmt.Errorf("SMBIOS type 17 structure truncated: length %#x, %d bytes", length, len(b))
	}
	f, strs := b[:length], memorySMBIOSStrings(b[length:])

	// has reports whether the formatted area holds n bytes at off.
	has := func(off, n int) bool { return off+n <= length }
	word := func(off int) uint16 { return binary.LittleEndian.Uint16(f[off:]) }
	dword := func(off int) uint32 { return binary.LittleEndian.Uint32(f[off:]) }
	str := func(off int) string {
		if !has(off, 1) {
			return ""
		}
		n := int(f[off]) // 1-based; 0 means none
		if n == 0 || n > len(strs) {
			return ""
		}
		return strs[n-1]
	}
	width := func(off int) uint16 {
		if w := word(off); w != 0xFFFF {
			return w
		}
		return 0
	}

	d.Handle = word(0x02)
	d.ArrayHandle = word(0x04)
	d.TotalWidth = width(0x08)
	d.DataWidth = width(0x0A)

	switch size := word(0x0C); {
	case size == 0:
		// No module installed.
	case size == 0xFFFF:
		d.Installed = true // installed, size unknown
	case size == 0x7FFF && has(0x1C, 4):
		// 32 GiB - 1 MiB or more: Extended Size, in MiB, bit 31 reserved.
		d.SizeBytes = uint64(dword(0x1C)&0x7FFFFFFF) << 20
		d.Installed = d.SizeBytes != 0
	case size&0x8000 != 0:
		d.SizeBytes = uint64(size&0x7FFF) << 10
		d.Installed = d.SizeBytes != 0
	default:
		d.SizeBytes = uint64(size) << 20
		d.Installed = true
	}

	d.FormFactor = memorySMBIOSEnum(memorySMBIOSFormFactors, f[0x0E])
	d.Locator = str(0x10)
	d.BankLocator = str(0x11)
	d.Type = memorySMBIOSEnum(memorySMBIOSTypes, f[0x12])
	d.TypeDetail = word(0x13)

	if has(0x15, 2) { // SMBIOS 2.3
		switch s := word(0x15); {
		case s != 0xFFFF:
			d.Speed = uint32(s)
		case has(0x54, 4): // SMBIOS 3.3
			d.Speed = dword(0x54) & 0x7FFFFFFF
		}
	}
	d.Manufacturer = str(0x17)
	d.Serial = str(0x18)
	d.AssetTag = str(0x19)
	d.PartNumber = str(0x1A)
	if has(0x1B, 1) { // SMBIOS 2.6
		d.Rank = f[0x1B] & 0x0F
	}
	if has(0x20, 2) { // SMBIOS 2.7
		switch s := word(0x20); {
		case s != 0xFFFF:
			d.ConfiguredSpeed = uint32(s)
		case has(0x58, 4): // SMBIOS 3.3
			d.ConfiguredSpeed = dword(0x58) & 0x7FFFFFFF
		}
	}
	return d, nil
}

// memorySMBIOSStrings splits the string set that follows a structure's formatted
// area. Firmware pads strings with spaces ("HMA84GR7CJR4N-XN    "), which
// are trimmed. The set ends at a double NUL; a structure without strings
// has just the two NULs.
func memorySMBIOSStrings(b []byte) []string {
	var strs []string
	for len(b) > 0 && b[0] != 0 {
		s, rest, _ := bytes.Cut(b, []byte{0})
		strs = append(strs, strings.TrimSpace(string(s)))
		b = rest
	}
	return strs
}

// memorySMBIOSMaxSize bounds what is read of one raw entry: a formatted area
// is at most 255 bytes, and each of its string numbers names at most 255
// strings of a few dozen bytes.
const memorySMBIOSMaxSize = 64 << 10

// memorySMBIOSRead reads one entry's raw file, like attrs.RestrictedString
// but keeping the bytes as they are. Permission denied (not root) is logged
// at debug level and not counted as a skip; any failure but a missing file is.
func memorySMBIOSRead(path string, skips *Skips) ([]byte, bool) {
	f, err := os.Open(path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrPermission):
		skips.logger.Debug("not permitted to read root-only SMBIOS entry", "path", path)
		return nil, false
	case errors.Is(err, fs.ErrNotExist):
		return nil, false
	default:
		skips.Add(path, err)
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, memorySMBIOSMaxSize))
	if err != nil {
		skips.Add(path, err)
		return nil, false
	}
	return b, true
}

// memoryModules reads every type 17 entry below sysfs and returns the module
// and slot series. An unreadable or malformed entry is skipped; the others
// are kept.
func memoryModules(ctx context.Context, sysfs string, skips *Skips) ([]prometheus.Metric, error) {
	dir := filepath.Join(sysfs, "firmware/dmi/entries")
	type module struct {
		path string
		d    memorySMBIOSDevice
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
		b, ok := memorySMBIOSRead(path, skips)
		if !ok {
			continue
		}
		d, err := memorySMBIOSParse(b)
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
