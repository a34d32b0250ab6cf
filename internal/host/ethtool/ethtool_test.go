package ethtool

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/format/sff"
)

// module serves page reads from a flat image of internal/format/sff's
// testdata, as a kernel would from the module, and counts them.
type module struct {
	img   []byte
	reads []Request
	fail  map[byte]error // by page, for address 0x50 upper halves
}

func (m *module) read(_ context.Context, r Request) ([]byte, error) {
	m.reads = append(m.reads, r)
	if r.Offset >= 128 && r.Address == 0x50 && m.fail[r.Page] != nil {
		return nil, m.fail[r.Page]
	}
	var at int
	switch {
	case r.Address == 0x51:
		at = 256 + int(r.Offset)
	case r.Offset < 128:
		at = int(r.Offset)
	default:
		at = 128*int(r.Page) + int(r.Offset)
	}
	if at+int(r.Length) > len(m.img) {
		return nil, syscall.EINVAL
	}
	return m.img[at : at+int(r.Length)], nil
}

func testImage(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../format/sff/testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ReadImage, page by page, yields what the decoder gets from the whole
// image, reading only the pages each module type needs.
func TestReadImage(t *testing.T) {
	for _, tc := range []struct {
		file  string
		reads int
	}{
		{"sff8472-flexoptix-p.b1696.10.da.bin", 3}, // A0h lower, upper, A2h lower
		{"sff8472-brocade-dac-no-dom.bin", 2},      // no diagnostics: A0h only
		{"sff8636-fs-qsfp28-ir4.bin", 3},           // lower, page 00h, page 03h
		{"sff8636-fs-qsfp-dac.bin", 3},             // paged, though a copper cable
		{"cmis-arista-qdd-400g-xdr4.bin", 5},       // lower, 00h, 01h, 02h, 11h
	} {
		t.Run(tc.file, func(t *testing.T) {
			full := testImage(t, tc.file)
			m := &module{img: full}
			img, err := ReadImage(context.Background(), m.read)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.reads) != tc.reads {
				t.Errorf("%d reads %+v, want %d", len(m.reads), m.reads, tc.reads)
			}
			for _, r := range m.reads {
				if r.Length != 128 || (r.Offset != 0 && r.Offset != 128) {
					t.Errorf("read %+v crosses a half page", r)
				}
			}
			want, err1 := sff.Decode(full)
			got, err2 := sff.Decode(img)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("decoded page by page:\n%+v (%v)\nwhole image:\n%+v (%v)", got, err2, want, err1)
			}
		})
	}
}

// A page that fails after the identity costs the monitors, not the
// identity; a failing lower page fails the module.
func TestReadImagePartial(t *testing.T) {
	m := &module{img: testImage(t, "cmis-arista-qdd-400g-xdr4.bin"), fail: map[byte]error{0x11: syscall.EIO}}
	img, err := ReadImage(context.Background(), m.read)
	if !errors.Is(err, syscall.EIO) || img == nil {
		t.Fatalf("page 11h failing: image %d bytes, err %v; want the image so far and EIO", len(img), err)
	}
	d, derr := sff.Decode(img)
	if derr != nil || d.Vendor != "Arista Networks" || len(d.Lanes) != 0 || len(d.Thresholds) == 0 {
		t.Errorf("partial image decoded to %+v, %v; want identity and thresholds, no lanes", d, derr)
	}

	if img, err := ReadImage(context.Background(), func(context.Context, Request) ([]byte, error) {
		return nil, syscall.EOPNOTSUPP
	}); img != nil || !errors.Is(noModule(err), ErrNoModule) {
		t.Errorf("EOPNOTSUPP: %v, %v; want no image, ErrNoModule", img, err)
	}
	short := func(context.Context, Request) ([]byte, error) { return make([]byte, 12), nil }
	if _, err := ReadImage(context.Background(), short); err == nil {
		t.Error("a short read was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadImage(ctx, m.read); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestNoModule(t *testing.T) {
	for _, e := range []error{syscall.EOPNOTSUPP, syscall.ENODEV} {
		if !errors.Is(noModule(e), ErrNoModule) {
			t.Errorf("%v is not ErrNoModule", e)
		}
	}
	for _, e := range []error{syscall.EIO, syscall.EPERM, nil} {
		if errors.Is(noModule(e), ErrNoModule) {
			t.Errorf("%v is ErrNoModule", e)
		}
	}
}

// The request as the kernel's ethnl policy reads it (ethtool_netlink.h).
func TestEEPROMRequest(t *testing.T) {
	b := eepromRequest(0x15, 7, "ens1f0np0", Request{Address: 0x50, Page: 0x11, Bank: 0, Offset: 128, Length: 128})
	if n := binary.LittleEndian.Uint32(b); int(n) != len(b) {
		t.Fatalf("length field %d, message %d bytes", n, len(b))
	}
	if typ, flags, seq := binary.LittleEndian.Uint16(b[4:]), binary.LittleEndian.Uint16(b[6:]), binary.LittleEndian.Uint32(b[8:]); typ != 0x15 || flags != 1 || seq != 7 {
		t.Errorf("header type %#x flags %#x seq %d", typ, flags, seq)
	}
	if b[16] != 0x1f || b[17] != 1 {
		t.Errorf("genl cmd %#x version %d, want 0x1f 1", b[16], b[17])
	}
	// Attributes: header nest (type 1 | NLA_F_NESTED) with the name, then
	// offset, length (u32), page, bank, address (u8, padded).
	raw := b[20:]
	if typ := binary.LittleEndian.Uint16(raw[2:]); typ != 1|0x8000 {
		t.Errorf("first attribute type %#x, want nested header", typ)
	}
	a, err := attrs(raw)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := attrs(a[1])
	if string(h[2]) != "ens1f0np0\x00" {
		t.Errorf("device name %q", h[2])
	}
	if binary.LittleEndian.Uint32(a[2]) != 128 || binary.LittleEndian.Uint32(a[3]) != 128 ||
		a[4][0] != 0x11 || a[5][0] != 0 || a[6][0] != 0x50 {
		t.Errorf("attributes %v", a)
	}
}

// kernelMessage builds what the kernel sends: one netlink message.
func kernelMessage(typ uint16, seq uint32, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(16+len(body)))
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, seq)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, body...)
}

func TestReply(t *testing.T) {
	data := make([]byte, 128)
	data[0] = 0x18
	ok := kernelMessage(0x15, 3, append([]byte{0x20, 1, 0, 0}, attr(nil, ethtoolAData, data)...))
	r := Request{Length: 128}
	a, err := reply(ok, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := eepromData(a, r); err != nil || len(d) != 128 || d[0] != 0x18 {
		t.Errorf("data %d bytes, %v", len(d), err)
	}
	if _, err := eepromData(a, Request{Length: 64}); err == nil {
		t.Error("more data than asked for was accepted")
	}
	// Another request's reply is skipped; an error carries its errno.
	if _, err := reply(ok, 4); !errors.Is(err, errStray) {
		t.Errorf("reply to seq 3 taken for seq 4: %v", err)
	}
	code := -int32(syscall.EOPNOTSUPP)
	nack := kernelMessage(nlmsgError, 5, binary.LittleEndian.AppendUint32(nil, uint32(code)))
	if _, err := reply(nack, 5); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("NLMSG_ERROR -EOPNOTSUPP: %v", err)
	}
	for name, b := range map[string][]byte{
		"length past end": append(binary.LittleEndian.AppendUint32(nil, 4096), make([]byte, 20)...),
		"attr past end":   kernelMessage(0x15, 3, []byte{0x20, 1, 0, 0, 0xff, 0x00, 7, 0}),
	} {
		if _, err := reply(b, 3); err == nil || errors.Is(err, errStray) {
			t.Errorf("%s: %v, want an error", name, err)
		}
	}
}

func TestFamily(t *testing.T) {
	op := func(id uint32) []byte { return attr(nil, ctrlAttrOpID, binary.LittleEndian.AppendUint32(nil, id)) }
	ops := attr(attr(nil, 1, op(0x01)), 2, op(0x1f))
	body := append([]byte{1, 2, 0, 0}, attr(attr(nil, ctrlAttrID, []byte{0x15, 0}), ctrlAttrOps|nlaFNested, ops)...)
	a, err := reply(kernelMessage(genlIDCtrl, 1, body), 1)
	if err != nil {
		t.Fatal(err)
	}
	if id, has, err := family(a); id != 0x15 || !has || err != nil {
		t.Errorf("family = %#x, %v, %v; want 0x15 with the EEPROM command", id, has, err)
	}
	old := append([]byte{1, 2, 0, 0}, attr(attr(nil, ctrlAttrID, []byte{0x15, 0}), ctrlAttrOps|nlaFNested, attr(nil, 1, op(0x01)))...)
	a, _ = reply(kernelMessage(genlIDCtrl, 1, old), 1)
	if _, has, err := family(a); has || err != nil {
		t.Errorf("a 5.6 kernel's family: has %v, %v; want no EEPROM command", has, err)
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"ens1f0np0", "eth0", "enp0s31f6"} {
		if err := validName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "a/b", "0123456789abcdef", "a b", "x\x00"} {
		if validName(n) == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

// FuzzReply: any datagram parses or fails without a panic.
func FuzzReply(f *testing.F) {
	f.Add(kernelMessage(0x15, 1, append([]byte{0x20, 1, 0, 0}, attr(nil, ethtoolAData, make([]byte, 128))...)))
	f.Add(kernelMessage(nlmsgError, 1, []byte{0xa1, 0xff, 0xff, 0xff}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := reply(b, 1)
		if err != nil {
			return
		}
		_, _, _ = family(a)
		if d, err := eepromData(a, Request{Length: 128}); err == nil && len(d) > 128 {
			t.Fatalf("%d bytes of data", len(d))
		}
	})
}
