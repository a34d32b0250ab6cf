package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/host/sysfs"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

var (
	networkInterfaceInfo = Inventory(newDesc("network", "interface_info",
		"Physical network interface, value 1; mac is the permanent address for a bond member (the bond rewrites the live one), address the bus address of its device (PCI).",
		"interface", "mac", "driver", "address"))
	networkInterfaceSpeed = newDesc("network", "interface_speed_bytes_per_second",
		"Negotiated link speed; absent while the driver does not know it (link down, interface down).", "interface")
	networkInterfaceFullDuplex = newDesc("network", "interface_full_duplex",
		"1 when the link runs full duplex, 0 half duplex; absent while unknown.", "interface")
	networkInterfaceMTU = newDesc("network", "interface_mtu_bytes",
		"Maximum transmission unit of the interface.", "interface")
	networkInterfaceAdminUp = newDesc("network", "interface_admin_up",
		"1 when the interface is administratively up (IFF_UP), 0 when it was set down.", "interface")
	networkInterfaceOperUp = newDesc("network", "interface_oper_up",
		"1 when the kernel's operational state (RFC 2863) is up, else 0.", "interface")
	networkInterfaceCarrier = newDesc("network", "interface_carrier",
		"1 when the interface has carrier (a link partner), 0 when not; absent while the interface is down, when the kernel does not tell.", "interface")
	networkInterfaceCarrierChanges = newDesc("network", "interface_carrier_changes_total",
		"Times the carrier went up or down since the driver registered the interface.", "interface")

	networkBondInfo = newDesc("network", "bond_info",
		"Bonding interface, value 1; mode is the bonding mode's name (802.3ad, active-backup, ...).", "bond", "mode")
	networkBondMembers = newDesc("network", "bond_members",
		"Interfaces enslaved to the bond whose link state could be read; a member whose state cannot be read counts in hardware_probe_read_errors, not here.", "bond")
	networkBondMembersUp = newDesc("network", "bond_members_up",
		"Interfaces enslaved to the bond whose link the bond's MII monitor sees up.", "bond")
	networkBondMemberUp = newDesc("network", "bond_member_up",
		"1 when the bond's MII monitor sees the member's link up, else 0.", "bond", "interface")

	networkIBPortInfo = Inventory(newDesc("network", "infiniband_port_info",
		"RDMA port, value 1; link_layer is InfiniBand, or Ethernet for RoCE.", "device", "port", "link_layer"))
	networkIBPortActive = newDesc("network", "infiniband_port_active",
		"1 when the port's logical state is ACTIVE (it can carry traffic), else 0.", "device", "port")
	networkIBPortPhysicalUp = newDesc("network", "infiniband_port_physical_up",
		"1 when the port's physical state is LinkUp, else 0.", "device", "port")
	networkIBPortRate = newDesc("network", "infiniband_port_rate_bytes_per_second",
		"Signalling rate of the port (speed times width), as the rate attribute reports it.", "device", "port")
	networkIBDeviceInfo = Inventory(newDesc("network", "infiniband_device_info",
		"RDMA device (HCA), value 1, with its firmware version, board ID (PSID) and HCA type (mlx4/mlx5 only).",
		"device", "firmware_version", "board_id", "hca_type"))
	networkIBPortErrors = withNote(newDesc("network", "infiniband_port_errors_total",
		"Error counters of the port's IBA PortCounters (counters/), counter being the file name.",
		"device", "port", "counter"),
		"counter is one of symbol_error, link_downed, link_error_recovery, local_link_integrity_errors, "+
			"excessive_buffer_overrun_errors, port_rcv_errors, port_rcv_remote_physical_errors, "+
			"port_rcv_switch_relay_errors, port_rcv_constraint_errors, port_xmit_discards, "+
			"port_xmit_constraint_errors, VL15_dropped. One family with a counter label rather than "+
			"a family each: twelve families of one series per port would say nothing more. "+
			"A counter the port does not implement (\"N/A (no PMA)\", an iWARP or irdma device) has no series. "+
			"Without extended counters, an old HCA's 8- and 16-bit counters stop at their maximum (255, 65535).")
	networkIBPortTransmitWait = newDesc("network", "infiniband_port_transmit_wait_total",
		"Ticks during which the port had data to send but could not (counters/port_xmit_wait): congestion, credits not returned.",
		"device", "port")
	networkIBPortTransmitBytes = newDesc("network", "infiniband_port_transmit_bytes_total",
		"Data octets the port sent (counters/port_xmit_data, which counts 4-octet words).", "device", "port")
	networkIBPortReceiveBytes = newDesc("network", "infiniband_port_receive_bytes_total",
		"Data octets the port received (counters/port_rcv_data, which counts 4-octet words).", "device", "port")
	networkIBPortHWCounter = withNote(newDesc("network", "infiniband_port_hw_events_total",
		"Driver-specific counters of the port (hw_counters/), counter being the file name (out_of_sequence, packet_seq_err, np_cnp_sent, ...).",
		"device", "port", "counter"),
		"Names and meaning are the driver's (mlx5: RoCE congestion and retransmission, irdma: IP and TCP statistics); "+
			"lifespan, a setting, is left out. On mlx5 each read is a firmware command, which the probe's schedule, "+
			"off the scrape path, pays for.")
)

// networkIBErrorCounters are the counters/ files exported as
// infiniband_port_errors_total.
var networkIBErrorCounters = []string{
	"symbol_error", "link_downed", "link_error_recovery", "local_link_integrity_errors",
	"excessive_buffer_overrun_errors", "port_rcv_errors", "port_rcv_remote_physical_errors",
	"port_rcv_switch_relay_errors", "port_rcv_constraint_errors", "port_xmit_discards",
	"port_xmit_constraint_errors", "VL15_dropped",
}

func init() {
	Register(Spec{
		Name:      "network",
		Summary:   "NICs (speed, duplex, MTU, link state, carrier changes), bonds, InfiniBand.",
		Reads:     "physical NICs in `/sys/class/net` (MAC, driver, PCI address, speed, duplex, MTU, admin/oper state, carrier and its changes; the link state re-read from descriptors kept open, the interfaces listed each run and read again every 60 runs), bonds and their members, InfiniBand/RDMA devices in `/sys/class/infiniband` (firmware, board; each port's state, physical state, rate, error counters, transmit wait, data, and `hw_counters`); NIC firmware and expansion ROM versions from the kernel's ethtool driver info (ioctl `ETHTOOL_GDRVINFO`, when `paths.sysfs` is `/sys`)",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		Options:   func() any { return newNetworkOptions() },
		New:       func() Probe { return &networkProbe{} },
	})
}

// networkProbe reports physical NICs, bonds and RDMA (InfiniBand) ports.
//
// It reads sysfs itself rather than through procfs' NetClass and
// InfiniBandClass: NetClass drops a number it cannot parse without saying so
// (a garbage mtu would be neither a series nor a skip), fails every interface
// when one attribute of one interface is unreadable, and knows nothing of the
// device link or bonding. RDMA devices are read with internal/host/sysfs's
// ReadInfiniBandDevice rather than InfiniBandClass, which fails the whole
// class on one malformed or unreadable counter ("N/A (no PMA)", irdma's
// EINVAL). hw_counters are read on every run: on mlx5 each read is a
// firmware command, affordable because the run is off the scrape path.
//
// It keeps the interfaces' layout between runs (layout.go): each NIC's
// link state, each bond's mode and members' MII status, and each RDMA
// port's state and counters are re-read from descriptors kept open. NIC
// firmware (ethtool driver info) is asked for when the layout is
// discovered.
type networkProbe struct {
	layout  keptLayout
	drvinfo nicDriverInfo // tests' fake ethtool driver info; nil asks the kernel (openNICDriverInfo)
}

// NetworkOptions are the network probe's filters (probes.network.*),
// named as node_exporter's --collector.netdev.device-* flags. An
// interface filtered out is not read at all.
type NetworkOptions struct {
	DeviceInclude confval.Regexp `yaml:"device_include" flag:"device-include" help:"Regular expression on interface names in /sys/class/net (e.g. \"^(eno|ens)\"): read only the NICs and bonds that match. Empty: all. RDMA devices are not filtered."`
	DeviceExclude confval.Regexp `yaml:"device_exclude" flag:"device-exclude" help:"Regular expression on interface names: skip the NICs and bonds that match. Empty: none."`
}

func newNetworkOptions() *NetworkOptions { return &NetworkOptions{} }

// Close closes the descriptors the probe keeps.
func (p *networkProbe) Close() { p.layout.close() }

func (*networkProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		networkInterfaceInfo, networkInterfaceSpeed, networkInterfaceFullDuplex, networkInterfaceMTU,
		networkInterfaceAdminUp, networkInterfaceOperUp, networkInterfaceCarrier, networkInterfaceCarrierChanges,
		networkBondInfo, networkBondMembers, networkBondMembersUp, networkBondMemberUp,
		networkIBPortInfo, networkIBPortActive, networkIBPortPhysicalUp, networkIBPortRate,
		networkIBDeviceInfo, networkIBPortErrors, networkIBPortTransmitWait, networkIBPortTransmitBytes,
		networkIBPortReceiveBytes, networkIBPortHWCounter, firmwareInfoDesc,
	} {
		ch <- d
	}
}

func (p *networkProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	return p.layout.run(ctx, env, skips, func(b *layoutBuilder) error { return networkDiscover(ctx, env, b, p.drvinfo) })
}

func networkDiscover(ctx context.Context, env Env, b *layoutBuilder, drvinfo nicDriverInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := optionsOf(env, newNetworkOptions)
	nics, closeNICs := openNICDriverInfo(drvinfo, env)
	defer closeNICs()
	class := env.Sys("class/net")
	// Only NICs and bonds make the layout stale when they come or go:
	// a host that starts containers adds and removes veths all day.
	b.watch(class, func(name string) bool {
		if !o.DeviceInclude.MatchOr(name, true) || o.DeviceExclude.MatchOr(name, false) {
			return false
		}
		if fi, err := class.lstat(name); err == nil && fi.Mode().IsRegular() { // bonding_masters
			return false
		}
		dir := class.sub(name)
		_, errDev := dir.lstat("device")
		_, errBond := dir.lstat("bonding")
		return !errors.Is(errDev, fs.ErrNotExist) || !errors.Is(errBond, fs.ErrNotExist)
	})
	b.watch(env.Sys("class/infiniband"), nil)
	for _, e := range class.entries() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Type().IsRegular() { // bonding_masters
			continue
		}
		name := e.Name()
		if !o.DeviceInclude.MatchOr(name, true) || o.DeviceExclude.MatchOr(name, false) {
			continue
		}
		dir := class.sub(name)
		if _, err := dir.lstat("bonding"); err == nil {
			networkBond(b, class, name)
		}
		networkInterface(b, dir, name)
		if fw := nicFirmware(dir, name, nics); len(fw) > 0 {
			g := b.group()
			for _, m := range fw {
				g.add(m)
			}
		}
	}

	// RDMA devices: identity and which counters each port has from the
	// reader, then each port's state and counters kept to re-read.
	ib := env.Sys("class/infiniband")
	sys := hostfs.New(env.Paths.SysFS)
	names, errs := sysfs.InfiniBandDeviceNames(sys)
	networkSkip(b.skips, errs)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, errs := sysfs.ReadInfiniBandDevice(sys, name)
		networkSkip(b.skips, errs)
		g := b.group()
		for _, m := range networkIBDevice(d) {
			g.add(m)
		}
		for _, m := range hcaFirmware(d) {
			g.add(m)
		}
		for _, port := range d.Ports {
			networkIBPort(b, g, ib.sub(name, "ports", port.Name), name, port)
		}
	}
	return nil
}

// networkSkip records what a sysfs reader could not read.
func networkSkip(skips *Skips, errs []sysfs.Error) {
	for _, e := range errs {
		skips.Add(e.Path, e.Err)
	}
}

// networkIBDevice maps an RDMA device's identity.
func networkIBDevice(d sysfs.InfiniBandDevice) []prometheus.Metric {
	if d.FirmwareVersion == "" && d.BoardID == "" && d.HCAType == "" {
		return nil
	}
	return []prometheus.Metric{gauge(networkIBDeviceInfo, 1, labelValue(d.Name),
		labelValue(d.FirmwareVersion), labelValue(d.BoardID), labelValue(d.HCAType))}
}

// IFF_UP in the flags attribute: the interface is administratively up.
const networkIFFUp = 0x1

// networkInterface lays out one interface: its identity now, its link
// state to re-read. Interfaces with no device link (loopback, bonds,
// bridges, VLANs, veths) are not hardware and get no series.
func networkInterface(b *layoutBuilder, a attrs, name string) {
	target, err := a.readlink("device")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		a.skips.Add(a.path("device"), err)
		return
	}
	iface := labelValue(name)
	g := b.group()

	// A bond sets every member's live address to its own; the permanent
	// one identifies the port and does not change when the bond re-forms.
	mac, ok := a.String("bonding_slave/perm_hwaddr")
	if !ok {
		mac, _ = a.String("address")
	}
	driver := ""
	if t, err := a.readlink("device/driver"); err == nil {
		driver = path.Base(t)
	} else if !errors.Is(err, fs.ErrNotExist) {
		a.skips.Add(a.path("device/driver"), err)
	}
	g.add(gauge(networkInterfaceInfo, 1,
		iface, labelValue(mac), labelValue(driver), labelValue(networkBusAddress(a, target))))

	// The kernel answers a read of speed, duplex or carrier with EINVAL
	// while the interface is down: that is "unknown", the same as a
	// missing file, and not a failure.
	linkAttr := func(file string, parse func(string) (float64, bool, error), d *prometheus.Desc, vt prometheus.ValueType) {
		if v := b.value(g, a, file, parse, d, vt, iface); v != nil {
			v.unknown = networkUnknownErr
		}
	}
	linkAttr("speed", networkSpeed, networkInterfaceSpeed, prometheus.GaugeValue)
	linkAttr("duplex", networkDuplex, networkInterfaceFullDuplex, prometheus.GaugeValue)
	b.value(g, a, "mtu", parseUintValue, networkInterfaceMTU, prometheus.GaugeValue, iface)
	b.value(g, a, "flags", networkAdminUp, networkInterfaceAdminUp, prometheus.GaugeValue, iface)
	b.value(g, a, "operstate", networkOperUp, networkInterfaceOperUp, prometheus.GaugeValue, iface)
	linkAttr("carrier", networkCarrier, networkInterfaceCarrier, prometheus.GaugeValue)
	b.value(g, a, "carrier_changes", parseUintValue, networkInterfaceCarrierChanges, prometheus.CounterValue, iface)
}

// networkSpeed parses speed in Mb/s. SPEED_UNKNOWN (-1) is printed as -1,
// or as 4294967295 by kernels before 4.x that printed it unsigned.
func networkSpeed(s string) (float64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	mbps, err := strconv.ParseInt(s, 10, 64)
	if err != nil || mbps < 0 || mbps == 1<<32-1 {
		return 0, false, err
	}
	return float64(mbps) * 125000, true, nil // 1 Mb/s = 125000 bytes/s
}

func networkDuplex(s string) (float64, bool, error) {
	switch s {
	case "full":
		return 1, true, nil
	case "half":
		return 0, true, nil
	case "unknown", "":
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("unknown duplex %q", s)
}

// networkAdminUp parses flags, which the kernel prints in hex ("0x1003").
func networkAdminUp(s string) (float64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	flags, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, false, err
	}
	return boolValue(flags&networkIFFUp != 0), true, nil
}

func networkOperUp(s string) (float64, bool, error) {
	return boolValue(s == "up"), s != "", nil
}

func networkCarrier(s string) (float64, bool, error) {
	switch s {
	case "0", "1":
		return boolValue(s == "1"), true, nil
	case "":
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("carrier is %q, want 0 or 1", s)
}

// networkVirtioDevice matches the virtio bus's own device names (virtio0),
// which the kernel numbers in probe order.
var networkVirtioDevice = regexp.MustCompile(`^virtio[0-9]+$`)

// networkPCIAddress matches a PCI function's name (0000:00:03.0).
var networkPCIAddress = regexp.MustCompile(`^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// networkBusAddress returns the address of the device behind an interface,
// whose device link is target. A virtio NIC's device is virtioN on the
// virtio bus, a child of the PCI function that carries it: report that
// function, so the series joins hardware_pci_* as for any other NIC.
// virtio over MMIO has no PCI function and keeps virtioN.
func networkBusAddress(a attrs, target string) string {
	base := path.Base(target)
	if !networkVirtioDevice.MatchString(base) {
		return base
	}
	dev, err := a.realpath("device")
	if err != nil {
		a.skips.Add(a.path("device"), err)
		return base
	}
	if parent := path.Base(path.Dir(dev)); networkPCIAddress.MatchString(parent) {
		return parent
	}
	return base
}

// networkUnknownErr reports whether err from reading a link attribute means
// the value is unknown rather than unreadable.
func networkUnknownErr(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EINVAL)
}

// networkBond lays out bonding/ of the bond called name and the
// bonding_slave/ state of each member: the mode and each member's MII
// status are re-read every run; the member list is the group's gate, so
// a member added or removed reads the layout again.
func networkBond(b *layoutBuilder, class attrs, name string) {
	a := class.sub(name, "bonding")
	bond := labelValue(name)
	g := b.group()
	mode := b.value(g, a, "mode", nil, nil, 0)
	type member struct {
		label  string
		status *layoutValue
	}
	var members []member
	// An empty slaves file is a bond with no members, not a missing one.
	raw, hasSlaves := a.read("slaves")
	if hasSlaves {
		slaves := strings.TrimSpace(string(raw))
		b.gate(g, a, "slaves", func(s string) bool { return s != slaves }, false)
		for _, m := range strings.Fields(slaves) {
			dir, ok := networkBondMemberDir(class, name, m)
			if !ok {
				continue
			}
			if v := b.value(g, dir, "mii_status", nil, nil, 0); v != nil {
				members = append(members, member{labelValue(m), v})
			}
		}
	}
	slavesPath := class.path(path.Join(name, "bonding", "slaves"))
	g.build = func(get func(*layoutValue) (string, bool), skips *Skips) []prometheus.Metric {
		var ms []prometheus.Metric
		if s, ok := get(mode); ok && s != "" {
			// "802.3ad 4": the name, then the number.
			ms = append(ms, gauge(networkBondInfo, 1, bond, labelValue(strings.Fields(s)[0])))
		}
		if !hasSlaves {
			return ms
		}
		read, up := 0, 0
		for _, m := range members {
			s, ok := get(m.status)
			if !ok {
				continue
			}
			if s == "" {
				skips.Add(slavesPath, errors.New("empty mii_status"))
				continue
			}
			read++
			if s == "up" {
				up++
			}
			ms = append(ms, gauge(networkBondMemberUp, boolValue(s == "up"), bond, m.label))
		}
		return append(ms,
			gauge(networkBondMembers, float64(read), bond),
			gauge(networkBondMembersUp, float64(up), bond))
	}
}

// networkBondMemberDir returns the bonding_slave/ directory whose
// mii_status gives the state of member of bond. The member's own
// bonding_slave/ is the usual place, but a member in another network
// namespace, or renamed between the two reads, has none under class/net;
// the bond links each member as lower_<member> (and, on kernels before
// 4.13 or so, slave_<member>), which lead to the same directory. A member
// whose state none of them yields is a read error: counting it as down
// would page someone for a link that may be fine.
func networkBondMemberDir(class attrs, bond, member string) (attrs, bool) {
	var firstErr error
	for _, dir := range []attrs{
		class.sub(member, "bonding_slave"),
		class.sub(bond, "lower_"+member, "bonding_slave"),
		class.sub(bond, "slave_"+member, "bonding_slave"),
	} {
		b, err := dir.fs.ReadAttr(dir.name("mii_status"))
		if err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return dir, true
			}
			err = errors.New("empty mii_status")
		}
		if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("no bonding_slave/mii_status for member %q: %w", member, fs.ErrNotExist)
	}
	class.skips.Add(class.path(path.Join(bond, "bonding", "slaves")), firstErr)
	return attrs{}, false
}

// networkIBPort lays out ports/N of an RDMA device: its link layer now,
// its state, rate and the counters the reader found to re-read.
func networkIBPort(b *layoutBuilder, g *layoutGroup, a attrs, device string, p sysfs.InfiniBandPort) {
	dev, port := labelValue(device), p.Name
	linkLayer, _ := a.String("link_layer")
	g.add(gauge(networkIBPortInfo, 1, dev, port, labelValue(linkLayer)))

	b.value(g, a, "state", networkIBState("state", 4), networkIBPortActive, prometheus.GaugeValue, dev, port)               // IB_PORT_ACTIVE
	b.value(g, a, "phys_state", networkIBState("phys_state", 5), networkIBPortPhysicalUp, prometheus.GaugeValue, dev, port) // LinkUp
	b.value(g, a, "rate", networkIBRate, networkIBPortRate, prometheus.GaugeValue, dev, port)

	counter := func(file string, scale float64, d *prometheus.Desc, labels ...string) {
		if v := b.value(g, a, file, networkIBCounter(scale), d, prometheus.CounterValue, labels...); v != nil {
			v.unknown = networkIBUnknownErr
		}
	}
	for _, c := range networkIBErrorCounters {
		if _, ok := p.Counters[c]; ok {
			counter("counters/"+c, 1, networkIBPortErrors, dev, port, c)
		}
	}
	if _, ok := p.Counters["port_xmit_wait"]; ok {
		counter("counters/port_xmit_wait", 1, networkIBPortTransmitWait, dev, port)
	}
	// The data counters count 4-octet words.
	if _, ok := p.Counters["port_xmit_data"]; ok {
		counter("counters/port_xmit_data", 4, networkIBPortTransmitBytes, dev, port)
	}
	if _, ok := p.Counters["port_rcv_data"]; ok {
		counter("counters/port_rcv_data", 4, networkIBPortReceiveBytes, dev, port)
	}
	for _, c := range slices.Sorted(maps.Keys(p.HWCounters)) {
		counter("hw_counters/"+c, 1, networkIBPortHWCounter, dev, port, labelValue(c))
	}
}

// networkIBState parses state and phys_state, "ID: NAME" ("4: ACTIVE",
// "5: LinkUp"), the IDs being the IBA spec's port states: 1 when the ID
// is want.
func networkIBState(file string, want uint64) func(string) (float64, bool, error) {
	return func(s string) (float64, bool, error) {
		if s == "" {
			return 0, false, nil
		}
		idStr, _, found := strings.Cut(s, ":")
		id, err := strconv.ParseUint(strings.TrimSpace(idStr), 10, 8)
		if !found || err != nil {
			return 0, false, fmt.Errorf("%s is %q, want \"ID: NAME\"", file, s)
		}
		return boolValue(id == want), true, nil
	}
}

// networkIBRate parses rate: "200 Gb/sec (4X HDR)", "2.5 Gb/sec (1X SDR)",
// "10 Gb/sec (4X)".
func networkIBRate(s string) (float64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	f := strings.Fields(s)
	if len(f) < 2 || f[1] != "Gb/sec" {
		return 0, false, fmt.Errorf("rate is %q, want \"N Gb/sec ...\"", s)
	}
	gbps, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, false, err
	}
	return gbps * 1e9 / 8, true, nil
}

// networkIBCounter parses a counter, times scale, as the sysfs reader
// does: "N/A (no PMA)" is a port without the counter, not a failure.
func networkIBCounter(scale float64) func(string) (float64, bool, error) {
	return func(s string) (float64, bool, error) {
		if s == "" || strings.HasPrefix(s, "N/A") {
			return 0, false, nil
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, false, err
		}
		return float64(v) * scale, true, nil
	}
}

// networkIBUnknownErr: EINVAL or EOPNOTSUPP is the kernel's answer for a
// counter an iWARP or irdma device does not implement.
func networkIBUnknownErr(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP)
}
