package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// layoutProbe is a probe that keeps a layout between runs.
type layoutProbe interface {
	Probe
	Closer
	kept() int
}

func (p *hwmonProbe) kept() int   { return p.layout.kept() }
func (p *networkProbe) kept() int { return p.layout.kept() }
func (p *thermalProbe) kept() int { return p.layout.kept() }
func (p *powerProbe) kept() int   { return p.layout.kept() }
func (p *cpuProbe) kept() int     { return p.layout.kept() }
func (p *mdraidProbe) kept() int  { return p.layout.kept() }

// newLayoutProbe builds the probe called name, which must keep a layout.
func newLayoutProbe(t *testing.T, name string) layoutProbe {
	t.Helper()
	p, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	lp, ok := p.(layoutProbe)
	if !ok {
		t.Fatalf("probe %s keeps no layout", name)
	}
	t.Cleanup(lp.Close)
	return lp
}

// runText runs p once on paths with options o and returns its output as
// exposition text.
func runText(t *testing.T, p Probe, paths Paths, o any) (string, *Skips) {
	t.Helper()
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), Env{Paths: paths, Options: o}, skips)
	if err != nil {
		t.Fatal(err)
	}
	return string(exposition(t, collected{p: p, metrics: ms})), skips
}

// hwmonChipTree plants one hwmon chip, hwmonN, with sensor files.
func hwmonChipTree(t *testing.T, root string, n int, files map[string]string) {
	t.Helper()
	dev := fmt.Sprintf("sys/devices/platform/chip.%d", n)
	tree := map[string]string{
		fmt.Sprintf("sys/class/hwmon/hwmon%d", n):           fmt.Sprintf("-> ../../devices/platform/chip.%d/hwmon/hwmon%d", n, n),
		fmt.Sprintf("%s/hwmon/hwmon%d/device", dev, n):      "-> ../../../chip." + fmt.Sprint(n),
		fmt.Sprintf("%s/hwmon/hwmon%d/name", dev, n):        "chip\n",
		fmt.Sprintf("%s/hwmon/hwmon%d/temp1_label", dev, n): "Core 0\n",
	}
	for name, content := range files {
		tree[fmt.Sprintf("%s/hwmon/hwmon%d/%s", dev, n, name)] = content
	}
	plantTree(t, root, tree)
}

func hwmonFile(root string, n int, name string) string {
	return filepath.Join(root, fmt.Sprintf("sys/devices/platform/chip.%d/hwmon/hwmon%d/%s", n, n, name))
}

// The one-minute probes give the same output from a kept layout as from a
// full walk, and the same as when nothing is kept (every value opened by
// name each run, the fallback past the descriptor budget), on the fixture
// host.
func TestLayoutSameOutputEveryWay(t *testing.T) {
	for _, name := range []string{"hwmon", "network", "thermal", "power", "cpu", "mdraid"} {
		t.Run(name, func(t *testing.T) {
			p := newLayoutProbe(t, name)
			first, skips := runText(t, p, fixturePaths, fixtureOptions[name])
			if p.kept() == 0 {
				t.Errorf("%s keeps no descriptor after a run on the fixture host", name)
			}
			if skips.Count() != 0 {
				t.Logf("%d skips on the fixture host: every run re-reads the layout", skips.Count())
			}
			second, _ := runText(t, p, fixturePaths, fixtureOptions[name])
			if first != second {
				t.Errorf("run from the kept layout differs from the first:\n%s\nwant:\n%s", second, first)
			}
			keepAttrs = false
			defer func() { keepAttrs = true }()
			byName, _ := runText(t, newLayoutProbe(t, name), fixturePaths, fixtureOptions[name])
			if byName != first {
				t.Errorf("run reading every value by name differs:\n%s\nwant:\n%s", byName, first)
			}
		})
	}
}

// A reading that changes between runs is seen at the next run, from the
// kept descriptor; what the layout holds (the chip's name, a limit) is
// read again only when the layout is, within layoutEvery runs.
func TestLayoutValueChangesLayoutWaits(t *testing.T) {
	root := t.TempDir()
	hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n", "temp1_max": "90000\n"})
	p := newLayoutProbe(t, "hwmon")
	paths := treePaths(root)
	runText(t, p, paths, nil)

	writeFile(t, hwmonFile(root, 0, "temp1_input"), "57500\n")
	writeFile(t, hwmonFile(root, 0, "temp1_max"), "80000\n")
	writeFile(t, hwmonFile(root, 0, "name"), "renamed\n")
	out, _ := runText(t, p, paths, nil)
	checkSeries(t, out, []string{
		`hardware_hwmon_temperature_celsius{chip="platform_chip_0",label="Core 0",sensor="temp1"} 57.5`,
		`hardware_hwmon_temperature_max_celsius{chip="platform_chip_0",label="Core 0",sensor="temp1"} 90`,
		`hardware_hwmon_chip_info{chip="platform_chip_0",chip_name="chip"} 1`,
	}, nil)

	for range layoutEvery - 2 {
		runText(t, p, paths, nil)
	}
	out, _ = runText(t, p, paths, nil) // run layoutEvery+1 reads the layout again
	checkSeries(t, out, []string{
		`hardware_hwmon_temperature_max_celsius{chip="platform_chip_0",label="Core 0",sensor="temp1"} 80`,
		`hardware_hwmon_chip_info{chip="platform_chip_0",chip_name="renamed"} 1`,
	}, nil)
}

// A kept file removed, or replaced by another (a rename over it, as a
// driver reload gives new sysfs files), makes the run read the layout
// again at once: the run's output is what a full walk gives, not the
// descriptor's stale value, and nothing is counted as a read error.
func TestLayoutFileRemovedOrReplaced(t *testing.T) {
	root := t.TempDir()
	hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n", "temp2_input": "42000\n"})
	p := newLayoutProbe(t, "hwmon")
	paths := treePaths(root)
	runText(t, p, paths, nil)

	if err := os.Remove(hwmonFile(root, 0, "temp2_input")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, hwmonFile(root, 0, "temp1_input.new"), "43000\n")
	if err := os.Rename(hwmonFile(root, 0, "temp1_input.new"), hwmonFile(root, 0, "temp1_input")); err != nil {
		t.Fatal(err)
	}
	out, skips := runText(t, p, paths, nil)
	checkSeries(t, out,
		[]string{`hardware_hwmon_temperature_celsius{chip="platform_chip_0",label="Core 0",sensor="temp1"} 43`}, nil)
	if strings.Contains(out, `sensor="temp2"`) {
		t.Errorf("temp2, removed, still exported:\n%s", out)
	}
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0: a file that went away is not a read error", skips.Count())
	}
}

// A device that appears or goes away is seen on the very next run, in
// every probe that keeps a layout: each run lists the class directories
// the layout came from, and the period of the full re-read (layoutEvery)
// is not what hot-plug waits for.
func TestLayoutDeviceAddedOrRemovedNextRun(t *testing.T) {
	type step struct {
		change       func(t *testing.T, root string)
		want, absent []string
	}
	for _, tc := range []struct {
		probe string
		tree  map[string]string // planted below a fresh root; nil: a copy of the cpu fixture
		steps []step
	}{{
		probe: "hwmon",
		steps: []step{{
			change: func(t *testing.T, root string) {
				hwmonChipTree(t, root, 1, map[string]string{"temp1_input": "50000\n"})
			},
			want: []string{`hardware_hwmon_temperature_celsius{chip="platform_chip_1",label="Core 0",sensor="temp1"} 50`},
		}, {
			// Only the class link goes: the chip's kept files still read.
			change: func(t *testing.T, root string) { removeFile(t, filepath.Join(root, "sys/class/hwmon/hwmon1")) },
			absent: []string{`chip="platform_chip_1"`},
		}},
	}, {
		probe: "network",
		tree:  networkNICTree("eth0", "0000:00:03.0"),
		steps: []step{{
			change: func(t *testing.T, root string) { plantTree(t, root, networkNICTree("eth1", "0000:00:04.0")) },
			want:   []string{`hardware_network_interface_mtu_bytes{interface="eth1"} 1500`},
		}, {
			change: func(t *testing.T, root string) { removeFile(t, filepath.Join(root, "sys/class/net/eth1")) },
			absent: []string{`interface="eth1"`},
		}},
	}, {
		probe: "thermal",
		tree:  thermalZoneTree(0, "41000"),
		steps: []step{{
			change: func(t *testing.T, root string) { plantTree(t, root, thermalZoneTree(1, "52000")) },
			want:   []string{`hardware_thermal_zone_temperature_celsius{type="acpitz",zone="thermal_zone1"} 52`},
		}, {
			change: func(t *testing.T, root string) { removeFile(t, filepath.Join(root, "sys/class/thermal/thermal_zone1")) },
			absent: []string{`zone="thermal_zone1"`},
		}},
	}, {
		probe: "power",
		tree:  powerMainsTree("PSU1"),
		steps: []step{{
			change: func(t *testing.T, root string) { plantTree(t, root, powerMainsTree("PSU2")) },
			want:   []string{`hardware_power_supply_online{supply="PSU2"} 1`},
		}, {
			change: func(t *testing.T, root string) { removeFile(t, filepath.Join(root, "sys/class/power_supply/PSU2")) },
			absent: []string{`supply="PSU2"`},
		}},
	}, {
		probe: "cpu",
		steps: []step{{
			// CPU 15 taken offline: the online list changes and
			// /proc/cpuinfo lists one processor less.
			change: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "sys/devices/system/cpu/online"), "0-14\n")
				cpuinfo := filepath.Join(root, "proc/cpuinfo")
				b, err := os.ReadFile(cpuinfo)
				if err != nil {
					t.Fatal(err)
				}
				blocks := strings.Split(strings.TrimRight(string(b), "\n"), "\n\n")
				writeFile(t, cpuinfo, strings.Join(blocks[:len(blocks)-1], "\n\n")+"\n")
			},
			want: []string{`hardware_cpu_threads 15`},
		}},
	}} {
		t.Run(tc.probe, func(t *testing.T) {
			var paths Paths
			var root string
			switch {
			case tc.probe == "cpu":
				paths = copyServerFixture(t)
				root = filepath.Dir(paths.SysFS)
			default:
				root = t.TempDir()
				paths = treePaths(root)
				if tc.probe == "hwmon" {
					hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n"})
				} else {
					plantTree(t, root, tc.tree)
				}
			}
			p := newLayoutProbe(t, tc.probe)
			runText(t, p, paths, nil)
			runText(t, p, paths, nil)
			for i, s := range tc.steps {
				s.change(t, root)
				out, _ := runText(t, p, paths, nil)
				checkSeries(t, out, s.want, nil)
				for _, a := range s.absent {
					if strings.Contains(out, a) {
						t.Errorf("step %d: %s still exported on the next run:\n%s", i+1, a, out)
					}
				}
			}
		})
	}
}

// A name that does not matter (a container's veth, with no device link)
// coming and going does not read the layout again; a NIC does.
func TestLayoutVirtualInterfaceKeepsLayout(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, networkNICTree("eth0", "0000:00:03.0"))
	p := &networkProbe{}
	t.Cleanup(p.Close)
	paths := treePaths(root)
	runText(t, p, paths, nil)
	plantTree(t, root, map[string]string{
		"sys/class/net/veth1":               "-> ../../devices/virtual/net/veth1",
		"sys/devices/virtual/net/veth1/mtu": "1500\n",
	})
	runText(t, p, paths, nil)
	removeFile(t, filepath.Join(root, "sys/class/net/veth1"))
	runText(t, p, paths, nil)
	if n := p.layout.discoveries; n != 1 {
		t.Errorf("%d discoveries while a veth came and went, want 1", n)
	}
	plantTree(t, root, networkNICTree("eth1", "0000:00:04.0"))
	runText(t, p, paths, nil)
	if n := p.layout.discoveries; n != 2 {
		t.Errorf("%d discoveries after a NIC appeared, want 2", n)
	}
}

// networkNICTree is a PCI NIC called name at PCI address addr.
func networkNICTree(name, addr string) map[string]string {
	dev := "sys/devices/pci0000:00/" + addr + "/net/" + name
	return map[string]string{
		"sys/class/net/" + name: "-> ../../devices/pci0000:00/" + addr + "/net/" + name,
		dev + "/device":         "-> ../../../" + addr,
		dev + "/address":        "52:54:00:00:00:01\n",
		dev + "/mtu":            "1500\n",
	}
}

// thermalZoneTree is thermal_zoneN of type acpitz reading temp.
func thermalZoneTree(n int, temp string) map[string]string {
	zone := fmt.Sprintf("thermal_zone%d", n)
	return map[string]string{
		"sys/class/thermal/" + zone:                     "-> ../../devices/virtual/thermal/" + zone,
		"sys/devices/virtual/thermal/" + zone + "/type": "acpitz\n",
		"sys/devices/virtual/thermal/" + zone + "/temp": temp + "\n",
	}
}

// powerMainsTree is a mains power supply called name, online.
func powerMainsTree(name string) map[string]string {
	dir := "sys/devices/platform/" + name + "/power_supply/" + name
	return map[string]string{
		"sys/class/power_supply/" + name: "-> ../../devices/platform/" + name + "/power_supply/" + name,
		dir + "/type":                    "Mains\n",
		dir + "/online":                  "1\n",
	}
}

func removeFile(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
}

// A runtime-suspended GPU's sensors stay unread while it sleeps; once it
// wakes, the same run reads them.
func TestLayoutSuspendedChipWakes(t *testing.T) {
	root := t.TempDir()
	const dev = "sys/devices/pci0000:00/0000:00:01.0/0000:09:00.0"
	plantTree(t, root, map[string]string{
		dev + "/power/runtime_status":     "suspended\n",
		dev + "/hwmon/hwmon1/name":        "amdgpu\n",
		dev + "/hwmon/hwmon1/device":      "-> ../../../0000:09:00.0",
		dev + "/hwmon/hwmon1/temp1_input": "41000\n",
		"sys/class/hwmon/hwmon1":          "-> ../../devices/pci0000:00/0000:00:01.0/0000:09:00.0/hwmon/hwmon1",
	})
	p := newLayoutProbe(t, "hwmon")
	paths := treePaths(root)
	const temp = `hardware_hwmon_temperature_celsius{chip="0000:00:01_0_0000:09:00_0",label="",sensor="temp1"} 41`
	for i, status := range []string{"suspended", "suspended", "active", "active", "suspended"} {
		writeFile(t, filepath.Join(root, dev, "power/runtime_status"), status+"\n")
		out, _ := runText(t, p, paths, nil)
		if got := strings.Contains(out, temp); got != (status == "active") {
			t.Errorf("run %d, device %s: temperature exported %v", i+1, status, got)
		}
	}
}

// One probe keeps at most maxKeptPerProbe descriptors, whatever the host
// has; the values past it are read by name and still exported. Close
// gives every descriptor back, and new options (a reload) start a new
// layout with the old one's descriptors closed.
func TestLayoutDescriptorBound(t *testing.T) {
	root := t.TempDir()
	const sensors = maxKeptPerProbe + 40
	files := map[string]string{}
	for i := 1; i <= sensors; i++ {
		files[fmt.Sprintf("temp%d_input", i)] = fmt.Sprintf("%d\n", 1000*i)
	}
	hwmonChipTree(t, root, 0, files)
	before := hostfs.Kept()
	p := newLayoutProbe(t, "hwmon")
	paths := treePaths(root)
	for run := range 3 {
		out, _ := runText(t, p, paths, nil)
		if got := p.kept(); got != maxKeptPerProbe {
			t.Errorf("run %d: %d descriptors kept, want the bound, %d", run, got, maxKeptPerProbe)
		}
		if got := hostfs.Kept() - before; got > maxKeptPerProbe {
			t.Errorf("run %d: %d descriptors open in the process, want at most %d", run, got, maxKeptPerProbe)
		}
		checkSeries(t, out, []string{
			fmt.Sprintf(`hardware_hwmon_temperature_celsius{chip="platform_chip_0",label="",sensor="temp%d"} %d`, sensors, sensors),
		}, nil)
	}
	runText(t, p, paths, newHwmonOptions()) // new options: a new layout
	if got := hostfs.Kept() - before; got > maxKeptPerProbe {
		t.Errorf("after new options: %d descriptors open, want at most %d (the old layout's closed)", got, maxKeptPerProbe)
	}
	p.Close()
	// At most before: other tests' probes left to the garbage collector
	// may be closed meanwhile, never opened.
	if p.kept() != 0 || hostfs.Kept() > before {
		t.Errorf("after Close: probe keeps %d, process %d more than before; want 0", p.kept(), hostfs.Kept()-before)
	}
	out, _ := runText(t, p, paths, nil) // a closed probe runs again
	checkSeries(t, out, []string{`hardware_hwmon_temperature_celsius{chip="platform_chip_0",label="Core 0",sensor="temp1"} 1`}, nil)
}

// Close does not wait for a run in flight (one stuck in a driver's read
// would hold the daemon's shutdown): the run closes what it kept as it
// ends.
func TestLayoutCloseDuringRun(t *testing.T) {
	root := t.TempDir()
	hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n"})
	env := Env{Paths: treePaths(root)}.Bind(NewSkips(nil))
	var k keptLayout
	started, release, ran := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		_, err := k.run(context.Background(), env, NewSkips(nil), func(b *layoutBuilder) error {
			err := hwmonDiscover(context.Background(), env, b)
			close(started)
			<-release
			return err
		})
		ran <- err
	}()
	<-started
	closed := make(chan struct{})
	go func() {
		k.close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close waited for the run in flight")
	}
	close(release)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if n := k.kept(); n != 0 {
		t.Errorf("%d descriptors kept after a close during the run, want 0", n)
	}
}

// A discovery that could not read a file is not kept for layoutEvery
// runs: the next run reads the layout again, so a file that reads again
// (here a sensor's label) is back at once, as it was before layouts.
func TestLayoutRereadAfterSkip(t *testing.T) {
	root := t.TempDir()
	hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n"})
	os.Remove(hwmonFile(root, 0, "temp1_label"))
	if err := fifo(hwmonFile(root, 0, "temp1_label")); err != nil {
		t.Fatal(err)
	}
	p := newLayoutProbe(t, "hwmon")
	paths := treePaths(root)
	if _, skips := runText(t, p, paths, nil); skips.Count() != 1 {
		t.Fatalf("skips = %d, want 1 (the FIFO)", skips.Count())
	}
	os.Remove(hwmonFile(root, 0, "temp1_label"))
	writeFile(t, hwmonFile(root, 0, "temp1_label"), "Core 0\n")
	out, skips := runText(t, p, paths, nil)
	checkSeries(t, out, []string{`hardware_hwmon_temperature_celsius{chip="platform_chip_0",label="Core 0",sensor="temp1"} 41`}, nil)
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// New options (a reload) take effect at the next run, not after
// layoutEvery runs.
func TestLayoutNewOptionsAtOnce(t *testing.T) {
	root := t.TempDir()
	hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n"})
	hwmonChipTree(t, root, 1, map[string]string{"temp1_input": "42000\n"})
	p := newLayoutProbe(t, "hwmon")
	paths := treePaths(root)
	runText(t, p, paths, newHwmonOptions())
	out, _ := runText(t, p, paths, &HwmonOptions{ChipExclude: re("_1$")})
	if strings.Contains(out, `chip="platform_chip_1"`) {
		t.Errorf("chip_exclude from a reload not applied at the next run:\n%s", out)
	}
}

// A pass that finds the layout stale half way records nothing: the
// discovery that follows counts each bad file once.
func TestLayoutStalePassCountsNothing(t *testing.T) {
	root := t.TempDir()
	hwmonChipTree(t, root, 0, map[string]string{"temp1_input": "41000\n"})
	hwmonChipTree(t, root, 1, map[string]string{"temp1_input": "42000\n"})
	p := newLayoutProbe(t, "hwmon")
	paths := treePaths(root)
	runText(t, p, paths, nil)
	writeFile(t, hwmonFile(root, 0, "temp1_input"), "garbage\n") // in place: still kept
	os.Remove(hwmonFile(root, 1, "temp1_input"))                 // stale
	if _, skips := runText(t, p, paths, nil); skips.Count() != 1 {
		t.Errorf("skips = %d, want 1: the garbage reading, counted once", skips.Count())
	}
}

// Past the descriptor budget values are read by name; one whose file is
// not there (an interface without speed) is no series and does not make
// every run read the layout again.
func TestLayoutByNameMissingValueKeepsLayout(t *testing.T) {
	keepAttrs = false
	defer func() { keepAttrs = true }()
	root := t.TempDir()
	const dev = "sys/devices/pci0000:00/0000:00:03.0/net/eth0"
	plantTree(t, root, map[string]string{
		"sys/class/net/eth0": "-> ../../devices/pci0000:00/0000:00:03.0/net/eth0",
		dev + "/device":      "-> ../../../0000:00:03.0",
		dev + "/address":     "52:54:00:00:00:01\n",
		dev + "/mtu":         "1500\n",
	})
	p := newLayoutProbe(t, "network")
	paths := treePaths(root)
	runText(t, p, paths, nil)
	writeFile(t, filepath.Join(root, dev, "address"), "52:54:00:00:00:02\n") // layout: read only by a discovery
	writeFile(t, filepath.Join(root, dev, "mtu"), "9000\n")
	out, _ := runText(t, p, paths, nil)
	checkSeries(t, out, []string{
		`hardware_network_interface_mtu_bytes{interface="eth0"} 9000`,
		`hardware_network_interface_info{address="0000:00:03.0",driver="",interface="eth0",mac="52:54:00:00:00:01"} 1`,
	}, []string{"hardware_network_interface_speed_bytes_per_second"})
}

// keptWithout returns how many descriptors the probe called name keeps on
// tree, and on tree less the files whose names drop matches.
func keptWithout(t *testing.T, name string, tree map[string]string, drop func(string) bool) (with, without int) {
	t.Helper()
	for i, keep := range []func(string) bool{func(string) bool { return true }, func(f string) bool { return !drop(f) }} {
		root := t.TempDir()
		files := map[string]string{}
		for f, c := range tree {
			if keep(f) {
				files[f] = c
			}
		}
		plantTree(t, root, files)
		p := newLayoutProbe(t, name)
		runText(t, p, treePaths(root), nil)
		if i == 0 {
			with = p.kept()
		} else {
			without = p.kept()
		}
	}
	return with, without
}

// A bond's mode, member list and each member's MII status are read from
// descriptors kept open, not by name every run: a member's state that
// changes is seen at the next run without reading the layout again, and
// a member added or removed reads it again at once.
func TestLayoutBondKept(t *testing.T) {
	with, without := keptWithout(t, "network", networkBondTree(), func(f string) bool {
		return strings.Contains(f, "bond0") || strings.Contains(f, "bonding")
	})
	if with-without != 4 {
		t.Errorf("the bond keeps %d descriptors, want 4 (mode, slaves, two members' mii_status)", with-without)
	}

	root := t.TempDir()
	plantTree(t, root, networkBondTree())
	p := &networkProbe{}
	t.Cleanup(p.Close)
	paths := treePaths(root)
	runText(t, p, paths, nil)
	member := filepath.Join(root, "sys/devices/pci0000:4a/0000:4a:02.0/0000:4b:00.1/net/ens1f1np1/bonding_slave/mii_status")
	if _, err := os.Stat(member); err != nil {
		t.Fatal(err)
	}
	writeFile(t, member, "up\n") // in place: the kept descriptor reads it
	out, skips := runText(t, p, paths, nil)
	checkSeries(t, out, []string{
		`hardware_network_bond_members_up{bond="bond0"} 2`,
		`hardware_network_bond_member_up{bond="bond0",interface="ens1f1np1"} 1`,
	}, nil)
	if n := p.layout.discoveries; n != 1 || skips.Count() != 0 {
		t.Errorf("%d discoveries, %d skips after a member's state changed, want 1 and 0", n, skips.Count())
	}
	// Nothing changed since: the bond's series are the last run's.
	members := func() prometheus.Metric {
		ms, err := p.Probe(context.Background(), Env{Paths: paths}, NewSkips(nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Desc() == networkBondMembers {
				return m
			}
		}
		t.Fatal("no bond_members series")
		return nil
	}
	if m1, m2 := members(), members(); m1 != m2 {
		t.Error("bond_members, unchanged, got a new series")
	}
	writeFile(t, filepath.Join(root, "sys/devices/virtual/net/bond0/bonding/slaves"), "ens1f0np0\n")
	out, _ = runText(t, p, paths, nil)
	checkSeries(t, out, []string{`hardware_network_bond_members{bond="bond0"} 1`}, nil)
	if strings.Contains(out, `hardware_network_bond_member_up{bond="bond0",interface="ens1f1np1"}`) {
		t.Errorf("ens1f1np1, no longer a member, still exported:\n%s", out)
	}
	if n := p.layout.discoveries; n != 2 {
		t.Errorf("%d discoveries after the member list changed, want 2", n)
	}
}

// A power supply's health, a label, is read from a descriptor kept open
// and its change seen at the next run.
func TestLayoutPowerHealthKept(t *testing.T) {
	tree := powerSupplyTree()
	healths := 0
	for f := range tree {
		if strings.HasSuffix(f, "/health") {
			healths++
		}
	}
	with, without := keptWithout(t, "power", tree, func(f string) bool { return strings.HasSuffix(f, "/health") })
	if healths == 0 || with-without != healths {
		t.Errorf("health keeps %d descriptors, want %d (one a supply that has it)", with-without, healths)
	}

	root := t.TempDir()
	plantTree(t, root, tree)
	p := &powerProbe{}
	t.Cleanup(p.Close)
	paths := treePaths(root)
	runText(t, p, paths, nil)
	writeFile(t, filepath.Join(root, "sys/devices/pci0000:00/0000:00:1f.4/i2c-7/7-000b/power_supply/sbs-7-000b/health"), "Overheat\n")
	out, _ := runText(t, p, paths, nil)
	checkSeries(t, out, []string{`hardware_power_supply_health{health="Overheat",supply="sbs-7-000b"} 1`}, nil)
	if n := p.layout.discoveries; n != 1 {
		t.Errorf("%d discoveries after a health change, want 1", n)
	}
}

// A value that did not change since the last run gives the series built
// for it then (series are never changed once built), so a run over
// unchanged values allocates nothing per value; a value that changed
// gives a new series.
func TestLayoutUnchangedValueReusesSeries(t *testing.T) {
	root := t.TempDir()
	const sensors = 200
	files := map[string]string{}
	for i := 1; i <= sensors; i++ {
		files[fmt.Sprintf("temp%d_input", i)] = fmt.Sprintf("%d\n", 1000*i)
	}
	hwmonChipTree(t, root, 0, files)
	p := newLayoutProbe(t, "hwmon")
	env := Env{Paths: treePaths(root)}
	run := func() map[string]prometheus.Metric {
		ms, err := p.Probe(context.Background(), env, NewSkips(nil))
		if err != nil {
			t.Fatal(err)
		}
		bySensor := map[string]prometheus.Metric{}
		for _, m := range ms {
			var d dto.Metric
			if err := m.Write(&d); err != nil {
				t.Fatal(err)
			}
			for _, l := range d.GetLabel() {
				if l.GetName() == "sensor" {
					bySensor[l.GetValue()] = m
				}
			}
		}
		return bySensor
	}
	first := run()
	writeFile(t, hwmonFile(root, 0, "temp2_input"), "57500\n") // in place: still kept
	second := run()
	if first["temp1"] == nil || first["temp1"] != second["temp1"] {
		t.Errorf("temp1, unchanged, got a new series: %v, then %v", first["temp1"], second["temp1"])
	}
	var d dto.Metric
	if err := second["temp2"].Write(&d); err != nil || first["temp2"] == second["temp2"] || d.GetGauge().GetValue() != 57.5 {
		t.Errorf("temp2, changed to 57.5, gave %v (the first run's series: %v)", second["temp2"], first["temp2"] == second["temp2"])
	}
	skips := NewSkips(nil)
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := p.Probe(context.Background(), env, skips); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > sensors/2 {
		t.Errorf("%.0f allocations a run over %d unchanged values, want fewer than one a value", allocs, sensors)
	}
}
