package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPCIGolden(t *testing.T) {
	checkGolden(t, "pci")
	if _, skips := runProbe(t, "pci", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

// pciNVMe plants 0000:b3:00.0, a PM1733 behind root port 0000:b0:04.0, as
// the kernel lays it out; link holds its link attribute files.
func pciNVMe(files map[string]string, link map[string]string) {
	const rel = "devices/pci0000:b0/0000:b0:04.0/0000:b3:00.0"
	dir := "sys/" + rel + "/"
	for k, v := range map[string]string{
		"vendor": "0x144d\n", "device": "0xa824\n", "subsystem_vendor": "0x1028\n", "subsystem_device": "0x2071\n",
		"class": "0x010802\n", "revision": "0x00\n", "numa_node": "1\n",
	} {
		files[dir+k] = v
	}
	for k, v := range link {
		files[dir+k] = v
	}
	files[dir+"driver"] = "-> ../../../../bus/pci/drivers/nvme"
	files["sys/bus/pci/drivers/nvme/0000:b3:00.0"] = "-> ../../../../" + rel
	files["sys/bus/pci/devices/0000:b3:00.0"] = "-> ../../../" + rel
}

// pciNVMeLink is a Gen4 x4 link that trained at x2.
func pciNVMeLink() map[string]string {
	return map[string]string{
		"current_link_speed": "16.0 GT/s PCIe\n", "current_link_width": "2\n",
		"max_link_speed": "16.0 GT/s PCIe\n", "max_link_width": "4\n",
	}
}

const pciNVMeInfoNoNames = `hardware_pci_device_info{address="0000:b3:00.0",class="",class_id="0x010802",device="",device_id="0xa824",driver="nvme",revision="0x00",subsystem_device_id="0x2071",subsystem_vendor_id="0x1028",vendor="",vendor_id="0x144d"}`

// pciNVMeSeries are the series of pciNVMe with pciNVMeLink and no pci.ids.
func pciNVMeSeries() map[string]float64 {
	return map[string]float64{
		pciNVMeInfoNoNames: 1,
		`hardware_pci_device_numa_node{address="0000:b3:00.0"}`:                    1,
		`hardware_pci_link_speed_transfers_per_second{address="0000:b3:00.0"}`:     16e9,
		`hardware_pci_link_width{address="0000:b3:00.0"}`:                          2,
		`hardware_pci_link_max_speed_transfers_per_second{address="0000:b3:00.0"}`: 16e9,
		`hardware_pci_link_max_width{address="0000:b3:00.0"}`:                      4,
	}
}

// Without pci.ids (minimal images do not install it) the names are empty
// and nothing is skipped.
func TestPCINoIDs(t *testing.T) {
	files := map[string]string{"etc/os-release": "ID=debian\n"}
	pciNVMe(files, pciNVMeLink())
	root := t.TempDir()
	plantTree(t, root, files)
	c, skips := runProbe(t, "pci", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_pci_", pciNVMeSeries())
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// pci.ids is found where Fedora and RHEL put it too, and a malformed line
// in it costs that line, counted once for the file.
func TestPCIIDsLocation(t *testing.T) {
	const ids = "# pci.ids\n144d  Samsung Electronics Co Ltd\n\ta824  NVMe SSD Controller PM173X\n" +
		"C 01  Mass storage controller\n\t08  Non-Volatile memory controller\n\t\t02  NVM Express\n"
	named := `hardware_pci_device_info{address="0000:b3:00.0",class="Non-Volatile memory controller (NVM Express)",class_id="0x010802",device="NVMe SSD Controller PM173X",device_id="0xa824",driver="nvme",revision="0x00",subsystem_device_id="0x2071",subsystem_vendor_id="0x1028",vendor="Samsung Electronics Co Ltd",vendor_id="0x144d"}`
	for _, tc := range []struct {
		name, path, content string
		skips               int
	}{
		{"hwdata", "usr/share/hwdata/pci.ids", ids, 0},
		{"pciutils default", "usr/share/pci.ids", ids, 0},
		{"malformed line", "usr/share/misc/pci.ids", strings.Replace(ids, "\ta824", "\tzz  Broken\n\ta824", 1), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{tc.path: tc.content}
			pciNVMe(files, pciNVMeLink())
			root := t.TempDir()
			plantTree(t, root, files)
			c, skips := runProbe(t, "pci", treePaths(root))
			want := pciNVMeSeries()
			delete(want, pciNVMeInfoNoNames)
			want[named] = 1
			assertSeries(t, gatherSeries(t, c), "hardware_pci_", want)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
		})
	}
}

func TestPCILink(t *testing.T) {
	const (
		speed    = `hardware_pci_link_speed_transfers_per_second{address="0000:b3:00.0"}`
		width    = `hardware_pci_link_width{address="0000:b3:00.0"}`
		maxSpeed = `hardware_pci_link_max_speed_transfers_per_second{address="0000:b3:00.0"}`
		maxWidth = `hardware_pci_link_max_width{address="0000:b3:00.0"}`
		numa     = `hardware_pci_device_numa_node{address="0000:b3:00.0"}`
	)
	for _, tc := range []struct {
		name   string
		mutate func(link map[string]string)
		lost   []string
		skips  int
	}{
		// A malformed speed costs that series; the width still says x2.
		{"malformed speed", func(l map[string]string) { l["current_link_speed"] = "16.0 GB/s PCIe\n" }, []string{speed}, 1},
		{"malformed width", func(l map[string]string) { l["max_link_width"] = "x4\n" }, []string{maxWidth}, 1},
		// A link that is down: its width (0) means nothing either.
		{"link down", func(l map[string]string) {
			l["current_link_speed"], l["current_link_width"] = "Unknown\n", "0\n"
		}, []string{speed, width}, 0},
		// Kernels before 4.17 did not say "PCIe".
		{"old kernel", func(l map[string]string) {
			l["current_link_speed"], l["max_link_speed"] = "16 GT/s\n", "16 GT/s\n"
		}, nil, 0},
		// Integrated endpoints have no link files.
		{"integrated", func(l map[string]string) { clear(l) }, []string{speed, width, maxSpeed, maxWidth}, 0},
		// No NUMA affinity (one socket, or firmware that does not say).
		{"no numa node", func(l map[string]string) { l["numa_node"] = "-1\n" }, []string{numa}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := pciNVMeLink()
			tc.mutate(link)
			files := map[string]string{}
			pciNVMe(files, link)
			root := t.TempDir()
			plantTree(t, root, files)
			c, skips := runProbe(t, "pci", treePaths(root))
			want := pciNVMeSeries()
			for _, l := range tc.lost {
				delete(want, l)
			}
			assertSeries(t, gatherSeries(t, c), "hardware_pci_", want)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
		})
	}
}

// A malformed ID file costs the info series (a half-known identity would
// be a different device); the link and NUMA series stay.
func TestPCIMalformedID(t *testing.T) {
	files := map[string]string{}
	pciNVMe(files, pciNVMeLink())
	files["sys/devices/pci0000:b0/0000:b0:04.0/0000:b3:00.0/vendor"] = "Samsung\n"
	root := t.TempDir()
	plantTree(t, root, files)
	c, skips := runProbe(t, "pci", treePaths(root))
	want := pciNVMeSeries()
	delete(want, pciNVMeInfoNoNames)
	assertSeries(t, gatherSeries(t, c), "hardware_pci_", want)
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1", skips.Count())
	}
}

func TestPCIParseLinkSpeed(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  float64
		known bool
		err   bool
	}{
		{"16.0 GT/s PCIe", 16e9, true, false},
		{"2.5 GT/s PCIe", 2.5e9, true, false},
		{"8 GT/s", 8e9, true, false},
		{"64.0 GT/s PCIe", 64e9, true, false},
		{"Unknown", 0, false, false},
		{"Unknown speed", 0, false, false},
		{"16.0 GB/s PCIe", 0, false, true},
		{"fast GT/s PCIe", 0, false, true},
		{"16.0", 0, false, true},
		{"-8 GT/s PCIe", 0, false, true},
	} {
		got, known, err := pciParseLinkSpeed(tc.in)
		if got != tc.want || known != tc.known || (err != nil) != tc.err {
			t.Errorf("pciParseLinkSpeed(%q) = %v, %v, %v; want %v, %v, error %v", tc.in, got, known, err, tc.want, tc.known, tc.err)
		}
	}
}

// The shipped excerpt parses cleanly: it is cut from a real pci.ids.
func TestPCIFixtureIDs(t *testing.T) {
	db, err := pciLoadIDs(context.Background(), Env{Paths: fixturePaths}.Root())
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Device(0x15b3, 0x101b); got != "MT28908 Family [ConnectX-6]" {
		t.Errorf("15b3:101b = %q", got)
	}
}

// procfsAERTree is procfs's capture of four devices with AER statistics:
// root port 0000:00:03.0 (with root port totals), an Ethernet controller
// 0000:00:1f.6 with every counter non-zero, and two endpoints with none.
// procfs links only some of them in bus/pci/devices; the test links the
// rest.
func procfsAERTree(t *testing.T) Paths {
	t.Helper()
	paths := foreignTree(t, "procfs-sys/pci")
	plantTree(t, filepath.Dir(paths.SysFS), map[string]string{
		"sys/bus/pci/devices/0000:00:03.0": "-> ../../../devices/pci0000:00/0000:00:03.0",
		"sys/bus/pci/devices/0000:00:1f.6": "-> ../../../devices/pci0000:00/0000:00:1f.6",
	})
	return paths
}

func TestPCIAERTotals(t *testing.T) {
	c, skips := runProbe(t, "pci", procfsAERTree(t))
	assertSeries(t, gatherSeries(t, c), "hardware_pci_aer_", map[string]float64{
		`hardware_pci_aer_errors_total{address="0000:00:03.0",kind="correctable"}`:          0,
		`hardware_pci_aer_errors_total{address="0000:00:03.0",kind="nonfatal"}`:             0,
		`hardware_pci_aer_errors_total{address="0000:00:03.0",kind="fatal"}`:                0,
		`hardware_pci_aer_rootport_errors_total{address="0000:00:03.0",kind="correctable"}`: 0,
		`hardware_pci_aer_rootport_errors_total{address="0000:00:03.0",kind="nonfatal"}`:    0,
		`hardware_pci_aer_rootport_errors_total{address="0000:00:03.0",kind="fatal"}`:       0,
		`hardware_pci_aer_errors_total{address="0000:00:1f.6",kind="correctable"}`:          9,
		// procfs's capture labels this total TOTAL_ERR_FATAL; it is the
		// last line of aer_dev_nonfatal all the same.
		`hardware_pci_aer_errors_total{address="0000:00:1f.6",kind="nonfatal"}`:    48,
		`hardware_pci_aer_errors_total{address="0000:00:1f.6",kind="fatal"}`:       28,
		`hardware_pci_aer_errors_total{address="0000:01:00.0",kind="correctable"}`: 0,
		`hardware_pci_aer_errors_total{address="0000:01:00.0",kind="nonfatal"}`:    0,
		`hardware_pci_aer_errors_total{address="0000:01:00.0",kind="fatal"}`:       0,
		`hardware_pci_aer_errors_total{address="0000:a2:00.0",kind="correctable"}`: 0,
		`hardware_pci_aer_errors_total{address="0000:a2:00.0",kind="nonfatal"}`:    0,
		`hardware_pci_aer_errors_total{address="0000:a2:00.0",kind="fatal"}`:       0,
	})
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// Per-type series only when asked for: they are 36 per device.
func TestPCIAERDetails(t *testing.T) {
	paths := procfsAERTree(t)
	p, err := New("pci")
	if err != nil {
		t.Fatal(err)
	}
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), Env{Paths: paths, Options: &PCIOptions{AERDetails: true}}, skips)
	if err != nil {
		t.Fatal(err)
	}
	got := gatherSeries(t, collected{p: p, metrics: ms})
	for k, v := range map[string]float64{
		`hardware_pci_aer_errors_by_type_total{address="0000:00:1f.6",error="RxErr",kind="correctable"}`:         1,
		`hardware_pci_aer_errors_by_type_total{address="0000:00:1f.6",error="HeaderOF",kind="correctable"}`:      8,
		`hardware_pci_aer_errors_by_type_total{address="0000:00:1f.6",error="Undefined",kind="fatal"}`:           10,
		`hardware_pci_aer_errors_by_type_total{address="0000:00:1f.6",error="PoisonTLPBlocked",kind="nonfatal"}`: 47,
		`hardware_pci_aer_errors_by_type_total{address="0000:a2:00.0",error="CmpltTO",kind="nonfatal"}`:          0,
		`hardware_pci_aer_errors_total{address="0000:00:1f.6",kind="correctable"}`:                               9,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	n := 0
	for k := range got {
		if strings.HasPrefix(k, "hardware_pci_aer_errors_by_type_total{") {
			n++
		}
	}
	if n != 4*(8+18+18) {
		t.Errorf("%d by-type series, want %d", n, 4*(8+18+18))
	}
	c, _ := runProbe(t, "pci", paths)
	for k := range gatherSeries(t, c) {
		if strings.HasPrefix(k, "hardware_pci_aer_errors_by_type_total") {
			t.Fatalf("by-type series without aer_details: %s", k)
		}
	}
}

// A malformed line costs that line; a file without its total costs the
// total; either is one skip for the file.
func TestPCIParseAER(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		total    uint64
		hasTotal bool
		types    int
		err      bool
	}{
		{"kernel", "RxErr 1\nBadTLP 2\nTOTAL_ERR_COR 3\n", 3, true, 2, false},
		{"garbage line", "RxErr 1\nBadTLP x\nwhat\nTOTAL_ERR_COR 3\n", 3, true, 1, true},
		{"repeated", "RxErr 1\nRxErr 2\nTOTAL_ERR_COR 3\n", 3, true, 1, true},
		{"no total", "RxErr 1\n", 0, false, 1, true},
		{"empty", "", 0, false, 0, true},
		{"negative", "TOTAL_ERR_COR -1\n", 0, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := pciParseAER([]byte(tc.in))
			if st.total != tc.total || st.hasTotal != tc.hasTotal || len(st.types) != tc.types || (err != nil) != tc.err {
				t.Errorf("got total %d (%v), %d types, err %v; want %d (%v), %d types, err %v",
					st.total, st.hasTotal, len(st.types), err, tc.total, tc.hasTotal, tc.types, tc.err)
			}
		})
	}
	root := t.TempDir()
	files := map[string]string{}
	pciNVMe(files, pciNVMeLink())
	files["sys/devices/pci0000:b0/0000:b0:04.0/0000:b3:00.0/aer_dev_correctable"] = "RxErr 1\nBadTLP what\nTOTAL_ERR_COR 5\n"
	files["sys/devices/pci0000:b0/0000:b0:04.0/0000:b3:00.0/aer_dev_fatal"] = "DLP 1\n"
	plantTree(t, root, files)
	c, skips := runProbe(t, "pci", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_pci_aer_", map[string]float64{
		`hardware_pci_aer_errors_total{address="0000:b3:00.0",kind="correctable"}`: 5,
	})
	if skips.Count() != 2 {
		t.Errorf("skips = %d, want 2", skips.Count())
	}
}

func FuzzPCIParseAER(f *testing.F) {
	for _, p := range []string{
		"procfs-sys/pci/sys/devices/pci0000%3A00/0000%3A00%3A1f.6/aer_dev_correctable",
		"procfs-sys/pci/sys/devices/pci0000%3A00/0000%3A00%3A1f.6/aer_dev_nonfatal",
		"procfs-sys/pci/sys/devices/pci0000%3A00/0000%3A00%3A03.0/aer_dev_fatal",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := pciParseAER(b)
		if !st.hasTotal && err == nil {
			t.Error("no total and no error")
		}
		if len(st.types) > strings.Count(string(b), "\n")+1 {
			t.Errorf("%d types from %d lines", len(st.types), strings.Count(string(b), "\n")+1)
		}
	})
}
