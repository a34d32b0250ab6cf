package ipmitool

import (
	"strings"
	"testing"
)

func TestParseSDRCapture(t *testing.T) {
	sensors, errs := ParseSDR(readTestdata(t, "sdr_elist_fixture_r750.txt"))
	if len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
	if len(sensors) != 41 {
		t.Fatalf("got %d sensors, want 41", len(sensors))
	}
	byNumber := map[string]Sensor{}
	for _, s := range sensors {
		byNumber[s.Number] = s
	}
	for _, want := range []Sensor{
		{"Temp", "0Eh", "ok", "3.1", "54 degrees C"},
		{"Fan6A", "3Ah", "lcr", "7.1", "0 RPM"},
		{"Current 2", "6Bh", "ns", "10.2", "No Reading"},
		{"PS2 Status", "63h", "ok", "10.2", "Presence detected, Failure detected, Power Supply AC lost"},
		{"Intrusion", "73h", "ok", "7.1", ""},
	} {
		if got := byNumber[want.Number]; got != want {
			t.Errorf("sensor %s = %+v, want %+v", want.Number, got, want)
		}
	}
}

func TestParseSDRBadLinesCostThemselves(t *testing.T) {
	out := "" +
		"CPU Temp         | 01h | unc |  3.1 | 86 degrees C\r\n" +
		"garbage\n" +
		"X                | 02h | warm|  3.1 | 1 RPM\n" + // unknown status
		"                 | 03h | ok  |  3.1 | 1 RPM\n" + // no name
		strings.Repeat("|", MaxLineLength+1) + "\n" +
		"\n" +
		"PSU Inlet        | 5Ah | ok  | 10.1 | 104 degrees F" // no final newline
	sensors, errs := ParseSDR([]byte(out))
	if len(errs) != 4 {
		t.Errorf("errors = %v, want 4", errs)
	}
	if len(sensors) != 2 || sensors[0] != (Sensor{"CPU Temp", "01h", "unc", "3.1", "86 degrees C"}) || sensors[1].Name != "PSU Inlet" {
		t.Errorf("sensors = %+v", sensors)
	}
}

func TestSDRStatusLevel(t *testing.T) {
	for status, want := range map[string]int{"ok": 0, "nc": 1, "lnc": 1, "unc": 1, "cr": 2, "lcr": 2, "ucr": 2, "nr": 3, "lnr": 3, "unr": 3} {
		if got, ok := SDRStatusLevel(status); !ok || got != want {
			t.Errorf("SDRStatusLevel(%q) = %d, %v; want %d", status, got, ok, want)
		}
	}
	for _, status := range []string{"ns", "", "OK"} {
		if _, ok := SDRStatusLevel(status); ok {
			t.Errorf("SDRStatusLevel(%q) has a level", status)
		}
	}
}

func TestParseFRUCapture(t *testing.T) {
	frus := ParseFRU(readTestdata(t, "fru_print_fixture_r750.txt"))
	if len(frus) < 2 {
		t.Fatalf("got %d FRUs: %+v", len(frus), frus)
	}
	if f := frus[0]; f.Name != "Builtin FRU Device (ID 0)" || f.Fields["Board Product"] != "PowerEdge R750" ||
		f.Fields["Board Serial"] != "CNFCP0041J00ZT" || f.Fields["Product Serial"] != "7XQ2XX3" ||
		f.Fields["Board Mfg Date"] != "Wed Jul  7 17:27:00 2021 UTC" || f.Fields["Product Asset Tag"] != "" {
		t.Errorf("builtin FRU = %+v", f)
	}
	if f := frus[1]; f.Name != "PS1 (ID 1)" || f.Fields["Board Product"] != "PWR SPLY,1400W,RDNT,LTON" || f.Fields["Board Part Number"] != "01CW9GA03" {
		t.Errorf("PS1 FRU = %+v", f)
	}
}

func TestParseFRUForms(t *testing.T) {
	out := "" +
		" Board Mfg             : before any block\n" +
		"FRU Device Description : Builtin FRU Device (ID 0)\n" +
		" Board Extra           : first\n" +
		" Board Extra           : second\r\n" +
		"Not indented           : ignored\n" +
		" " + strings.Repeat("k", MaxLineLength) + " : too long\n" +
		"\n" +
		"FRU Device Description : PERC1 (ID 5)\n" +
		" Device not present (Requested sensor, data, or record not found)\n"
	frus := ParseFRU([]byte(out))
	if len(frus) != 2 {
		t.Fatalf("got %d FRUs, want 2: %+v", len(frus), frus)
	}
	if f := frus[0]; len(f.Fields) != 1 || f.Fields["Board Extra"] != "first" {
		t.Errorf("builtin FRU = %+v", f)
	}
	if f := frus[1]; f.Name != "PERC1 (ID 5)" || len(f.Fields) != 0 {
		t.Errorf("unreadable FRU = %+v", f)
	}
}

func FuzzParseSDR(f *testing.F) {
	f.Add(readTestdata(f, "sdr_elist_fixture_r750.txt"))
	f.Add([]byte("A | 1 | ok | 1 | x\r\n|||||\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sensors, _ := ParseSDR(b)
		for _, s := range sensors {
			if s.Name == "" {
				t.Fatalf("sensor without a name: %+v", s)
			}
		}
	})
}

func FuzzParseFRU(f *testing.F) {
	f.Add(readTestdata(f, "fru_print_fixture_r750.txt"))
	f.Add([]byte(" a : b\nFRU Device Description : x\n k : v\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fru := range ParseFRU(b) {
			if fru.Fields == nil {
				t.Fatalf("FRU %q without a field map", fru.Name)
			}
		}
	})
}

func TestParseSDRHPECapture(t *testing.T) {
	sensors, errs := ParseSDR(readTestdata(t, "sdr_elist_hpe_dl360.txt"))
	if len(errs) != 0 || len(sensors) != 20 {
		t.Fatalf("%d sensors, errs %v", len(sensors), errs)
	}
	want := map[int]Sensor{
		2:  {Name: "UID Light", Number: "03h", Status: "ok", Entity: "23.1", Reading: ""},
		5:  {Name: "Power Supply 1", Number: "06h", Status: "ok", Entity: "10.1", Reading: "0 Watts, Presence detected, Failure detected"},
		8:  {Name: "Fan Block 1", Number: "09h", Status: "ok", Entity: "7.1", Reading: "21.56 percent, Transition to Running"},
		16: {Name: "Temp 4", Number: "11h", Status: "ns", Entity: "8.1", Reading: "Disabled"},
		19: {Name: "Memory", Number: "2Bh", Status: "ok", Entity: "7.7", Reading: "Correctable ECC, Correctable ECC logging limit reached, Presence Detected"},
	}
	for i, w := range want {
		if sensors[i] != w {
			t.Errorf("sensor %d = %+v, want %+v", i, sensors[i], w)
		}
	}
}

func TestParseFRUHPECapture(t *testing.T) {
	frus := ParseFRU(readTestdata(t, "fru_print_hpe_dl360_g6.txt"))
	if len(frus) != 1 {
		t.Fatalf("frus = %v", frus)
	}
	f := frus[0].Fields
	if f["Board Mfg Date"] != "Mon Jan  1 00:00:00 1996" || f["Board Product"] != "ProLiant DL360 G6" ||
		f["Chassis Type"] != "Rack Mount Chassis" || f["Chassis Serial"] != "" || f["Product Manufacturer"] != "HP" {
		t.Errorf("fields = %q", f)
	}
	if _, ok := f["Product Asset Tag"]; !ok {
		t.Error("Product Asset Tag: key lost")
	}
}
