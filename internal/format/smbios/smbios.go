// Package smbios decodes SMBIOS structures as the kernel's dmi-sysfs gives
// them, one per /sys/firmware/dmi/entries/T-N/raw file. Neither procfs nor
// gopsutil parses SMBIOS, and running dmidecode would make a sysfs reader
// depend on a tool, so structures are decoded here per DMTF DSP0134
// (SMBIOS 3.x). Only type 17 (Memory Device) is decoded so far.
package smbios

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// TypeMemoryDevice is the structure type of a Memory Device (one per slot).
const TypeMemoryDevice = 17

// memoryDeviceMinLength is SMBIOS 2.1's, the shortest type 17 the spec defines.
const memoryDeviceMinLength = 0x15

// MemoryDevice is the decoded part of one SMBIOS type 17 structure.
// Zero means absent or unknown for every numeric field: fields beyond the
// structure's length (older SMBIOS versions) are absent, not errors.
type MemoryDevice struct {
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

// formFactors are the Form Factor names, indexed by value.
var formFactors = []string{
	1: "Other", 2: "Unknown", 3: "SIMM", 4: "SIP", 5: "Chip", 6: "DIP", 7: "ZIP",
	8: "Proprietary Card", 9: "DIMM", 10: "TSOP", 11: "Row of chips", 12: "RIMM",
	13: "SODIMM", 14: "SRIMM", 15: "FB-DIMM", 16: "Die",
}

// memoryTypes are the Memory Type names, indexed by value.
var memoryTypes = []string{
	1: "Other", 2: "Unknown", 3: "DRAM", 4: "EDRAM", 5: "VRAM", 6: "SRAM", 7: "RAM",
	8: "ROM", 9: "Flash", 10: "EEPROM", 11: "FEPROM", 12: "EPROM", 13: "CDRAM",
	14: "3DRAM", 15: "SDRAM", 16: "SGRAM", 17: "RDRAM", 18: "DDR", 19: "DDR2",
	20: "DDR2 FB-DIMM", 24: "DDR3", 25: "FBD2", 26: "DDR4", 27: "LPDDR", 28: "LPDDR2",
	29: "LPDDR3", 30: "LPDDR4", 31: "Logical non-volatile device", 32: "HBM", 33: "HBM2",
	34: "DDR5", 35: "LPDDR5", 36: "HBM3",
}

// enum names v from names; a value the table lacks (reserved, or newer
// than this code) is "".
func enum(names []string, v byte) string {
	if int(v) < len(names) {
		return names[v]
	}
	return ""
}

// ParseMemoryDevice decodes one type 17 structure as the kernel gives it in
// an entry's raw file: the formatted area (its length in byte 1) followed
// by the string set. A string set without its double-NUL terminator is read
// up to the end of b; a string number beyond the set reads as "".
func ParseMemoryDevice(b []byte) (MemoryDevice, error) {
	var d MemoryDevice
	if len(b) < 4 {
		return d, fmt.Errorf("SMBIOS structure of %d bytes is shorter than its header", len(b))
	}
	if b[0] != TypeMemoryDevice {
		return d, fmt.Errorf("SMBIOS structure type %d, want %d", b[0], TypeMemoryDevice)
	}
	length := int(b[1])
	if length < memoryDeviceMinLength {
		return d, fmt.Errorf("SMBIOS type 17 length %#x is below the minimum %#x", length, memoryDeviceMinLength)
	}
	if length > len(b) {
		return d, fmt.Errorf("SMBIOS type 17 structure truncated: length %#x, %d bytes", length, len(b))
	}
	f, strs := b[:length], stringSet(b[length:])

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

	d.FormFactor = enum(formFactors, f[0x0E])
	d.Locator = str(0x10)
	d.BankLocator = str(0x11)
	d.Type = enum(memoryTypes, f[0x12])
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

// stringSet splits the string set that follows a structure's formatted
// area. Firmware pads strings with spaces ("HMA84GR7CJR4N-XN    "), which
// are trimmed. The set ends at a double NUL; a structure without strings
// has just the two NULs.
func stringSet(b []byte) []string {
	var strs []string
	for len(b) > 0 && b[0] != 0 {
		s, rest, _ := bytes.Cut(b, []byte{0})
		strs = append(strs, strings.TrimSpace(string(s)))
		b = rest
	}
	return strs
}
