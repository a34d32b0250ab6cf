package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/ipmitool"
)

func init() {
	fixtureOptions["ipmi"] = withCommand("ipmi", filepath.Join(testTools, "ipmitool"))
}

func TestIPMIGolden(t *testing.T) {
	checkGolden(t, "ipmi")
	if _, skips := runProbe(t, "ipmi", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

// ipmiSeries runs the sensor half of the probe on sdr elist output.
func ipmiSeries(t *testing.T, out string) (map[string]float64, *Skips) {
	t.Helper()
	skips := NewSkips(nil)
	sensors, errs := ipmitool.ParseSDR([]byte(out))
	for _, err := range errs {
		skips.Add("sdr", err)
	}
	ms := ipmiSensorMetrics(sensors, "sdr", skips)
	return gatherSeries(t, collected{p: &ipmiProbe{}, metrics: ms}), skips
}

func TestIPMIParseSDR(t *testing.T) {
	tests := []struct {
		name  string
		out   string
		skips int
		want  map[string]float64
	}{
		{
			name: "threshold states, extended and short",
			out: "" +
				"CPU Temp         | 01h | unc |  3.1 | 86 degrees C\n" +
				"FAN 3            | 43h | lnr | 29.3 | 0 RPM\n" +
				"12V              | 30h | cr  |  7.1 | 13.44 Volts\n" +
				"PSU Inlet        | 5Ah | ok  | 10.1 | 104 degrees F\n",
			want: map[string]float64{
				`hardware_ipmi_sensor_state{sensor="CPU Temp",type="temperature"}`:  1,
				`hardware_ipmi_temperature_celsius{sensor="CPU Temp"}`:              86,
				`hardware_ipmi_sensor_state{sensor="FAN 3",type="fan"}`:             3,
				`hardware_ipmi_fan_speed_rpm{sensor="FAN 3"}`:                       0,
				`hardware_ipmi_sensor_state{sensor="12V",type="voltage"}`:           2,
				`hardware_ipmi_voltage_volts{sensor="12V"}`:                         13.44,
				`hardware_ipmi_sensor_state{sensor="PSU Inlet",type="temperature"}`: 0,
				`hardware_ipmi_temperature_celsius{sensor="PSU Inlet"}`:             40,
			},
		},
		{
			name: "discrete events",
			out: "" +
				"PS Redundancy    | 74h | ok  |  7.1 | Fully Redundant\n" +
				"Fan Redundancy   | 75h | ok  |  7.1 | Redundancy Degraded from Fully Redundant\n" +
				"Power Supplies   | 08h | ok  | 10.3 | Non-Redundant: Sufficient from Redundant\n" +
				"PS1 Status       | 62h | ok  | 10.1 | Presence detected, Predictive failure\n" +
				"PS2 Status       | 63h | ok  | 10.2 | Presence detected, AC out-of-range, but present\n" +
				"Drive 3          | 83h | ok  | 26.4 | Drive Present, Predictive Failure\n" +
				"Intrusion        | 73h | ok  |  7.1 | General Chassis intrusion\n" +
				"CPU1 Status      | 60h | ok  |  3.1 | Presence detected, Config Error: Processor Missing\n" +
				"Status           | 3Ch | ok  |  3.2 | Predictive Failure Deasserted\n",
			want: map[string]float64{
				`hardware_ipmi_sensor_state{sensor="PS Redundancy",type="redundancy"}`:    0,
				`hardware_ipmi_sensor_state{sensor="Fan Redundancy",type="redundancy"}`:   2,
				`hardware_ipmi_sensor_state{sensor="Power Supplies",type="power_supply"}`: 1,
				`hardware_ipmi_sensor_state{sensor="PS1 Status",type="power_supply"}`:     2,
				`hardware_ipmi_sensor_state{sensor="PS2 Status",type="power_supply"}`:     1,
				`hardware_ipmi_sensor_state{sensor="Drive 3",type="disk_drive_bay"}`:      2,
				`hardware_ipmi_sensor_state{sensor="Intrusion",type="intrusion"}`:         1,
				`hardware_ipmi_sensor_state{sensor="CPU1 Status",type="processor"}`:       2,
				`hardware_ipmi_sensor_state{sensor="Status",type="processor"}`:            0,
			},
		},
		{
			// HPE iLO prints a power supply's output with its events.
			name: "discrete sensor with an analog value",
			out:  "Power Supply 1   | 06h | ok  | 10.1 | 0 Watts, Presence detected, Failure detected\n",
			want: map[string]float64{
				`hardware_ipmi_sensor_state{sensor="Power Supply 1",type="power_supply"}`: 2, // the type comes from the sensor, not its Watts
				`hardware_ipmi_power_watts{sensor="Power Supply 1"}`:                      0,
			},
		},
		{
			name: "no reading, disabled, event-only and locator records have no series",
			out: "" +
				"Temp             | 0Eh | ns  |  3.1 | Disabled\n" +
				"Voltage 2        | 6Dh | ns  | 10.2 | No Reading\n" +
				"ECC Corr Err     | 10h | ns  | 34.1 | Event-Only\n" +
				"iDRAC            | 00h | ok  |  7.1 | Static MC @ 20h\n" +
				"PS1 FRU          | 00h | ns  | 10.1 | Logical FRU @01h\n",
			want: map[string]float64{},
		},
		{
			name: "names used twice are qualified with the entity",
			out: "" +
				"Temp             | 0Eh | ok  |  3.1 | 54 degrees C\n" +
				"Temp             | 0Fh | ns  |  3.2 | No Reading\n" +
				"Inlet Temp       | 04h | ok  |  7.1 | 23 degrees C\n",
			want: map[string]float64{
				`hardware_ipmi_sensor_state{sensor="Temp (3.1)",type="temperature"}`: 0,
				`hardware_ipmi_temperature_celsius{sensor="Temp (3.1)"}`:             54,
				`hardware_ipmi_sensor_state{sensor="Inlet Temp",type="temperature"}`: 0,
				`hardware_ipmi_temperature_celsius{sensor="Inlet Temp"}`:             23,
			},
		},
		{
			name: "malformed lines and readings cost their series",
			out: "" +
				"Inlet Temp       | 04h | ok  |  7.1 | 23 degrees C\n" +
				"Exhaust Temp     | 01h | ok  |  7.1 | 3x degrees C\n" + // value lost, state kept
				"Fan1A            | 30h | ok  |  7.1\n" + // four columns
				"Fan1B            | 31h | bad |  7.1 | 6120 RPM\n" + // unknown status
				"Temp             | 0Eh | ok  |  3.1 | 50 degrees C\n" +
				"Temp             | 0Eh | ok  |  3.1 | 51 degrees C\n" + // same name and entity twice
				"\n",
			skips: 4,
			want: map[string]float64{
				`hardware_ipmi_sensor_state{sensor="Inlet Temp",type="temperature"}`:   0,
				`hardware_ipmi_temperature_celsius{sensor="Inlet Temp"}`:               23,
				`hardware_ipmi_sensor_state{sensor="Exhaust Temp",type="temperature"}`: 0,
				`hardware_ipmi_sensor_state{sensor="Temp (3.1)",type="temperature"}`:   0,
				`hardware_ipmi_temperature_celsius{sensor="Temp (3.1)"}`:               50,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skips := ipmiSeries(t, tt.out)
			if skips.Count() != tt.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tt.skips)
			}
			assertSeries(t, got, "hardware_ipmi_", tt.want)
		})
	}
}

func TestIPMIParseFRU(t *testing.T) {
	out := "" +
		"FRU Device Description : Builtin FRU Device (ID 0)\n" +
		" Board Mfg Date        : Wed Jul  7 17:27:00 2021 UTC\n" +
		" Board Mfg             : DELL\n" +
		" Board Extra           : first\n" +
		" Board Extra           : second\n" +
		"\n" +
		"FRU Device Description : PERC1 (ID 5)\n" +
		" Device not present (Requested sensor, data, or record not found)\n" +
		"\n" +
		"FRU Device Description : CPU1 DIMM\n" +
		" Memory Type           : DDR4 SDRAM\n"
	frus := ipmitool.ParseFRU([]byte(out))
	if len(frus) != 3 {
		t.Fatalf("got %d FRUs, want 3: %+v", len(frus), frus)
	}
	if f := frus[0]; f.Name != "Builtin FRU Device (ID 0)" || f.Fields["Board Mfg"] != "DELL" ||
		f.Fields["Board Mfg Date"] != "Wed Jul  7 17:27:00 2021 UTC" || f.Fields["Board Extra"] != "first" {
		t.Errorf("builtin FRU = %+v", f)
	}
	if len(frus[1].Fields) != 0 {
		t.Errorf("unreadable FRU has fields %v", frus[1].Fields)
	}
	skips := NewSkips(nil)
	got := gatherSeries(t, collected{p: &ipmiProbe{}, metrics: ipmiFRUMetrics(frus, "fru", skips)})
	assertSeries(t, got, "hardware_ipmi_fru_info", map[string]float64{
		`hardware_ipmi_fru_info{board_manufacturer="DELL",board_mfg_date="Wed Jul  7 17:27:00 2021 UTC",board_part_number="",board_product="",board_serial="",chassis_part_number="",chassis_serial="",fru="Builtin FRU Device (ID 0)",product_asset_tag="",product_manufacturer="",product_name="",product_part_number="",product_serial="",product_version=""}`: 1,
	})
}

// TestIPMIPowerSupplyRatedWatts: each PSU FRU whose name states its
// capacity has a series labelled like its fru_info; a PSU whose name
// states none, and FRUs that are no PSU, have none.
func TestIPMIPowerSupplyRatedWatts(t *testing.T) {
	out := "" +
		"FRU Device Description : Builtin FRU Device (ID 0)\n" +
		" Board Product         : R200-1120402W\n" +
		"\n" +
		"FRU Device Description : PS1 (ID 1)\n" +
		" Board Product         : PWR SPLY,1400W,RDNT,LTON    \n" +
		"\n" +
		"FRU Device Description : PSU2 (ID 2)\n" +
		" Product Name          : HPE 800W FS Plat Ht Plg LH Pwr Sply Kit\n" +
		"\n" +
		"FRU Device Description : PSU3 (ID 3)\n" +
		" Product Name          : DPS-1200\n" +
		"\n" +
		"FRU Device Description : PSU4 (ID 4)\n" +
		" Product Part Number   : PWS-1K62A-1R\n"
	got := gatherSeries(t, collected{p: &ipmiProbe{}, metrics: ipmiFRUMetrics(ipmitool.ParseFRU([]byte(out)), "fru", NewSkips(nil))})
	assertSeries(t, got, "hardware_ipmi_power_supply_rated_watts", map[string]float64{
		`hardware_ipmi_power_supply_rated_watts{fru="PS1 (ID 1)"}`:  1400,
		`hardware_ipmi_power_supply_rated_watts{fru="PSU2 (ID 2)"}`: 800,
		`hardware_ipmi_power_supply_rated_watts{fru="PSU4 (ID 4)"}`: 1620,
	})
}

// ipmiFake writes a fake ipmitool that answers sdr elist and fru print with
// the given shell snippets.
func ipmiFake(t *testing.T, sdr, fru string) string {
	t.Helper()
	return fakeTool(t, "ipmitool", `case "$1" in
sdr) `+sdr+` ;;
fru) `+fru+` ;;
esac
`)
}

func TestIPMIToolFailures(t *testing.T) {
	sdrFile := filepath.Join(testTools, "ipmitool.d", "sdr-elist.txt")
	fruFile := filepath.Join(testTools, "ipmitool.d", "fru-print.txt")
	const (
		fan1A   = `hardware_ipmi_fan_speed_rpm{sensor="Fan1A"} 6360`
		builtin = `hardware_ipmi_fru_info{board_manufacturer="DELL",board_mfg_date="Wed Jul  7 17:27:00 2021 UTC",board_part_number="0PJ7YJA04",board_product="PowerEdge R750",board_serial="CNFCP0041J00ZT",chassis_part_number="",chassis_serial="",fru="Builtin FRU Device (ID 0)",product_asset_tag="",product_manufacturer="DELL",product_name="PowerEdge R750",product_part_number="",product_serial="7XQ2XX3",product_version="01"} 1`
		noDev   = `echo "Could not open device at /dev/ipmi0 or /dev/ipmi/0 or /dev/ipmidev/0: No such file or directory" >&2; exit 1`
	)
	tests := []struct {
		name     string
		sdr, fru string
		errHas   string // "" = no error
		skips    int
		want     []string
		absent   []string
	}{
		{name: "no BMC", sdr: noDev, fru: noDev, errHas: "Could not open device"},
		{name: "garbage and non-zero exit", sdr: `echo 'Segmentation fault?'; exit 139`, fru: `echo '%%%'; exit 2`, errHas: "exit status 139"},
		{name: "garbage and exit 0", sdr: `echo 'Welcome to the BMC'`, fru: `echo 'Welcome to the BMC'`, errHas: "no sensor lines"},
		{
			name: "fru fails, sdr works", sdr: "cat " + sdrFile, fru: noDev, skips: 1,
			want: []string{fan1A}, absent: []string{"hardware_ipmi_fru_info"},
		},
		{
			name: "sdr fails, fru works", sdr: noDev, fru: "cat " + fruFile, skips: 1,
			want: []string{builtin}, absent: []string{"hardware_ipmi_sensor_state", "hardware_ipmi_fan_speed_rpm"},
		},
		{
			// ipmitool exits 1 when one FRU cannot be read, after printing the rest.
			name: "partial output with non-zero exit is used", sdr: "cat " + sdrFile + "; exit 1", fru: "cat " + fruFile + "; exit 1",
			want: []string{fan1A, builtin},
		},
		{
			name: "no sensors and no FRUs is not an error", sdr: "true", fru: "true",
			absent: []string{"hardware_ipmi_sensor_state", "hardware_ipmi_fru_info"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, skips, err := toolProbeRun(t, "ipmi", ipmiFake(t, tt.sdr, tt.fru), 10*time.Second)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if skips.Count() != tt.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tt.skips)
			}
			checkSeries(t, "\n"+string(exposition(t, c)), tt.want, tt.absent)
		})
	}
}

// ipmitool installed on a host without a BMC leaves the probe off rather
// than failing every run; a device node it may not open read-write (no
// udev rule) does too.
func TestIPMIAvailableNeedsABMC(t *testing.T) {
	p, err := New("ipmi")
	if err != nil {
		t.Fatal(err)
	}
	c := p.(Conditional)
	if err := c.Available(Env{Paths: fixturePaths, Options: fixtureOptions["ipmi"]}); err != nil {
		t.Errorf("fixture host with a BMC: %v", err)
	}
	err = c.Available(Env{Paths: treePaths(t.TempDir()), Options: fixtureOptions["ipmi"]})
	if err == nil || !strings.Contains(err.Error(), "no BMC") {
		t.Errorf("host without a BMC: Available() = %v, want no BMC", err)
	}
	if os.Geteuid() == 0 {
		t.Skip("root may open any device node: the access check cannot be shown")
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "dev/ipmi0"), "")
	if err := os.Chmod(filepath.Join(root, "dev/ipmi0"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(root, "dev/ipmi0"), 0, 0); err != nil {
		t.Skip("cannot give the node to root:", err)
	}
	if err := c.Available(Env{Paths: treePaths(root), Options: fixtureOptions["ipmi"]}); err == nil || !strings.Contains(err.Error(), "no access") {
		t.Errorf("root-only /dev/ipmi0: Available() = %v, want no access", err)
	}
}

// HP iLO 2 (a DL360 G7, internal/format/ipmitool/testdata/sdr_elist_hpe_dl360.txt,
// from CollegeBoreal/Laboratoires 3202/proliant/IPMI/README.md): fan duty
// in percent and the memory ECC sensor sit on the system board entity; the
// type comes from the sensor's name. Two lines written here: an absent PSU
// the BMC flags critical, and an airflow in CFM.
func TestIPMISensorTypeComesFromTheSensor(t *testing.T) {
	out := "" +
		"Power Supply 1   | 06h | ok  | 10.1 | 0 Watts, Presence detected, Failure detected\n" +
		"Fan Block 1      | 09h | ok  |  7.1 | 21.56 percent, Transition to Running\n" +
		"Fans             | 0Dh | ok  |  7.5 | 0 percent, Fully Redundant\n" +
		"Power Meter      | 2Ah | ok  |  7.6 | 100 Watts, Device Enabled\n" +
		"Memory           | 2Bh | ok  |  7.7 | Correctable ECC, Correctable ECC logging limit reached, Presence Detected\n" +
		"PSU3 Status      | 0Eh | cr  | 10.3 | Device Absent\n" +
		"Sys Airflow      | 0Fh | ok  |  7.1 | 42 CFM\n"
	sensors, errs := ipmitool.ParseSDR([]byte(out))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	skips := NewSkips(nil)
	got := gatherSeries(t, collected{p: &ipmiProbe{}, metrics: ipmiSensorMetrics(sensors, "sdr", skips)})
	fanDuty := 21.56 // a variable: a constant expression would be exact, the probe's division is not
	assertSeries(t, got, "hardware_ipmi_", map[string]float64{
		`hardware_ipmi_sensor_state{sensor="Power Supply 1",type="power_supply"}`: 2,
		`hardware_ipmi_power_watts{sensor="Power Supply 1"}`:                      0,
		`hardware_ipmi_sensor_state{sensor="Fan Block 1",type="fan"}`:             0,
		`hardware_ipmi_sensor_ratio{sensor="Fan Block 1"}`:                        fanDuty / 100,
		`hardware_ipmi_sensor_state{sensor="Fans",type="fan"}`:                    0,
		`hardware_ipmi_sensor_ratio{sensor="Fans"}`:                               0,
		`hardware_ipmi_sensor_state{sensor="Power Meter",type="power"}`:           0,
		`hardware_ipmi_power_watts{sensor="Power Meter"}`:                         100,
		`hardware_ipmi_sensor_state{sensor="Memory",type="memory"}`:               1,
		`hardware_ipmi_sensor_state{sensor="PSU3 Status",type="power_supply"}`:    0,
		`hardware_ipmi_sensor_state{sensor="Sys Airflow",type="airflow"}`:         0,
		`hardware_ipmi_airflow_cubic_meters_per_second{sensor="Sys Airflow"}`:     42 * 0.00047194745,
	})
}

// A BMC without a DCMI power meter is asked once, then again only after
// ipmiReaskUnsupported; its answer is no failure.
func TestIPMIDCMIUnsupportedIsRemembered(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	tool := fakeTool(t, "ipmitool", `case "$1" in
sdr) cat `+filepath.Join(testTools, "ipmitool.d", "sdr-elist.txt")+` ;;
dcmi) echo dcmi >> `+calls+`; echo "    DCMI request failed because: Invalid command (c1)"; exit 1 ;;
esac
`)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &ipmiProbe{now: func() time.Time { return now }}
	env := Env{Options: withCommand("ipmi", tool)}
	for i, step := range []time.Duration{0, time.Hour, 5 * time.Hour} {
		now = now.Add(step)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		skips := NewSkips(nil)
		_, err := p.Probe(ctx, env, skips)
		cancel()
		if err != nil || skips.Count() != 0 {
			t.Fatalf("run %d: err %v, skips %d", i, err, skips.Count())
		}
	}
	b, _ := os.ReadFile(calls)
	if n := strings.Count(string(b), "dcmi"); n != 2 {
		t.Errorf("dcmi power reading asked %d times over 6 hours, want 2 (first run, then after 6h)", n)
	}
}

// A BMC that answers "Invalid command" (completion code c1) or "not
// supported" to an optional command, chassis status or mc info, lacks the
// feature: no series, and no read error, as for DCMI. A real failure of
// the same commands is still counted.
func TestIPMIOptionalCommandsUnsupported(t *testing.T) {
	fake := func(chassis, mc string) string {
		return fakeTool(t, "ipmitool", `case "$1" in
sdr) cat `+filepath.Join(testTools, "ipmitool.d", "sdr-elist.txt")+` ;;
dcmi) echo "    DCMI request failed because: Invalid command (c1)"; exit 1 ;;
chassis) echo "`+chassis+`" >&2; exit 1 ;;
mc) echo "`+mc+`" >&2; exit 1 ;;
esac
`)
	}
	for _, tc := range []struct {
		name, chassis, mc string
		skips             int
	}{
		{"c1", "Error sending Chassis Status command: Invalid command", "Get Device ID command failed: Invalid command", 0},
		{"d5", "Error sending Chassis Status command: Command not supported in present state", "Get Device ID command failed: 0xc1 Invalid command", 0},
		{"real failures", "Error sending Chassis Status command: Unspecified error", "Get Device ID command failed: Unspecified error", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, skips, err := toolProbeRun(t, "ipmi", fake(tc.chassis, tc.mc), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
			checkSeries(t, "\n"+string(exposition(t, c)), []string{`hardware_ipmi_fan_speed_rpm{sensor="Fan1A"} 6360`},
				[]string{"hardware_ipmi_chassis_", "hardware_ipmi_bmc_info"})
		})
	}
}
