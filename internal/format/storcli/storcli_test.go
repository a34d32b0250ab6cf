package storcli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func controllers(t *testing.T, name string) []Controller {
	t.Helper()
	c, err := ParseControllers(read(t, name))
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

func u64(p *uint64) int64 {
	if p == nil {
		return -1
	}
	return int64(*p)
}

func boolp(p *bool) string {
	if p == nil {
		return "nil"
	}
	if *p {
		return "true"
	}
	return "false"
}

func TestShowAllMR216iNVMe(t *testing.T) {
	c := controllers(t, "canonical-storcli-mr216i.json")
	if len(c) != 1 {
		t.Fatalf("controllers = %d, want 1", len(c))
	}
	x := c[0]
	if x.Model != "HPE MR216i-a Gen10+" || x.Serial != "PXBSA0A36EW03S" || x.FirmwarePackage != "52.16.3-3913" ||
		x.FirmwareVersion != "5.160.03-3444" || x.DriverName != "megaraid_sas" || x.DriverVersion != "07.717.02.00-rc1" ||
		x.Status != "Optimal" {
		t.Errorf("controller = %+v", x)
	}
	if f64(x.TemperatureCelsius) != 49 || u64(x.MemoryCorrectableErrors) != 0 || u64(x.MemoryUncorrectableErrors) != 0 {
		t.Errorf("temperature/memory = %v %v %v", f64(x.TemperatureCelsius), u64(x.MemoryCorrectableErrors), u64(x.MemoryUncorrectableErrors))
	}
	if x.Backup != nil {
		t.Errorf("backup = %+v, want none (Energy Pack Absent)", x.Backup)
	}
	if len(x.VirtualDrives) != 1 {
		t.Fatalf("vds = %+v", x.VirtualDrives)
	}
	vd := x.VirtualDrives[0]
	// "744.687 GiB"
	if vd.DriveGroup != 0 || vd.ID != 239 || vd.RAIDLevel != "raid1" || vd.State != "optimal" || vd.Name != "NVMe-RAID-1" ||
		vd.CachePolicy != "NRWTD" || vd.SizeBytes != 799601577689 || boolp(vd.Consistent) != "true" {
		t.Errorf("vd = %+v", vd)
	}
	if len(x.PhysicalDrives) != 2 {
		t.Fatalf("pds = %+v", x.PhysicalDrives)
	}
	pd := x.PhysicalDrives[1]
	if pd.EnclosureSlot() != "251:2" || pd.DeviceID != 1 || pd.State != "online" || pd.Interface != "NVMe" ||
		pd.Medium != "SSD" || pd.Model != "MZXLR800HBHQ-000H3" || pd.DriveGroup != 0 {
		t.Errorf("pd = %+v", pd)
	}
}

func TestShowAllPERCH345(t *testing.T) {
	x := controllers(t, "canonical-perccli-h345.json")[0]
	if x.Model != "PERC H345 Front" || x.Serial != "17A000D" || x.FirmwarePackage != "51.16.0-4076" || f64(x.TemperatureCelsius) != 43 {
		t.Errorf("controller = %+v", x)
	}
	// Two "558.375 GB" disks make a "1.089 TB" RAID 0: the units are binary.
	if got := x.PhysicalDrives[0].SizeBytes; got != 599550590976 {
		t.Errorf("pd size = %d, want 558.375 GiB", got)
	}
	if got := x.VirtualDrives[0].SizeBytes; got != 1197368162648 || x.VirtualDrives[0].RAIDLevel != "raid0" {
		t.Errorf("vd = %+v, want 1.089 TiB", x.VirtualDrives[0])
	}
	if pd := x.PhysicalDrives[0]; pd.EnclosureSlot() != "69:0" || pd.DeviceID != 1 || pd.Model != "ST600MM0069" {
		t.Errorf("pd = %+v", pd)
	}
}

func TestShowThreeControllersCacheVaultAndHBA(t *testing.T) {
	c := controllers(t, "jcpunk-storcli-call-show-3ctrl.json")
	if len(c) != 3 {
		t.Fatalf("controllers = %d, want 3", len(c))
	}
	for i, want := range []struct {
		model, serial, fw string
		vds, pds          int
		cvTemp            float64
	}{
		{"AVAGO 3108 MegaRAID", "FW-BAMQTHEAARBWA", "24.21.0-0028", 1, 18, 31},
		{"AVAGO 3108 MegaRAID", "FW-HHW1AHEAARBWA", "24.21.0-0028", 2, 18, 32},
		{"LSI3008-IR", "50030480256256f9", "00.00.00.00", 0, 3, -1},
	} {
		x := c[i]
		if x.Index != i || x.Model != want.model || x.Serial != want.serial || x.FirmwarePackage != want.fw ||
			len(x.VirtualDrives) != want.vds || len(x.PhysicalDrives) != want.pds {
			t.Errorf("controller %d = %s %s %s vds %d pds %d", i, x.Model, x.Serial, x.FirmwarePackage, len(x.VirtualDrives), len(x.PhysicalDrives))
		}
		if want.cvTemp < 0 {
			if x.Backup != nil {
				t.Errorf("controller %d backup = %+v", i, x.Backup)
			}
			continue
		}
		// A CacheVault is not a failed battery.
		if b := x.Backup; b == nil || b.Kind != "cachevault" || b.Model != "CVPM02" || b.State != "Optimal" || !b.Healthy || f64(b.TemperatureCelsius) != want.cvTemp {
			t.Errorf("controller %d backup = %+v", i, x.Backup)
		}
	}
	if vd := c[1].VirtualDrives[1]; vd.ID != 234 || vd.Name != "OS" || vd.RAIDLevel != "raid1" {
		t.Errorf("c1 vd1 = %+v", vd)
	}
	if vd := c[0].VirtualDrives[0]; vd.SizeBytes != 61441809271751 { // "55.881 TB"
		t.Errorf("c0 vd size = %d", vd.SizeBytes)
	}
	// Drives an HBA passes through have no enclosure and no state.
	hba := c[2].PhysicalDrives
	if hba[0].Enclosure != "" || hba[0].Slot != 0 || hba[0].State != "unconfigured" || hba[0].DriveGroup != -1 ||
		hba[2].State != "unconfigured_good" || hba[2].Model != "Micron_5300_MTFDDAK3T8TDS" {
		t.Errorf("hba drives = %+v", hba)
	}
}

func TestShowAllServeRAIDBBU(t *testing.T) {
	x := controllers(t, "netdata-megaraid-controllers-info.json")[0]
	if x.Model != "ServeRAID M5015 SAS/SATA Controller" || x.FirmwarePackage != "12.15.0-0239" || x.DriverVersion != "07.725.01.00-rc1" {
		t.Errorf("controller = %+v", x)
	}
	if x.TemperatureCelsius != nil {
		t.Errorf("temperature = %v, want nil (Temperature Sensor for ROC Absent)", *x.TemperatureCelsius)
	}
	if b := x.Backup; b == nil || b.Kind != "bbu" || b.Model != "iBBU08" || !b.Healthy || f64(b.TemperatureCelsius) != 34 {
		t.Errorf("backup = %+v", x.Backup)
	}
	if len(x.VirtualDrives) != 1 || x.VirtualDrives[0].RAIDLevel != "raid6" || x.VirtualDrives[0].Name != "Sluthub" {
		t.Errorf("vds = %+v", x.VirtualDrives)
	}
	if len(x.PhysicalDrives) != 6 || x.PhysicalDrives[5].EnclosureSlot() != "252:7" || x.PhysicalDrives[5].DeviceID != 32 {
		t.Errorf("pds = %+v", x.PhysicalDrives)
	}
}

func TestShowAllHBA9500WithDriveDetails(t *testing.T) {
	x := controllers(t, "netdata-mpt3sas-controllers-info.json")[0]
	if x.Model != "HBA 9500-8i" || x.DriverName != "mpt3sas" || x.Status != "OK" || f64(x.TemperatureCelsius) != 44 {
		t.Errorf("controller = %+v", x)
	}
	if len(x.PhysicalDrives) != 29 {
		t.Fatalf("pds = %d, want 29", len(x.PhysicalDrives))
	}
	d := x.PhysicalDrives[0]
	if d.EnclosureSlot() != "23:0" || d.State != "jbod" || d.Model != "ST14000NM001G-2KJ103" || d.Firmware != "SN03" ||
		d.SizeBytes != 0x65ddfffff*512 {
		t.Errorf("pd = %+v", d)
	}
	// The HBA says N/A for error counters: unknown, not zero.
	if d.MediaErrors != nil || d.SMARTAlert != nil {
		t.Errorf("counters = %v %v", u64(d.MediaErrors), boolp(d.SMARTAlert))
	}
}

func TestDrivesShowAll(t *testing.T) {
	d, err := ParseDrives(read(t, "netdata-megaraid-drives-info.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 6 {
		t.Fatalf("drives = %d, want 6", len(d))
	}
	x := d[0]
	if x.EnclosureSlot() != "252:0" || x.DeviceID != 34 || x.Serial != "ZL2PVFA8" || x.Firmware != "SN03" ||
		x.WWN != "5000C500E54F4EBB" || f64(x.TemperatureCelsius) != 28 || u64(x.MediaErrors) != 0 ||
		u64(x.OtherErrors) != 0 || u64(x.PredictiveFailures) != 0 || boolp(x.SMARTAlert) != "false" {
		t.Errorf("drive = %+v", x)
	}
	// The coerced sector count, not the rounded "14.551 TB".
	if x.SizeBytes != 0x746a52800*512 {
		t.Errorf("size = %d", x.SizeBytes)
	}
	if d[5].EnclosureSlot() != "252:7" || d[5].Firmware != "SB30" || f64(d[1].TemperatureCelsius) != 27 {
		t.Errorf("drives = %+v", d)
	}

	s, err := ParseDrives(read(t, "sdflexutils-storcli-drives-show-all.json"))
	if err != nil || len(s) != 4 {
		t.Fatalf("sdflexutils: %v %d", err, len(s))
	}
	if s[0].Serial != "14070C01A4DF" || s[0].Firmware != "HPG6" || s[0].SizeBytes != 0xde90000*512 || s[2].State != "unconfigured_good" ||
		s[2].DriveGroup != -1 || s[2].Model != "WDC WD5000HHTZ-60N21V0" || f64(s[2].TemperatureCelsius) != 31 {
		t.Errorf("sdflexutils drives = %+v", s)
	}
}

func TestDegradedRebuildingTwoControllers(t *testing.T) {
	c := controllers(t, "written-here-degraded-two-controllers.json")
	if len(c) != 2 {
		t.Fatalf("controllers = %d", len(c))
	}
	x := c[0]
	if x.Status != "Needs Attention" || u64(x.MemoryCorrectableErrors) != 3 || f64(x.TemperatureCelsius) != 71 {
		t.Errorf("c0 = %+v", x)
	}
	// "BBU Status": 32 beside a CacheVault is not a battery failure.
	if b := x.Backup; b == nil || b.Kind != "cachevault" || !b.Healthy {
		t.Errorf("c0 backup = %+v", x.Backup)
	}
	var states []string
	for _, vd := range x.VirtualDrives {
		states = append(states, vd.State)
	}
	if got := strings.Join(states, ","); got != "degraded,partially_degraded,offline" {
		t.Errorf("vd states = %s", got)
	}
	states = nil
	for _, pd := range x.PhysicalDrives {
		states = append(states, pd.State)
	}
	if got := strings.Join(states, ","); got != "online,rebuild,online,offline,unconfigured_bad,hot_spare,unconfigured_good" {
		t.Errorf("pd states = %s", got)
	}
	if x.VirtualDrives[2].Access != "Blocked" || boolp(x.VirtualDrives[0].Consistent) != "false" {
		t.Errorf("vd = %+v", x.VirtualDrives)
	}
	y := c[1]
	if b := y.Backup; b == nil || b.Kind != "bbu" || b.Healthy || b.State != "Failed" {
		t.Errorf("c1 backup = %+v", y.Backup)
	}
	if f64(y.TemperatureCelsius) != 55 || y.VirtualDrives[0].RAIDLevel != "raid10" || y.VirtualDrives[0].SizeBytes != 8000046603698 {
		t.Errorf("c1 = %+v", y)
	}

	d, err := ParseDrives(read(t, "written-here-drives-failing.json"))
	if err != nil {
		t.Fatal(err)
	}
	MergeDrives(c, d)
	r := c[0].PhysicalDrives[1]
	if r.State != "rebuild" || u64(r.MediaErrors) != 12 || u64(r.OtherErrors) != 3 || u64(r.PredictiveFailures) != 1 ||
		boolp(r.SMARTAlert) != "true" || f64(r.TemperatureCelsius) != 74 || r.Serial != "W0M1EFGH" || r.Firmware != "TT31" {
		t.Errorf("rebuilding drive = %+v", r)
	}
	// A drive without an enclosure is /c0/s4, which the PD LIST lacked.
	last := c[0].PhysicalDrives[len(c[0].PhysicalDrives)-1]
	if last.Enclosure != "" || last.Slot != 4 || last.DeviceID != 9 || last.State != "jbod" || last.TemperatureCelsius != nil ||
		last.MediaErrors != nil || last.Serial != "S45RNX0M123456" {
		t.Errorf("direct drive = %+v", last)
	}
}

func TestTwentyFourDisks(t *testing.T) {
	c := controllers(t, "written-here-24-disks-controller.json")
	d, err := ParseDrives(read(t, "written-here-24-disks-drives.json"))
	if err != nil {
		t.Fatal(err)
	}
	MergeDrives(c, d)
	if len(c) != 1 || len(c[0].PhysicalDrives) != 24 || len(c[0].VirtualDrives) != 2 {
		t.Fatalf("got %d controllers, %d pds", len(c), len(c[0].PhysicalDrives))
	}
	spares := 0
	for _, pd := range c[0].PhysicalDrives {
		if pd.Serial == "" || pd.TemperatureCelsius == nil || pd.OtherErrors == nil {
			t.Errorf("drive not merged: %+v", pd)
		}
		if pd.State == "hot_spare" {
			spares++
		}
	}
	if spares != 2 {
		t.Errorf("spares = %d", spares)
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		file   string
		noCtrl bool
		cmdErr string
	}{
		{"canonical-perccli-no-controller.json", true, ""},
		{"jcpunk-perccli-call-show-fail.json", true, ""},
		{"jcpunk-storcli-call-show-cc.json", false, ""}, // two answered, one "Un-supported Command"
		{"canonical-storcli-mr216i.json", false, ""},
	} {
		err := Status(read(t, tc.file))
		if tc.noCtrl != errors.Is(err, ErrNoController) || (!tc.noCtrl && err != nil) {
			t.Errorf("%s: Status = %v", tc.file, err)
		}
	}
	err := Status([]byte(`{"Controllers":[{"Command Status":{"Controller":0,"Status":"Failure","Description":"Un-supported Command"}}]}`))
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Controller != 0 || ce.Description != "Un-supported Command" || errors.Is(err, ErrNoController) {
		t.Errorf("Status = %v", err)
	}
	err = Status([]byte(`{"Controllers":[{"Command Status":{"Controller":0,"Status":"Failure","Description":"Controller 0 not found"}}]}`))
	if !errors.Is(err, ErrNoController) {
		t.Errorf("Status = %v", err)
	}
	for _, bad := range []string{"", "storcli: not found", `{"Controllers":[]}`, `{"Controllers":["x"]}`} {
		if err := Status([]byte(bad)); err == nil || errors.Is(err, ErrNoController) {
			t.Errorf("Status(%q) = %v, want a parse error", bad, err)
		}
	}
	c, err := ParseControllers(read(t, "jcpunk-storcli-call-show-cc.json"))
	if err != nil || len(c) != 3 || c[2].Failure != "Un-supported Command" || c[0].Failure != "" {
		t.Errorf("ParseControllers = %+v, %v", c, err)
	}
	if _, err := ParseDrives(read(t, "canonical-perccli-no-controller.json")); !errors.Is(err, ErrNoController) {
		t.Errorf("ParseDrives = %v", err)
	}
}

func TestMalformedItemsCostOnlyThemselves(t *testing.T) {
	c := controllers(t, "hostile-malformed-items.json")
	if len(c) != 2 {
		t.Fatalf("controllers = %+v", c)
	}
	x := c[0]
	if x.Model != "" || x.Serial != "12345" || x.Status != "" || x.MemoryCorrectableErrors != nil || x.TemperatureCelsius != nil {
		t.Errorf("controller = %+v", x)
	}
	if len(x.VirtualDrives) != 2 || x.VirtualDrives[0].SizeBytes != 0 || x.VirtualDrives[1].State != "weird_state" ||
		x.VirtualDrives[1].SizeBytes != 1649267441664 {
		t.Errorf("vds = %+v", x.VirtualDrives)
	}
	if len(x.PhysicalDrives) != 1 || x.PhysicalDrives[0].DeviceID != 7 || x.PhysicalDrives[0].Model != "X" {
		t.Errorf("pds = %+v", x.PhysicalDrives)
	}
	if b := x.Backup; b == nil || b.Kind != "bbu" || b.Healthy {
		t.Errorf("backup = %+v", x.Backup)
	}
	if c[1].Index != 1 || c[1].Failure == "" || len(c[1].PhysicalDrives) != 0 {
		t.Errorf("controller 1 = %+v", c[1])
	}
	if _, err := ParseControllers(make([]byte, MaxInputBytes+1)); err == nil {
		t.Error("oversized input accepted")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"558.375 GB":  599550590976,
		"744.687 GiB": 799601577689,
		"1.090 TB":    1198467674276,
		"512B":        512,
		"16.000 GB":   17179869184,
		"0 KB":        0,
	} {
		if got, ok := ParseSize(in); !ok || got != want {
			t.Errorf("ParseSize(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "N/A", "-", "1.2.3 GB", "12 XB"} {
		if _, ok := ParseSize(in); ok {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _ := ParseControllers(b)
		d, _ := ParseDrives(b)
		MergeDrives(c, d)
		_ = Status(b)
	})
}

// storcli answers "Status": "Failure" for a controller and still prints its
// Response Data (storcli 007.2309 on a controller with an incomplete
// foreign configuration, ErrCd 59; a failed drive's "show", ErrCd 45): the
// data is used, and a *PartialError carries storcli's own description.
func TestFailureWithDataIsUsedAndReported(t *testing.T) {
	want := controllers(t, "netdata-megaraid-controllers-info.json")
	c, err := ParseControllers(read(t, "written-here-call-show-all-failure-with-data.json"))
	var pe *PartialError
	if !errors.As(err, &pe) || errors.Is(err, ErrNoController) {
		t.Fatalf("ParseControllers err = %v, want a *PartialError", err)
	}
	for _, s := range []string{"controller 0", "ErrCd 59", "Incomplete foreign configuration", "data used"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if len(c) != 1 || c[0].Failure != "" || c[0].Model == "" || c[0].Model != want[0].Model ||
		len(c[0].VirtualDrives) != len(want[0].VirtualDrives) || len(c[0].PhysicalDrives) != len(want[0].PhysicalDrives) {
		t.Errorf("controllers = %+v, want the data as on Success (%d VDs, %d PDs)", c, len(want[0].VirtualDrives), len(want[0].PhysicalDrives))
	}
	if err := Status(read(t, "written-here-call-show-all-failure-with-data.json")); !errors.As(err, &pe) {
		t.Errorf("Status = %v, want a *PartialError", err)
	}

	d, err := ParseDrives(read(t, "albert2lyu-storcli-drive-show-failure.json"))
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "Show Drive Information Failed.") || !strings.Contains(err.Error(), "/c0/e4/s3: ErrCd 45") {
		t.Errorf("ParseDrives err = %v, want a *PartialError naming the drive and ErrCd 45", err)
	}
	if len(d) != 1 || d[0].Enclosure != "4" || d[0].Slot != 3 || d[0].State != "failed" {
		t.Errorf("drives = %+v, want the failed drive 4:3", d)
	}

	// A Failure with no data is still a failure, not a partial answer.
	err = Status([]byte(`{"Controllers":[{"Command Status":{"Controller":0,"Status":"Failure","Description":"Un-supported Command"},"Response Data":{}}]}`))
	var ce *CommandError
	if !errors.As(err, &ce) || errors.As(err, &pe) {
		t.Errorf("Failure with empty data: %v, want a *CommandError", err)
	}
}
