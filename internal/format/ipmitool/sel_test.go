package ipmitool

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// scanAll collects the events of a small capture; real callers stream.
func scanAll(t testing.TB, in []byte, loc *time.Location) ([]Event, SELStats) {
	t.Helper()
	var evs []Event
	stats, err := ScanSEL(bytes.NewReader(in), loc, func(e Event) { evs = append(evs, e) })
	if err != nil {
		t.Fatal(err)
	}
	return evs, stats
}

func TestScanSELCaptures(t *testing.T) {
	cet, err1 := time.LoadLocation("Europe/Paris")
	newYork, err2 := time.LoadLocation("America/New_York")
	chicago, err3 := time.LoadLocation("America/Chicago")
	if err1 != nil || err2 != nil || err3 != nil {
		t.Skip("no tzdata")
	}
	tests := []struct {
		file   string
		loc    *time.Location
		events int
		// checks are events at an index, compared in full.
		checks map[int]Event
		kinds  map[Kind]int // asserted events by kind, when given
	}{
		{"sel_list_hpe_ml30g9.txt", nil, 5, map[int]Event{
			3: {ID: 0x23a, Time: date("2020-11-11T20:40:29Z"), SensorType: "Battery", Sensor: "#0x1f",
				Description: "Failed", Direction: Asserted, Kind: KindOther, Severity: SeverityInfo},
		}, nil},
		{"sel_list_hpe_proliant.txt", nil, 2, map[int]Event{
			0: {ID: 0, Time: date("2021-06-29T08:18:06Z"), SensorType: "Memory", Sensor: "#0x2b",
				Description: "Correctable ECC logging limit reached", Direction: Asserted,
				Kind: KindCorrectableECC, Severity: SeverityWarning},
		}, nil},
		{"sel_elist_quanta.txt", cet, 2, map[int]Event{
			0: {ID: 0x3a, Time: date("2022-12-14T23:09:44+01:00"), SensorType: "Memory", Sensor: "#0x88",
				Description: "Correctable ECC (CPU0_G1)", Direction: Asserted, Kind: KindCorrectableECC, Severity: SeverityWarning},
			1: {ID: 0xe, Time: date("2022-06-10T19:31:43+02:00"), SensorType: "Memory", Sensor: "#0x87",
				Description: "Correctable ECC ()", Direction: Asserted, Kind: KindCorrectableECC, Severity: SeverityWarning},
		}, nil},
		{"sel_list_fboss_openbmc.txt", nil, 7, map[int]Event{
			0: {ID: 1, Time: date("2026-05-14T20:40:26Z"), SensorType: "Processor", Sensor: "#0x40",
				Description: "Uncorrectable machine check exception", Direction: Asserted, Kind: KindMachineCheck, Severity: SeverityCritical},
			6: {ID: 0x80, Time: date("2026-05-28T05:03:50Z"), SensorType: "Temperature", Sensor: "#0x17",
				Direction: Asserted, Kind: KindOther, Severity: SeverityInfo},
		}, map[Kind]int{KindMachineCheck: 4, KindOther: 3}},
		{"sel_elist_preinit_threshold.txt", chicago, 4, map[int]Event{
			0: {ID: 0x3d, PreInit: true, SensorType: "reserved", Sensor: "#0xff", Direction: Asserted, Kind: KindOther, Severity: SeverityInfo},
			3: {ID: 0x1b5b, Time: date("2022-05-27T18:12:15-06:00"), SensorType: "Temperature", Sensor: "PSU1_Inlet_Temp",
				Description: "Upper Non-critical going high", Direction: Deasserted, Detail: "Reading 52 > Threshold 53 degrees C",
				Kind: KindTemperature, Severity: SeverityInfo},
		}, nil},
		{"sel_list_ibm_openbmc.txt", nil, 13, map[int]Event{
			7: {ID: 8, Time: date("2024-03-06T06:29:08Z"), SensorType: "Unknown", Sensor: "#0x49",
				Description: "State Deasserted", Direction: Asserted, Kind: KindOther, Severity: SeverityInfo},
		}, nil},
		{"sel_list_openpower.txt", nil, 12, map[int]Event{
			9: {ID: 0xa, Time: date("2000-01-01T00:31:18Z"), SensorType: "System Firmware Progress", Sensor: "#0x05",
				Description: "Secondary CPU Initialization", Direction: Asserted, Kind: KindOther, Severity: SeverityInfo},
		}, nil},
		{"sel_elist_intel.txt", nil, 3, map[int]Event{
			1: {ID: 0x31, Time: date("2019-11-15T18:50:44Z"), SensorType: "Power Unit", Sensor: "Pwr Unit Status",
				Description: "Power off/down", Direction: Deasserted, Kind: KindOther, Severity: SeverityInfo},
			2: {ID: 0x32, Time: date("2019-11-15T18:50:59Z"), SensorType: "Management Subsys Health", Sensor: "AutoCfg Status",
				Description: "State Asserted", Direction: Asserted, Kind: KindOther, Severity: SeverityInfo},
		}, nil},
		{"sel_list_supermicro_x10.txt", newYork, 33, map[int]Event{
			0: {ID: 0x23, Time: date("2024-12-06T22:06:50-05:00"), SensorType: "Fan", Sensor: "#0x41",
				Description: "Lower Critical going low", Direction: Asserted, Kind: KindFanFailure, Severity: SeverityCritical},
			18: {ID: 0x35, Time: date("2024-12-08T21:31:56-05:00"), SensorType: "Physical Security", Sensor: "#0xaa",
				Description: "General Chassis intrusion ()", Direction: Asserted, Kind: KindIntrusion, Severity: SeverityWarning},
			19: {ID: 0x65, Time: date("2025-09-11T18:28:51-04:00"), SensorType: "OS Boot",
				Description: "Installation started ()", Direction: Asserted, Kind: KindOther, Severity: SeverityInfo},
			24: {ID: 0x533, Time: date("2023-08-14T11:25:39-04:00"), SensorType: "Power Supply", Sensor: "#0x3c",
				Description: "Power Supply AC lost", Direction: Asserted, Kind: KindPSUFailure, Severity: SeverityCritical},
			25: {ID: 0x534, Time: date("2023-08-14T11:25:39-04:00"), SensorType: "Power Supply", Sensor: "#0x3e",
				Description: "Redundancy Lost", Direction: Asserted, Kind: KindPSURedundancyLost, Severity: SeverityCritical},
			31: {ID: 0x547, Time: date("2025-03-16T02:18:29-04:00"), SensorType: "Drive Slot / Bay", Sensor: "#0x44",
				Description: "Predictive Failure", Direction: Asserted, Kind: KindDriveFailure, Severity: SeverityWarning},
			32: {ID: 0x548, Time: date("2025-03-26T14:11:40-04:00"), SensorType: "Drive Slot / Bay", Sensor: "#0x44",
				Description: "Drive Fault", Direction: Asserted, Kind: KindDriveFailure, Severity: SeverityCritical},
		}, map[Kind]int{KindFanFailure: 8, KindIntrusion: 2, KindOther: 5, KindPSUFailure: 4, KindPSURedundancyLost: 2, KindDriveFailure: 2}},
		{"sel_list_poweredge_ecc.txt", nil, 16, map[int]Event{
			1: {ID: 0x62, Time: date("2014-12-29T14:17:59Z"), SensorType: "Physical Security", Sensor: "#0x52",
				Description: "General Chassis intrusion", Direction: Deasserted, Kind: KindIntrusion, Severity: SeverityInfo},
			2: {ID: 0x63, Time: date("2014-12-29T14:29:00Z"), SensorType: "Memory", Sensor: "#0x01",
				Description: "Correctable ECC (Correctable ECC | Bank 2DIMM A)", Direction: Asserted,
				Kind: KindCorrectableECC, Severity: SeverityWarning},
			5: {ID: 0x66, Time: date("2014-12-29T14:29:00Z"), SensorType: "Event Logging Disabled", Sensor: "#0x06",
				Description: "Correctable memory error logging disabled", Direction: Asserted,
				Kind: KindCorrectableECC, Severity: SeverityWarning},
		}, map[Kind]int{KindCorrectableECC: 14, KindIntrusion: 1}},
		{"sel_mixed_csv_plain.txt", nil, 8, map[int]Event{
			0: {ID: 1, Time: date("2021-09-07T12:12:35Z"), SensorType: "Drive Slot / Bay", Sensor: "#0x42",
				Description: "Drive Present", Direction: Deasserted, Kind: KindOther, Severity: SeverityInfo},
			1: {ID: 2, Time: date("2021-09-07T12:12:36Z"), SensorType: "Drive Slot / Bay", Sensor: "#0x42",
				Description: "In Failed Array", Direction: Asserted, Kind: KindDriveFailure, Severity: SeverityCritical},
			5: {ID: 0xe, PreInit: true, SensorType: "System ACPI Power State", Sensor: "#0xd5",
				Description: "S0/G0: working", Direction: Asserted, Kind: KindOther, Severity: SeverityInfo},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, stats := scanAll(t, readTestdata(t, tt.file), tt.loc)
			if stats.Events != tt.events || stats.Malformed != 0 || len(evs) != tt.events {
				t.Fatalf("stats %+v, %d events; want %d events, none malformed", stats, len(evs), tt.events)
			}
			for i, want := range tt.checks {
				got := evs[i]
				if !got.Time.Equal(want.Time) {
					t.Errorf("event %d time = %v, want %v", i, got.Time, want.Time)
				}
				got.Time, want.Time = time.Time{}, time.Time{}
				if got != want {
					t.Errorf("event %d:\n got  %+v\n want %+v", i, got, want)
				}
			}
			if tt.kinds != nil {
				kinds := map[Kind]int{}
				for _, e := range evs {
					if e.Direction == Asserted {
						kinds[e.Kind]++
					}
				}
				if fmt.Sprint(kinds) != fmt.Sprint(tt.kinds) {
					t.Errorf("asserted kinds = %v, want %v", kinds, tt.kinds)
				}
			}
		})
	}
}

// Records ipmitool prints without a sensor (lib/ipmi_sel.c), written here.
func TestParseEventOEMAndPanic(t *testing.T) {
	tests := []struct {
		line string
		want Event
	}{
		{"   9 | Linux kernel panic: Fatal excep", Event{ID: 9, Sensor: "Linux kernel panic", Description: "Fatal excep", Kind: KindOther, Severity: SeverityCritical}},
		{"9,,,Linux kernel panic: Fatal excep", Event{ID: 9, Sensor: "Linux kernel panic", Description: "Fatal excep", Kind: KindOther, Severity: SeverityCritical}},
		{"  1b | OEM record e0 | 0011223344556677889900aabbcc", Event{ID: 0x1b, Sensor: "OEM record e0", Description: "0011223344556677889900aabbcc", Kind: KindOther, Severity: SeverityInfo}},
		{"  1a | 05/27/2022 | 06:12:15 | OEM record c1 | 000157 | 00112233445566", Event{ID: 0x1a, Time: date("2022-05-27T06:12:15Z"), Sensor: "OEM record c1", Description: "000157 | 00112233445566", Kind: KindOther, Severity: SeverityInfo}},
		{"   4 | Unspecified | Unspecified | Memory #0x53 | Uncorrectable ECC | Asserted", Event{ID: 4, SensorType: "Memory", Sensor: "#0x53", Description: "Uncorrectable ECC", Direction: Asserted, Kind: KindUncorrectableECC, Severity: SeverityCritical}},
		{"  20 | 01/05/2024 | 10:00:00 | Critical Interrupt #0x70 | Bus Uncorrectable error | Asserted", Event{ID: 0x20, Time: date("2024-01-05T10:00:00Z"), SensorType: "Critical Interrupt", Sensor: "#0x70", Description: "Bus Uncorrectable error", Direction: Asserted, Kind: KindBusError, Severity: SeverityCritical}},
		{"  21 | 01/05/2024 | 10:00:00 | Event Logging Disabled #0x07 | Log area reset/cleared | Asserted", Event{ID: 0x21, Time: date("2024-01-05T10:00:00Z"), SensorType: "Event Logging Disabled", Sensor: "#0x07", Description: "Log area reset/cleared", Direction: Asserted, Kind: KindLogCleared, Severity: SeverityInfo}},
		{"23,01/05/24,10:00:00 UTC,Power Supply PS1 Status,AC out-of-range, but present,Asserted", Event{ID: 0x23, Time: date("2024-01-05T10:00:00Z"), SensorType: "Power Supply", Sensor: "PS1 Status", Description: "AC out-of-range, but present", Direction: Asserted, Kind: KindPSUFailure, Severity: SeverityWarning}},
		{"  24 | 01/05/2024 | 10:00:00 | Drive Slot HDD 3 | Predictive Failure | Asserted", Event{ID: 0x24, Time: date("2024-01-05T10:00:00Z"), SensorType: "Drive Slot", Sensor: "HDD 3", Description: "Predictive Failure", Direction: Asserted, Kind: KindDriveFailure, Severity: SeverityWarning}},
		{"22,01/05/24,10:00:00 UTC,Memory,Correctable ECC,Asserted,CPU 1 DIMM 2", Event{ID: 0x22, Time: date("2024-01-05T10:00:00Z"), SensorType: "Memory", Description: "Correctable ECC", Direction: Asserted, Detail: "CPU 1 DIMM 2", Kind: KindCorrectableECC, Severity: SeverityWarning}},
	}
	for _, tt := range tests {
		got, ok := ParseEvent(tt.line, nil)
		if !ok {
			t.Errorf("%q: not parsed", tt.line)
			continue
		}
		if !got.Time.Equal(tt.want.Time) {
			t.Errorf("%q: time %v, want %v", tt.line, got.Time, tt.want.Time)
		}
		got.Time, tt.want.Time = time.Time{}, time.Time{}
		if got != tt.want {
			t.Errorf("%q:\n got  %+v\n want %+v", tt.line, got, tt.want)
		}
	}
}

func TestScanSELHostile(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("   1 | 01/05/2024 | 10:00:00 | Memory #0x01 | Correctable ECC | Asserted\n")
	in.WriteString(strings.Repeat("A", 1<<20) + "\n") // a 1 MiB line
	in.WriteString("garbage without columns\n")
	in.WriteString("   2 | 13/45/2024 | 10:00:00 | Memory #0x01 | Correctable ECC | Asserted\n") // not a date
	in.WriteString("zz | 01/05/2024 | 10:00:00 | Memory | x | Asserted\n")                       // no record id
	in.WriteString("   3 |" + strings.Repeat(" |", 40) + "\n")                                   // too many columns
	in.WriteString("   4 |  Pre-Init  |notanumber| Memory | x | Asserted\n")
	in.WriteString("\n\n   \n")
	in.WriteString("SEL has no entries\n")
	in.WriteString("   5 | 01/05/2024 | 10:00:01 | Memory #0x01 | Uncorrectable ECC | Asserted") // no final newline
	var ids []uint32
	stats, err := ScanSEL(&in, nil, func(e Event) { ids = append(ids, e.ID) })
	if err != nil {
		t.Fatal(err)
	}
	want := SELStats{Lines: 8, Events: 2, Malformed: 6, Overlong: 1}
	if stats != want || fmt.Sprint(ids) != "[1 5]" {
		t.Errorf("stats %+v ids %v; want %+v [1 5]", stats, ids, want)
	}

	// An overlong line at the very end, without a newline.
	stats, err = ScanSEL(strings.NewReader(strings.Repeat("x", 3*MaxLineLength)), nil, func(Event) {})
	if err != nil || stats != (SELStats{Lines: 1, Malformed: 1, Overlong: 1}) {
		t.Errorf("stats %+v, %v", stats, err)
	}

	// A read error is the only error, and what came before it counts.
	stats, err = ScanSEL(io.MultiReader(strings.NewReader("   1 | 01/05/2024 | 10:00:00 | Fan #0x41 | Lower Critical going low | Asserted\n"), errReader{}), nil, func(Event) {})
	if err == nil || stats.Events != 1 {
		t.Errorf("stats %+v, err %v", stats, err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("pipe broke") }

// generatedSEL writes n SEL lines in the elist form, cycling through
// event kinds; every 100th line is malformed.
func generatedSEL(n int) []byte {
	lines := []string{
		"Memory #0x01 | Correctable ECC (CPU0_G1) | Asserted",
		"Memory #0x02 | Uncorrectable ECC | Asserted",
		"Power Supply PS2 Status | Power Supply AC lost | Asserted",
		"Power Supply PS Redundancy | Redundancy Lost | Asserted",
		"Temperature Inlet Temp | Upper Critical going high | Asserted | Reading 48 > Threshold 47 degrees C",
		"Fan FAN1 | Lower Critical going low  | Deasserted",
		"Processor CPU1 Status | IERR | Asserted",
		"System ACPI Power State #0xd5 | S0/G0: working | Asserted",
	}
	var b bytes.Buffer
	b.Grow(n * 110)
	start := date("2024-01-01T00:00:00Z")
	for i := 0; i < n; i++ {
		if i%100 == 99 {
			b.WriteString("Get SEL Entry command failed: Unspecified error\n")
			continue
		}
		ts := start.Add(time.Duration(i) * time.Minute)
		fmt.Fprintf(&b, "%4x | %s | %s | %s\n", i+1, ts.Format("01/02/2006"), ts.Format("15:04:05"), lines[i%len(lines)])
	}
	return b.Bytes()
}

func TestScanSEL10kSummary(t *testing.T) {
	in := generatedSEL(10000)
	var sum SELSummary
	stats, err := ScanSEL(bytes.NewReader(in), nil, sum.Add)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != 9900 || stats.Malformed != 100 || sum.Events != 9900 {
		t.Fatalf("stats %+v summary %d events", stats, sum.Events)
	}
	// Lines cycle through 8 events; the malformed ones (i%100 == 99)
	// replace only events 3 and 7.
	want := map[SELCount]int{
		{"Memory", KindCorrectableECC, SeverityWarning, Asserted}:           1250,
		{"Memory", KindUncorrectableECC, SeverityCritical, Asserted}:        1250,
		{"Power Supply", KindPSUFailure, SeverityCritical, Asserted}:        1250,
		{"Power Supply", KindPSURedundancyLost, SeverityCritical, Asserted}: 1200,
		{"Temperature", KindTemperature, SeverityCritical, Asserted}:        1250,
		{"Fan", KindFanFailure, SeverityInfo, Deasserted}:                   1250,
		{"Processor", KindMachineCheck, SeverityCritical, Asserted}:         1250,
		{"System ACPI Power State", KindOther, SeverityInfo, Asserted}:      1200,
	}
	for k, n := range want {
		if sum.Counts[k] != n {
			t.Errorf("count %+v = %d, want %d", k, sum.Counts[k], n)
		}
	}
	if len(sum.Counts) != 8 {
		t.Errorf("%d count keys, want 8: %v", len(sum.Counts), sum.Counts)
	}
	// Line 9999 is malformed; the newest event is line 9998 (index 9997).
	if want := date("2024-01-01T00:00:00Z").Add(9997 * time.Minute); !sum.Newest["Power Supply"].Equal(want) && !sum.Newest["Memory"].Equal(want) &&
		!sum.Newest["Temperature"].Equal(want) && !sum.Newest["Fan"].Equal(want) && !sum.Newest["Processor"].Equal(want) &&
		!sum.Newest["System ACPI Power State"].Equal(want) {
		t.Errorf("no sensor type's newest event is %v: %v", want, sum.Newest)
	}
}

func BenchmarkScanSEL10k(b *testing.B) {
	in := generatedSEL(10000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var sum SELSummary
		if _, err := ScanSEL(bytes.NewReader(in), time.UTC, sum.Add); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzScanSEL(f *testing.F) {
	for _, name := range []string{
		"sel_list_hpe_ml30g9.txt", "sel_elist_quanta.txt", "sel_elist_preinit_threshold.txt",
		"sel_list_supermicro_x10.txt", "sel_list_poweredge_ecc.txt", "sel_mixed_csv_plain.txt",
	} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("9,,,Linux kernel panic: x\n  1b | OEM record e0 | 00\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var n int
		stats, err := ScanSEL(bytes.NewReader(in), time.UTC, func(e Event) {
			n++
			if e.Kind == "" || e.Severity == "" {
				t.Errorf("unclassified %+v", e)
			}
			if e.SensorType != "" && !containsString(SensorTypes, e.SensorType) {
				t.Errorf("unbounded sensor type %q", e.SensorType)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != stats.Events || stats.Events+stats.Malformed != stats.Lines {
			t.Errorf("stats %+v with %d events", stats, n)
		}
	})
}
