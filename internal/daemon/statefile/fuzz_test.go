package statefile

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary file contents to decode: it must not panic,
// and whatever it accepts must encode back to a file that decodes the same.
// Each input is also tried as a body under a valid header and checksum, so
// that the fuzzer reaches the body's parser and not only the checksum.
func FuzzDecode(f *testing.F) {
	golden := mustRead(f, filepath.Join("testdata", "v1.state"))
	f.Add(golden)
	f.Add(golden[:len(golden)/2])
	for _, s := range []Snapshot{{Probe: "smart"}, bigSnapshot("smart")} {
		b, err := encode(testHost, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[headerSize:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
		checkDecode(t, withHeader(b))
	})
}

// withHeader wraps body in a version 1 header with its checksum.
func withHeader(body []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(body))
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[8:], version)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(body, castagnoli))
	return append(b, body...)
}

func checkDecode(t *testing.T, b []byte) {
	s, err := decode(b, testHost, "smart")
	if err != nil {
		return
	}
	again, err := encode(testHost, s)
	if err != nil {
		t.Fatalf("accepted snapshot does not encode: %v", err)
	}
	s2, err := decode(again, testHost, "smart")
	if err != nil {
		t.Fatalf("re-encoded snapshot does not decode: %v", err)
	}
	if diff := diffSnapshots(s, s2); diff != "" {
		t.Fatal(diff)
	}
}

// FuzzIdentityParts checks that the identity parsers never panic and only
// ever return a well-formed id or nothing.
func FuzzIdentityParts(f *testing.F) {
	for _, path := range []string{
		"testdata/sosreport-master1/etc/machine-id",
		"testdata/sosreport-master1/sys/class/dmi/id/product_uuid",
		"testdata/warpnix/etc/machine-id",
		"testdata/warpnix/sys/class/dmi/id/product_uuid",
	} {
		f.Add(mustRead(f, path))
	}
	f.Add([]byte("uninitialized\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if id := machineID(b); id != "" && (len(id) != 32 || !isHex(id)) {
			t.Errorf("machine-id %q from %q", id, b)
		}
		if u := productUUID(b); u != "" && (len(u) != 36 || !isHex(strings.ReplaceAll(u, "-", "")) || strings.Count(u, "-") != 4) {
			t.Errorf("product_uuid %q from %q", u, b)
		}
	})
}
