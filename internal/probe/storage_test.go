package probe

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// The server fixture is read whole: golden output and not one skip.
func TestStorageGolden(t *testing.T) {
	checkGolden(t, "storage")
	if _, skips := runProbe(t, "storage", fixturePaths); skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

const (
	storageTestSd   = "sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/"
	storageTestCtrl = "sys/devices/pci0000:30/0000:30:02.0/0000:31:00.0/nvme/nvme0/"
)

// storageTestTree is a SATA SSD with two partitions and without the ATA
// information VPD page (kernels before 5.19), an NVMe controller with one
// namespace, and a loop and a device-mapper device.
var storageTestTree = map[string]string{
	"proc/partitions": "major minor  #blocks  name\n",

	"sys/block/sda":                                       "-> ../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda",
	storageTestSd + "model":                               "SAMSUNG MZ7L3480\n",
	storageTestSd + "vendor":                              "ATA     \n",
	storageTestSd + "rev":                                 "404Q\n",
	storageTestSd + "wwid":                                "naa.5002538f41234567\n",
	storageTestSd + "vpd_pg80":                            "\x00\x80\x00\x14S6JNNG0R412345      ",
	storageTestSd + "block/sda/device":                    "-> ../../../0:0:0:0",
	storageTestSd + "block/sda/size":                      "937703088\n",
	storageTestSd + "block/sda/sda1/size":                 "1048576\n",
	storageTestSd + "block/sda/sda1/partition":            "1\n",
	storageTestSd + "block/sda/sda2/size":                 "936652800\n",
	storageTestSd + "block/sda/sda2/partition":            "2\n",
	storageTestSd + "block/sda/queue/rotational":          "0\n",
	storageTestSd + "block/sda/queue/logical_block_size":  "512\n",
	storageTestSd + "block/sda/queue/physical_block_size": "4096\n",

	"sys/class/nvme/nvme0":                                "-> ../../devices/pci0000:30/0000:30:02.0/0000:31:00.0/nvme/nvme0",
	"sys/class/nvme/nvme-fabrics":                         "-> ../../devices/virtual/nvme-fabrics/ctl/nvme-fabrics",
	"sys/block/nvme0n1":                                   "-> ../devices/pci0000:30/0000:30:02.0/0000:31:00.0/nvme/nvme0/nvme0n1",
	storageTestCtrl + "model":                             "SAMSUNG MZWLJ3T8HBLS-00007              \n",
	storageTestCtrl + "serial":                            "S5YNNA0R600120      \n",
	storageTestCtrl + "firmware_rev":                      "EPK9CB5Q\n",
	storageTestCtrl + "state":                             "live\n",
	storageTestCtrl + "transport":                         "pcie\n",
	storageTestCtrl + "address":                           "0000:31:00.0\n",
	storageTestCtrl + "nvme0n1/device":                    "-> ../../nvme0",
	storageTestCtrl + "nvme0n1/size":                      "7501476528\n",
	storageTestCtrl + "nvme0n1/wwid":                      "eui.36344830526001000025384500000001\n",
	storageTestCtrl + "nvme0n1/queue/rotational":          "0\n",
	storageTestCtrl + "nvme0n1/queue/logical_block_size":  "512\n",
	storageTestCtrl + "nvme0n1/queue/physical_block_size": "512\n",

	"sys/block/loop0":                                  "-> ../devices/virtual/block/loop0",
	"sys/devices/virtual/block/loop0/size":             "2097152\n",
	"sys/devices/virtual/block/loop0/queue/rotational": "1\n",
	"sys/block/dm-0":                                   "-> ../devices/virtual/block/dm-0",
	"sys/devices/virtual/block/dm-0/size":              "936652800\n",
	"sys/devices/virtual/block/dm-0/dm/name":           "vg0-root\n",
	"sys/devices/virtual/block/dm-0/queue/rotational":  "0\n",
	"sys/devices/virtual/block/dm-0/slaves/sda2":       "-> ../../../../pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2",
}

// storageTestSeries is what the storage probe reads from storageTestTree:
// loop0 and dm-0 are virtual and the partitions are not devices.
var storageTestSeries = map[string]float64{
	`hardware_storage_device_info{device="sda",firmware="404Q",model="SAMSUNG MZ7L3480",serial="S6JNNG0R412345",vendor="ATA",wwn="naa.5002538f41234567"}`: 1,
	`hardware_storage_device_size_bytes{device="sda"}`:                480103981056,
	`hardware_storage_device_rotational{device="sda"}`:                0,
	`hardware_storage_device_logical_block_size_bytes{device="sda"}`:  512,
	`hardware_storage_device_physical_block_size_bytes{device="sda"}`: 4096,
	`hardware_storage_device_info{device="nvme0n1",firmware="EPK9CB5Q",model="SAMSUNG MZWLJ3T8HBLS-00007",serial="S5YNNA0R600120",vendor="",wwn="eui.36344830526001000025384500000001"}`: 1,
	`hardware_storage_device_size_bytes{device="nvme0n1"}`:                3840755982336,
	`hardware_storage_device_rotational{device="nvme0n1"}`:                0,
	`hardware_storage_device_logical_block_size_bytes{device="nvme0n1"}`:  512,
	`hardware_storage_device_physical_block_size_bytes{device="nvme0n1"}`: 512,
	`hardware_storage_nvme_controller_info{address="0000:31:00.0",controller="nvme0",firmware="EPK9CB5Q",model="SAMSUNG MZWLJ3T8HBLS-00007",serial="S5YNNA0R600120",transport="pcie"}`: 1,
	`hardware_storage_nvme_controller_state{controller="nvme0",state="new"}`:                                                                                                           0,
	`hardware_storage_nvme_controller_state{controller="nvme0",state="live"}`:                                                                                                          1,
	`hardware_storage_nvme_controller_state{controller="nvme0",state="resetting"}`:                                                                                                     0,
	`hardware_storage_nvme_controller_state{controller="nvme0",state="connecting"}`:                                                                                                    0,
	`hardware_storage_nvme_controller_state{controller="nvme0",state="deleting"}`:                                                                                                      0,
	`hardware_storage_nvme_controller_state{controller="nvme0",state="deleting (no IO)"}`:                                                                                              0,
	`hardware_storage_nvme_controller_state{controller="nvme0",state="dead"}`:                                                                                                          0,
	`hardware_storage_nvme_namespace_capacity_bytes{controller="nvme0",namespace="nvme0n1"}`:                                                                                           3840755982336,
}

// storageTestRun plants storageTestTree changed by edit (a value of "" removes
// the file) and checks the probe's series against storageTestSeries changed
// by lost (removed) and gained (added or changed), and the skip count.
func storageTestRun(t *testing.T, edit map[string]string, lost []string, gained map[string]float64, skips int) {
	t.Helper()
	files := maps.Clone(storageTestTree)
	for k, v := range edit {
		if v == "" {
			delete(files, k)
		} else {
			files[k] = v
		}
	}
	root := t.TempDir()
	plantTree(t, root, files)
	want := maps.Clone(storageTestSeries)
	for _, k := range lost {
		if _, ok := want[k]; !ok {
			t.Fatalf("lost series %s is not in storageTestSeries", k)
		}
		delete(want, k)
	}
	maps.Copy(want, gained)
	c, s := runProbe(t, "storage", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_storage_", want)
	if s.Count() != skips {
		t.Errorf("skips = %d, want %d", s.Count(), skips)
	}
}

// The tree as planted: virtual devices and partitions are not listed, the
// truncated SCSI model and revision stand when there is no vpd_pg89.
func TestStorageTree(t *testing.T) { storageTestRun(t, nil, nil, nil, 0) }

// A malformed size file costs that device's size series and one skip.
func TestStorageMalformedSize(t *testing.T) {
	storageTestRun(t, map[string]string{storageTestSd + "block/sda/size": "937703088 sectors\n"},
		[]string{`hardware_storage_device_size_bytes{device="sda"}`}, nil, 1)
}

func TestStorageMalformedNamespaceSize(t *testing.T) {
	storageTestRun(t, map[string]string{storageTestCtrl + "nvme0n1/size": "-1\n"},
		[]string{
			`hardware_storage_device_size_bytes{device="nvme0n1"}`,
			`hardware_storage_nvme_namespace_capacity_bytes{controller="nvme0",namespace="nvme0n1"}`,
		}, nil, 2) // read twice: as a block device and as a namespace
}

const storageTestSdaInfo = `hardware_storage_device_info{device="sda",firmware="404Q",model="SAMSUNG MZ7L3480",serial="S6JNNG0R412345",vendor="ATA",wwn="naa.5002538f41234567"}`

// Without vpd_pg80 (a USB bridge that does not pass it on) the serial is
// empty, and that is no skip.
func TestStorageNoSerialPage(t *testing.T) {
	storageTestRun(t, map[string]string{storageTestSd + "vpd_pg80": ""},
		[]string{storageTestSdaInfo},
		map[string]float64{`hardware_storage_device_info{device="sda",firmware="404Q",model="SAMSUNG MZ7L3480",serial="",vendor="ATA",wwn="naa.5002538f41234567"}`: 1}, 0)
}

// A vpd_pg80 that is not a unit serial number page (here a page length
// longer than the file) is a skip and an empty serial; the device stays.
func TestStorageMalformedSerialPage(t *testing.T) {
	storageTestRun(t, map[string]string{storageTestSd + "vpd_pg80": "\x00\x80\x00\x40S6JNNG0R"},
		[]string{storageTestSdaInfo},
		map[string]float64{`hardware_storage_device_info{device="sda",firmware="404Q",model="SAMSUNG MZ7L3480",serial="",vendor="ATA",wwn="naa.5002538f41234567"}`: 1}, 1)
}

// vpd_pg89 carries the ATA IDENTIFY data, with the whole model and firmware
// that SCSI INQUIRY cuts to 16 and 4 characters.
func TestStorageATAInformationPage(t *testing.T) {
	ataString := func(s string, n int) []byte { // IDENTIFY strings: byte pairs swapped
		b := []byte(s + "                                        ")[:n]
		for i := 0; i < n; i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
		return b
	}
	page := make([]byte, 572)
	page[1], page[2], page[3] = 0x89, 0x02, 0x38
	copy(page[8:], "linux   libata          ")
	page[56] = 0xec
	copy(page[60+20:], ataString("S6JNNG0R412345", 20))
	copy(page[60+46:], ataString("JXTC404Q", 8))
	copy(page[60+54:], ataString("SAMSUNG MZ7L3480HCHQ-00B7C", 40))

	full := map[string]float64{`hardware_storage_device_info{device="sda",firmware="JXTC404Q",model="SAMSUNG MZ7L3480HCHQ-00B7C",serial="S6JNNG0R412345",vendor="ATA",wwn="naa.5002538f41234567"}`: 1}
	storageTestRun(t, map[string]string{storageTestSd + "vpd_pg89": string(page)}, []string{storageTestSdaInfo}, full, 0)

	// An ATAPI drive's page holds IDENTIFY PACKET DEVICE data: not a disk's
	// model, and not an error either.
	packet := append([]byte(nil), page...)
	packet[56] = 0xa1
	storageTestRun(t, map[string]string{storageTestSd + "vpd_pg89": string(packet)}, nil, nil, 0)

	// A truncated page is a skip; the SCSI strings stand.
	storageTestRun(t, map[string]string{storageTestSd + "vpd_pg89": string(page[:100])}, nil, nil, 1)
}

// A controller without a state attribute (kernels before 4.13) still has
// its info and namespaces; a state outside the known set (the kernel says
// "unknown state" for one its table lacks) gets a series of its own.
func TestStorageNVMeState(t *testing.T) {
	var states []string
	for _, s := range storageNVMeStates {
		states = append(states, `hardware_storage_nvme_controller_state{controller="nvme0",state="`+s+`"}`)
	}
	storageTestRun(t, map[string]string{storageTestCtrl + "state": ""}, states, nil, 0)

	gained := map[string]float64{`hardware_storage_nvme_controller_state{controller="nvme0",state="live"}`: 0,
		`hardware_storage_nvme_controller_state{controller="nvme0",state="unknown state"}`: 1}
	storageTestRun(t, map[string]string{storageTestCtrl + "state": "unknown state\n"}, nil, gained, 0)
}

// Without /sys/block the sysfs root is wrong: the run fails rather than
// reporting a host without disks.
func TestStorageWithoutSysBlockFails(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"proc", "sys"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := Env{Paths: treePaths(root)}
	p, err := New("storage")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Probe(context.Background(), env, NewSkips(nil)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a missing /sys/block", err)
	}
}

// A virtio disk has no VPD pages; its serial (what -drive serial= or the
// cloud's volume id set) is an attribute of the disk itself. A SCSI disk's
// VPD serial wins over the disk attribute.
func TestStorageVirtioSerial(t *testing.T) {
	const virtio = "sys/devices/pci0000:00/0000:00:05.0/virtio2/"
	storageTestRun(t, map[string]string{
		virtio + "vendor":                  "0x1af4\n",
		virtio + "device":                  "0x0002\n",
		virtio + "block/vda/serial":        "vol-0a1b2c3d4e5f\n",
		virtio + "block/vda/size":          "41943040\n",
		virtio + "block/vda/device":        "-> ../../../virtio2",
		"sys/block/vda":                    "-> ../devices/pci0000:00/0000:00:05.0/virtio2/block/vda",
		storageTestSd + "block/sda/serial": "NOT-THE-VPD-ONE\n",
	}, nil, map[string]float64{
		`hardware_storage_device_info{device="vda",firmware="",model="",serial="vol-0a1b2c3d4e5f",vendor="0x1af4",wwn=""}`: 1,
		`hardware_storage_device_size_bytes{device="vda"}`:                                                                 21474836480,
	}, 0)
}
