package scsi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func page(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnitSerialNumber(t *testing.T) {
	got, err := UnitSerialNumber(page(t, "libata-ssd.vpd_pg80"))
	if err != nil || got != "S6JNNG0R412345" {
		t.Errorf("UnitSerialNumber = %q, %v; want S6JNNG0R412345", got, err)
	}
	for _, tc := range []struct {
		name string
		in   string
		want string
	}{
		{"NUL padding", "\x00\x80\x00\x06\x00ABC  ", "ABC"},
		{"bytes past the length are not read", "\x00\x80\x00\x03ABCDEF", "ABC"},
		{"empty serial", "\x00\x80\x00\x00", ""},
	} {
		if got, err := UnitSerialNumber([]byte(tc.in)); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ name, in string }{
		{"empty file", ""},
		{"half a header", "\x00\x80"},
		{"another page", "\x00\x83\x00\x04ABCD"},
		// A page length beyond the data: the page was cut short.
		{"length past the end", "\x00\x80\x00\x40S6JNNG0R"},
	} {
		if _, err := UnitSerialNumber([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), "not a unit serial number") {
			t.Errorf("%s: err = %v, want one", tc.name, err)
		}
	}
}

func TestATAIdentity(t *testing.T) {
	p := page(t, "libata-ssd.vpd_pg89")
	model, firmware, ok, err := ATAIdentity(p)
	if err != nil || !ok || model != "SAMSUNG MZ7L3480HCHQ-00B7C" || firmware != "JXTC404Q" {
		t.Errorf("ATAIdentity = %q, %q, %v, %v", model, firmware, ok, err)
	}

	// An ATAPI drive's page holds IDENTIFY PACKET DEVICE data: not a disk's
	// model, and not an error either.
	packet := append([]byte(nil), p...)
	packet[vpd89Command] = 0xa1
	if _, _, ok, err := ATAIdentity(packet); ok || err != nil {
		t.Errorf("IDENTIFY PACKET DEVICE page: ok %v, err %v; want neither", ok, err)
	}

	// No model (all spaces): nothing to replace INQUIRY's with.
	blank := append([]byte(nil), p...)
	copy(blank[vpd89Identify+identifyModel:vpd89Identify+identifyEnd], strings.Repeat(" ", identifyEnd-identifyModel))
	if _, _, ok, err := ATAIdentity(blank); ok || err != nil {
		t.Errorf("blank model: ok %v, err %v; want neither", ok, err)
	}

	for name, in := range map[string][]byte{"truncated": p[:100], "empty": nil, "another page": append([]byte{0, 0x80}, p[2:]...)} {
		if _, _, _, err := ATAIdentity(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzUnitSerialNumber(f *testing.F) {
	f.Add(page(f, "libata-ssd.vpd_pg80"))
	f.Add([]byte("\x00\x80\x00\x40S6JNNG0R"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := UnitSerialNumber(b); err == nil && len(s) > len(b) {
			t.Fatalf("serial of %d bytes from %d", len(s), len(b))
		}
	})
}

func FuzzATAIdentity(f *testing.F) {
	f.Add(page(f, "libata-ssd.vpd_pg89"))
	f.Add(page(f, "libata-ssd.vpd_pg89")[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		if model, firmware, _, err := ATAIdentity(b); err == nil && (len(model) > 80 || len(firmware) > 8) {
			t.Fatalf("model %q firmware %q longer than IDENTIFY holds", model, firmware)
		}
	})
}
