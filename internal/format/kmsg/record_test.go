package kmsg

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRecordABIExample(t *testing.T) {
	// The example of the kernel's Documentation/ABI/testing/dev-kmsg.
	r, err := ParseRecord([]byte("7,160,424069,-;pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] (ignored)\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A03:00\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Facility != 0 || r.Level != 7 || r.Seq != 160 || r.Timestamp != 424069*time.Microsecond {
		t.Errorf("header: %+v", r)
	}
	if r.Message != "pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] (ignored)" {
		t.Errorf("message %q", r.Message)
	}
	if r.Dict["SUBSYSTEM"] != "acpi" || r.Device() != "+acpi:PNP0A03:00" || len(r.Dict) != 2 {
		t.Errorf("dict %v", r.Dict)
	}

	r, err = ParseRecord([]byte("30,340,5690716,-;udevd[80]: starting version 181\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Facility != 3 || r.Level != 6 || r.Seq != 340 || r.Dict != nil || r.Device() != "" {
		t.Errorf("%+v", r)
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		seq     uint64
		message string
		dict    int
	}{
		{"6,1,2,-;hello", true, 1, "hello", 0},
		{"6,1,2,c; continued fragment\n", true, 1, " continued fragment", 0},
		{"6,0,18446744073,x,future,,other=7;message\n", true, 0, "message", 0}, // unknown fields ignored
		{"6,18446744073709551615,0,-;last seq\n", true, 1<<64 - 1, "last seq", 0},
		{"6,1,2,-;\n", true, 1, "", 0},
		{"6,1,2,-;a;b\n", true, 1, "a;b", 0},
		{"6,1,2,-;m\n SUBSYSTEM=pci\n bad key=1\n NOEQUALS\n DEVICE=+pci:0000:00:1c.0\n", true, 1, "m", 2},
		{"6,1,2,-;m\nnot a continuation\n", false, 0, "", 0},
		{"6,1,2;no flags", false, 0, "", 0},
		{"6,1,2,-", false, 0, "", 0},
		{"x,1,2,-;m", false, 0, "", 0},
		{"2048,1,2,-;m", false, 0, "", 0},
		{"-1,1,2,-;m", false, 0, "", 0},
		{"6,-1,2,-;m", false, 0, "", 0},
		{"6,18446744073709551616,2,-;m", false, 0, "", 0},
		{"6,1,18446744073709551615,-;m", false, 0, "", 0}, // µs that overflow a Duration
		{"", false, 0, "", 0},
		{"\n", false, 0, "", 0},
		{";", false, 0, "", 0},
		{"6,1,2,-;" + strings.Repeat("x", MaxRecordSize), false, 0, "", 0},
	}
	for _, tt := range tests {
		r, err := ParseRecord([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("ParseRecord(%.60q): err %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseRecord(%.60q): %v does not wrap ErrMalformed", tt.in, err)
			}
			continue
		}
		if r.Seq != tt.seq || r.Message != tt.message || len(r.Dict) != tt.dict {
			t.Errorf("ParseRecord(%.60q) = %+v", tt.in, r)
		}
	}
}

func TestParseRecordBoundsDict(t *testing.T) {
	var b strings.Builder
	b.WriteString("6,1,2,-;m\n")
	for i := range 100 {
		b.WriteString(" K")
		b.WriteString(strings.Repeat("A", i%5+1))
		b.WriteString(string(rune('A' + i%26)))
		b.WriteString(strings.Repeat("B", i/26))
		b.WriteString("=v\n")
	}
	r, err := ParseRecord([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dict) != maxDictEntries {
		t.Errorf("kept %d dictionary entries, want %d", len(r.Dict), maxDictEntries)
	}
}
