package sysfs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// An SES enclosure laid out as drivers/misc/enclosure.c and ses.c lay it
// out: the class entry a link to the enclosure device below its SCSI
// device, one populated slot whose device link leads to the disk and its
// block device, one empty slot, and one slot with a garbled LED, which costs
// that LED and is returned as an error naming its path.
func TestReadEnclosure(t *testing.T) {
	root := t.TempDir()
	ses := "devices/host11/11:0:53:0"
	encl := ses + "/enclosure/11:0:53:0"
	disk := "devices/host11/11:0:8:0"
	plant(t, root, map[string]string{
		ses + "/vendor":                "HGST    \n",
		ses + "/model":                 "H4060-J         \n",
		ses + "/rev":                   "3010\n",
		encl + "/id":                   "0x5000cca2530bcf3f\n",
		encl + "/components":           "3\n",
		encl + "/power/control":        "auto\n",
		encl + "/Slot 01/type":         "array device\n",
		encl + "/Slot 01/status":       "OK\n",
		encl + "/Slot 01/slot":         "1\n",
		encl + "/Slot 01/fault":        "0\n",
		encl + "/Slot 01/locate":       "1\n",
		encl + "/Slot 01/active":       "1\n",
		encl + "/Slot 02/type":         "array device\n",
		encl + "/Slot 02/status":       "not installed\n",
		encl + "/Slot 02/slot":         "-1\n",
		encl + "/Slot 02/fault":        "0\n",
		encl + "/Slot 03/type":         "device\n",
		encl + "/Slot 03/status":       "critical\n",
		encl + "/Slot 03/fault":        "on\n",
		disk + "/block/sdw/size":       "15628053168\n",
		"class/enclosure/.placeholder": "",
	})
	os.Remove(filepath.Join(root, "class/enclosure/.placeholder"))
	link := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("../../"+encl, "class/enclosure/11:0:53:0")
	link("../..", filepath.Join(encl, "device")) // enclosure/11:0:53:0/device -> the SES device
	link("../../../../11:0:8:0", filepath.Join(encl, "Slot 01", "device"))

	fsys := hostfs.New(root)
	names, errs := EnclosureNames(fsys)
	if want := []string{"11:0:53:0"}; !reflect.DeepEqual(names, want) || errs != nil {
		t.Fatalf("EnclosureNames = %v, %v; want %v", names, errs, want)
	}
	got, errs := ReadEnclosure(fsys, "11:0:53:0")
	want := Enclosure{
		Name: "11:0:53:0", ID: "0x5000cca2530bcf3f", Vendor: "HGST", Model: "H4060-J", Revision: "3010",
		Components: []EnclosureComponent{
			{Name: "Slot 01", Type: "array device", Status: "OK", Slot: 1, HasSlot: true,
				Locate: true, Active: true, HasFault: true, HasLocate: true, HasActive: true,
				Device: "11:0:8:0", Block: "sdw", BlockDir: "class/enclosure/11:0:53:0/Slot 01/device/block/sdw"},
			{Name: "Slot 02", Type: "array device", Status: "not installed", HasFault: true},
			{Name: "Slot 03", Type: "device", Status: "critical"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadEnclosure =\n%+v\nwant\n%+v", got, want)
	}
	if len(errs) != 1 || errs[0].Path != filepath.Join(root, "class/enclosure/11:0:53:0/Slot 03/fault") {
		t.Errorf("errors = %v; want one, for Slot 03/fault", errs)
	}
	if names, errs := EnclosureNames(hostfs.New(filepath.Join(root, "none"))); names != nil || errs != nil {
		t.Errorf("no class/enclosure: EnclosureNames = %v, %v; want nothing", names, errs)
	}
}
