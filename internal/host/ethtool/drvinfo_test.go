package ethtool

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// packDrvInfo lays d out as the kernel fills struct ethtool_drvinfo:
// strings NUL-terminated in 32-byte fields (strscpy), counts in host order.
func packDrvInfo(t *testing.T, d DrvInfo) []byte {
	t.Helper()
	b := make([]byte, DrvInfoSize)
	binary.NativeEndian.PutUint32(b, unix.ETHTOOL_GDRVINFO)
	for i, s := range []string{d.Driver, d.Version, d.FirmwareVersion, d.BusInfo, d.ExpansionROMVersion} {
		if len(s) >= drvinfoStringLen {
			t.Fatalf("%q does not fit a 32-byte field with its NUL", s)
		}
		copy(b[4+i*drvinfoStringLen:], s)
	}
	counts := 4 + 5*drvinfoStringLen + 12
	for i, v := range []uint32{d.NPrivFlags, d.NStats, d.TestInfoLen, d.EEDumpLen, d.RegDumpLen} {
		binary.NativeEndian.PutUint32(b[counts+4*i:], v)
	}
	return b
}

// parseEthtoolI reads the string fields of `ethtool -i` output.
func parseEthtoolI(t *testing.T, text string) DrvInfo {
	t.Helper()
	kv := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			kv[k] = strings.TrimSpace(v)
		}
	}
	if kv["driver"] == "" {
		t.Fatalf("no driver line in %q", text)
	}
	return DrvInfo{Driver: kv["driver"], Version: kv["version"], FirmwareVersion: kv["firmware-version"],
		BusInfo: kv["bus-info"], ExpansionROMVersion: kv["expansion-rom-version"]}
}

// Captures of `ethtool -i` from public sources (testdata/drvinfo/README.md),
// packed the kernel's way, decode back to what ethtool printed.
func TestDecodeDrvInfoCaptures(t *testing.T) {
	files, err := filepath.Glob("testdata/drvinfo/*.txt")
	if err != nil || len(files) < 2 {
		t.Fatalf("captures: %v, %v", files, err)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := parseEthtoolI(t, string(text))
		want.NStats = 42
		got, err := DecodeDrvInfo(packDrvInfo(t, want))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got != want {
			t.Errorf("%s: decoded %+v, want %+v", f, got, want)
		}
	}
}

func TestDecodeDrvInfoWrittenHere(t *testing.T) {
	b := packDrvInfo(t, DrvInfo{Driver: "bnxt_en", Version: "6.1.0", BusInfo: "0000:5e:00.0",
		ExpansionROMVersion: "  218.0.219.0  ", NPrivFlags: 3, NStats: 4, TestInfoLen: 5, EEDumpLen: 6, RegDumpLen: 7})
	// A firmware version that fills its 32 bytes with no NUL is taken
	// whole, and not read into the next field.
	copy(b[4+2*drvinfoStringLen:], strings.Repeat("9", drvinfoStringLen))
	got, err := DecodeDrvInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	want := DrvInfo{Driver: "bnxt_en", Version: "6.1.0", FirmwareVersion: strings.Repeat("9", 32), BusInfo: "0000:5e:00.0",
		ExpansionROMVersion: "218.0.219.0", NPrivFlags: 3, NStats: 4, TestInfoLen: 5, EEDumpLen: 6, RegDumpLen: 7}
	if got != want {
		t.Errorf("decoded %+v, want %+v", got, want)
	}

	// Bytes that are not UTF-8 become U+FFFD: they end up in label values.
	b = packDrvInfo(t, DrvInfo{Driver: "x", FirmwareVersion: "1.0\xff\xfe"})
	if got, err := DecodeDrvInfo(b); err != nil || got.FirmwareVersion != "1.0\uFFFD" {
		t.Errorf("invalid UTF-8: got %q, %v", got.FirmwareVersion, err)
	}
}

func TestDecodeDrvInfoRejects(t *testing.T) {
	good := packDrvInfo(t, DrvInfo{Driver: "ice"})
	if _, err := DecodeDrvInfo(good[:DrvInfoSize-1]); err == nil {
		t.Error("a short reply decoded")
	}
	other := append([]byte(nil), good...)
	binary.NativeEndian.PutUint32(other, 0x1) // ETHTOOL_GSET
	if _, err := DecodeDrvInfo(other); err == nil {
		t.Error("a reply to another command decoded")
	}
}

// The reader decodes the library's struct as the kernel's bytes: both must
// have the kernel's layout.
func TestDrvInfoLayout(t *testing.T) {
	var v unix.EthtoolDrvinfo
	if n := unsafe.Sizeof(v); n != DrvInfoSize {
		t.Fatalf("unix.EthtoolDrvinfo is %d bytes, struct ethtool_drvinfo %d", n, DrvInfoSize)
	}
	if off := unsafe.Offsetof(v.Erom_version); off != 4+4*drvinfoStringLen {
		t.Errorf("erom_version at %d", off)
	}
	if off := unsafe.Offsetof(v.N_priv_flags); off != 4+5*drvinfoStringLen+12 {
		t.Errorf("n_priv_flags at %d", off)
	}
}

// A bad name is refused before any ioctl, so no test asks the kernel.
func TestDrvInfoRejectsBadNames(t *testing.T) {
	r := &DrvInfoReader{fd: -1}
	for _, name := range []string{"", "a/b", strings.Repeat("x", unix.IFNAMSIZ), "eth\x000"} {
		if _, err := r.DrvInfo(name); err == nil || !strings.Contains(err.Error(), "interface name") {
			t.Errorf("DrvInfo(%q) = %v, want an invalid name error", name, err)
		}
	}
}
