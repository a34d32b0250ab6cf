package probe

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/format/smbios"
)

// The SMBIOS captures live with their decoder (internal/format/smbios/testdata,
// origins in its README.md); these tests map them to series.
var (
	memorySMBIOSRDIMM = memorySMBIOSCapture("ddr4-rdimm-smbios3.2.raw")
	memorySMBIOSEmpty = memorySMBIOSCapture("empty-slot-smbios3.1.raw")
	memorySMBIOSDDR   = memorySMBIOSCapture("ddr-dimm-smbios2.3.raw")
)

func memorySMBIOSCapture(name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "format", "smbios", "testdata", name))
	if err != nil {
		panic(err)
	}
	return b
}

// memorySMBIOSEdit returns a copy of raw with the bytes at off replaced.
func memorySMBIOSEdit(raw []byte, off int, b ...byte) []byte {
	out := append([]byte(nil), raw...)
	copy(out[off:], b)
	return out
}

// The fixture's entries are shaped as the kernel's dmi-sysfs makes them:
// type, length and handle agree with the raw structure.
func TestMemorySMBIOSFixtureEntries(t *testing.T) {
	dir := Env{Paths: fixturePaths}.Sys("firmware/dmi/entries")
	entries := dir.numbered("17-", "")
	if len(entries) != 32 {
		t.Fatalf("%d type 17 entries, want 32", len(entries))
	}
	for _, e := range entries {
		a := dir.sub(e.name)
		raw, err := os.ReadFile(a.path("raw"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := smbios.ParseMemoryDevice(raw)
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
	if _, err := memoryModules(ctx, Env{Paths: fixturePaths}.Sys("firmware/dmi/entries")); err == nil {
		t.Error("memoryModules with a cancelled context succeeded")
	}
}
