package pciids

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	const ids = `#
#	List of PCI ID's
#

# Syntax:
# vendor  vendor_name
#	device  device_name				<-- single tab
#		subvendor subdevice  subsystem_name	<-- two tabs

10de  NVIDIA Corporation
	20f1  GA100 [A100 PCIe 40GB]
		10de 145f  A100 PCIe 40GB
# Dell 5720 LOM
14e4  Broadcom Inc. and subsidiaries
	165f  NetXtreme BCM5720 Gigabit Ethernet PCIe
	16zz  A device with a broken ID
15b3 Mellanox with one space
	101d  MT2892 Family [ConnectX-6 Dx]
1x3b  A broken vendor
	0001  Nested below the broken vendor
8086  Intel Corporation
	a182  C620 Series Chipset Family SATA Controller [AHCI mode]
			far too deep

# List of known device classes, subclasses and programming interfaces

C 01  Mass storage controller
	06  SATA controller
		01  AHCI 1.0
	08  Non-Volatile memory controller
		02  NVM Express
C 02  Network controller
	00  Ethernet controller
C 0g  A broken class
	00  Nested below the broken class
		00  And deeper
C 06  Bridge
	04  PCI bridge
		00  Normal decode
	0x  A broken subclass
		00  Nested below the broken subclass
	80  Bridge
`
	db, err := Parse(context.Background(), strings.NewReader(ids))
	if err == nil || !strings.Contains(err.Error(), "5 malformed lines") || !strings.Contains(err.Error(), "16zz") {
		t.Errorf("err = %v, want 5 malformed lines quoting the first (16zz)", err)
	}
	for _, tc := range []struct {
		what, got, want string
	}{
		{"vendor 10de", db.Vendor(0x10de), "NVIDIA Corporation"},
		{"device 10de:20f1", db.Device(0x10de, 0x20f1), "GA100 [A100 PCIe 40GB]"},
		{"device 14e4:165f", db.Device(0x14e4, 0x165f), "NetXtreme BCM5720 Gigabit Ethernet PCIe"},
		// One space where pci.ids has two is read all the same.
		{"vendor 15b3", db.Vendor(0x15b3), "Mellanox with one space"},
		{"device 15b3:101d", db.Device(0x15b3, 0x101d), "MT2892 Family [ConnectX-6 Dx]"},
		// Lines below a malformed vendor are not filed under the one before.
		{"device 15b3:0001", db.Device(0x15b3, 0x0001), ""},
		{"vendor 8086", db.Vendor(0x8086), "Intel Corporation"},
		{"device 8086:a182", db.Device(0x8086, 0xa182), "C620 Series Chipset Family SATA Controller [AHCI mode]"},
		{"missing device", db.Device(0x8086, 0x347a), ""},
		{"missing vendor", db.Vendor(0x1028), ""},
		// The subsystem line is not a device.
		{"device 10de:145f", db.Device(0x10de, 0x145f), ""},
		{"class 010601", db.Class(0x010601), "SATA controller (AHCI 1.0)"},
		{"class 010802", db.Class(0x010802), "Non-Volatile memory controller (NVM Express)"},
		{"class 020000", db.Class(0x020000), "Ethernet controller"},
		{"class 060400", db.Class(0x060400), "PCI bridge (Normal decode)"},
		// No subclass entry: the class name.
		{"class 020700", db.Class(0x020700), "Network controller"},
		{"class 068000", db.Class(0x068000), "Bridge"},
		{"class 060000", db.Class(0x060000), "Bridge"},
		{"class ff0000", db.Class(0xff0000), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if len(db.progIfs) != 3 {
		t.Errorf("prog-ifs = %v, want the 3 below well-formed subclasses", db.progIfs)
	}

	// A file with nothing wrong reads without error; an empty one too.
	for _, s := range []string{"", "# only a comment\n", "8086  Intel Corporation\n\ta182  SATA\n"} {
		if _, err := Parse(context.Background(), strings.NewReader(s)); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
}

// testdata/pci.ids is cut from a real pci.ids (see testdata/README.md): it
// parses cleanly and names what lspci would.
func TestParseCaptured(t *testing.T) {
	f, err := os.Open("testdata/pci.ids")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	db, err := Parse(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what, got, want string
	}{
		{"device 15b3:101b", db.Device(0x15b3, 0x101b), "MT28908 Family [ConnectX-6]"},
		{"vendor 15b3", db.Vendor(0x15b3), "Mellanox Technologies"},
		{"vendor 8086", db.Vendor(0x8086), "Intel Corporation"},
		{"class 010802", db.Class(0x010802), "Non-Volatile memory controller (NVM Express)"},
		{"class 020000", db.Class(0x020000), "Ethernet controller"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
}

// endless is a reader that never ends: a vendor line over and over, which
// would grow the database by nothing and never stop without the cap.
type endless struct{ line []byte }

func (e endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], e.line)
	}
	return n, nil
}

func TestParseStopsAtTheSizeCap(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		_, err := Parse(context.Background(), endless{[]byte("8086  Intel Corporation\n")})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Parse of an endless input did not stop")
	}

	// A file of exactly the cap is read whole.
	exact := strings.Repeat("# a comment line of 32 bytes ..\n", MaxSize/32)
	if _, err := Parse(context.Background(), strings.NewReader(exact)); err != nil {
		t.Errorf("input of exactly MaxSize: %v", err)
	}
}

func TestParseStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := io.LimitReader(endless{[]byte("8086  Intel Corporation\n")}, 1<<20)
	db, err := Parse(ctx, r)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if db == nil || db.Vendor(0x8086) != "Intel Corporation" {
		t.Errorf("the lines read before the context ended are lost")
	}
}

// Random bytes (a device node or a binary where pci.ids belongs) are
// malformed lines, not a panic.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/pci.ids")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("C 01  Mass storage controller\n\t06  SATA\n\t\t01  AHCI 1.0\n"))
	f.Add([]byte("1x3b  broken\n\t0001  nested\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		db, _ := Parse(context.Background(), strings.NewReader(string(b)))
		if db == nil {
			t.Fatal("nil database")
		}
		_ = db.Class(0x010601)
	})
}
