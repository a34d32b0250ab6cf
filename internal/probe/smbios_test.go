package probe

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Type 17 structures as `dmidecode -u` dumps them ("Header and Data", then
// "Strings"), one row of 16 bytes a line.

// memorySMBIOSRDIMM is a populated slot on an AMD EPYC board with AMI
// firmware, SMBIOS 3.2 (84 bytes): a 32 GB DDR4-2933 RDIMM run at 2666 MT/s.
var memorySMBIOSRDIMM = []byte{
	// Header and Data:
	0x11, 0x54, 0x39, 0x00, 0x31, 0x00, 0xFE, 0xFF, 0x48, 0x00, 0x40, 0x00, 0xFF, 0x7F, 0x09, 0x00, // 0x00
	0x01, 0x02, 0x1A, 0x80, 0x20, 0x75, 0x0B, 0x03, 0x04, 0x05, 0x06, 0x02, 0x00, 0x80, 0x00, 0x00, // 0x10
	0x6A, 0x0A, 0xB0, 0x04, 0xB0, 0x04, 0xB0, 0x04, 0x03, 0x08, 0x00, 0x00, 0x80, 0xCE, 0x00, 0x00, // 0x20
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x30
	0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x40
	0x00, 0x00, 0x00, 0x00, // 0x50
	// Strings:
	0x44, 0x49, 0x4D, 0x4D, 0x20, 0x31, 0x00, // "DIMM 1"
	0x50, 0x30, 0x20, 0x43, 0x48, 0x41, 0x4E, 0x4E, 0x45, 0x4C, 0x20, 0x41, 0x00, // "P0 CHANNEL A"
	0x53, 0x61, 0x6D, 0x73, 0x75, 0x6E, 0x67, 0x00, // "Samsung"
	0x34, 0x34, 0x30, 0x46, 0x45, 0x42, 0x35, 0x44, 0x00, // "440FEB5D"
	0x4E, 0x6F, 0x74, 0x20, 0x53, 0x70, 0x65, 0x63, 0x69, 0x66, 0x69, 0x65, 0x64, 0x00, // "Not Specified"
	0x4D, 0x33, 0x39, 0x33, 0x41, 0x34, 0x4B, 0x34, 0x30, 0x44, 0x42, 0x32, 0x2D, 0x43, 0x56, 0x46,
	0x20, 0x20, 0x20, 0x20, 0x00, // "M393A4K40DB2-CVF    "
	0x00, // end of the string set
}

var memorySMBIOSRDIMMDecoded = memorySMBIOSDevice{
	Handle: 0x0039, ArrayHandle: 0x0031, TotalWidth: 72, DataWidth: 64,
	Installed: true, SizeBytes: 32 << 30, FormFactor: "DIMM",
	Locator: "DIMM 1", BankLocator: "P0 CHANNEL A", Type: "DDR4", TypeDetail: 0x2080,
	Speed: 2933, Manufacturer: "Samsung", Serial: "440FEB5D", AssetTag: "Not Specified",
	PartNumber: "M393A4K40DB2-CVF", Rank: 2, ConfiguredSpeed: 2666,
}

// memorySMBIOSEmpty is an empty slot on a Supermicro X11 board, SMBIOS 3.1
// (40 bytes), whose firmware fills every string of an empty slot with
// "NO DIMM".
var memorySMBIOSEmpty = []byte{
	// Header and Data:
	0x11, 0x28, 0x2B, 0x00, 0x29, 0x00, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x09, 0x00, // 0x00
	0x01, 0x02, 0x02, 0x04, 0x00, 0x00, 0x00, 0x03, 0x04, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x10
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x20
	// Strings:
	0x50, 0x31, 0x2D, 0x44, 0x49, 0x4D, 0x4D, 0x42, 0x32, 0x00, // "P1-DIMMB2"
	0x50, 0x30, 0x5F, 0x4E, 0x6F, 0x64, 0x65, 0x30, 0x5F, 0x43, 0x68, 0x61, 0x6E, 0x6E, 0x65, 0x6C,
	0x31, 0x5F, 0x44, 0x69, 0x6D, 0x6D, 0x31, 0x00, // "P0_Node0_Channel1_Dimm1"
	0x4E, 0x4F, 0x20, 0x44, 0x49, 0x4D, 0x4D, 0x00, // "NO DIMM"
	0x4E, 0x4F, 0x20, 0x44, 0x49, 0x4D, 0x4D, 0x00, // "NO DIMM"
	0x4E, 0x4F, 0x20, 0x44, 0x49, 0x4D, 0x4D, 0x00, // "NO DIMM"
	0x4E, 0x4F, 0x20, 0x44, 0x49, 0x4D, 0x4D, 0x00, // "NO DIMM"
	0x00, // end of the string set
}

var memorySMBIOSEmptyDecoded = memorySMBIOSDevice{
	Handle: 0x002B, ArrayHandle: 0x0029, FormFactor: "DIMM",
	Locator: "P1-DIMMB2", BankLocator: "P0_Node0_Channel1_Dimm1", Type: "Unknown", TypeDetail: 0x0004,
	Manufacturer: "NO DIMM", Serial: "NO DIMM", AssetTag: "NO DIMM", PartNumber: "NO DIMM",
}

// memorySMBIOSDDR is an SMBIOS 2.3 structure (27 bytes, no Attributes,
// Extended Size or Configured Speed): a 512 MB DDR-400 DIMM.
var memorySMBIOSDDR = []byte{
	// Header and Data:
	0x11, 0x1B, 0x20, 0x00, 0x1F, 0x00, 0xFE, 0xFF, 0x40, 0x00, 0x40, 0x00, 0x00, 0x02, 0x09, 0x00, // 0x00
	0x01, 0x02, 0x12, 0x80, 0x00, 0x90, 0x01, 0x03, 0x04, 0x00, 0x05, // 0x10
	// Strings:
	0x44, 0x49, 0x4D, 0x4D, 0x30, 0x00, // "DIMM0"
	0x42, 0x41, 0x4E, 0x4B, 0x30, 0x00, // "BANK0"
	0x4B, 0x69, 0x6E, 0x67, 0x73, 0x74, 0x6F, 0x6E, 0x00, // "Kingston"
	0x30, 0x44, 0x30, 0x36, 0x31, 0x35, 0x41, 0x32, 0x00, // "0D0615A2"
	0x4B, 0x56, 0x52, 0x34, 0x30, 0x30, 0x58, 0x36, 0x34, 0x43, 0x33, 0x41, 0x2F, 0x35, 0x31, 0x32, 0x00, // "KVR400X64C3A/512"
	0x00, // end of the string set
}

func TestMemorySMBIOSParseCaptured(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want memorySMBIOSDevice
	}{
		{"DDR4 RDIMM, SMBIOS 3.2", memorySMBIOSRDIMM, memorySMBIOSRDIMMDecoded},
		{"empty slot, SMBIOS 3.1", memorySMBIOSEmpty, memorySMBIOSEmptyDecoded},
		// Rank, Extended Size and Configured Speed lie beyond the length:
		// the byte after the formatted area is the first string's, not a rank.
		{"DDR DIMM, SMBIOS 2.3", memorySMBIOSDDR, memorySMBIOSDevice{
			Handle: 0x0020, ArrayHandle: 0x001F, TotalWidth: 64, DataWidth: 64,
			Installed: true, SizeBytes: 512 << 20, FormFactor: "DIMM",
			Locator: "DIMM0", BankLocator: "BANK0", Type: "DDR", TypeDetail: 0x0080,
			Speed: 400, Manufacturer: "Kingston", Serial: "0D0615A2", PartNumber: "KVR400X64C3A/512",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := memorySMBIOSParse(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("decoded\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// memorySMBIOSEdit returns a copy of raw with the bytes at off replaced.
func memorySMBIOSEdit(raw []byte, off int, b ...byte) []byte {
	out := append([]byte(nil), raw...)
	copy(out[off:], b)
	return out
}

// memorySMBIOSShorten makes raw an older version's structure: its formatted
// area cut to length, its string set kept.
func memorySMBIOSShorten(raw []byte, length int) []byte {
	out := append([]byte(nil), raw[:length]...)
	out[1] = byte(length)
	return append(out, raw[raw[1]:]...)
}

// memorySMBIOSWithExtended is the RDIMM grown to SMBIOS 3.3 (92 bytes) with
// Extended Speed and Extended Configured Memory Speed set to a and b.
func memorySMBIOSWithExtended(a, b uint32) []byte {
	l := int(memorySMBIOSRDIMM[1])
	out := append([]byte(nil), memorySMBIOSRDIMM[:l]...)
	out = binary.LittleEndian.AppendUint32(out, a)
	out = binary.LittleEndian.AppendUint32(out, b)
	out[1] = 0x5C
	return append(out, memorySMBIOSRDIMM[l:]...)
}

// Variations on the captured RDIMM: each edit changes what the listed
// fields decode to and nothing else.
func TestMemorySMBIOSParseFields(t *testing.T) {
	rdimm := memorySMBIOSRDIMM
	for _, tc := range []struct {
		name string
		raw  []byte
		edit func(d *memorySMBIOSDevice)
	}{
		{"string number beyond the set", memorySMBIOSEdit(rdimm, 0x1A, 9),
			func(d *memorySMBIOSDevice) { d.PartNumber = "" }},
		{"string number 0: none", memorySMBIOSEdit(rdimm, 0x11, 0),
			func(d *memorySMBIOSDevice) { d.BankLocator = "" }},
		{"one string number for two fields", memorySMBIOSEdit(rdimm, 0x19, 4),
			func(d *memorySMBIOSDevice) { d.AssetTag = "440FEB5D" }},
		{"string set without its final NUL", rdimm[:len(rdimm)-1], nil},
		{"last string unterminated", rdimm[:len(rdimm)-2], nil},
		{"no string set at all", rdimm[:rdimm[1]], func(d *memorySMBIOSDevice) {
			d.Locator, d.BankLocator, d.Manufacturer, d.Serial, d.AssetTag, d.PartNumber = "", "", "", "", "", ""
		}},
		{"size in MiB", memorySMBIOSEdit(rdimm, 0x0C, 0x00, 0x40),
			func(d *memorySMBIOSDevice) { d.SizeBytes = 16 << 30 }},
		{"size in KiB", memorySMBIOSEdit(rdimm, 0x0C, 0x00, 0x82),
			func(d *memorySMBIOSDevice) { d.SizeBytes = 512 << 10 }},
		{"size unknown", memorySMBIOSEdit(rdimm, 0x0C, 0xFF, 0xFF),
			func(d *memorySMBIOSDevice) { d.SizeBytes = 0 }},
		{"extended size 2 TiB, reserved bit 31 set", memorySMBIOSEdit(rdimm, 0x1C, 0x00, 0x00, 0x20, 0x80),
			func(d *memorySMBIOSDevice) { d.SizeBytes = 2 << 40 }},
		{"extended size 0: empty", memorySMBIOSEdit(rdimm, 0x1C, 0, 0, 0, 0),
			func(d *memorySMBIOSDevice) { d.Installed, d.SizeBytes = false, 0 }},
		// Before SMBIOS 2.7 there is no Extended Size: 7FFFh is 32767 MiB.
		{"SMBIOS 2.6: 7FFFh is a size", memorySMBIOSShorten(rdimm, 0x1C), func(d *memorySMBIOSDevice) {
			d.SizeBytes, d.ConfiguredSpeed = 0x7FFF<<20, 0
		}},
		{"SMBIOS 2.3: no rank", memorySMBIOSShorten(rdimm, 0x1B), func(d *memorySMBIOSDevice) {
			d.SizeBytes, d.ConfiguredSpeed, d.Rank = 0x7FFF<<20, 0, 0
		}},
		{"SMBIOS 2.1: no speed, no strings but the locators", memorySMBIOSShorten(rdimm, 0x15), func(d *memorySMBIOSDevice) {
			d.SizeBytes, d.ConfiguredSpeed, d.Rank, d.Speed = 0x7FFF<<20, 0, 0, 0
			d.Manufacturer, d.Serial, d.AssetTag, d.PartNumber = "", "", "", ""
		}},
		{"speed unknown", memorySMBIOSEdit(rdimm, 0x15, 0, 0),
			func(d *memorySMBIOSDevice) { d.Speed = 0 }},
		{"FFFFh speeds without the 3.3 extended fields", memorySMBIOSEdit(memorySMBIOSEdit(rdimm, 0x15, 0xFF, 0xFF), 0x20, 0xFF, 0xFF),
			func(d *memorySMBIOSDevice) { d.Speed, d.ConfiguredSpeed = 0, 0 }},
		{"extended speeds, SMBIOS 3.3", memorySMBIOSEdit(memorySMBIOSEdit(memorySMBIOSWithExtended(70000, 0x80011170), 0x15, 0xFF, 0xFF), 0x20, 0xFF, 0xFF),
			func(d *memorySMBIOSDevice) { d.Speed, d.ConfiguredSpeed = 70000, 70000 }},
		{"extended speeds ignored below FFFFh", memorySMBIOSWithExtended(70000, 70000), nil},
		{"DDR5 SODIMM", memorySMBIOSEdit(memorySMBIOSEdit(rdimm, 0x12, 0x22), 0x0E, 0x0D),
			func(d *memorySMBIOSDevice) { d.Type, d.FormFactor = "DDR5", "SODIMM" }},
		{"DDR3", memorySMBIOSEdit(rdimm, 0x12, 0x18),
			func(d *memorySMBIOSDevice) { d.Type = "DDR3" }},
		{"enums beyond the tables", memorySMBIOSEdit(memorySMBIOSEdit(rdimm, 0x12, 0xF0), 0x0E, 0xF0),
			func(d *memorySMBIOSDevice) { d.Type, d.FormFactor = "", "" }},
		{"attributes: rank in the low nibble", memorySMBIOSEdit(rdimm, 0x1B, 0x34),
			func(d *memorySMBIOSDevice) { d.Rank = 4 }},
		{"rank unknown", memorySMBIOSEdit(rdimm, 0x1B, 0x00),
			func(d *memorySMBIOSDevice) { d.Rank = 0 }},
		{"widths unknown", memorySMBIOSEdit(rdimm, 0x08, 0xFF, 0xFF, 0xFF, 0xFF),
			func(d *memorySMBIOSDevice) { d.TotalWidth, d.DataWidth = 0, 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := memorySMBIOSRDIMMDecoded
			if tc.edit != nil {
				tc.edit(&want)
			}
			got, err := memorySMBIOSParse(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("decoded\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestMemorySMBIOSParseMalformed(t *testing.T) {
	rdimm := memorySMBIOSRDIMM
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"empty file", nil, "shorter than its header"},
		{"half a header", rdimm[:3], "shorter than its header"},
		{"another type", memorySMBIOSEdit(rdimm, 0, 16), "type 16"},
		{"length below SMBIOS 2.1", memorySMBIOSEdit(rdimm, 1, 0x14), "below the minimum"},
		{"formatted area truncated", rdimm[:0x40], "truncated"},
		{"garbage", []byte("not an SMBIOS structure\n"), "type 110"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := memorySMBIOSParse(tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// The fixture's entries are shaped as the kernel's dmi-sysfs makes them:
// type, length and handle agree with the raw structure.
func TestMemorySMBIOSFixtureEntries(t *testing.T) {
	dir := filepath.Join(fixtureRoot, "sys/firmware/dmi/entries")
	entries := numberedEntries(dir, "17-", "", NewSkips(nil))
	if len(entries) != 32 {
		t.Fatalf("%d type 17 entries, want 32", len(entries))
	}
	for _, e := range entries {
		a := attrs{dir: filepath.Join(dir, e.name), skips: NewSkips(nil)}
		raw, err := os.ReadFile(filepath.Join(a.dir, "raw"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := memorySMBIOSParse(raw)
		if err != nil {
			t.Errorf("%s: %v", e.name, err)
			continue
		}
		typ, _ := a.Uint("type")
		length, _ := a.Uint("length")
		handle, _ := a.Uint("handle")
		instance, _ := a.Uint("instance")
		if typ != 17 || length != uint64(raw[1]) || handle != uint64(d.Handle) || instance != e.n {
			t.Errorf("%s: type %d length %d handle %d instance %d disagree with raw (length %d, handle %d)",
				e.name, typ, length, handle, instance, raw[1], d.Handle)
		}
		if raw[len(raw)-1] != 0 || raw[len(raw)-2] != 0 {
			t.Errorf("%s: string set does not end in a double NUL", e.name)
		}
	}
}

// memorySMBIOSTree plants meminfo and the given type 17 entries
// (name → raw bytes) and returns its Paths.
func memorySMBIOSTree(t *testing.T, entries map[string][]byte) Paths {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{"proc/meminfo": testMeminfo}
	for name, raw := range entries {
		dir := "sys/firmware/dmi/entries/" + name + "/"
		files[dir+"raw"] = string(raw)
		if len(raw) > 3 {
			files[dir+"type"] = strconv.Itoa(int(raw[0])) + "\n"
			files[dir+"length"] = strconv.Itoa(int(raw[1])) + "\n"
			files[dir+"handle"] = strconv.Itoa(int(binary.LittleEndian.Uint16(raw[2:]))) + "\n"
		}
	}
	plantTree(t, root, files)
	return treePaths(root)
}

// memorySMBIOSWithLocators is the RDIMM with its Device and Bank Locators
// replaced (the string set rebuilt) and its serial made serial.
func memorySMBIOSWithLocators(locator, bank, serial string) []byte {
	l := int(memorySMBIOSRDIMM[1])
	out := append([]byte(nil), memorySMBIOSRDIMM[:l]...)
	for _, s := range []string{locator, bank, "Samsung", serial, "Not Specified", "M393A4K40DB2-CVF    "} {
		out = append(append(out, s...), 0)
	}
	return append(out, 0)
}

func TestMemoryModules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries map[string][]byte
		want    map[string]float64
		skips   int
	}{
		{
			name: "one module, one empty slot; other types and names ignored",
			entries: map[string][]byte{
				"17-0": memorySMBIOSRDIMM, "17-1": memorySMBIOSEmpty,
				"16-0": {16, 0x17, 0, 0}, "127-0": {127, 4, 0, 0}, "17-x": memorySMBIOSRDIMM,
			},
			want: map[string]float64{
				`hardware_memory_module_info{bank="P0 CHANNEL A",form_factor="DIMM",locator="DIMM 1",manufacturer="Samsung",part_number="M393A4K40DB2-CVF",rank="2",serial="440FEB5D",type="DDR4"}`: 1,
				`hardware_memory_module_size_bytes{locator="DIMM 1"}`:                            32 << 30,
				`hardware_memory_module_speed_transfers_per_second{locator="DIMM 1"}`:            2933e6,
				`hardware_memory_module_configured_speed_transfers_per_second{locator="DIMM 1"}`: 2666e6,
				`hardware_memory_module_slots{state="populated"}`:                                1,
				`hardware_memory_module_slots{state="empty"}`:                                    1,
			},
		},
		{
			name: "string number out of range: label empty",
			entries: map[string][]byte{
				"17-0": memorySMBIOSEdit(memorySMBIOSRDIMM, 0x1A, 7),
			},
			want: map[string]float64{
				`hardware_memory_module_info{bank="P0 CHANNEL A",form_factor="DIMM",locator="DIMM 1",manufacturer="Samsung",part_number="",rank="2",serial="440FEB5D",type="DDR4"}`: 1,
				`hardware_memory_module_size_bytes{locator="DIMM 1"}`:                            32 << 30,
				`hardware_memory_module_speed_transfers_per_second{locator="DIMM 1"}`:            2933e6,
				`hardware_memory_module_configured_speed_transfers_per_second{locator="DIMM 1"}`: 2666e6,
				`hardware_memory_module_slots{state="populated"}`:                                1,
				`hardware_memory_module_slots{state="empty"}`:                                    0,
			},
		},
		{
			name:    "SMBIOS 2.3: no rank, no configured speed",
			entries: map[string][]byte{"17-0": memorySMBIOSDDR},
			want: map[string]float64{
				`hardware_memory_module_info{bank="BANK0",form_factor="DIMM",locator="DIMM0",manufacturer="Kingston",part_number="KVR400X64C3A/512",rank="",serial="0D0615A2",type="DDR"}`: 1,
				`hardware_memory_module_size_bytes{locator="DIMM0"}`:                 512 << 20,
				`hardware_memory_module_speed_transfers_per_second{locator="DIMM0"}`: 400e6,
				`hardware_memory_module_slots{state="populated"}`:                    1,
				`hardware_memory_module_slots{state="empty"}`:                        0,
			},
		},
		{
			name: "size and speeds unknown: info only",
			entries: map[string][]byte{
				"17-0": memorySMBIOSEdit(memorySMBIOSEdit(memorySMBIOSEdit(memorySMBIOSRDIMM, 0x0C, 0xFF, 0xFF), 0x15, 0, 0), 0x20, 0, 0),
			},
			want: map[string]float64{
				`hardware_memory_module_info{bank="P0 CHANNEL A",form_factor="DIMM",locator="DIMM 1",manufacturer="Samsung",part_number="M393A4K40DB2-CVF",rank="2",serial="440FEB5D",type="DDR4"}`: 1,
				`hardware_memory_module_slots{state="populated"}`: 1,
				`hardware_memory_module_slots{state="empty"}`:     0,
			},
		},
		{
			// AMI firmware on AMD boards names every channel's first slot
			// "DIMM 0": the bank tells them apart. Two slots that nothing
			// tells apart would be duplicate series; both are skipped.
			name: "repeated device locators",
			entries: map[string][]byte{
				"17-0": memorySMBIOSWithLocators("DIMM 0", "P0 CHANNEL A", "1"),
				"17-1": memorySMBIOSWithLocators("DIMM 0", "P0 CHANNEL B", "2"),
				"17-2": memorySMBIOSWithLocators("DIMM 1", "", "3"),
				"17-3": memorySMBIOSWithLocators("DIMM 1", "", "4"),
				"17-4": memorySMBIOSWithLocators("DIMM 2", "P0 CHANNEL A", "5"),
			},
			skips: 2,
			want: map[string]float64{
				`hardware_memory_module_info{bank="P0 CHANNEL A",form_factor="DIMM",locator="P0 CHANNEL A/DIMM 0",manufacturer="Samsung",part_number="M393A4K40DB2-CVF",rank="2",serial="1",type="DDR4"}`: 1,
				`hardware_memory_module_info{bank="P0 CHANNEL B",form_factor="DIMM",locator="P0 CHANNEL B/DIMM 0",manufacturer="Samsung",part_number="M393A4K40DB2-CVF",rank="2",serial="2",type="DDR4"}`: 1,
				`hardware_memory_module_info{bank="P0 CHANNEL A",form_factor="DIMM",locator="DIMM 2",manufacturer="Samsung",part_number="M393A4K40DB2-CVF",rank="2",serial="5",type="DDR4"}`:              1,
				`hardware_memory_module_size_bytes{locator="P0 CHANNEL A/DIMM 0"}`:                            32 << 30,
				`hardware_memory_module_speed_transfers_per_second{locator="P0 CHANNEL A/DIMM 0"}`:            2933e6,
				`hardware_memory_module_configured_speed_transfers_per_second{locator="P0 CHANNEL A/DIMM 0"}`: 2666e6,
				`hardware_memory_module_size_bytes{locator="P0 CHANNEL B/DIMM 0"}`:                            32 << 30,
				`hardware_memory_module_speed_transfers_per_second{locator="P0 CHANNEL B/DIMM 0"}`:            2933e6,
				`hardware_memory_module_configured_speed_transfers_per_second{locator="P0 CHANNEL B/DIMM 0"}`: 2666e6,
				`hardware_memory_module_size_bytes{locator="DIMM 2"}`:                                         32 << 30,
				`hardware_memory_module_speed_transfers_per_second{locator="DIMM 2"}`:                         2933e6,
				`hardware_memory_module_configured_speed_transfers_per_second{locator="DIMM 2"}`:              2666e6,
				`hardware_memory_module_slots{state="populated"}`:                                             5,
				`hardware_memory_module_slots{state="empty"}`:                                                 0,
			},
		},
		{
			name: "truncated and garbage entries cost themselves",
			entries: map[string][]byte{
				"17-0": memorySMBIOSRDIMM[:0x30], "17-1": []byte("\x00\x00"), "17-2": memorySMBIOSEmpty,
			},
			skips: 2,
			want: map[string]float64{
				`hardware_memory_module_slots{state="populated"}`: 0,
				`hardware_memory_module_slots{state="empty"}`:     1,
			},
		},
		{
			name:    "nothing readable: no slot counts",
			entries: map[string][]byte{"17-0": []byte("garbage")},
			skips:   1,
			want:    map[string]float64{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]float64{`hardware_memory_total_bytes{}`: 4026748 * 1024}
			for k, v := range tc.want {
				want[k] = v
			}
			c, skips := runProbe(t, "memory", memorySMBIOSTree(t, tc.entries))
			assertSeries(t, gatherSeries(t, c), "hardware_memory_", want)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
		})
	}
}

// memorySMBIOSFixtureCopy copies meminfo and the server fixture's SMBIOS
// entries, so a test can break them.
func memorySMBIOSFixtureCopy(t *testing.T) Paths {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join(fixtureRoot, "sys/firmware/dmi/entries")
	if err := os.CopyFS(filepath.Join(root, "sys/firmware/dmi/entries"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	plantTree(t, root, map[string]string{"proc/meminfo": testMeminfo})
	return treePaths(root)
}

// The fixture's A4 is 17-3, B1 is 17-16; A9 (17-8) is empty.
func TestMemoryModulesDegraded(t *testing.T) {
	for _, tc := range []struct {
		name             string
		break_           func(t *testing.T, entries string)
		skips            int
		populated, empty float64
		gone             string // locator without series
		needsUser        bool
	}{
		{name: "raw unreadable", skips: 1, populated: 15, empty: 16, gone: "A4",
			break_: func(t *testing.T, entries string) { replaceWithDir(t, filepath.Join(entries, "17-3/raw")) }},
		{name: "raw truncated", skips: 1, populated: 15, empty: 16, gone: "B1",
			break_: func(t *testing.T, entries string) {
				writeFile(t, filepath.Join(entries, "17-16/raw"), "\x11\x5c\x10\x11\x00\x10")
			}},
		{name: "raw gone from an entry", populated: 16, empty: 15,
			break_: func(t *testing.T, entries string) {
				if err := os.Remove(filepath.Join(entries, "17-8/raw")); err != nil {
					t.Fatal(err)
				}
			}},
		// sysfs makes raw 0400 root; a test file is the test user's own, so
		// mode 0 stands in for another owner's 0400.
		{name: "not root: permission denied is no skip", populated: 15, empty: 16, gone: "A4", needsUser: true,
			break_: func(t *testing.T, entries string) {
				if err := os.Chmod(filepath.Join(entries, "17-3/raw"), 0); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsUser && os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			paths := memorySMBIOSFixtureCopy(t)
			tc.break_(t, filepath.Join(paths.SysFS, "firmware/dmi/entries"))
			c, skips := runProbe(t, "memory", paths)
			got := gatherSeries(t, c)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
			for state, want := range map[string]float64{"populated": tc.populated, "empty": tc.empty} {
				if g := got[`hardware_memory_module_slots{state="`+state+`"}`]; g != want {
					t.Errorf("%s slots = %v, want %v", state, g, want)
				}
			}
			modules := 0
			for k := range got {
				if strings.HasPrefix(k, "hardware_memory_module_size_bytes{") {
					modules++
				}
				if tc.gone != "" && strings.Contains(k, `locator="`+tc.gone+`"`) {
					t.Errorf("unexpected %s", k)
				}
			}
			if modules != int(tc.populated) {
				t.Errorf("%d modules with a size, want %v", modules, tc.populated)
			}
		})
	}
}

func TestMemoryModulesCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := memoryModules(ctx, fixturePaths.SysFS, NewSkips(nil)); err == nil {
		t.Error("memoryModules with a cancelled context succeeded")
	}
}
