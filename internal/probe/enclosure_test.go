package probe

import (
	"context"
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
