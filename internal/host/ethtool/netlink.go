package ethtool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// Netlink constants (include/uapi/linux/netlink.h, genetlink.h,
// ethtool_netlink.h). The module EEPROM attributes are not in
// golang.org/x/sys/unix.
const (
	nlmsgHdrLen   = 16
	genlHdrLen    = 4
	nlmsgError    = 0x2
	nlmDone       = 0x3
	nlmFRequest   = 0x1
	nlaFNested    = 0x8000
	nlaTypeMask   = 0x3fff
	genlIDCtrl    = 0x10
	ctrlCmdGetFam = 3
	ctrlAttrID    = 1
	ctrlAttrName  = 2
	ctrlAttrOps   = 6
	ctrlAttrOpID  = 1

	ethtoolGenlVersion       = 1
	ethtoolMsgModuleEEPROM   = 0x1f // ETHTOOL_MSG_MODULE_EEPROM_GET
	ethtoolAHeader           = 1    // ETHTOOL_A_MODULE_EEPROM_HEADER (nest)
	ethtoolAOffset           = 2    // u32
	ethtoolALength           = 3    // u32
	ethtoolAPage             = 4    // u8
	ethtoolABank             = 5    // u8
	ethtoolAI2CAddress       = 6    // u8
	ethtoolAData             = 7    // binary
	ethtoolAHeaderDevName    = 2    // ETHTOOL_A_HEADER_DEV_NAME
	maxReply                 = 8192 // a reply carries at most 128 bytes of data and a header
	maxMessagesPerRequest    = 16   // stray messages tolerated before a reply
	maxNetlinkAttrsPerParsed = 256
)

// attr appends one netlink attribute, padded to 4 bytes.
func attr(b []byte, typ uint16, payload []byte) []byte {
	n := 4 + len(payload)
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for n%4 != 0 {
		b = append(b, 0)
		n++
	}
	return b
}

// message wraps generic netlink attributes in the two headers. Netlink is
// in host byte order; every platform this runs on is little-endian.
func message(typ uint16, seq uint32, cmd, version byte, attrs []byte) []byte {
	b := make([]byte, 0, nlmsgHdrLen+genlHdrLen+len(attrs))
	b = binary.LittleEndian.AppendUint32(b, uint32(nlmsgHdrLen+genlHdrLen+len(attrs)))
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint16(b, nlmFRequest)
	b = binary.LittleEndian.AppendUint32(b, seq)
	b = binary.LittleEndian.AppendUint32(b, 0) // port: the kernel fills it in
	b = append(b, cmd, version, 0, 0)
	return append(b, attrs...)
}

// familyRequest asks the generic netlink controller for ethtool's family.
func familyRequest(seq uint32) []byte {
	return message(genlIDCtrl, seq, ctrlCmdGetFam, 1, attr(nil, ctrlAttrName, []byte("ethtool\x00")))
}

// eepromRequest asks for r from interface ifname.
func eepromRequest(family uint16, seq uint32, ifname string, r Request) []byte {
	hdr := attr(nil, ethtoolAHeaderDevName, append([]byte(ifname), 0))
	a := attr(nil, ethtoolAHeader|nlaFNested, hdr)
	a = attr(a, ethtoolAOffset, binary.LittleEndian.AppendUint32(nil, r.Offset))
	a = attr(a, ethtoolALength, binary.LittleEndian.AppendUint32(nil, r.Length))
	a = attr(a, ethtoolAPage, []byte{r.Page})
	a = attr(a, ethtoolABank, []byte{r.Bank})
	a = attr(a, ethtoolAI2CAddress, []byte{r.Address})
	return message(family, seq, ethtoolMsgModuleEEPROM, ethtoolGenlVersion, a)
}

// errStray says a datagram held no answer to the request: read the next.
var errStray = errors.New("no reply to this request")

// reply finds the answer to request seq in one datagram: the attributes
// of a generic netlink message, or the errno of an NLMSG_ERROR.
func reply(b []byte, seq uint32) (map[uint16][]byte, error) {
	for len(b) >= nlmsgHdrLen {
		n := int(binary.LittleEndian.Uint32(b))
		if n < nlmsgHdrLen || n > len(b) {
			return nil, fmt.Errorf("netlink message of %d bytes in %d", n, len(b))
		}
		typ := binary.LittleEndian.Uint16(b[4:])
		mseq := binary.LittleEndian.Uint32(b[8:])
		msg := b[nlmsgHdrLen:n]
		if a := (n + 3) &^ 3; a <= len(b) {
			b = b[a:]
		} else {
			b = nil
		}
		if mseq != seq {
			continue
		}
		switch typ {
		case nlmsgError:
			if len(msg) < 4 {
				return nil, fmt.Errorf("short netlink error message (%d bytes)", len(msg))
			}
			if code := int32(binary.LittleEndian.Uint32(msg)); code != 0 {
				return nil, syscall.Errno(-code)
			}
			return nil, errStray // an ACK, not asked for
		case nlmDone:
			continue
		}
		if len(msg) < genlHdrLen {
			return nil, fmt.Errorf("short generic netlink message (%d bytes)", len(msg))
		}
		return attrs(msg[genlHdrLen:])
	}
	return nil, errStray
}

// attrs splits a run of netlink attributes by type (nested flag cleared).
func attrs(b []byte) (map[uint16][]byte, error) {
	m := map[uint16][]byte{}
	for len(b) >= 4 && len(m) < maxNetlinkAttrsPerParsed {
		n := int(binary.LittleEndian.Uint16(b))
		typ := binary.LittleEndian.Uint16(b[2:]) & nlaTypeMask
		if n < 4 || n > len(b) {
			return nil, fmt.Errorf("netlink attribute of %d bytes in %d", n, len(b))
		}
		m[typ] = b[4:n]
		if a := (n + 3) &^ 3; a <= len(b) {
			b = b[a:]
		} else {
			b = nil
		}
	}
	return m, nil
}

// family reads ethtool's family id from the controller's reply and whether
// the kernel has the module EEPROM command.
func family(a map[uint16][]byte) (id uint16, hasEEPROM bool, err error) {
	v, ok := a[ctrlAttrID]
	if !ok || len(v) < 2 {
		return 0, false, errors.New("generic netlink controller: no family id for ethtool")
	}
	id = binary.LittleEndian.Uint16(v)
	ops, err := attrs(a[ctrlAttrOps])
	if err != nil {
		return 0, false, err
	}
	for _, op := range ops {
		o, err := attrs(op)
		if err != nil {
			return 0, false, err
		}
		if v := o[ctrlAttrOpID]; len(v) >= 4 && binary.LittleEndian.Uint32(v) == ethtoolMsgModuleEEPROM {
			return id, true, nil
		}
	}
	return id, false, nil
}

// eepromData takes the data out of a module EEPROM reply, no longer than
// asked for.
func eepromData(a map[uint16][]byte, r Request) ([]byte, error) {
	d, ok := a[ethtoolAData]
	if !ok {
		return nil, errors.New("module EEPROM reply without data")
	}
	if len(d) > int(r.Length) {
		return nil, fmt.Errorf("module EEPROM reply of %d bytes for %d asked", len(d), r.Length)
	}
	return append([]byte(nil), d...), nil
}
