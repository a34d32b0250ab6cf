//go:build linux

package ethtool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reader reads module memory from the kernel; one run's, not safe for
// concurrent use. Open it, read, Close it.
type Reader struct {
	nl     int // netlink socket, -1 when the ioctl is used
	family uint16
	seq    uint32
	ioctl  int // AF_INET socket for SIOCETHTOOL, -1 until needed
	buf    []byte
}

// Open opens a Reader: ethtool's netlink family when the kernel has its
// module EEPROM command, else the legacy ioctl.
func Open() (*Reader, error) {
	r := &Reader{nl: -1, ioctl: -1, buf: make([]byte, maxReply)}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return r.openIoctl(fmt.Errorf("netlink socket: %w", err))
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return r.openIoctl(fmt.Errorf("netlink bind: %w", err))
	}
	r.nl = fd
	a, err := r.roundTrip(context.Background(), familyRequest(r.next()))
	if err == nil {
		var has bool
		if r.family, has, err = family(a); err == nil && !has {
			err = errors.New("kernel's ethtool netlink family has no module EEPROM command (before Linux 5.13)")
		}
	}
	if err != nil {
		unix.Close(r.nl)
		r.nl = -1
		return r.openIoctl(err)
	}
	return r, nil
}

// openIoctl falls back to SIOCETHTOOL, saying why in Method.
func (r *Reader) openIoctl(why error) (*Reader, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%v; ioctl socket: %w", why, err)
	}
	r.ioctl = fd
	return r, nil
}

// Method says which interface the Reader uses: "netlink" or "ioctl".
func (r *Reader) Method() string {
	if r.nl >= 0 {
		return "netlink"
	}
	return "ioctl"
}

// Close releases the sockets.
func (r *Reader) Close() error {
	if r.nl >= 0 {
		unix.Close(r.nl)
		r.nl = -1
	}
	if r.ioctl >= 0 {
		unix.Close(r.ioctl)
		r.ioctl = -1
	}
	return nil
}

// Module reads interface ifname's module image. ErrNoModule (wrapped)
// when it has none; an image with an error when only the diagnostics
// pages failed.
func (r *Reader) Module(ctx context.Context, ifname string) ([]byte, error) {
	if err := validName(ifname); err != nil {
		return nil, err
	}
	if r.nl >= 0 {
		img, err := ReadImage(ctx, func(ctx context.Context, q Request) ([]byte, error) {
			return r.page(ctx, ifname, q)
		})
		return img, noModule(err)
	}
	img, err := r.legacy(ifname)
	return img, noModule(err)
}

func (r *Reader) next() uint32 { r.seq++; return r.seq }

func (r *Reader) page(ctx context.Context, ifname string, q Request) ([]byte, error) {
	a, err := r.roundTrip(ctx, eepromRequest(r.family, r.next(), ifname, q))
	if err != nil {
		return nil, err
	}
	return eepromData(a, q)
}

// roundTrip sends one request and reads its reply, each bounded by the
// socket's timeouts, which follow the context's deadline.
func (r *Reader) roundTrip(ctx context.Context, req []byte) (map[uint16][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tv := unix.NsecToTimeval(deadline(ctx).Nanoseconds())
	if err := unix.SetsockoptTimeval(r.nl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, err
	}
	if err := unix.SetsockoptTimeval(r.nl, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return nil, err
	}
	if err := unix.Sendto(r.nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	seq := uint32(req[8]) | uint32(req[9])<<8 | uint32(req[10])<<16 | uint32(req[11])<<24
	for range maxMessagesPerRequest {
		n, from, err := unix.Recvfrom(r.nl, r.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return nil, fmt.Errorf("netlink: no reply within %v", deadline(ctx))
			}
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		a, err := reply(r.buf[:n], seq)
		if errors.Is(err, errStray) {
			continue
		}
		return a, err
	}
	return nil, errors.New("netlink: no reply among the messages received")
}

// The legacy ioctl's structures (include/uapi/linux/ethtool.h).
type ethtoolModinfo struct {
	Cmd, Type, EEPROMLen uint32
	Reserved             [8]uint32
}

type ethtoolEEPROM struct {
	Cmd, Magic, Offset, Len uint32
	Data                    [640]byte // ETH_MODULE_SFF_8636_MAX_LEN, the largest module image
}

type ifreqData struct {
	Name [unix.IFNAMSIZ]byte
	Data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// legacy reads the image ETHTOOL_GMODULEINFO sizes with one
// ETHTOOL_GMODULEEEPROM; its layout is the one sff decodes.
func (r *Reader) legacy(ifname string) ([]byte, error) {
	var info ethtoolModinfo
	info.Cmd = unix.ETHTOOL_GMODULEINFO
	if err := r.ethtoolIoctl(ifname, unsafe.Pointer(&info)); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GMODULEINFO: %w", err)
	}
	n := info.EEPROMLen
	if n == 0 || n > uint32(len(ethtoolEEPROM{}.Data)) {
		return nil, fmt.Errorf("ETHTOOL_GMODULEINFO: module memory of %d bytes", n)
	}
	e := &ethtoolEEPROM{Cmd: unix.ETHTOOL_GMODULEEEPROM, Len: n}
	if err := r.ethtoolIoctl(ifname, unsafe.Pointer(e)); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GMODULEEEPROM: %w", err)
	}
	if e.Len > n {
		return nil, fmt.Errorf("ETHTOOL_GMODULEEEPROM returned %d bytes for %d", e.Len, n)
	}
	return append([]byte(nil), e.Data[:e.Len]...), nil
}

func (r *Reader) ethtoolIoctl(ifname string, data unsafe.Pointer) error {
	var ifr ifreqData
	copy(ifr.Name[:unix.IFNAMSIZ-1], ifname)
	ifr.Data = data
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(r.ioctl), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(data)
	if errno != 0 {
		return errno
	}
	return nil
}
