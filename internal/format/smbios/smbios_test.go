package smbios

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The captures in testdata are type 17 structures as `dmidecode -u` dumps
// them ("Header and Data", then "Strings"), written out byte for byte; see
// testdata/README.md.

// capture returns testdata/name.
func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The DDR4 RDIMM capture: a 32 GB DDR4-2933 RDIMM run at 2666 MT/s.
var rdimmDecoded = MemoryDevice{
	Handle: 0x0039, ArrayHandle: 0x0031, TotalWidth: 72, DataWidth: 64,
	Installed: true, SizeBytes: 32 << 30, FormFactor: "DIMM",
	Locator: "DIMM 1", BankLocator: "P0 CHANNEL A", Type: "DDR4", TypeDetail: 0x2080,
	Speed: 2933, Manufacturer: "Samsung", Serial: "440FEB5D", AssetTag: "Not Specified",
	PartNumber: "M393A4K40DB2-CVF", Rank: 2, ConfiguredSpeed: 2666,
}

var emptyDecoded = MemoryDevice{
	Handle: 0x002B, ArrayHandle: 0x0029, FormFactor: "DIMM",
	Locator: "P1-DIMMB2", BankLocator: "P0_Node0_Channel1_Dimm1", Type: "Unknown", TypeDetail: 0x0004,
	Manufacturer: "NO DIMM", Serial: "NO DIMM", AssetTag: "NO DIMM", PartNumber: "NO DIMM",
}

func TestParseMemoryDeviceCaptured(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want MemoryDevice
	}{
		{"DDR4 RDIMM, SMBIOS 3.2", capture(t, "ddr4-rdimm-smbios3.2.raw"), rdimmDecoded},
		{"empty slot, SMBIOS 3.1", capture(t, "empty-slot-smbios3.1.raw"), emptyDecoded},
		// Rank, Extended Size and Configured Speed lie beyond the length:
		// the byte after the formatted area is the first string's, not a rank.
		{"DDR DIMM, SMBIOS 2.3", capture(t, "ddr-dimm-smbios2.3.raw"), MemoryDevice{
			Handle: 0x0020, ArrayHandle: 0x001F, TotalWidth: 64, DataWidth: 64,
			Installed: true, SizeBytes: 512 << 20, FormFactor: "DIMM",
			Locator: "DIMM0", BankLocator: "BANK0", Type: "DDR", TypeDetail: 0x0080,
			Speed: 400, Manufacturer: "Kingston", Serial: "0D0615A2", PartNumber: "KVR400X64C3A/512",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMemoryDevice(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("decoded\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// edit returns a copy of raw with the bytes at off replaced.
func edit(raw []byte, off int, b ...byte) []byte {
	out := append([]byte(nil), raw...)
	copy(out[off:], b)
	return out
}

// shorten makes raw an older version's structure: its formatted
// area cut to length, its string set kept.
func shorten(raw []byte, length int) []byte {
	out := append([]byte(nil), raw[:length]...)
	out[1] = byte(length)
	return append(out, raw[raw[1]:]...)
}

// withExtended is the RDIMM grown to SMBIOS 3.3 (92 bytes) with
// Extended Speed and Extended Configured Memory Speed set to a and b.
func withExtended(rdimm []byte, a, b uint32) []byte {
	l := int(rdimm[1])
	out := append([]byte(nil), rdimm[:l]...)
	out = binary.LittleEndian.AppendUint32(out, a)
	out = binary.LittleEndian.AppendUint32(out, b)
	out[1] = 0x5C
	return append(out, rdimm[l:]...)
}

// Variations on the captured RDIMM: each edit changes what the listed
// fields decode to and nothing else.
func TestParseMemoryDeviceFields(t *testing.T) {
	rdimm := capture(t, "ddr4-rdimm-smbios3.2.raw")
	for _, tc := range []struct {
		name string
		raw  []byte
		edit func(d *MemoryDevice)
	}{
		{"string number beyond the set", edit(rdimm, 0x1A, 9),
			func(d *MemoryDevice) { d.PartNumber = "" }},
		{"string number 0: none", edit(rdimm, 0x11, 0),
			func(d *MemoryDevice) { d.BankLocator = "" }},
		{"one string number for two fields", edit(rdimm, 0x19, 4),
			func(d *MemoryDevice) { d.AssetTag = "440FEB5D" }},
		{"string set without its final NUL", rdimm[:len(rdimm)-1], nil},
		{"last string unterminated", rdimm[:len(rdimm)-2], nil},
		{"no string set at all", rdimm[:rdimm[1]], func(d *MemoryDevice) {
			d.Locator, d.BankLocator, d.Manufacturer, d.Serial, d.AssetTag, d.PartNumber = "", "", "", "", "", ""
		}},
		{"size in MiB", edit(rdimm, 0x0C, 0x00, 0x40),
			func(d *MemoryDevice) { d.SizeBytes = 16 << 30 }},
		{"size in KiB", edit(rdimm, 0x0C, 0x00, 0x82),
			func(d *MemoryDevice) { d.SizeBytes = 512 << 10 }},
		{"size unknown", edit(rdimm, 0x0C, 0xFF, 0xFF),
			func(d *MemoryDevice) { d.SizeBytes = 0 }},
		{"extended size 2 TiB, reserved bit 31 set", edit(rdimm, 0x1C, 0x00, 0x00, 0x20, 0x80),
			func(d *MemoryDevice) { d.SizeBytes = 2 << 40 }},
		{"extended size 0: empty", edit(rdimm, 0x1C, 0, 0, 0, 0),
			func(d *MemoryDevice) { d.Installed, d.SizeBytes = false, 0 }},
		// Before SMBIOS 2.7 there is no Extended Size: 7FFFh is 32767 MiB.
		{"SMBIOS 2.6: 7FFFh is a size", shorten(rdimm, 0x1C), func(d *MemoryDevice) {
			d.SizeBytes, d.ConfiguredSpeed = 0x7FFF<<20, 0
		}},
		{"SMBIOS 2.3: no rank", shorten(rdimm, 0x1B), func(d *MemoryDevice) {
			d.SizeBytes, d.ConfiguredSpeed, d.Rank = 0x7FFF<<20, 0, 0
		}},
		{"SMBIOS 2.1: no speed, no strings but the locators", shorten(rdimm, 0x15), func(d *MemoryDevice) {
			d.SizeBytes, d.ConfiguredSpeed, d.Rank, d.Speed = 0x7FFF<<20, 0, 0, 0
			d.Manufacturer, d.Serial, d.AssetTag, d.PartNumber = "", "", "", ""
		}},
		{"speed unknown", edit(rdimm, 0x15, 0, 0),
			func(d *MemoryDevice) { d.Speed = 0 }},
		{"FFFFh speeds without the 3.3 extended fields", edit(edit(rdimm, 0x15, 0xFF, 0xFF), 0x20, 0xFF, 0xFF),
			func(d *MemoryDevice) { d.Speed, d.ConfiguredSpeed = 0, 0 }},
		{"extended speeds, SMBIOS 3.3", edit(edit(withExtended(rdimm, 70000, 0x80011170), 0x15, 0xFF, 0xFF), 0x20, 0xFF, 0xFF),
			func(d *MemoryDevice) { d.Speed, d.ConfiguredSpeed = 70000, 70000 }},
		{"extended speeds ignored below FFFFh", withExtended(rdimm, 70000, 70000), nil},
		{"DDR5 SODIMM", edit(edit(rdimm, 0x12, 0x22), 0x0E, 0x0D),
			func(d *MemoryDevice) { d.Type, d.FormFactor = "DDR5", "SODIMM" }},
		{"DDR3", edit(rdimm, 0x12, 0x18),
			func(d *MemoryDevice) { d.Type = "DDR3" }},
		{"enums beyond the tables", edit(edit(rdimm, 0x12, 0xF0), 0x0E, 0xF0),
			func(d *MemoryDevice) { d.Type, d.FormFactor = "", "" }},
		{"attributes: rank in the low nibble", edit(rdimm, 0x1B, 0x34),
			func(d *MemoryDevice) { d.Rank = 4 }},
		{"rank unknown", edit(rdimm, 0x1B, 0x00),
			func(d *MemoryDevice) { d.Rank = 0 }},
		{"widths unknown", edit(rdimm, 0x08, 0xFF, 0xFF, 0xFF, 0xFF),
			func(d *MemoryDevice) { d.TotalWidth, d.DataWidth = 0, 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := rdimmDecoded
			if tc.edit != nil {
				tc.edit(&want)
			}
			got, err := ParseMemoryDevice(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("decoded\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestParseMemoryDeviceMalformed(t *testing.T) {
	rdimm := capture(t, "ddr4-rdimm-smbios3.2.raw")
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"empty file", nil, "shorter than its header"},
		{"half a header", rdimm[:3], "shorter than its header"},
		{"another type", edit(rdimm, 0, 16), "type 16"},
		{"length below SMBIOS 2.1", edit(rdimm, 1, 0x14), "below the minimum"},
		{"formatted area truncated", rdimm[:0x40], "truncated"},
		{"garbage", []byte("not an SMBIOS structure\n"), "type 110"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMemoryDevice(tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// FuzzParseMemoryDevice holds the decoder to its promise on any bytes: an
// error or a device, never a panic, and never a string longer than the input.
func FuzzParseMemoryDevice(f *testing.F) {
	for _, name := range []string{"ddr4-rdimm-smbios3.2.raw", "empty-slot-smbios3.1.raw", "ddr-dimm-smbios2.3.raw"} {
		f.Add(capture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseMemoryDevice(b)
		if err != nil {
			return
		}
		for _, s := range []string{d.Locator, d.BankLocator, d.Manufacturer, d.Serial, d.AssetTag, d.PartNumber} {
			if len(s) > len(b) {
				t.Fatalf("string of %d bytes from %d bytes of input", len(s), len(b))
			}
		}
	})
}
