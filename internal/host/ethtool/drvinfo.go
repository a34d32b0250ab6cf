package ethtool

// Driver info (ETHTOOL_GDRVINFO, what `ethtool -i` prints): the driver, its
// version, the device's firmware and expansion ROM versions and its bus
// address, asked of the running kernel with the SIOCETHTOOL ioctl. No
// tool: the reply is a fixed 196-byte struct, decoded by DecodeDrvInfo.
//
// No privilege is needed: the kernel's __dev_ethtool (net/ethtool/ioctl.c)
// lets anyone run the commands in its "Allow some commands to be done by
// anyone" list, ETHTOOL_GDRVINFO among them; every other command needs
// CAP_NET_ADMIN. The ioctl takes the RTNL lock and resumes a
// runtime-suspended parent device for the call (pm_runtime_get_sync), as
// `ethtool -i` does; it cannot be cancelled, so callers ask per interface
// and check their context between asks.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DrvInfo is struct ethtool_drvinfo (include/uapi/linux/ethtool.h) decoded.
// Strings are as the driver filled them, cut at the first NUL and made
// valid UTF-8; an empty string is a field the driver left empty.
type DrvInfo struct {
	Driver              string // "mlx5_core", "ice", "tg3"
	Version             string // the driver's version; in-tree drivers report the kernel release
	FirmwareVersion     string // "16.35.2000 (MT_0000000008)", "0x800003df, 255.65535.255"
	BusInfo             string // "0000:3b:00.0" for a PCI device
	ExpansionROMVersion string // the boot ROM's version, when the driver reports it
	NPrivFlags          uint32
	NStats              uint32
	TestInfoLen         uint32
	EEDumpLen           uint32
	RegDumpLen          uint32
}

// DrvInfoSize is the size of struct ethtool_drvinfo: a u32 command, five
// 32-byte strings, 12 reserved bytes and five u32 counts. It has not
// changed since the expansion ROM field took reserved bytes in Linux 3.5.
const DrvInfoSize = 4 + 5*32 + 12 + 5*4

const drvinfoStringLen = 32

// DecodeDrvInfo decodes the kernel's reply to ETHTOOL_GDRVINFO, in the
// host's byte order. It fails on a short buffer or a reply to another
// command; a string field that fills its 32 bytes with no NUL is taken
// whole, never read past.
func DecodeDrvInfo(b []byte) (DrvInfo, error) {
	if len(b) < DrvInfoSize {
		return DrvInfo{}, fmt.Errorf("ethtool driver info: %d bytes, want %d", len(b), DrvInfoSize)
	}
	if cmd := binary.NativeEndian.Uint32(b); cmd != unix.ETHTOOL_GDRVINFO {
		return DrvInfo{}, fmt.Errorf("ethtool driver info: command %#x, want ETHTOOL_GDRVINFO (%#x)", cmd, unix.ETHTOOL_GDRVINFO)
	}
	str := func(i int) string {
		f := b[4+i*drvinfoStringLen : 4+(i+1)*drvinfoStringLen]
		if n := strings.IndexByte(string(f), 0); n >= 0 {
			f = f[:n]
		}
		return strings.TrimSpace(strings.ToValidUTF8(string(f), "\uFFFD"))
	}
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(b[off:]) }
	counts := 4 + 5*drvinfoStringLen + 12
	return DrvInfo{
		Driver:              str(0),
		Version:             str(1),
		FirmwareVersion:     str(2),
		BusInfo:             str(3),
		ExpansionROMVersion: str(4),
		NPrivFlags:          u32(counts),
		NStats:              u32(counts + 4),
		TestInfoLen:         u32(counts + 8),
		EEDumpLen:           u32(counts + 12),
		RegDumpLen:          u32(counts + 16),
	}, nil
}

// DrvInfoReader asks the running kernel for interfaces' driver info over
// one socket. It answers for the network namespace the process runs in.
type DrvInfoReader struct {
	fd int
}

// OpenDrvInfo opens the socket the ioctls go through: an AF_INET datagram
// socket, or a generic netlink one on a kernel without IPv4, as ethtool
// itself does. Any socket reaches the device ioctls.
func OpenDrvInfo() (*DrvInfoReader, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		var err2 error
		if fd, err2 = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC); err2 != nil {
			return nil, fmt.Errorf("ethtool socket: %w; netlink: %w", err, err2)
		}
	}
	return &DrvInfoReader{fd: fd}, nil
}

// ErrNotSupported is returned for an interface whose driver has no
// ethtool operations, or that went away since it was listed.
var ErrNotSupported = errors.New("no ethtool driver info")

// DrvInfo asks for iface's driver info.
func (r *DrvInfoReader) DrvInfo(iface string) (DrvInfo, error) {
	if err := validName(iface); err != nil {
		return DrvInfo{}, fmt.Errorf("ethtool driver info: %w", err)
	}
	v, err := unix.IoctlGetEthtoolDrvinfo(r.fd, iface)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENODEV):
		return DrvInfo{}, fmt.Errorf("%s: %w (%w)", iface, ErrNotSupported, err)
	case err != nil:
		return DrvInfo{}, fmt.Errorf("%s: ETHTOOL_GDRVINFO: %w", iface, err)
	}
	// One decoder for the kernel's bytes and the tests': the library's
	// struct is the kernel's layout (TestDrvInfoLayout).
	return DecodeDrvInfo(unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)))
}

// Close closes the socket.
func (r *DrvInfoReader) Close() error { return unix.Close(r.fd) }
