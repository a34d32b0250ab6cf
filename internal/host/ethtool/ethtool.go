// Package ethtool reads a network interface's pluggable module memory (the
// transceiver "EEPROM": identity and diagnostics) from the kernel, as
// `ethtool -m` does, without the ethtool binary: through ethtool's generic
// netlink family (ETHTOOL_MSG_MODULE_EEPROM_GET, Linux 5.13+), page by page,
// or on older kernels through the SIOCETHTOOL ioctl (ETHTOOL_GMODULEINFO and
// ETHTOOL_GMODULEEEPROM). Either way it returns a flat image that
// internal/format/sff decodes.
//
// Privileges. The netlink request is a "get" that the kernel allows any
// process (net/ethtool/netlink.c registers it without GENL_UNS_ADMIN_PERM),
// and for a driver without get_module_eeprom_by_page the kernel falls back
// to the driver's legacy get_module_info/get_module_eeprom itself. The
// ioctl is not in the "allow some commands to be done by anyone" list of
// net/ethtool/ioctl.c (__dev_ethtool), so ETHTOOL_GMODULEINFO and
// ETHTOOL_GMODULEEEPROM need CAP_NET_ADMIN: without it they fail with EPERM.
// The ioctl is used only where the kernel's ethtool family lacks the
// module EEPROM command.
//
// Cost. A module read is an I2C transfer at 100-400 kHz behind the NIC's
// driver or firmware (mlx5 and i40e issue a firmware command per read):
// tens of milliseconds a page, up to five pages a module.
package ethtool

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/sff"
)

// ErrNoModule says an interface has no module memory to read: the driver
// does not support it (an RJ45 port, a virtual NIC) or the cage is empty.
// The kernel says EOPNOTSUPP (or ENODEV, EIO for an empty cage on some
// drivers, which this package does not guess at: those stay errors).
var ErrNoModule = errors.New("no module memory (EOPNOTSUPP)")

// requestTimeout bounds one request to the kernel when the context has no
// nearer deadline: a driver waiting on a module that does not answer its
// I2C reads must not hold the run.
const requestTimeout = 2 * time.Second

// Request is one read of module memory: Length bytes at Offset of Page
// (and Bank) at I2C address Address (0x50, or 0x51 for SFF-8472
// diagnostics). Offset and Offset+Length stay within one half page: the
// lower half (0-127) or the upper half (128-255) of the page.
type Request struct {
	Address, Page, Bank byte
	Offset, Length      uint32
}

// PageReader reads one Request.
type PageReader func(ctx context.Context, r Request) ([]byte, error)

// Pages the decoder reads beyond the lower page and page 00h.
const (
	sff8636Page3 = 0x03 // thresholds
	cmisPage1    = 0x01 // advertisement: which monitors exist, wavelength
	cmisPage2    = 0x02 // thresholds
	cmisPage11   = 0x11 // lane monitors, bank 0
)

// ReadImage reads a module's memory through read into the flat layout of
// internal/format/sff: the lower page and page 00h, then the pages its
// identifier and memory model say hold diagnostics. An error after the
// identity was read returns the image so far with it: the module costs
// its monitors, not its identity.
func ReadImage(ctx context.Context, read PageReader) ([]byte, error) {
	lower, err := readHalf(ctx, read, Request{Address: 0x50, Offset: 0})
	if err != nil {
		return nil, err
	}
	upper, err := readHalf(ctx, read, Request{Address: 0x50, Offset: sff.PageSize})
	if err != nil {
		return nil, err
	}
	img := append(lower, upper...)
	switch sff.SpecOf(img[0]) {
	case sff.SFF8472:
		if img[92]&(1<<6) == 0 { // no diagnostics implemented
			return img, nil
		}
		a2, err := readHalf(ctx, read, Request{Address: 0x51, Offset: 0})
		if err != nil {
			return img, fmt.Errorf("diagnostics (A2h): %w", err)
		}
		return append(img, a2...), nil
	case sff.SFF8636:
		if img[2]&(1<<2) != 0 { // flat memory: page 00h only
			return img, nil
		}
		return appendPages(ctx, read, img, sff8636Page3)
	case sff.CMIS:
		if img[2]&(1<<7) != 0 { // flat memory
			return img, nil
		}
		return appendPages(ctx, read, img, cmisPage1, cmisPage2, cmisPage11)
	}
	return img, nil
}

// appendPages reads the upper halves of pages (ascending) into their
// places, page N at 128*(N+1), zero between them.
func appendPages(ctx context.Context, read PageReader, img []byte, pages ...byte) ([]byte, error) {
	for _, p := range pages {
		b, err := readHalf(ctx, read, Request{Address: 0x50, Page: p, Offset: sff.PageSize})
		if err != nil {
			return img, fmt.Errorf("page %02xh: %w", p, err)
		}
		at := sff.PageSize * (int(p) + 1)
		img = append(img, make([]byte, at-len(img))...)
		img = append(img, b...)
	}
	return img, nil
}

// readHalf reads one half page and holds the reader to its length.
func readHalf(ctx context.Context, read PageReader, r Request) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.Length = sff.PageSize
	b, err := read(ctx, r)
	if err != nil {
		return nil, err
	}
	if len(b) != sff.PageSize {
		return nil, fmt.Errorf("read of %d bytes at 0x%02x page %02xh offset %d returned %d", r.Length, r.Address, r.Page, r.Offset, len(b))
	}
	return b, nil
}

// noModule maps the errors that mean "nothing to read here" to ErrNoModule.
func noModule(err error) error {
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("%w: %v", ErrNoModule, err)
	}
	return err
}

// validName checks an interface name before it goes to the kernel.
func validName(name string) error {
	if name == "" || len(name) > 15 {
		return fmt.Errorf("interface name %q: not 1-15 bytes", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '/' || c == 0 || c <= ' ' || c == 0x7f {
			return fmt.Errorf("interface name %q: invalid byte 0x%02x", name, c)
		}
	}
	return nil
}

// deadline is how long the next request may take.
func deadline(ctx context.Context) time.Duration {
	d := requestTimeout
	if t, ok := ctx.Deadline(); ok {
		if left := time.Until(t); left < d {
			d = left
		}
	}
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}
