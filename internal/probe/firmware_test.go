package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/format/ipmitool"
	"github.com/hardware-exporter/hardware_exporter/internal/host/ethtool"
)

// fakeDrvInfo answers ETHTOOL_GDRVINFO from a table, and counts asks.
type fakeDrvInfo struct {
	infos map[string]ethtool.DrvInfo
	errs  map[string]error
	asked []string
}

func (f *fakeDrvInfo) DrvInfo(iface string) (ethtool.DrvInfo, error) {
	f.asked = append(f.asked, iface)
	if err := f.errs[iface]; err != nil {
		return ethtool.DrvInfo{}, err
	}
	if d, ok := f.infos[iface]; ok {
		return d, nil
	}
	return ethtool.DrvInfo{}, ethtool.ErrNotSupported
}

// firmwareSeries runs p on paths and returns its hardware_firmware_info
// series in the text form of gatherSeries.
func firmwareSeries(t *testing.T, p Probe, paths Paths) (map[string]float64, *Skips) {
	t.Helper()
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), Env{Paths: paths}, skips)
	if err != nil {
		t.Fatal(err)
	}
	all := gatherSeries(t, collected{p: p, metrics: ms})
	got := map[string]float64{}
	for k, v := range all {
		if strings.HasPrefix(k, "hardware_firmware_info{") {
			got[k] = v
		}
	}
	return got, skips
}

// NIC firmware comes from the driver info of each physical interface (a
// fake here: no test asks the host's kernel), with the PCI IDs of its
// device; an interface whose driver has no ethtool operations, a reply for
// another bus address, and virtual interfaces get none; an error other
// than "not supported" is a skip, and the run goes on.
func TestFirmwareNICFromDriverInfo(t *testing.T) {
	fake := &fakeDrvInfo{
		infos: map[string]ethtool.DrvInfo{
			// Values as the public ixgbe and mlx5 captures print them
			// (internal/host/ethtool/testdata/drvinfo).
			"eno8303":   {Driver: "tg3", FirmwareVersion: "FFV22.31.6 bc 5720-v1.39", BusInfo: "0000:04:00.0"},
			"ens1f0np0": {Driver: "mlx5_core", FirmwareVersion: "22.36.1010 (DEL0000000027)", ExpansionROMVersion: "3.6.502", BusInfo: "0000:4b:00.0"},
			"ens1f1np1": {Driver: "mlx5_core", FirmwareVersion: "22.36.1010 (DEL0000000027)", BusInfo: "0000:ff:00.0"}, // not its device
			"ens3f0np0": {Driver: "ice", FirmwareVersion: "N/A", BusInfo: "0000:98:00.0"},
			"bond0":     {Driver: "bonding", FirmwareVersion: "2"},
			"lo":        {Driver: "lo", FirmwareVersion: "1"},
		},
		errs: map[string]error{"eno8403": syscall.EIO},
	}
	got, skips := firmwareSeries(t, &networkProbe{drvinfo: fake}, fixturePaths)
	for _, name := range []string{"bond0", "lo"} {
		for _, a := range fake.asked {
			if a == name {
				t.Errorf("asked %s, which has no device, for driver info", name)
			}
		}
	}
	if skips.Count() != 1 {
		t.Errorf("%d skips, want 1 (eno8403's EIO)", skips.Count())
	}
	nic := func(component, iface, vendor, device, version string) string {
		return `hardware_firmware_info{component="` + component + `",device="` + iface + `",model="` + device +
			`",vendor="` + vendor + `",version="` + version + `"}`
	}
	want := map[string]float64{
		nic("nic", "eno8303", "0x14e4", "0x165f", "FFV22.31.6 bc 5720-v1.39"):                                          1,
		nic("nic", "ens1f0np0", "0x15b3", "0x101d", "22.36.1010 (DEL0000000027)"):                                      1,
		nic("nic_rom", "ens1f0np0", "0x15b3", "0x101d", "3.6.502"):                                                     1,
		`hardware_firmware_info{component="hca",device="mlx5_2",model="MT_0000000223",vendor="",version="20.37.1014"}`: 1,
	}
	if len(got) != len(want) {
		t.Errorf("got %d firmware series, want %d:\n%v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("missing %s; got %v", k, got)
		}
	}
}

// Below any sysfs root but /sys (a fixture tree, as in every test and
// e2e run) the probe asks the kernel nothing: its answers would be about
// this machine, not the tree's.
func TestFirmwareNICNotReadBelowOtherRoots(t *testing.T) {
	for _, root := range []string{fixturePaths.SysFS, "/host/sys", "/sysfs"} {
		if r, done := openNICDriverInfo(nil, Env{Paths: Paths{SysFS: root}}); r != nil {
			done()
			t.Errorf("sysfs root %s: the kernel would be asked", root)
		}
	}
	got, _ := firmwareSeries(t, &networkProbe{}, fixturePaths)
	for k := range got {
		if strings.Contains(k, `component="nic`) {
			t.Errorf("NIC firmware on the fixture tree: %s", k)
		}
	}
}

func TestFirmwareInfoLeavesOutPlaceholders(t *testing.T) {
	for _, v := range []string{"", "  ", "N/A", "[N/A]", "Not Available", "unknown"} {
		if ms := firmwareInfo(firmwareNIC, "eth0", "", "", v); len(ms) != 0 {
			t.Errorf("version %q made a series", v)
		}
	}
	ms := firmwareInfo(firmwareDisk, "sda ", " ATA", "[N/A]", " SN04  ")
	got := gatherSeries(t, collected{p: &networkProbe{}, metrics: ms})
	want := `hardware_firmware_info{component="disk",device="sda",model="",vendor="ATA",version="SN04"}`
	if len(got) != 1 || got[want] != 1 {
		t.Errorf("got %v, want %s", got, want)
	}
}

// A power supply's FRU with a Product Version feeds the psu component;
// the fixture's Dell supplies state none, and other FRUs are not supplies.
func TestFirmwarePSUFromFRU(t *testing.T) {
	frus := []ipmitool.FRU{
		{Name: "PSU1_FRU (ID 3)", Fields: map[string]string{"Product Manufacturer": "SUPERMICRO", "Product Name": "PWS-1K62A-1R", "Product Version": "REV1.1"}},
		{Name: "PS2 (ID 2)", Fields: map[string]string{"Board Mfg": "DELL", "Board Product": "PWR SPLY,1400W,RDNT,LTON"}},
		{Name: "Builtin FRU Device (ID 0)", Fields: map[string]string{"Product Name": "X12DPi", "Product Version": "1.01"}},
	}
	var ms []prometheus.Metric
	for _, f := range frus {
		ms = append(ms, psuFirmware(f)...)
	}
	got := gatherSeries(t, collected{p: &ipmiProbe{}, metrics: ms})
	want := `hardware_firmware_info{component="psu",device="PSU1_FRU (ID 3)",model="PWS-1K62A-1R",vendor="SUPERMICRO",version="REV1.1"}`
	if len(got) != 1 || got[want] != 1 {
		t.Errorf("got %v, want only %s", got, want)
	}
}

// Every component the probes emit on the fixture is in the vocabulary
// that docs/metrics.md documents, and the vocabulary names each once.
func TestFirmwareComponentsAreDocumented(t *testing.T) {
	known := map[string]bool{}
	for _, c := range firmwareComponents {
		if known[string(c.name)] {
			t.Errorf("component %s listed twice", c.name)
		}
		known[string(c.name)] = true
		if !strings.Contains(firmwareNote(), "`"+string(c.name)+"`") {
			t.Errorf("component %s missing from the note", c.name)
		}
	}
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil || len(goldens) == 0 {
		t.Fatal(goldens, err)
	}
	seen := map[string]bool{}
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			rest, ok := strings.CutPrefix(line, `hardware_firmware_info{component="`)
			if !ok {
				continue
			}
			c, _, _ := strings.Cut(rest, `"`)
			seen[c] = true
			if !known[c] {
				t.Errorf("%s: component %q is not in firmwareComponents", g, c)
			}
		}
	}
	// The fixture shows every source it has data for; nic (no kernel to
	// ask) and psu (Dell FRUs state no version) are covered above.
	for _, c := range []string{"bios", "bmc", "cpu_microcode", "hca", "nvme", "disk", "raid_controller", "gpu_vbios", "gpu_driver"} {
		if !seen[c] {
			t.Errorf("no golden file shows component %s", c)
		}
	}
}
