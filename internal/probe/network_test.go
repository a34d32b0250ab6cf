package probe

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestNetworkGolden(t *testing.T) {
	checkGolden(t, "network")
	if _, skips := runProbe(t, "network", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

// networkNIC plants a physical interface as the kernel lays it out: its
// directory below the PCI function, the device link back up to it, and the
// class/net link. attrs are the interface's attribute files.
func networkNIC(files map[string]string, addr, name string, attrs map[string]string) {
	dir := "sys/devices/pci0000:4a/0000:4a:02.0/" + addr + "/net/" + name + "/"
	files["sys/devices/pci0000:4a/0000:4a:02.0/"+addr+"/vendor"] = "0x15b3\n"
	files["sys/devices/pci0000:4a/0000:4a:02.0/"+addr+"/driver"] = "-> ../../../../bus/pci/drivers/mlx5_core"
	files["sys/bus/pci/drivers/mlx5_core/bind"] = ""
	files[dir+"device"] = "-> ../../../" + addr
	files["sys/class/net/"+name] = "-> ../../devices/pci0000:4a/0000:4a:02.0/" + addr + "/net/" + name
	for k, v := range attrs {
		files[dir+k] = v
	}
}

// networkUpAttrs are the attributes of an interface that is up with a
// 25 Gb/s link.
func networkUpAttrs() map[string]string {
	return map[string]string{
		"address": "0c:42:a1:5e:7a:10\n", "mtu": "9000\n", "speed": "25000\n", "duplex": "full\n",
		"operstate": "up\n", "carrier": "1\n", "carrier_changes": "4\n", "flags": "0x1003\n", "type": "1\n",
	}
}

// networkUpSeries are the series of networkUpAttrs on ens1f0np0.
func networkUpSeries() map[string]float64 {
	return map[string]float64{
		`hardware_network_interface_info{address="0000:4b:00.0",driver="mlx5_core",interface="ens1f0np0",mac="0c:42:a1:5e:7a:10"}`: 1,
		`hardware_network_interface_speed_bytes_per_second{interface="ens1f0np0"}`:                                                 3.125e9,
		`hardware_network_interface_full_duplex{interface="ens1f0np0"}`:                                                            1,
		`hardware_network_interface_mtu_bytes{interface="ens1f0np0"}`:                                                              9000,
		`hardware_network_interface_admin_up{interface="ens1f0np0"}`:                                                               1,
		`hardware_network_interface_oper_up{interface="ens1f0np0"}`:                                                                1,
		`hardware_network_interface_carrier{interface="ens1f0np0"}`:                                                                1,
		`hardware_network_interface_carrier_changes_total{interface="ens1f0np0"}`:                                                  4,
	}
}

// An interface that is up but has lost its link: the driver reports
// SPEED_UNKNOWN and DUPLEX_UNKNOWN. That is not a malformed file: the speed
// and duplex series are absent, nothing is skipped.
func TestNetworkLinkDown(t *testing.T) {
	for _, speed := range []string{"-1\n", "4294967295\n"} {
		files := map[string]string{}
		a := networkUpAttrs()
		a["speed"], a["duplex"], a["carrier"], a["operstate"] = speed, "unknown\n", "0\n", "down\n"
		networkNIC(files, "0000:4b:00.0", "ens1f0np0", a)
		root := t.TempDir()
		plantTree(t, root, files)
		c, skips := runProbe(t, "network", treePaths(root))
		want := networkUpSeries()
		delete(want, `hardware_network_interface_speed_bytes_per_second{interface="ens1f0np0"}`)
		delete(want, `hardware_network_interface_full_duplex{interface="ens1f0np0"}`)
		want[`hardware_network_interface_carrier{interface="ens1f0np0"}`] = 0
		want[`hardware_network_interface_oper_up{interface="ens1f0np0"}`] = 0
		assertSeries(t, gatherSeries(t, c), "hardware_network_", want)
		if skips.Count() != 0 {
			t.Errorf("speed %q: skips = %d, want 0", speed, skips.Count())
		}
	}
}

// Reading speed, duplex or carrier of an interface that is down fails with
// EINVAL in a real kernel (a fixture file cannot): unknown, not unreadable.
func TestNetworkUnknownErr(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "read", Path: "/sys/class/net/eno8403/speed", Err: syscall.EINVAL}, true},
		{&fs.PathError{Op: "open", Path: "/sys/class/net/eno8403/speed", Err: syscall.ENOENT}, true},
		{&fs.PathError{Op: "read", Path: "/sys/class/net/eno8403/speed", Err: syscall.EIO}, false},
		{errors.New("something else"), false},
	} {
		if got := networkUnknownErr(tc.err); got != tc.want {
			t.Errorf("networkUnknownErr(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A malformed attribute costs its one series and is counted.
func TestNetworkMalformed(t *testing.T) {
	for _, tc := range []struct {
		file, content, lost string
	}{
		{"mtu", "9000x\n", `hardware_network_interface_mtu_bytes{interface="ens1f0np0"}`},
		{"speed", "fast\n", `hardware_network_interface_speed_bytes_per_second{interface="ens1f0np0"}`},
		{"duplex", "sideways\n", `hardware_network_interface_full_duplex{interface="ens1f0np0"}`},
		{"flags", "up\n", `hardware_network_interface_admin_up{interface="ens1f0np0"}`},
		{"carrier", "2\n", `hardware_network_interface_carrier{interface="ens1f0np0"}`},
		{"carrier_changes", "-4\n", `hardware_network_interface_carrier_changes_total{interface="ens1f0np0"}`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			files := map[string]string{}
			a := networkUpAttrs()
			a[tc.file] = tc.content
			networkNIC(files, "0000:4b:00.0", "ens1f0np0", a)
			root := t.TempDir()
			plantTree(t, root, files)
			c, skips := runProbe(t, "network", treePaths(root))
			want := networkUpSeries()
			if _, ok := want[tc.lost]; !ok {
				t.Fatalf("test case loses %s, which the tree never has", tc.lost)
			}
			delete(want, tc.lost)
			assertSeries(t, gatherSeries(t, c), "hardware_network_", want)
			if skips.Count() != 1 {
				t.Errorf("skips = %d, want 1", skips.Count())
			}
		})
	}
}

// networkBondTree plants bond0 with members ens1f0np0 (up) and ens1f1np1
// (MII down), and returns the tree's files.
func networkBondTree() map[string]string {
	files := map[string]string{}
	m0, m1 := networkUpAttrs(), networkUpAttrs()
	m0["bonding_slave/mii_status"], m0["bonding_slave/perm_hwaddr"] = "up\n", "0c:42:a1:5e:7a:10\n"
	m1["bonding_slave/mii_status"], m1["bonding_slave/perm_hwaddr"] = "down\n", "0c:42:a1:5e:7a:11\n"
	networkNIC(files, "0000:4b:00.0", "ens1f0np0", m0)
	networkNIC(files, "0000:4b:00.1", "ens1f1np1", m1)
	b := "sys/devices/virtual/net/bond0/"
	files[b+"address"] = "0c:42:a1:5e:7a:10\n"
	files[b+"mtu"] = "9000\n"
	files[b+"flags"] = "0x1403\n"
	files[b+"bonding/mode"] = "802.3ad 4\n"
	files[b+"bonding/slaves"] = "ens1f0np0 ens1f1np1\n"
	files[b+"bonding/mii_status"] = "up\n"
	files["sys/class/net/bond0"] = "-> ../../devices/virtual/net/bond0"
	files["sys/class/net/bonding_masters"] = "bond0\n"
	return files
}

func TestNetworkBond(t *testing.T) {
	t.Run("members", func(t *testing.T) {
		root := t.TempDir()
		plantTree(t, root, networkBondTree())
		c, skips := runProbe(t, "network", treePaths(root))
		got := gatherSeries(t, c)
		assertSeries(t, got, "hardware_network_bond", map[string]float64{
			`hardware_network_bond_info{bond="bond0",mode="802.3ad"}`:             1,
			`hardware_network_bond_members{bond="bond0"}`:                         2,
			`hardware_network_bond_members_up{bond="bond0"}`:                      1,
			`hardware_network_bond_member_up{bond="bond0",interface="ens1f0np0"}`: 1,
			`hardware_network_bond_member_up{bond="bond0",interface="ens1f1np1"}`: 0,
		})
		// The bond is not hardware: no interface series. Its members
		// carry their permanent addresses.
		if _, ok := got[`hardware_network_interface_mtu_bytes{interface="bond0"}`]; ok {
			t.Error("bond0 has interface series")
		}
		if _, ok := got[`hardware_network_interface_info{address="0000:4b:00.1",driver="mlx5_core",interface="ens1f1np1",mac="0c:42:a1:5e:7a:11"}`]; !ok {
			t.Error("ens1f1np1 info missing or without its permanent address")
		}
		if skips.Count() != 0 {
			t.Errorf("skips = %d, want 0", skips.Count())
		}
	})
	// A member the bond lists but whose state is nowhere (unplugged
	// between the two reads, a race with ip link) is a read error, not a
	// down member: it counts in neither bond_members nor bond_members_up.
	t.Run("member missing", func(t *testing.T) {
		files := networkBondTree()
		files["sys/devices/virtual/net/bond0/bonding/slaves"] = "ens1f0np0 ens1f1np1 ens3f0np0\n"
		root := t.TempDir()
		plantTree(t, root, files)
		c, skips := runProbe(t, "network", treePaths(root))
		assertSeries(t, gatherSeries(t, c), "hardware_network_bond", map[string]float64{
			`hardware_network_bond_info{bond="bond0",mode="802.3ad"}`:             1,
			`hardware_network_bond_members{bond="bond0"}`:                         2,
			`hardware_network_bond_members_up{bond="bond0"}`:                      1,
			`hardware_network_bond_member_up{bond="bond0",interface="ens1f0np0"}`: 1,
			`hardware_network_bond_member_up{bond="bond0",interface="ens1f1np1"}`: 0,
		})
		if skips.Count() != 1 {
			t.Errorf("skips = %d, want 1", skips.Count())
		}
	})
	// A member outside this namespace has no class/net entry and no
	// bonding_slave/ of its own here: the bond's lower_<member> link leads
	// to its state. One whose state cannot be read at all (EIO, here a
	// directory) is a read error, not down.
	t.Run("member through lower link, unreadable member", func(t *testing.T) {
		files := networkBondTree()
		for k := range files {
			if strings.Contains(k, "ens1f1np1/bonding_slave/") {
				delete(files, k)
			}
		}
		dev := "sys/devices/pci0000:4a/0000:4a:02.0/0000:4b:00.1/net/ens1f1np1"
		files[dev+"/bonding_slave/mii_status"] = "up\n"
		files["sys/devices/virtual/net/bond0/lower_ens1f1np1"] = "-> ../../../pci0000:4a/0000:4a:02.0/0000:4b:00.1/net/ens1f1np1"
		files["sys/devices/virtual/net/bond0/bonding/slaves"] = "ens1f0np0 ens1f1np1\n"
		delete(files, "sys/devices/pci0000:4a/0000:4a:02.0/0000:4b:00.0/net/ens1f0np0/bonding_slave/mii_status")
		files["sys/devices/pci0000:4a/0000:4a:02.0/0000:4b:00.0/net/ens1f0np0/bonding_slave/mii_status/x"] = ""
		root := t.TempDir()
		plantTree(t, root, files)
		// The member's own class entry is gone (moved to another namespace).
		if err := os.Remove(filepath.Join(root, "sys/class/net/ens1f1np1")); err != nil {
			t.Fatal(err)
		}
		c, skips := runProbe(t, "network", treePaths(root))
		assertSeries(t, gatherSeries(t, c), "hardware_network_bond", map[string]float64{
			`hardware_network_bond_info{bond="bond0",mode="802.3ad"}`:             1,
			`hardware_network_bond_members{bond="bond0"}`:                         1,
			`hardware_network_bond_members_up{bond="bond0"}`:                      1,
			`hardware_network_bond_member_up{bond="bond0",interface="ens1f1np1"}`: 1,
		})
		if skips.Count() != 1 {
			t.Errorf("skips = %d, want 1 (ens1f0np0's mii_status)", skips.Count())
		}
	})
	// A bond with no member left lists none.
	t.Run("empty", func(t *testing.T) {
		files := networkBondTree()
		files["sys/devices/virtual/net/bond0/bonding/slaves"] = "\n"
		root := t.TempDir()
		plantTree(t, root, files)
		c, _ := runProbe(t, "network", treePaths(root))
		assertSeries(t, gatherSeries(t, c), "hardware_network_bond", map[string]float64{
			`hardware_network_bond_info{bond="bond0",mode="802.3ad"}`: 1,
			`hardware_network_bond_members{bond="bond0"}`:             0,
			`hardware_network_bond_members_up{bond="bond0"}`:          0,
		})
	})
}

// node_exporter's fixture: bonds dmz and int whose members have no
// class/net entry, only the bond's slave_<member>/bonding_slave/.
func TestNetworkBondNodeExporter(t *testing.T) {
	c, skips := runProbe(t, "network", foreignTree(t, "nodeexporter-sys/bonding"))
	assertSeries(t, gatherSeries(t, c), "hardware_network_bond", map[string]float64{
		`hardware_network_bond_members{bond="dmz"}`:                    2,
		`hardware_network_bond_members_up{bond="dmz"}`:                 2,
		`hardware_network_bond_member_up{bond="dmz",interface="eth0"}`: 1,
		`hardware_network_bond_member_up{bond="dmz",interface="eth4"}`: 1,
		`hardware_network_bond_members{bond="int"}`:                    2,
		`hardware_network_bond_members_up{bond="int"}`:                 1,
		`hardware_network_bond_member_up{bond="int",interface="eth1"}`: 0,
		`hardware_network_bond_member_up{bond="int",interface="eth5"}`: 1,
	})
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

func TestNetworkInfiniBand(t *testing.T) {
	port := "sys/devices/pci0000:c9/0000:c9:02.0/0000:ca:00.0/infiniband/mlx5_2/ports/1/"
	base := func() map[string]string {
		return map[string]string{
			"sys/class/infiniband/mlx5_2": "-> ../../devices/pci0000:c9/0000:c9:02.0/0000:ca:00.0/infiniband/mlx5_2",
			port + "state":                "4: ACTIVE\n",
			port + "phys_state":           "5: LinkUp\n",
			port + "rate":                 "200 Gb/sec (4X HDR)\n",
			port + "link_layer":           "InfiniBand\n",
		}
	}
	all := map[string]float64{
		`hardware_network_infiniband_port_info{device="mlx5_2",link_layer="InfiniBand",port="1"}`: 1,
		`hardware_network_infiniband_port_active{device="mlx5_2",port="1"}`:                       1,
		`hardware_network_infiniband_port_physical_up{device="mlx5_2",port="1"}`:                  1,
		`hardware_network_infiniband_port_rate_bytes_per_second{device="mlx5_2",port="1"}`:        25e9,
	}
	for _, tc := range []struct {
		name   string
		mutate func(map[string]string)
		want   map[string]float64
		skips  int
	}{
		{"active", func(map[string]string) {}, all, 0},
		// Cable pulled: the port polls for a partner, the rate is the
		// lowest the port can do.
		{"down", func(f map[string]string) {
			f[port+"state"], f[port+"phys_state"], f[port+"rate"] = "1: DOWN\n", "2: Polling\n", "10 Gb/sec (4X SDR)\n"
		}, map[string]float64{
			`hardware_network_infiniband_port_info{device="mlx5_2",link_layer="InfiniBand",port="1"}`: 1,
			`hardware_network_infiniband_port_active{device="mlx5_2",port="1"}`:                       0,
			`hardware_network_infiniband_port_physical_up{device="mlx5_2",port="1"}`:                  0,
			`hardware_network_infiniband_port_rate_bytes_per_second{device="mlx5_2",port="1"}`:        1.25e9,
		}, 0},
		{"malformed rate", func(f map[string]string) { f[port+"rate"] = "fast\n" }, map[string]float64{
			`hardware_network_infiniband_port_info{device="mlx5_2",link_layer="InfiniBand",port="1"}`: 1,
			`hardware_network_infiniband_port_active{device="mlx5_2",port="1"}`:                       1,
			`hardware_network_infiniband_port_physical_up{device="mlx5_2",port="1"}`:                  1,
		}, 1},
		{"malformed state", func(f map[string]string) { f[port+"state"] = "ACTIVE\n" }, map[string]float64{
			`hardware_network_infiniband_port_info{device="mlx5_2",link_layer="InfiniBand",port="1"}`: 1,
			`hardware_network_infiniband_port_physical_up{device="mlx5_2",port="1"}`:                  1,
			`hardware_network_infiniband_port_rate_bytes_per_second{device="mlx5_2",port="1"}`:        25e9,
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := base()
			tc.mutate(files)
			root := t.TempDir()
			plantTree(t, root, files)
			c, skips := runProbe(t, "network", treePaths(root))
			assertSeries(t, gatherSeries(t, c), "hardware_network_", tc.want)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
		})
	}
}

// A VM or container may have no physical NIC and no RDMA class at all.
func TestNetworkNone(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, map[string]string{
		"sys/devices/virtual/net/lo/mtu":   "65536\n",
		"sys/devices/virtual/net/lo/flags": "0x9\n",
		"sys/class/net/lo":                 "-> ../../devices/virtual/net/lo",
	})
	c, skips := runProbe(t, "network", treePaths(root))
	if len(c.metrics) != 0 || skips.Count() != 0 {
		t.Errorf("got %d metrics, %d skips; want none", len(c.metrics), skips.Count())
	}
}

// A virtio NIC's device is virtioN on the virtio bus, numbered in probe
// order; its address is the PCI function that carries it, as the help
// promises and hardware_pci_* names it. virtio over MMIO has no PCI
// function and keeps virtioN.
func TestNetworkVirtioAddress(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{}
	for name, dev := range map[string]string{
		"ens3": "sys/devices/pci0000:00/0000:00:03.0/virtio2",
		"eth1": "sys/devices/platform/a003e00.virtio_mmio/virtio5",
	} {
		dir := dev + "/net/" + name + "/"
		files[dev+"/driver"] = "-> ../../../../bus/virtio/drivers/virtio_net"
		files[dir+"device"] = "-> ../../../" + path.Base(dev)
		files[dir+"address"] = "52:54:00:12:34:56\n"
		files["sys/class/net/"+name] = "-> ../../" + strings.TrimPrefix(dir, "sys/")
	}
	files["sys/bus/virtio/drivers/virtio_net/bind"] = ""
	plantTree(t, root, files)
	c, skips := runProbe(t, "network", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_network_interface_info", map[string]float64{
		`hardware_network_interface_info{address="0000:00:03.0",driver="virtio_net",interface="ens3",mac="52:54:00:12:34:56"}`: 1,
		`hardware_network_interface_info{address="virtio5",driver="virtio_net",interface="eth1",mac="52:54:00:12:34:56"}`:      1,
	})
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// Counters: "N/A (no PMA)" has no series and no skip, an unreadable
// counter costs its series and one skip, and an iWARP device (irdma) with
// hw_counters/ only and no identity files reads clean.
func TestNetworkInfiniBandCounters(t *testing.T) {
	port := "sys/class/infiniband/mlx4_0/ports/1/"
	root := t.TempDir()
	plantTree(t, root, map[string]string{
		"sys/class/infiniband/mlx4_0/fw_ver":                            "2.42.5000\n",
		"sys/class/infiniband/mlx4_0/board_id":                          "MT_1090120019\n",
		"sys/class/infiniband/mlx4_0/hca_type":                          "MT4099\n",
		port + "counters/symbol_error":                                  "N/A (no PMA)\n",
		port + "counters/link_downed":                                   "3\n",
		port + "counters/port_rcv_errors":                               "EIO\n", // garbage: a skip
		port + "counters/port_xmit_wait":                                "1000\n",
		port + "counters/port_xmit_data":                                "250\n",
		port + "counters/port_rcv_data":                                 "N/A (no PMA)\n",
		port + "counters/port_rcv_packets":                              "9\n", // not exported
		"sys/class/infiniband/irdma0/ports/1/link_layer":                "Ethernet\n",
		"sys/class/infiniband/irdma0/ports/1/hw_counters/ip4InDiscards": "2\n",
		"sys/class/infiniband/irdma0/ports/1/hw_counters/lifespan":      "10\n",
	})
	c, skips := runProbe(t, "network", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_network_", map[string]float64{
		`hardware_network_infiniband_device_info{board_id="MT_1090120019",device="mlx4_0",firmware_version="2.42.5000",hca_type="MT4099"}`: 1,
		`hardware_network_infiniband_port_info{device="mlx4_0",link_layer="",port="1"}`:                                                    1,
		`hardware_network_infiniband_port_errors_total{counter="link_downed",device="mlx4_0",port="1"}`:                                    3,
		`hardware_network_infiniband_port_transmit_wait_total{device="mlx4_0",port="1"}`:                                                   1000,
		`hardware_network_infiniband_port_transmit_bytes_total{device="mlx4_0",port="1"}`:                                                  1000,
		`hardware_network_infiniband_port_info{device="irdma0",link_layer="Ethernet",port="1"}`:                                            1,
		`hardware_network_infiniband_port_hw_events_total{counter="ip4InDiscards",device="irdma0",port="1"}`:                               2,
	})
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1 (port_rcv_errors)", skips.Count())
	}
}

// BenchmarkNetwork is one run of the network probe on the fixture server.
func BenchmarkNetwork(b *testing.B) { benchmarkProbes(b, "network") }
