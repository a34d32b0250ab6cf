package ipmitool

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDCMIPowerReadingCaptures(t *testing.T) {
	tests := []struct {
		file string
		want PowerReading
	}{
		{"dcmi_power_lovoo.txt", PowerReading{215, 162, 276, 176, 1131466 * time.Second, true}},
		{"dcmi_power_openbmc_deactivated.txt", PowerReading{319, 319, 319, 319, 0, false}},
		{"dcmi_power_rabe.txt", PowerReading{197, 175, 242, 190, 123893 * time.Second, true}},
	}
	for _, tt := range tests {
		got, err := ParseDCMIPowerReading(readTestdata(t, tt.file))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.file, got, err, tt.want)
		}
	}
}

// Forms written here from ipmitool's lib/ipmi_dcmi.c.
func TestParseDCMIPowerReadingForms(t *testing.T) {
	// 1.8.19 prints the timestamp without its newline.
	joined := `
    Instantaneous power reading:                   1215 Watts
    Minimum during sampling period:                  256 Watts
    Maximum during sampling period:                 2240 Watts
    Average power reading over sample period:        320 Watts
    IPMI timestamp:                           08/28/26 07:12:06 UTC    Sampling period:                          00000005 Seconds.
    Power reading state is:                   activated

`
	got, err := ParseDCMIPowerReading([]byte(joined))
	if want := (PowerReading{1215, 256, 2240, 320, 5 * time.Second, true}); err != nil || got != want {
		t.Errorf("joined: got %+v, %v; want %+v", got, err, want)
	}
	// Enhanced statistics name the period.
	got, err = ParseDCMIPowerReading([]byte("Instantaneous power reading: 98 Watts\nSampling period: 1 min \nPower reading state is: activated\n"))
	if err != nil || got.SamplingPeriod != time.Minute || got.Instantaneous != 98 {
		t.Errorf("enhanced: got %+v, %v", got, err)
	}

	for _, absent := range []string{
		"\n    DCMI request failed because: Invalid command (c1)\n",
		"\n    DCMI request failed because: Invalid data field in request (cc)\n",
		"DCMI request failed because: Command not supported in present state (d5)\n",
		"\n    A valid DCMI command was not returned! (0)",
	} {
		if _, err := ParseDCMIPowerReading([]byte(absent)); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%q: err = %v, want ErrUnsupported", absent, err)
		}
	}
	for _, failed := range []string{
		string(readTestdata(t, "dcmi_power_unspecified_error.txt")),
		"\n    Unable to get DCMI information",
		"",
		"Instantaneous power reading: many Watts\n",
		"Instantaneous power reading: 12 Volts\n",
	} {
		if _, err := ParseDCMIPowerReading([]byte(failed)); err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("%q: err = %v, want a failure that is not ErrUnsupported", failed, err)
		}
	}
}

func TestParseChassisStatusCaptures(t *testing.T) {
	tests := []struct {
		file string
		want ChassisStatus
	}{
		{"chassis_status_supermicro_x10.txt", ChassisStatus{PowerOn: true, PowerRestorePolicy: "always-on"}},
		{"chassis_status_acfailed.txt", ChassisStatus{PowerOn: true, PowerRestorePolicy: "always-off", LastPowerEvents: []string{"ac-failed"}}},
		{"chassis_status_openbmc_buttons.txt", ChassisStatus{PowerRestorePolicy: "always-off", Buttons: []FrontPanelButton{
			{Name: "Sleep"}, {Name: "Diag"}, {Name: "Reset", DisableAllowed: true}, {Name: "Power"},
		}}},
	}
	for _, tt := range tests {
		got, err := ParseChassisStatus(readTestdata(t, tt.file))
		if err != nil || !equalChassis(got, tt.want) {
			t.Errorf("%s: got %+v, %v\nwant %+v", tt.file, got, err, tt.want)
		}
	}
}

// Every fault set, as ipmitool prints them (lib/ipmi_chassis.c).
func TestParseChassisStatusFaults(t *testing.T) {
	out := `System Power         : on
Power Overload       : true
Power Interlock      : active
Main Power Fault     : true
Power Control Fault  : true
Power Restore Policy : previous
Last Power Event     : ac-failed overload fault 
Chassis Intrusion    : active
Front-Panel Lockout  : active
Drive Fault          : true
Cooling/Fan Fault    : true
Power Button Disable : allowed
Power Button Disabled: true
Bogus Button Disable : allowed
`
	want := ChassisStatus{true, true, true, true, true, "previous", []string{"ac-failed", "overload", "fault"},
		true, true, true, true, []FrontPanelButton{{"Power", true, true}}}
	got, err := ParseChassisStatus([]byte(out))
	if err != nil || !equalChassis(got, want) {
		t.Errorf("got %+v, %v\nwant %+v", got, err, want)
	}
	if _, err := ParseChassisStatus([]byte("Error sending Chassis Status command\n")); err == nil {
		t.Error("no error without System Power")
	}
}

func equalChassis(a, b ChassisStatus) bool {
	return slices.Equal(a.LastPowerEvents, b.LastPowerEvents) && slices.Equal(a.Buttons, b.Buttons) &&
		a.PowerOn == b.PowerOn && a.PowerOverload == b.PowerOverload && a.PowerInterlock == b.PowerInterlock &&
		a.MainPowerFault == b.MainPowerFault && a.PowerControlFault == b.PowerControlFault &&
		a.PowerRestorePolicy == b.PowerRestorePolicy && a.ChassisIntrusion == b.ChassisIntrusion &&
		a.FrontPanelLockout == b.FrontPanelLockout && a.DriveFault == b.DriveFault && a.CoolingFault == b.CoolingFault
}

func TestParseMCInfoCaptures(t *testing.T) {
	tests := []struct {
		file string
		want MCInfo
	}{
		{"mc_info_hpe_ilo2.txt", MCInfo{
			DeviceID: 19, DeviceRevision: 1, FirmwareRevision: "1.28", IPMIVersion: "2.0",
			ManufacturerID: 11, ManufacturerName: "Hewlett-Packard", ProductID: 8192, ProductName: "Unknown (0x2000)",
			DeviceAvailable: true, ProvidesSDRs: true,
			AdditionalDeviceSupport: []string{"Sensor Device", "SDR Repository Device", "SEL Device", "FRU Inventory Device"},
		}},
		{"mc_info_supermicro.txt", MCInfo{
			DeviceID: 32, DeviceRevision: 1, FirmwareRevision: "3.10", IPMIVersion: "2.0",
			ManufacturerID: 10876, ManufacturerName: "Supermicro", ProductID: 6996, ProductName: "Unknown (0x1B54)",
			DeviceAvailable: true,
			AdditionalDeviceSupport: []string{"Sensor Device", "SDR Repository Device", "SEL Device", "FRU Inventory Device",
				"IPMB Event Receiver", "IPMB Event Generator", "Chassis Device"},
		}},
		{"mc_info_dell.txt", MCInfo{
			DeviceID: 32, DeviceRevision: 1, FirmwareRevision: "2.41", IPMIVersion: "2.0",
			ManufacturerID: 674, ManufacturerName: "DELL Inc", ProductID: 256, ProductName: "Unknown (0x100)",
			DeviceAvailable: true, ProvidesSDRs: true,
			AdditionalDeviceSupport: []string{"Sensor Device", "SDR Repository Device", "SEL Device", "FRU Inventory Device",
				"IPMB Event Receiver", "Bridge", "Chassis Device"},
			AuxFirmwareRevision: []string{"0x00", "0x07", "0x28", "0x28"},
		}},
	}
	for _, tt := range tests {
		got, err := ParseMCInfo(readTestdata(t, tt.file))
		if err != nil || !equalMCInfo(got, tt.want) {
			t.Errorf("%s: got %+v, %v\nwant %+v", tt.file, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "Get Device ID command failed\n", "Device ID : x\n"} {
		if _, err := ParseMCInfo([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func equalMCInfo(a, b MCInfo) bool {
	return slices.Equal(a.AdditionalDeviceSupport, b.AdditionalDeviceSupport) &&
		slices.Equal(a.AuxFirmwareRevision, b.AuxFirmwareRevision) &&
		a.DeviceID == b.DeviceID && a.DeviceRevision == b.DeviceRevision && a.FirmwareRevision == b.FirmwareRevision &&
		a.IPMIVersion == b.IPMIVersion && a.ManufacturerID == b.ManufacturerID && a.ManufacturerName == b.ManufacturerName &&
		a.ProductID == b.ProductID && a.ProductName == b.ProductName && a.DeviceAvailable == b.DeviceAvailable &&
		a.ProvidesSDRs == b.ProvidesSDRs
}

// Key/value outputs are cut at MaxOutput and a line over MaxLineLength
// costs only that line.
func TestKeyValueOutputsHostile(t *testing.T) {
	huge := "Device ID : 32\n" + strings.Repeat("x", 32<<10) + "\nManufacturer ID : 674\n" + strings.Repeat("y", 1<<20)
	got, err := ParseMCInfo([]byte(huge))
	if err != nil || got.DeviceID != 32 || got.ManufacturerID != 674 {
		t.Errorf("got %+v, %v", got, err)
	}
	list := "Device ID : 1\nAdditional Device Support :\n" + strings.Repeat("    Sensor Device\n", 1000)
	got, err = ParseMCInfo([]byte(list))
	if err != nil || len(got.AdditionalDeviceSupport) != 32 {
		t.Errorf("%d capabilities, %v", len(got.AdditionalDeviceSupport), err)
	}
	if _, err := ParseDCMIPowerReading([]byte(strings.Repeat("Instantaneous power reading", 1<<16))); err == nil {
		t.Error("no error for repeated labels")
	}
}

func FuzzParseDCMIPowerReading(f *testing.F) {
	for _, name := range []string{"dcmi_power_lovoo.txt", "dcmi_power_openbmc_deactivated.txt", "dcmi_power_rabe.txt", "dcmi_power_unspecified_error.txt"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("DCMI request failed because: Invalid command (c1)\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		pr, err := ParseDCMIPowerReading(out)
		if err == nil && (pr.Instantaneous < 0 || pr.SamplingPeriod < 0) {
			t.Errorf("impossible %+v", pr)
		}
	})
}

func FuzzParseChassisStatus(f *testing.F) {
	for _, name := range []string{"chassis_status_supermicro_x10.txt", "chassis_status_acfailed.txt", "chassis_status_openbmc_buttons.txt"} {
		f.Add(readTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		cs, _ := ParseChassisStatus(out)
		if len(cs.Buttons) > 4 {
			t.Errorf("%d buttons", len(cs.Buttons))
		}
	})
}

func FuzzParseMCInfo(f *testing.F) {
	for _, name := range []string{"mc_info_hpe_ilo2.txt", "mc_info_supermicro.txt", "mc_info_dell.txt"} {
		f.Add(readTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		info, _ := ParseMCInfo(out)
		if len(info.AdditionalDeviceSupport) > 32 || len(info.AuxFirmwareRevision) > 32 {
			t.Errorf("unbounded lists %+v", info)
		}
	})
}
