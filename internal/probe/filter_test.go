package probe

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// The include/exclude filters of hwmon, network, storage and textfile
// (issue 20 item 6): an item filtered out costs nothing, not even one
// read. Each test plants an item whose files are FIFOs: read, each one is
// a skip (hostfs refuses it without blocking), so a run with the filter
// that counts no skip and exports nothing of it never opened them. The
// same run without the filter counts the skips, so the test can fail.

// plantFIFO replaces path (or creates it) with a FIFO.
func plantFIFO(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	if err := fifo(path); err != nil {
		t.Fatal(err)
	}
}

func re(s string) confval.Regexp { return confval.Regexp{Regexp: regexp.MustCompile(s)} }

// runFiltered runs the probe called name on paths with options o, under a
// deadline a blocking open would pass, and returns its output and skips.
func runFiltered(t *testing.T, name string, paths Paths, o any) (string, int) {
	t.Helper()
	p, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := p.(Closer); ok {
		defer c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	skips := NewSkips(nil)
	ms, err := p.Probe(ctx, Env{Paths: paths, Options: o}, skips)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if name == "textfile" { // files' families are not described
		return string(exposition(t, textfileUnchecked(ms))), skips.Count()
	}
	return string(exposition(t, collected{p: p, metrics: ms})), skips.Count()
}

// checkFiltered runs with options unfiltered and filtered: unfiltered must count skips
// (the hostile files are read), filtered none, and lack every string in
// gone while it has every one in kept.
func checkFiltered(t *testing.T, name string, paths Paths, unfiltered, filtered any, kept, gone []string) {
	t.Helper()
	if _, skips := runFiltered(t, name, paths, unfiltered); skips == 0 {
		t.Fatalf("%s unfiltered: no skip; the hostile files are not read, so the test proves nothing", name)
	}
	out, skips := runFiltered(t, name, paths, filtered)
	if skips != 0 {
		t.Errorf("%s filtered: %d skips, want 0: a filtered item's files were read", name, skips)
	}
	for _, k := range kept {
		if !strings.Contains(out, k) {
			t.Errorf("%s filtered: missing %s", name, k)
		}
	}
	for _, g := range gone {
		if strings.Contains(out, g) {
			t.Errorf("%s filtered: %s still exported", name, g)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestHwmonChipFilter(t *testing.T) {
	root := t.TempDir()
	hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n"})
	hwmonChipTree(t, root, 1, map[string]string{})
	for _, f := range []string{"temp1_input", "temp1_max", "temp1_label", "temp1_alarm"} {
		plantFIFO(t, hwmonFile(root, 1, f))
	}
	kept := []string{`chip="platform_chip_0"`}
	gone := []string{`chip="platform_chip_1"`}
	checkFiltered(t, "hwmon", treePaths(root), nil, &HwmonOptions{ChipExclude: re("_1$")}, kept, gone)
	checkFiltered(t, "hwmon", treePaths(root), nil, &HwmonOptions{ChipInclude: re("^platform_chip_0$")}, kept, gone)
}

// The sensor filter matches "chip;sensor", as node_exporter's does.
func TestHwmonSensorFilter(t *testing.T) {
	root := t.TempDir()
	hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n"})
	for _, f := range []string{"temp2_input", "temp2_max", "temp2_label", "temp2_crit_alarm"} {
		plantFIFO(t, hwmonFile(root, 0, f))
	}
	kept := []string{`sensor="temp1"`}
	gone := []string{`sensor="temp2"`}
	checkFiltered(t, "hwmon", treePaths(root), nil, &HwmonOptions{SensorExclude: re("^platform_chip_0;temp2$")}, kept, gone)
	checkFiltered(t, "hwmon", treePaths(root), nil, &HwmonOptions{SensorInclude: re(";temp1$")}, kept, gone)
}

func TestNetworkDeviceFilter(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{}
	for _, nic := range []string{"eth0", "eth1"} {
		dev := "sys/devices/pci0000:00/0000:00:03.0/net/" + nic
		files["sys/class/net/"+nic] = "-> ../../devices/pci0000:00/0000:00:03.0/net/" + nic
		files[dev+"/device"] = "-> ../../../0000:00:03.0"
		if nic == "eth0" {
			files[dev+"/mtu"] = "1500\n"
			files[dev+"/operstate"] = "up\n"
		}
	}
	plantTree(t, root, files)
	for _, f := range []string{"address", "mtu", "speed", "duplex", "flags", "operstate", "carrier", "carrier_changes"} {
		plantFIFO(t, filepath.Join(root, "sys/devices/pci0000:00/0000:00:03.0/net/eth1", f))
	}
	kept := []string{`hardware_network_interface_mtu_bytes{interface="eth0"} 1500`}
	gone := []string{`interface="eth1"`}
	checkFiltered(t, "network", treePaths(root), nil, &NetworkOptions{DeviceExclude: re("^eth1$")}, kept, gone)
	checkFiltered(t, "network", treePaths(root), nil, &NetworkOptions{DeviceInclude: re("^eth0$")}, kept, gone)
}

func TestStorageDeviceFilter(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, map[string]string{
		"sys/block/sda": "-> ../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda",
		"sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/size":   "1000\n",
		"sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/device": "-> ../../../0:0:0:0",
		"sys/block/sdb": "-> ../devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb",
		"sys/devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb/device": "-> ../../../1:0:0:0",
		"sys/class/nvme/nvme1": "-> ../../devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme1",
	})
	sdb := filepath.Join(root, "sys/devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0")
	for _, f := range []string{"block/sdb/size", "block/sdb/queue/rotational", "block/sdb/queue/logical_block_size", "model", "vendor", "rev", "wwid", "vpd_pg80"} {
		plantFIFO(t, filepath.Join(sdb, f))
	}
	nvme1 := filepath.Join(root, "sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme1")
	for _, f := range []string{"model", "serial", "firmware_rev", "state", "transport", "address", "nvme1n1/size"} {
		plantFIFO(t, filepath.Join(nvme1, f))
	}
	kept := []string{`device="sda"`}
	gone := []string{`device="sdb"`, `controller="nvme1"`}
	checkFiltered(t, "storage", treePaths(root), nil, &StorageOptions{DeviceExclude: re("^(sdb|nvme1)")}, kept, gone)
	checkFiltered(t, "storage", treePaths(root), nil, &StorageOptions{DeviceInclude: re("^sda$")}, kept, gone)
}

func TestTextfileFileFilter(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "good.prom"), "# TYPE backup_ok gauge\nbackup_ok 1\n")
	plantFIFO(t, filepath.Join(dir, "hostile.prom"))
	for _, o := range []*TextfileOptions{
		{FileExclude: re("^hostile")},
		{FileInclude: re("^good\\.prom$")},
	} {
		o.Directory = confval.Path(dir)
		o.MaxSeries, o.MaxSeriesPerFile = 100, 100
		unfiltered := &TextfileOptions{Directory: o.Directory, MaxSeries: 100, MaxSeriesPerFile: 100}
		checkFiltered(t, "textfile", fixturePaths, unfiltered, o,
			[]string{"backup_ok 1", "hardware_textfile_scrape_error 0"}, []string{"hostile.prom"})
	}
}
