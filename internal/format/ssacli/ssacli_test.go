package ssacli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parse(t *testing.T, name string) []Controller {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

func f64(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

func TestTwoControllersP212P410i(t *testing.T) {
	c := parse(t, "netdata-ssacli-P212_P410i.txt")
	if len(c) != 2 {
		t.Fatalf("controllers = %d, want 2", len(c))
	}
	a, b := c[0], c[1]
	if a.Model != "Smart Array P212" || a.Slot != "5" || a.Embedded || a.Firmware != "6.60-0" || a.Status != "OK" ||
		a.CacheStatus != "OK" || a.DriverName != "hpsa" || a.TemperatureCelsius != nil {
		t.Errorf("P212 = %+v", a)
	}
	if len(a.LogicalDrives) != 1 || len(a.PhysicalDrives) != 12 {
		t.Fatalf("P212 lds %d pds %d", len(a.LogicalDrives), len(a.PhysicalDrives))
	}
	if ld := a.LogicalDrives[0]; ld.ID != 1 || ld.Array != "A" || ld.RAIDLevel != "raid5" || ld.Status != "ok" {
		t.Errorf("P212 ld = %+v", ld)
	}
	if pd := a.PhysicalDrives[0]; pd.ID != "2E:1:1" || pd.Port != "2E" || pd.Bay != "1" || pd.Array != "A" ||
		pd.Model != "ATA MB1000EBZQB" || pd.Firmware != "HPG2" || pd.SizeBytes != 1e12 || f64(pd.TemperatureCelsius) != 33 ||
		pd.Interface != "SATA" || pd.DriveType != "Data Drive" {
		t.Errorf("P212 pd = %+v", pd)
	}
	if b.Model != "Smart Array P410i" || b.Slot != "0" || !b.Embedded || b.Firmware != "6.40-0" ||
		len(b.LogicalDrives) != 2 || len(b.PhysicalDrives) != 6 {
		t.Errorf("P410i = %+v", b)
	}
	if ld := b.LogicalDrives[1]; ld.ID != 2 || ld.RAIDLevel != "raid10" {
		t.Errorf("P410i ld 2 = %+v", ld)
	}
	// The firmware's nag in parentheses is not part of the version.
	if pd := b.PhysicalDrives[0]; pd.ID != "2I:1:5" || pd.Firmware != "HPD5" || pd.Model != "HP EH0146FARWD" {
		t.Errorf("P410i pd = %+v", pd)
	}
}

func TestP440arBatteriesAndTemperatures(t *testing.T) {
	c := parse(t, "netdata-ssacli-P400ar.txt")[0]
	if c.Model != "Smart Array P440ar" || c.BatteryStatus != "OK" || c.BackupPowerSource != "Batteries" ||
		f64(c.TemperatureCelsius) != 47 || f64(c.CacheTemperatureCelsius) != 41 || c.Firmware != "3.56-0" {
		t.Errorf("controller = %+v", c)
	}
	if len(c.LogicalDrives) != 2 || len(c.PhysicalDrives) != 8 {
		t.Fatalf("lds %d pds %d", len(c.LogicalDrives), len(c.PhysicalDrives))
	}
	if ld := c.LogicalDrives[0]; ld.RAIDLevel != "raid10" || ld.Array != "A" {
		t.Errorf("ld = %+v", ld)
	}
	if ld := c.LogicalDrives[1]; ld.RAIDLevel != "raid1" || ld.Array != "B" {
		t.Errorf("ld = %+v", ld)
	}
	if pd := c.PhysicalDrives[7]; pd.ID != "2I:1:8" || pd.Array != "B" || pd.Interface != "SATA" {
		t.Errorf("pd = %+v", pd)
	}
}

func TestP400iFailedBatteryAndUnassigned(t *testing.T) {
	c := parse(t, "netdata-ssacli-P400i-unassigned.txt")[0]
	if c.CacheStatus != "Temporarily Disabled" || c.BatteryStatus != "Failed (Replace Batteries)" || c.DriverName != "cciss" {
		t.Errorf("controller = %+v", c)
	}
	var unassigned []string
	for _, pd := range c.PhysicalDrives {
		if pd.Array == "" {
			unassigned = append(unassigned, pd.ID)
		}
	}
	if got := strings.Join(unassigned, ","); got != "1I:1:1,1I:1:2" {
		t.Errorf("unassigned = %s", got)
	}
	// "Size: 93.1 GB" of a RAID 1 of two 100 GB disks: binary.
	if ld := c.LogicalDrives[0]; ld.RAIDLevel != "raid1" || ld.SizeBytes != 99965363814 {
		t.Errorf("ld = %+v", ld)
	}
}

func TestP408iGen10(t *testing.T) {
	c := parse(t, "netdata-ssacli-P408i-a.txt")[0]
	if c.Model != "HPE Smart Array P408i-a SR Gen10" || c.Firmware != "6.52" || c.DriverName != "smartpqi" ||
		f64(c.TemperatureCelsius) != 52 || len(c.PhysicalDrives) != 4 {
		t.Errorf("controller = %+v", c)
	}
	if ld := c.LogicalDrives[0]; ld.RAIDLevel != "raid6" || ld.Status != "ok" {
		t.Errorf("ld = %+v", ld)
	}
}

func TestProliantutilsCaptures(t *testing.T) {
	c := parse(t, "proliantutils-p822-raid5-raid1.txt")[0]
	if c.Serial != "PDVTF0BRH5T0MO" || c.BackupPowerSource != "Capacitors" || f64(c.TemperatureCelsius) != 88 {
		t.Errorf("controller = %+v", c)
	}
	if len(c.LogicalDrives) != 2 || c.LogicalDrives[0].SizeBytes != 100<<30 || c.LogicalDrives[1].SizeBytes != 50<<30 ||
		c.LogicalDrives[0].RAIDLevel != "raid5" || c.LogicalDrives[1].RAIDLevel != "raid1" {
		t.Errorf("lds = %+v", c.LogicalDrives)
	}
	if pd := c.PhysicalDrives[0]; pd.Serial != "6SL7G4ZN0000B41707PD" || pd.Model != "HP EF0600FARNA" || pd.SizeBytes != 400e9 {
		t.Errorf("pd = %+v", pd)
	}

	h := parse(t, "proliantutils-p822-hba-mode.txt")[0]
	if h.CacheStatus != "Not Configured" || len(h.LogicalDrives) != 0 || len(h.PhysicalDrives) != 1 ||
		h.PhysicalDrives[0].DriveType != "HBA Mode Drive" || h.PhysicalDrives[0].Array != "" {
		t.Errorf("hba = %+v", h)
	}

	e := parse(t, "proliantutils-p440-erase-in-progress.txt")[0]
	if len(e.PhysicalDrives) != 1 || e.PhysicalDrives[0].Status != "erase_in_progress" {
		t.Errorf("erase = %+v", e)
	}
}

func TestDegradedAndRebuilding(t *testing.T) {
	c := parse(t, "written-here-degraded-rebuilding.txt")
	if len(c) != 1 {
		t.Fatalf("controllers = %d (a warning naming nothing must not start one)", len(c))
	}
	x := c[0]
	if x.BatteryStatus != "Failed (Replace Batteries/Capacitors)" || x.Serial != "PDNLH0BRH9Z1XY" || f64(x.TemperatureCelsius) != 61 {
		t.Errorf("controller = %+v", x)
	}
	if len(x.LogicalDrives) != 2 {
		t.Fatalf("lds = %+v", x.LogicalDrives)
	}
	if ld := x.LogicalDrives[0]; ld.Status != "interim_recovery" || ld.Array != "A" || ld.ProgressPercent != nil {
		t.Errorf("ld 1 = %+v", ld)
	}
	if ld := x.LogicalDrives[1]; ld.Status != "recovering" || f64(ld.ProgressPercent) != 45 || ld.Array != "B" {
		t.Errorf("ld 2 = %+v", ld)
	}
	var got []string
	for _, pd := range x.PhysicalDrives {
		got = append(got, pd.ID+"="+pd.Status+"@"+pd.Array)
	}
	want := "1I:1:1=ok@A,1I:1:2=failed@A,2I:1:5=rebuilding@B,2I:1:6=predictive_failure@B,2I:1:8=ok@"
	if strings.Join(got, ",") != want {
		t.Errorf("pds = %s, want %s", strings.Join(got, ","), want)
	}
	if x.PhysicalDrives[4].DriveType != "Spare Drive" || x.PhysicalDrives[4].SizeBytes != 1.2e12 {
		t.Errorf("spare = %+v", x.PhysicalDrives[4])
	}
}

func TestHostileInput(t *testing.T) {
	for _, in := range []string{
		"",
		"no controller here\n",
		"   Controller Status: OK\n", // properties before any controller
		"Smart Array X in Slot 1\n" + strings.Repeat(" ", 200000) + "Status: OK\n",
		"Smart Array X in Slot 1\n   Array: A\n      Logical Drive: notanumber\n      Logical Drive: 7\n         Size: 1e999 GB\n         Status: Failed\n",
		"Smart Array X in Slot 1\n      physicaldrive 1I:1:1\n         Size: huge\n         Current Temperature (C): NaN\n",
	} {
		c, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("Parse(%.40q) = %v", in, err)
		}
		_ = c
	}
	c, _ := Parse([]byte("Smart Array X in Slot 1\n   Array: A\n      Logical Drive: notanumber\n      Logical Drive: 7\n         Size: 1e999 GB\n         Status: Failed\n"))
	if len(c) != 1 || len(c[0].LogicalDrives) != 1 || c[0].LogicalDrives[0].ID != 7 || c[0].LogicalDrives[0].Status != "failed" {
		t.Errorf("malformed lines = %+v", c)
	}
	c, _ = Parse([]byte("Smart Array X in Slot 1\n      physicaldrive 1I:1:1\n         Size: huge\n         Current Temperature (C): NaN\n"))
	if len(c) != 1 || len(c[0].PhysicalDrives) != 1 || c[0].PhysicalDrives[0].SizeBytes != 0 || c[0].PhysicalDrives[0].TemperatureCelsius != nil {
		t.Errorf("bad values = %+v", c)
	}
	if _, err := Parse(make([]byte, MaxInputBytes+1)); err == nil {
		t.Error("oversized input accepted")
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		base float64
		want uint64
	}{
		{"558.9 GB", 1024, 600114305434},
		{"600 GB", 1000, 600e9},
		{"1.8 TB", 1024, 1979120929997},
		{"0  MB", 1024, 0},
	} {
		if got, ok := ParseSize(tc.in, tc.base); !ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d %v, want %d", tc.in, got, ok, tc.want)
		}
	}
	for _, in := range []string{"0.2", "", "N/A", "12 QB"} {
		if _, ok := ParseSize(in, 1024); ok {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		for _, x := range c {
			for _, ld := range x.LogicalDrives {
				if ld.Status == "" && ld.RawStatus != "" {
					t.Fatalf("status %q normalized to nothing", ld.RawStatus)
				}
			}
		}
	})
}
