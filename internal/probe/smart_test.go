package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hardware-exporter/hardware_exporter/internal/confval"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// smartFixtureTool is the fake smartctl that prints the fixture host's
// captured smartctl 7.3 output; smartFixtureOutput is that output.
var (
	smartFixtureTool   = filepath.Join(testTools, "smartctl")
	smartFixtureOutput = smartFixtureTool + ".d"
)

func init() {
	fixtureOptions["smart"] = &SmartOptions{Command: confval.Path(smartFixtureTool), DeviceTimeout: confval.Duration(10 * time.Second)}
}

func TestSmartGolden(t *testing.T) {
	checkGolden(t, "smart")
	if _, skips := runProbe(t, "smart", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

// --- Parsers, on captured output ---

func smartReadCaptured(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(smartFixtureOutput, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSmartParseScan(t *testing.T) {
	scan, err := smartParseScan(smartReadCaptured(t, "scan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scan.devices) != 12 {
		t.Fatalf("got %d devices, want 12: %+v", len(scan.devices), scan.devices)
	}
	if d := scan.devices[1]; d.Name != "/dev/sdb" || d.Type != "sat" || d.Protocol != "ATA" {
		t.Errorf("devices[1] = %+v", d)
	}
	if d := scan.devices[11]; d.Name != "/dev/nvme7" || d.Type != "nvme" {
		t.Errorf("devices[11] = %+v", d)
	}

	// A host without disks: smartctl prints no "devices" at all.
	scan, err = smartParseScan([]byte(`{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0}}`))
	if err != nil || len(scan.devices) != 0 {
		t.Errorf("empty scan: %+v, %v", scan, err)
	}
	for _, bad := range []string{"", "/dev/sda -d sat # /dev/sda [SAT], ATA device\n", `{"devices":[]}`, `{"json_format_version":[1,0],"devices":[{"type":"sat"}]}`, `{"json_format_version":[1,0]`} {
		if _, err := smartParseScan([]byte(bad)); err == nil {
			t.Errorf("smartParseScan(%q) succeeded", bad)
		}
	}
}

// smartWant is a smartData with plain values, for comparison; -1 is absent.
type smartWant struct {
	identity                                            smartIdentity
	standby                                             bool
	passed                                              float64
	temperature, powerOnSeconds, powerCycles            float64
	reallocated, pending, offlineUncorrectable          float64
	criticalWarning, spare, spareThreshold, used, media float64
}

func smartFlatten(d smartData) smartWant {
	v := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	passed := -1.0
	if d.passed != nil {
		passed = boolValue(*d.passed)
	}
	return smartWant{
		d.identity, d.standby, passed,
		v(d.temperature), v(d.powerOnSeconds), v(d.powerCycles),
		v(d.reallocated), v(d.pending), v(d.offlineUncorrectable),
		v(d.criticalWarning), v(d.availableSpare), v(d.availableSpareThreshold), v(d.percentageUsed), v(d.mediaErrors),
	}
}

func TestSmartParseDevice(t *testing.T) {
	for _, tc := range []struct {
		file string
		want smartWant
	}{
		{"sdb.json", smartWant{
			identity: smartIdentity{"sat", "SAMSUNG MZ7L3480HCHQ-00B7C", "S6JNNG0R412346", "JXTC404Q"},
			passed:   1, temperature: 30, powerOnSeconds: 26416 * 3600, powerCycles: 37,
			reallocated: 0, pending: 8, offlineUncorrectable: 2,
			criticalWarning: -1, spare: -1, spareThreshold: -1, used: -1, media: -1,
		}},
		{"sdc.json", smartWant{
			identity: smartIdentity{"sat", "ST4000NM000A-2HZ100", "ZC1A2B3C", "SN04"},
			passed:   1, temperature: 34, powerOnSeconds: 26420 * 3600, powerCycles: 38,
			reallocated: 0, pending: 0, offlineUncorrectable: 0,
			criticalWarning: -1, spare: -1, spareThreshold: -1, used: -1, media: -1,
		}},
		{"sdd.json", smartWant{
			identity: smartIdentity{typ: "sat"}, standby: true,
			passed: -1, temperature: -1, powerOnSeconds: -1, powerCycles: -1,
			reallocated: -1, pending: -1, offlineUncorrectable: -1,
			criticalWarning: -1, spare: -1, spareThreshold: -1, used: -1, media: -1,
		}},
		{"nvme6.json", smartWant{
			identity: smartIdentity{"nvme", "SAMSUNG MZWLJ3T8HBLS-00007", "S5YNNA0R600126", "EPK9CB5Q"},
			passed:   0, temperature: 41, powerOnSeconds: 26410 * 3600, powerCycles: 41,
			reallocated: -1, pending: -1, offlineUncorrectable: -1,
			criticalWarning: 1, spare: 0.08, spareThreshold: 0.1, used: 0.87, media: 0,
		}},
		{"nvme3.json", smartWant{
			identity: smartIdentity{"nvme", "SAMSUNG MZWLJ3T8HBLS-00007", "S5YNNA0R600123", "EPK9CB5Q"},
			passed:   1, temperature: 38, powerOnSeconds: 26410 * 3600, powerCycles: 41,
			reallocated: -1, pending: -1, offlineUncorrectable: -1,
			criticalWarning: 0, spare: 1, spareThreshold: 0.1, used: 0.03, media: 12,
		}},
		// SCSI: model and firmware come from scsi_model_name and
		// scsi_revision; the grown defect list is the reallocated count;
		// uncorrected read (2) + write (0) + verify (1) errors are media
		// errors; no pending or offline-uncorrectable counts, no power
		// cycles (start-stop cycles are spin-ups).
		{"other/sas-ST1200MM0009.json", smartWant{
			identity: smartIdentity{"scsi", "SEAGATE ST1200MM0009", "W3A0K1ZB0000E8421A7Q", "CN03"},
			passed:   1, temperature: 33, powerOnSeconds: 41887*3600 + 26*60, powerCycles: -1,
			reallocated: 14, pending: -1, offlineUncorrectable: -1,
			criticalWarning: -1, spare: -1, spareThreshold: -1, used: -1, media: 3,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, err := smartParseDevice(smartReadCaptured(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := smartFlatten(d); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSmartParseDeviceEdgeCases(t *testing.T) {
	// Attribute 5 is raw16(raw16): raw.value also carries two vendor words,
	// the count is the first number smartctl prints.
	d, err := smartParseDevice([]byte(`{"json_format_version":[1,0],"ata_smart_attributes":{"table":[
		{"id":5,"name":"Reallocated_Sector_Ct","raw":{"value":281479271677955,"string":"3 (1 1)"}},
		{"id":197,"name":"Current_Pending_Sector","raw":{"value":16,"string":"16"}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *d.reallocated != 3 || *d.pending != 16 || d.offlineUncorrectable != nil {
		t.Errorf("reallocated %v pending %v offline %v", *d.reallocated, *d.pending, d.offlineUncorrectable)
	}

	// NVMe counters are 128-bit; smartctl prints them whole and leaves the
	// top-level copies out when they do not fit 64 bits.
	d, err = smartParseDevice([]byte(`{"json_format_version":[1,0],"nvme_smart_health_information_log":{
		"critical_warning":0,"temperature":40,"media_errors":340282366920938463463374607431768211455,
		"power_on_hours":18446744073709551616,"power_cycles":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *d.mediaErrors < 3.4e38 || *d.powerOnSeconds < 6.6e22 || *d.powerCycles != 7 || *d.temperature != 40 {
		t.Errorf("got %+v", smartFlatten(d))
	}

	for _, bad := range []string{"", "garbage\n", "smartctl 6.2 2013-07-26 r3841\nUNRECOGNIZED OPTION: json\n", `{"smart_status":{"passed":true}}`, `{"json_format_version":[1,0],"temperature":{"current":"hot"}}`} {
		if _, err := smartParseDevice([]byte(bad)); err == nil {
			t.Errorf("smartParseDevice(%q) succeeded", bad)
		}
	}
}

// --- The probe, with fake smartctls ---

// smartFakeDevice is one device a fake smartctl lists, and the shell that
// stands in for smartctl's run on it.
type smartFakeDevice struct {
	name, typ string
	script    string // e.g. "cat sda.json; exit 0"
}

// smartFake writes a fake smartctl that lists devices in its scan and runs
// each one's script when asked about it. In scripts, $D is the directory
// of the fixture's captured output.
func smartFake(t *testing.T, devices ...smartFakeDevice) string {
	t.Helper()
	type entry struct {
		Name     string `json:"name"`
		InfoName string `json:"info_name"`
		Type     string `json:"type"`
		Protocol string `json:"protocol"`
	}
	scan := struct {
		Version  []int          `json:"json_format_version"`
		Smartctl map[string]any `json:"smartctl"`
		Devices  []entry        `json:"devices"`
	}{[]int{1, 0}, map[string]any{"version": []int{7, 3}, "exit_status": 0}, nil}
	var cases strings.Builder
	for _, d := range devices {
		scan.Devices = append(scan.Devices, entry{d.name, d.name, d.typ, "ATA"})
		fmt.Fprintf(&cases, "*' --device=%s %s') %s ;;\n", d.typ, d.name, d.script)
	}
	b, err := json.Marshal(scan)
	if err != nil {
		t.Fatal(err)
	}
	return fakeTool(t, "smartctl", fmt.Sprintf(`D=%s
case " $*" in
*' --scan-open --json') echo '%s' ;;
%s*) echo "unexpected arguments: $*" >&2; exit 1 ;;
esac
`, smartFixtureOutput, b, cases.String()))
}

// smartRun runs the smart probe once with opts.
func smartRun(t *testing.T, opts any) (map[string]float64, *Skips, error) {
	t.Helper()
	env := Env{Options: opts}
	p, err := New("smart")
	if err != nil {
		t.Fatal(err)
	}
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), env, skips)
	if err != nil {
		return nil, skips, err
	}
	return gatherSeries(t, collected{p: p, metrics: ms}), skips, nil
}

// smartFlagSeries are the eight exit status flag series of device for status.
func smartFlagSeries(device string, status int) map[string]float64 {
	m := map[string]float64{}
	for bit, flag := range smartExitFlags {
		m[fmt.Sprintf(`hardware_smart_exit_status_flag{device=%q,flag=%q}`, device, flag)] = float64(status >> bit & 1)
	}
	return m
}

func smartExpect(t *testing.T, got map[string]float64, device string, want map[string]float64) {
	t.Helper()
	filtered := map[string]float64{}
	for k, v := range got {
		if strings.Contains(k, `device="`+device+`"`) {
			filtered[k] = v
		}
	}
	assertSeries(t, filtered, "hardware_smart_", want)
}

// One hung device is killed after DeviceTimeout and costs its own series;
// the others are still reported, and the run ends in bounded time.
func TestSmartHungDevice(t *testing.T) {
	tool := smartFake(t,
		smartFakeDevice{"/dev/sda", "sat", `cat "$D/sda.json"; exit 0`},
		smartFakeDevice{"/dev/sdb", "sat", `sleep 60; exit 0`},
		smartFakeDevice{"/dev/nvme0", "nvme", `cat "$D/nvme0.json"; exit 0`},
	)
	start := time.Now()
	// Long enough that the healthy fakes finish even on a loaded CI machine
	// (a miss there would show as a second skip).
	got, skips, err := smartRun(t, &SmartOptions{Command: confval.Path(tool), DeviceTimeout: confval.Duration(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("run took %v with a 2s device timeout", d)
	}
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1", skips.Count())
	}
	smartExpect(t, got, "sdb", map[string]float64{`hardware_smart_device_read_success{device="sdb"}`: 0})
	for _, dev := range []string{"sda", "nvme0"} {
		if got[`hardware_smart_device_read_success{device="`+dev+`"}`] != 1 {
			t.Errorf("%s not read", dev)
		}
	}
	if got[`hardware_smart_nvme_available_spare_ratio{device="nvme0"}`] != 1 {
		t.Errorf("nvme0 data missing: %v", got)
	}
}

// A non-zero exit status with valid JSON is data: the bits are decoded and
// the values exported.
func TestSmartExitStatusBits(t *testing.T) {
	tool := smartFake(t,
		// bit 2 (a SMART command failed) and bit 5 (an attribute was at its
		// threshold in the past): data all the same.
		smartFakeDevice{"/dev/sdc", "sat", `cat "$D/sdc.json"; exit 36`},
		// bit 1 without a standby message: the device did not open.
		smartFakeDevice{"/dev/sdx", "sat", `printf '{"json_format_version":[1,0],"smartctl":{"version":[7,3],"messages":[{"string":"Smartctl open device: /dev/sdx [SAT] failed: No such device","severity":"error"}],"exit_status":2}}\n'; exit 2`},
	)
	got, skips, err := smartRun(t, withCommand("smart", tool))
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1", skips.Count())
	}
	want := smartFlagSeries("sdc", 36)
	for k, v := range map[string]float64{
		`hardware_smart_device_info{device="sdc",firmware="SN04",model="ST4000NM000A-2HZ100",serial="ZC1A2B3C",type="sat"}`: 1,
		`hardware_smart_device_read_success{device="sdc"}`:                                                                  1,
		`hardware_smart_device_standby{device="sdc"}`:                                                                       0,
		`hardware_smart_health_passed{device="sdc"}`:                                                                        1,
		`hardware_smart_temperature_celsius{device="sdc"}`:                                                                  34,
		`hardware_smart_power_on_seconds_total{device="sdc"}`:                                                               26420 * 3600,
		`hardware_smart_power_cycles_total{device="sdc"}`:                                                                   38,
		`hardware_smart_reallocated_sectors{device="sdc"}`:                                                                  0,
		`hardware_smart_pending_sectors{device="sdc"}`:                                                                      0,
		`hardware_smart_offline_uncorrectable_sectors{device="sdc"}`:                                                        0,
	} {
		want[k] = v
	}
	smartExpect(t, got, "sdc", want)

	want = smartFlagSeries("sdx", 2)
	want[`hardware_smart_device_read_success{device="sdx"}`] = 0
	smartExpect(t, got, "sdx", want)
}

// Output that is not smartctl JSON costs that device, counted in skips;
// its exit status is still exported.
func TestSmartGarbage(t *testing.T) {
	tool := smartFake(t,
		smartFakeDevice{"/dev/sda", "sat", `echo 'Segmentation fault (core dumped)'; exit 0`},
		smartFakeDevice{"/dev/sdb", "sat", `head -c 300 "$D/sdb.json"; exit 64`},
		smartFakeDevice{"/dev/sdc", "sat", `cat "$D/sdc.json"; exit 0`},
		// Not a path: smartctl would take it for an option. Never run.
		smartFakeDevice{"--xall", "sat", `echo ran >&2; exit 1`},
	)
	got, skips, err := smartRun(t, withCommand("smart", tool))
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != 3 {
		t.Errorf("skips = %d, want 3", skips.Count())
	}
	for k := range got {
		if strings.Contains(k, "xall") {
			t.Errorf("series for a device that is not a path: %s", k)
		}
	}
	want := smartFlagSeries("sda", 0)
	want[`hardware_smart_device_read_success{device="sda"}`] = 0
	smartExpect(t, got, "sda", want)
	want = smartFlagSeries("sdb", 64)
	want[`hardware_smart_device_read_success{device="sdb"}`] = 0
	smartExpect(t, got, "sdb", want)
	if got[`hardware_smart_device_read_success{device="sdc"}`] != 1 {
		t.Error("sdc not read")
	}
}

// A disk asleep is left asleep: standby 1, not a failure, no exit flags
// (its status 2 only says it was asleep), and the identity it had when
// last read stays, so its sleep is not an inventory change.
func TestSmartStandbyKeepsIdentity(t *testing.T) {
	state := filepath.Join(t.TempDir(), "asleep")
	tool := smartFake(t, smartFakeDevice{"/dev/sdd", "sat",
		fmt.Sprintf(`if [ -e %s ]; then cat "$D/sdd.json"; exit 2; fi; cat "$D/sdc.json"`, state)})
	env := Env{Options: withCommand("smart", tool)}
	p, err := New("smart")
	if err != nil {
		t.Fatal(err)
	}
	run := func() map[string]float64 {
		t.Helper()
		skips := NewSkips(nil)
		ms, err := p.Probe(context.Background(), env, skips)
		if err != nil {
			t.Fatal(err)
		}
		if skips.Count() != 0 {
			t.Errorf("skips = %d, want 0", skips.Count())
		}
		return gatherSeries(t, collected{p: p, metrics: ms})
	}
	info := `hardware_smart_device_info{device="sdd",firmware="SN04",model="ST4000NM000A-2HZ100",serial="ZC1A2B3C",type="sat"}`
	if got := run(); got[info] != 1 || got[`hardware_smart_device_standby{device="sdd"}`] != 0 {
		t.Fatalf("awake: %v", got)
	}
	writeFile(t, state, "")
	smartExpect(t, run(), "sdd", map[string]float64{
		info: 1,
		`hardware_smart_device_read_success{device="sdd"}`: 1,
		`hardware_smart_device_standby{device="sdd"}`:      1,
	})

	// Asleep since the exporter started: no identity to show.
	fresh, _, err := smartRun(t, withCommand("smart", tool))
	if err != nil {
		t.Fatal(err)
	}
	smartExpect(t, fresh, "sdd", map[string]float64{
		`hardware_smart_device_read_success{device="sdd"}`: 1,
		`hardware_smart_device_standby{device="sdd"}`:      1,
	})
}

func TestSmartIncludeExclude(t *testing.T) {
	opts := withCommand("smart", smartFixtureTool).(*SmartOptions)
	opts.Include = confval.Regexp{Regexp: regexp.MustCompile(`^/dev/nvme`)}
	opts.Exclude = confval.Regexp{Regexp: regexp.MustCompile(`[67]$`)}
	got, skips, err := smartRun(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != 0 {
		t.Errorf("skips = %d", skips.Count())
	}
	var read []string
	for k := range got {
		if dev, ok := strings.CutPrefix(k, `hardware_smart_device_read_success{device="`); ok {
			read = append(read, strings.TrimSuffix(dev, `"}`))
		}
	}
	slices.Sort(read)
	if strings.Join(read, " ") != "nvme0 nvme1 nvme2 nvme3 nvme4 nvme5" {
		t.Errorf("read %v", read)
	}
}

// Disks behind a MegaRAID controller share one path; the type tells them apart.
func TestSmartSharedPath(t *testing.T) {
	tool := smartFake(t,
		smartFakeDevice{"/dev/bus/0", "megaraid,0", `cat "$D/other/sas-ST1200MM0009.json"`},
		smartFakeDevice{"/dev/bus/0", "megaraid,1", `cat "$D/other/sas-ST1200MM0009.json"`},
		// Listed twice: read once.
		smartFakeDevice{"/dev/bus/0", "megaraid,1", `cat "$D/other/sas-ST1200MM0009.json"`},
	)
	got, _, err := smartRun(t, withCommand("smart", tool))
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"bus/0:megaraid,0", "bus/0:megaraid,1"} {
		if got[`hardware_smart_reallocated_sectors{device="`+dev+`"}`] != 14 {
			t.Errorf("no series for %s: %v", dev, got)
		}
	}
}

// A scan that did not run leaves nothing to report: the run fails, rather
// than saying the host has no disks.
func TestSmartScanFails(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"garbage", `echo garbage; exit 0`},
		{"error exit without JSON", `echo 'smartctl: error while loading shared libraries' >&2; exit 127`},
		{"old smartctl", `echo '=======> UNRECOGNIZED OPTION: json'; exit 1`},
		{"command line error in JSON", `echo '{"json_format_version":[1,0],"smartctl":{"messages":[{"string":"=======> INVALID ARGUMENT","severity":"error"}],"exit_status":1}}'; exit 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tool := fakeTool(t, "smartctl", tc.script+"\n")
			if _, _, err := smartRun(t, withCommand("smart", tool)); err == nil {
				t.Error("probe succeeded")
			}
		})
	}
	// No disks at all is not a failure.
	tool := fakeTool(t, "smartctl", `echo '{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0}}'`+"\n")
	got, _, err := smartRun(t, withCommand("smart", tool))
	if err != nil || len(got) != 0 {
		t.Errorf("no disks: %v, %v", got, err)
	}
}

// The probe's own context ending stops every device and fails the run.
func TestSmartRunTimeout(t *testing.T) {
	tool := smartFake(t,
		smartFakeDevice{"/dev/sda", "sat", `sleep 60`},
		smartFakeDevice{"/dev/sdb", "sat", `sleep 60`},
	)
	env := Env{Options: withCommand("smart", tool)}
	p, err := New("smart")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := p.Probe(ctx, env, NewSkips(nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Probe returned after %v", d)
	}
}
