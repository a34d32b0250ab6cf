package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The probe on the fixture host, against testdata/enclosure.golden: an
// HGST JBOD with the HUH72808 disk of prometheus/procfs' capture (sdw) in
// its slot 24, which the enclosure flags (critical, fault and locate LEDs
// on), and two empty slots.
func TestEnclosureGolden(t *testing.T) { checkGolden(t, "enclosure") }

// A failing disk's slot: its status and fault LED say so, and its slot
// series names the disk (block device, serial from vpd_pg80, WWN) so that
// the alert can say which bay to pull. A slot whose device has no block
// device bound is named by its SCSI address, and a garbled LED costs that
// LED only, counted as a skip.
func TestEnclosureFaultedSlot(t *testing.T) {
	root := t.TempDir()
	encl := "sys/devices/host2/2:0:9:0/enclosure/2:0:9:0/"
	disk := "sys/devices/host2/2:0:3:0/"
	plantTree(t, root, map[string]string{
		"sys/class/enclosure/2:0:9:0":      "-> ../../devices/host2/2:0:9:0/enclosure/2:0:9:0",
		encl + "device":                    "-> ../../../2:0:9:0",
		"sys/devices/host2/2:0:9:0/vendor": "LSI     \n",
		"sys/devices/host2/2:0:9:0/model":  "SAS2X36         \n",
		encl + "Slot 07/type":              "array device\n",
		encl + "Slot 07/status":            "critical\n",
		encl + "Slot 07/slot":              "7\n",
		encl + "Slot 07/fault":             "1\n",
		encl + "Slot 07/locate":            "0\n",
		encl + "Slot 07/device":            "-> ../../../../2:0:3:0",
		disk + "vpd_pg80":                  "\x00\x80\x00\x08ZA1B2C3D",
		disk + "wwid":                      "naa.5000c500a1b2c3d4\n",
		disk + "block/sdk/size":            "1000\n",
		disk + "block/sdk/device":          "-> ../../../2:0:3:0",
		encl + "Slot 08/type":              "array device\n",
		encl + "Slot 08/status":            "OK\n",
		encl + "Slot 08/fault":             "maybe\n",
		encl + "Slot 08/device":            "-> ../../../../2:0:4:0",
		"sys/devices/host2/2:0:4:0/wwid":   "naa.5000c500a1b2c3d5\n",
	})
	text, skips := probeText(t, "enclosure", treePaths(root))
	checkSeries(t, text, []string{
		`hardware_enclosure_info{enclosure="2:0:9:0",id="",model="SAS2X36",revision="",vendor="LSI"} 1`,
		`hardware_enclosure_component_status{component="Slot 07",enclosure="2:0:9:0",status="critical",type="array device"} 1`,
		`hardware_enclosure_component_status{component="Slot 07",enclosure="2:0:9:0",status="OK",type="array device"} 0`,
		`hardware_enclosure_component_fault{component="Slot 07",enclosure="2:0:9:0",type="array device"} 1`,
		`hardware_enclosure_component_locate{component="Slot 07",enclosure="2:0:9:0",type="array device"} 0`,
		`hardware_enclosure_slot_info{component="Slot 07",device="sdk",enclosure="2:0:9:0",serial="ZA1B2C3D",slot="7",wwn="naa.5000c500a1b2c3d4"} 1`,
		`hardware_enclosure_slot_info{component="Slot 08",device="2:0:4:0",enclosure="2:0:9:0",serial="",slot="",wwn=""} 1`,
	}, nil)
	if strings.Contains(text, `hardware_enclosure_component_fault{component="Slot 08"`) {
		t.Error("Slot 08's garbled fault LED exported a series")
	}
	if skips.Count() != 1 {
		t.Errorf("%d skips; want 1 (Slot 08/fault)", skips.Count())
	}
}

// A host without the enclosure class leaves the probe off with a reason;
// the fixture host has it.
func TestEnclosureAvailable(t *testing.T) {
	p := enclosureProbe{}
	if err := p.Available(Env{Paths: treePaths(t.TempDir())}); err == nil || !strings.Contains(err.Error(), filepath.Join("class", "enclosure")) {
		t.Errorf("no class/enclosure: Available = %v; want an error naming it", err)
	}
	if err := p.Available(Env{Paths: fixturePaths}); err != nil {
		t.Errorf("fixture host: Available = %v; want nil", err)
	}
	if ms, err := p.Probe(context.Background(), Env{Paths: treePaths(t.TempDir())}, NewSkips(nil)); err != nil || len(ms) != 0 {
		t.Errorf("no class/enclosure: Probe = %d metrics, %v; want none and no error", len(ms), err)
	}
}

// BenchmarkEnclosure is one run of the probe on the fixture host: one
// enclosure, three slots, one disk.
func BenchmarkEnclosure(b *testing.B) { benchmarkProbes(b, "enclosure") }

// BenchmarkEnclosureJBOD60 is one run on a 60-bay JBOD with a disk in
// every bay: the probe's cost where it is largest.
func BenchmarkEnclosureJBOD60(b *testing.B) {
	root := b.TempDir()
	encl := filepath.Join(root, "sys/devices/host9/9:0:60:0/enclosure/9:0:60:0")
	files := map[string]string{}
	var links [][2]string
	for i := range 60 {
		c := filepath.Join(encl, fmt.Sprintf("Slot %02d", i))
		disk := filepath.Join(root, fmt.Sprintf("sys/devices/host9/9:0:%d:0", i))
		for name, v := range map[string]string{"type": "array device", "status": "OK", "slot": fmt.Sprint(i), "fault": "0", "locate": "0", "active": "1"} {
			files[filepath.Join(c, name)] = v + "\n"
		}
		files[filepath.Join(disk, "wwid")] = fmt.Sprintf("naa.5000cca2%08x\n", i)
		files[filepath.Join(disk, "vpd_pg80")] = fmt.Sprintf("\x00\x80\x00\x08SN%06d", i)
		files[filepath.Join(disk, "block", fmt.Sprintf("sd%d", i), "size")] = "1\n"
		links = append(links, [2]string{fmt.Sprintf("../../../../9:0:%d:0", i), filepath.Join(c, "device")},
			[2]string{fmt.Sprintf("../../../9:0:%d:0", i), filepath.Join(disk, "block", fmt.Sprintf("sd%d", i), "device")})
	}
	for p, v := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	links = append(links, [2]string{"../../devices/host9/9:0:60:0/enclosure/9:0:60:0", filepath.Join(root, "sys/class/enclosure/9:0:60:0")})
	for _, l := range links {
		if err := os.MkdirAll(filepath.Dir(l[1]), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.Symlink(l[0], l[1]); err != nil {
			b.Fatal(err)
		}
	}
	env := Env{Paths: treePaths(root)}
	ms, err := enclosureProbe{}.Probe(context.Background(), env, NewSkips(nil))
	if err != nil || len(ms) != 1+60*(8+3+1) {
		b.Fatalf("%d series, err %v; want %d", len(ms), err, 1+60*(8+3+1))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (enclosureProbe{}).Probe(context.Background(), env, NewSkips(nil)); err != nil {
			b.Fatal(err)
		}
	}
}
