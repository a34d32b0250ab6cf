package smartctl

import (
	"os"
	"path/filepath"
	"testing"
)

// --- Parsers, on captured output ---

func readCapture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSmartParseScan(t *testing.T) {
	scan, err := ParseScan(readCapture(t, "scan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scan.Devices) != 12 {
		t.Fatalf("got %d devices, want 12: %+v", len(scan.Devices), scan.Devices)
	}
	if d := scan.Devices[1]; d.Name != "/dev/sdb" || d.Type != "sat" || d.Protocol != "ATA" {
		t.Errorf("devices[1] = %+v", d)
	}
	if d := scan.Devices[11]; d.Name != "/dev/nvme7" || d.Type != "nvme" {
		t.Errorf("devices[11] = %+v", d)
	}

	// A host without disks: smartctl prints no "devices" at all.
	scan, err = ParseScan([]byte(`{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0}}`))
	if err != nil || len(scan.Devices) != 0 {
		t.Errorf("empty scan: %+v, %v", scan, err)
	}
	for _, bad := range []string{"", "/dev/sda -d sat # /dev/sda [SAT], ATA device\n", `{"devices":[]}`, `{"json_format_version":[1,0],"devices":[{"type":"sat"}]}`, `{"json_format_version":[1,0]`} {
		if _, err := ParseScan([]byte(bad)); err == nil {
			t.Errorf("ParseScan(%q) succeeded", bad)
		}
	}
}

// want is a Device with plain values, for comparison; -1 is absent.
type want struct {
	identity                                            Identity
	standby                                             bool
	passed                                              float64
	temperature, powerOnSeconds, powerCycles            float64
	reallocated, pending, offlineUncorrectable          float64
	criticalWarning, spare, spareThreshold, used, media float64
}

func flatten(d Device) want {
	v := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	passed := -1.0
	if d.Passed != nil {
		passed = 0
		if *d.Passed {
			passed = 1
		}
	}
	return want{
		d.Identity, d.Standby, passed,
		v(d.Temperature), v(d.PowerOnSeconds), v(d.PowerCycles),
		v(d.Reallocated), v(d.Pending), v(d.OfflineUncorrectable),
		v(d.CriticalWarning), v(d.AvailableSpare), v(d.AvailableSpareThreshold), v(d.PercentageUsed), v(d.MediaErrors),
	}
}

func TestSmartParseDevice(t *testing.T) {
	for _, tc := range []struct {
		file string
		want want
	}{
		{"sdb.json", want{
			identity: Identity{"sat", "SAMSUNG MZ7L3480HCHQ-00B7C", "S6JNNG0R412346", "JXTC404Q"},
			passed:   1, temperature: 30, powerOnSeconds: 26416 * 3600, powerCycles: 37,
			reallocated: 0, pending: 8, offlineUncorrectable: 2,
			criticalWarning: -1, spare: -1, spareThreshold: -1, used: -1, media: -1,
		}},
		{"sdc.json", want{
			identity: Identity{"sat", "ST4000NM000A-2HZ100", "ZC1A2B3C", "SN04"},
			passed:   1, temperature: 34, powerOnSeconds: 26420 * 3600, powerCycles: 38,
			reallocated: 0, pending: 0, offlineUncorrectable: 0,
			criticalWarning: -1, spare: -1, spareThreshold: -1, used: -1, media: -1,
		}},
		{"sdd.json", want{
			identity: Identity{Type: "sat"}, standby: true,
			passed: -1, temperature: -1, powerOnSeconds: -1, powerCycles: -1,
			reallocated: -1, pending: -1, offlineUncorrectable: -1,
			criticalWarning: -1, spare: -1, spareThreshold: -1, used: -1, media: -1,
		}},
		{"nvme6.json", want{
			identity: Identity{"nvme", "SAMSUNG MZWLJ3T8HBLS-00007", "S5YNNA0R600126", "EPK9CB5Q"},
			passed:   0, temperature: 41, powerOnSeconds: 26410 * 3600, powerCycles: 41,
			reallocated: -1, pending: -1, offlineUncorrectable: -1,
			criticalWarning: 1, spare: 0.08, spareThreshold: 0.1, used: 0.87, media: 0,
		}},
		{"nvme3.json", want{
			identity: Identity{"nvme", "SAMSUNG MZWLJ3T8HBLS-00007", "S5YNNA0R600123", "EPK9CB5Q"},
			passed:   1, temperature: 38, powerOnSeconds: 26410 * 3600, powerCycles: 41,
			reallocated: -1, pending: -1, offlineUncorrectable: -1,
			criticalWarning: 0, spare: 1, spareThreshold: 0.1, used: 0.03, media: 12,
		}},
		// SCSI: model and firmware come from scsi_model_name and
		// scsi_revision; the grown defect list is the reallocated count;
		// uncorrected read (2) + write (0) + verify (1) errors are media
		// errors; no pending or offline-uncorrectable counts, no power
		// cycles (start-stop cycles are spin-ups).
		{"sas-ST1200MM0009.json", want{
			identity: Identity{"scsi", "SEAGATE ST1200MM0009", "W3A0K1ZB0000E8421A7Q", "CN03"},
			passed:   1, temperature: 33, powerOnSeconds: 41887*3600 + 26*60, powerCycles: -1,
			reallocated: 14, pending: -1, offlineUncorrectable: -1,
			criticalWarning: -1, spare: -1, spareThreshold: -1, used: -1, media: 3,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, err := ParseDevice(readCapture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := flatten(d); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSmartParseDeviceEdgeCases(t *testing.T) {
	// Attribute 5 is raw16(raw16): raw.value also carries two vendor words,
	// the count is the first number smartctl prints.
	d, err := ParseDevice([]byte(`{"json_format_version":[1,0],"ata_smart_attributes":{"table":[
		{"id":5,"name":"Reallocated_Sector_Ct","raw":{"value":281479271677955,"string":"3 (1 1)"}},
		{"id":197,"name":"Current_Pending_Sector","raw":{"value":16,"string":"16"}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *d.Reallocated != 3 || *d.Pending != 16 || d.OfflineUncorrectable != nil {
		t.Errorf("reallocated %v pending %v offline %v", *d.Reallocated, *d.Pending, d.OfflineUncorrectable)
	}

	// NVMe counters are 128-bit; smartctl prints them whole and leaves the
	// top-level copies out when they do not fit 64 bits.
	d, err = ParseDevice([]byte(`{"json_format_version":[1,0],"nvme_smart_health_information_log":{
		"critical_warning":0,"temperature":40,"media_errors":340282366920938463463374607431768211455,
		"power_on_hours":18446744073709551616,"power_cycles":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *d.MediaErrors < 3.4e38 || *d.PowerOnSeconds < 6.6e22 || *d.PowerCycles != 7 || *d.Temperature != 40 {
		t.Errorf("got %+v", flatten(d))
	}

	for _, bad := range []string{"", "garbage\n", "smartctl 6.2 2013-07-26 r3841\nUNRECOGNIZED OPTION: json\n", `{"smart_status":{"passed":true}}`, `{"json_format_version":[1,0],"temperature":{"current":"hot"}}`} {
		if _, err := ParseDevice([]byte(bad)); err == nil {
			t.Errorf("ParseDevice(%q) succeeded", bad)
		}
	}
}

func TestParseRefusesOversizedOutput(t *testing.T) {
	huge := make([]byte, MaxOutput+1)
	if _, err := ParseDevice(huge); err == nil {
		t.Error("ParseDevice accepted output over MaxOutput")
	}
	if _, err := ParseScan(huge); err == nil {
		t.Error("ParseScan accepted output over MaxOutput")
	}
}

// seeds adds every capture in testdata to f.
func seeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"json_format_version":[1,0],"nvme_smart_health_information_log":{"media_errors":1e400}}`))
}

func FuzzParseScan(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		scan, err := ParseScan(b)
		if err != nil {
			return
		}
		for _, d := range scan.Devices {
			if d.Name == "" {
				t.Errorf("device without a name: %+v", d)
			}
		}
	})
}

func FuzzParseDevice(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseDevice(b)
	})
}
