package sysfs

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// InfiniBandDevice is what sysfs says of one RDMA device below
// class/infiniband (Documentation/ABI/stable/sysfs-class-infiniband): its
// firmware and board, and its ports' counters. An attribute that is missing
// leaves its field empty.
type InfiniBandDevice struct {
	Name            string
	FirmwareVersion string // fw_ver
	BoardID         string // board_id (PSID on Mellanox/NVIDIA cards)
	HCAType         string // hca_type; mlx4/mlx5 only
	Ports           []InfiniBandPort
}

// InfiniBandPort is one ports/N directory: the counters that could be read.
// A counter the device does not implement ("N/A (no PMA)", EINVAL from an
// iWARP or irdma device) is absent, as is one that could not be read.
type InfiniBandPort struct {
	Port       uint64
	Name       string            // N as the directory spells it
	Counters   map[string]uint64 // counters/ (IBA PortCounters), the files in InfiniBandPortCounters
	HWCounters map[string]uint64 // hw_counters/, every file but lifespan, driver-specific names
}

// InfiniBandPortCounters are the counters/ files read: the IBA PortCounters
// error counters, PortXmitWait and the data counters. The packet counters
// and the multicast/unicast ones are left unread: each read of counters/ is
// a PMA query to the port, and traffic is node_exporter's business.
var InfiniBandPortCounters = []string{
	"VL15_dropped",
	"excessive_buffer_overrun_errors",
	"link_downed",
	"link_error_recovery",
	"local_link_integrity_errors",
	"port_rcv_constraint_errors",
	"port_rcv_data",
	"port_rcv_errors",
	"port_rcv_remote_physical_errors",
	"port_rcv_switch_relay_errors",
	"port_xmit_constraint_errors",
	"port_xmit_data",
	"port_xmit_discards",
	"port_xmit_wait",
	"symbol_error",
}

// InfiniBandDeviceNames lists class/infiniband, sorted.
func InfiniBandDeviceNames(fsys hostfs.FS) ([]string, []Error) {
	var errs []Error
	class := dir{fs: fsys, name: "class/infiniband", errs: &errs}
	var names []string
	for _, e := range class.entries() {
		names = append(names, e.Name())
	}
	return names, errs
}

// ReadInfiniBandDevice reads class/infiniband/name. It reads attribute by
// attribute rather than as procfs's InfiniBandClass does, which fails the
// whole class on one malformed or unreadable file ("N/A (no PMA)" on some
// HCAs, EINVAL from every counter of an irdma port: node_exporter #966,
// #2769, #2846).
func ReadInfiniBandDevice(fsys hostfs.FS, name string) (InfiniBandDevice, []Error) {
	var errs []Error
	d := dir{fs: fsys, name: "class/infiniband/" + name, errs: &errs}
	dev := InfiniBandDevice{Name: name}
	dev.FirmwareVersion, _ = d.String("fw_ver")
	dev.BoardID, _ = d.String("board_id")
	dev.HCAType, _ = d.String("hca_type")

	ports := d.sub("ports")
	for _, e := range ports.entries() {
		n, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		p := ports.sub(e.Name())
		port := InfiniBandPort{Port: n, Name: e.Name(), Counters: map[string]uint64{}, HWCounters: map[string]uint64{}}
		c := p.sub("counters")
		for _, f := range InfiniBandPortCounters {
			if v, ok := c.ibCounter(f); ok {
				port.Counters[f] = v
			}
		}
		hw := p.sub("hw_counters")
		for _, f := range hw.entries() {
			// lifespan is a setting (how long, in ms, the driver caches
			// the counters), not a counter.
			if f.Name() == "lifespan" || !f.Type().IsRegular() {
				continue
			}
			if v, ok := hw.ibCounter(f.Name()); ok {
				port.HWCounters[f.Name()] = v
			}
		}
		dev.Ports = append(dev.Ports, port)
	}
	slices.SortFunc(dev.Ports, func(a, b InfiniBandPort) int { return int(a.Port) - int(b.Port) })
	return dev, errs
}

// ibCounter reads one counter. "N/A (no PMA)" (a port without a
// Performance Management Agent) and EINVAL or EOPNOTSUPP (the kernel's
// answer for a counter an iWARP or irdma device does not implement) mean
// the device has no such counter: absent, not a failure that would count
// against the run every time on such a host.
func (d dir) ibCounter(name string) (uint64, bool) {
	s, ok, err := String(d.fs, d.rel(name))
	switch {
	case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.EOPNOTSUPP):
		return 0, false
	case err != nil:
		d.fail(name, err)
		return 0, false
	case !ok, strings.HasPrefix(s, "N/A"):
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.fail(name, err)
		return 0, false
	}
	return v, true
}
