package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/smartctl"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
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
	for bit, flag := range smartctl.ExitBitNames {
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
		`hardware_smart_device_info{controller="",device="sdc",firmware="SN04",model="ST4000NM000A-2HZ100",serial="ZC1A2B3C",slot="",type="sat"}`: 1,
		`hardware_smart_ata_attribute_raw{device="sdc",id="10",name="Spin_Retry_Count"}`:                                                          0,
		`hardware_smart_ata_attribute_raw{device="sdc",id="187",name="Reported_Uncorrect"}`:                                                       0,
		`hardware_smart_ata_attribute_raw{device="sdc",id="188",name="Command_Timeout"}`:                                                          0,
		`hardware_smart_ata_attribute_raw{device="sdc",id="199",name="UDMA_CRC_Error_Count"}`:                                                     0,
		`hardware_smart_device_read_success{device="sdc"}`:                                                                                        1,
		`hardware_smart_device_standby{device="sdc"}`:                                                                                             0,
		`hardware_smart_health_passed{device="sdc"}`:                                                                                              1,
		`hardware_smart_temperature_celsius{device="sdc"}`:                                                                                        34,
		`hardware_smart_power_on_seconds_total{device="sdc"}`:                                                                                     26420 * 3600,
		`hardware_smart_power_cycles_total{device="sdc"}`:                                                                                         38,
		`hardware_smart_reallocated_sectors{device="sdc"}`:                                                                                        0,
		`hardware_smart_pending_sectors{device="sdc"}`:                                                                                            0,
		`hardware_smart_offline_uncorrectable_sectors{device="sdc"}`:                                                                              0,
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
	info := `hardware_smart_device_info{controller="",device="sdd",firmware="SN04",model="ST4000NM000A-2HZ100",serial="ZC1A2B3C",slot="",type="sat"}`
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

// Disks behind a MegaRAID controller share one path; the type tells them
// apart. These two report the same serial and WWN (the same capture), so
// neither names them: they fall back to the path and type.
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

// smartArraySysfs is a sysfs root where the hpsa driver holds a controller
// whose logical drive is sdf.
func smartArraySysfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "bus/pci/drivers/hpsa/0000:5c:00.0/host3/target3:1:0/3:1:0:0/block/sdf/dev"), "8:80\n")
	writeFile(t, filepath.Join(root, "bus/pci/drivers/hpsa/bind"), "")
	return root
}

// Disks behind MegaRAID (as the scan lists them) and behind a Smart Array
// (walked with -d cciss,N until one cannot be opened) are labelled by
// serial, keep their series when they change slots, are never woken, and
// one hung disk costs only itself.
func TestSmartBehindControllers(t *testing.T) {
	dir := t.TempDir()
	calls, moved, broken := filepath.Join(dir, "calls"), filepath.Join(dir, "moved"), filepath.Join(dir, "broken")
	scan := `{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[` +
		`{"name":"/dev/sda","type":"sat","protocol":"ATA"},` +
		`{"name":"/dev/bus/0","type":"megaraid,0","protocol":"SCSI"},` +
		`{"name":"/dev/bus/0","type":"megaraid,SLOT","protocol":"SCSI"}]}`
	tool := fakeTool(t, "smartctl", fmt.Sprintf(`D=%s
echo "$*" >> %s
if [ -e %s ]; then slot=5; else slot=1; fi
case " $*" in
*' --scan-open --json') echo '%s' | sed "s/SLOT/$slot/" ;;
*' --device=sat /dev/sda') cat "$D/sda.json" ;;
*' --device=megaraid,0 /dev/bus/0') [ -e %s ] && { echo garbage; exit 2; }; cat "$D/controllers/megaraid,0.json"; exit 4 ;;
*" --device=megaraid,$slot /dev/bus/0") cat "$D/other/sas-ST1200MM0009.json" ;;
*' --device=cciss,0 /dev/sdf') cat "$D/controllers/cciss,1.json" ;;
*' --device=cciss,1 /dev/sdf') sleep 60 ;;
*' --device=cciss,2 /dev/sdf') cat "$D/controllers/cciss,0.json" ;;
*' --device=cciss,'*' /dev/sdf') echo '{"json_format_version":[1,0],"smartctl":{"exit_status":2}}'; exit 2 ;;
*) echo "unexpected arguments: $*" >&2; exit 1 ;;
esac
`, smartFixtureOutput, calls, moved, scan, broken))
	p, err := New("smart")
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Paths: Paths{SysFS: smartArraySysfs(t)}, Options: &SmartOptions{Command: confval.Path(tool), DeviceTimeout: confval.Duration(2 * time.Second)}}
	run := func() (map[string]float64, *Skips) {
		t.Helper()
		skips := NewSkips(nil)
		ms, err := p.Probe(context.Background(), env, skips)
		if err != nil {
			t.Fatal(err)
		}
		return gatherSeries(t, collected{p: p, metrics: ms}), skips
	}

	got, skips := run()
	if skips.Count() != 1 { // cciss,1 hung
		t.Errorf("skips = %d, want 1", skips.Count())
	}
	for series, v := range map[string]float64{
		`hardware_smart_device_info{controller="",device="sda",firmware="JXTC404Q",model="SAMSUNG MZ7L3480HCHQ-00B7C",serial="S6JNNG0R412345",slot="",type="sat"}`:                              1,
		`hardware_smart_device_info{controller="megaraid:bus/0",device="XXXXXXXXXXXX",firmware="00.0D1K4",model="WD4000FYYX",serial="XXXXXXXXXXXX",slot="0",type="sat"}`:                        1,
		`hardware_smart_device_info{controller="megaraid:bus/0",device="W3A0K1ZB0000E8421A7Q",firmware="CN03",model="SEAGATE ST1200MM0009",serial="W3A0K1ZB0000E8421A7Q",slot="1",type="scsi"}`: 1,
		`hardware_smart_device_info{controller="cciss:sdf",device="Z4028VRY0000C810BZXB",firmware="N004",model="SEAGATE ST1200MM0088",serial="Z4028VRY0000C810BZXB",slot="0",type="scsi"}`:      1,
		`hardware_smart_device_info{controller="cciss:sdf",device="REDACTED",firmware="A31A",model="HITACHI H109060SESUN600G",serial="REDACTED",slot="2",type="scsi"}`:                          1,
		`hardware_smart_device_read_success{device="sdf:cciss,1"}`:                            0,
		`hardware_smart_reallocated_sectors{device="W3A0K1ZB0000E8421A7Q"}`:                   14,
		`hardware_smart_self_test_result{device="XXXXXXXXXXXX",result="passed",test="short"}`: 1,
		`hardware_smart_self_test_age_seconds{device="XXXXXXXXXXXX",test="short"}`:            (37787 - 35990) * 3600,
		`hardware_smart_exit_status_flag{device="XXXXXXXXXXXX",flag="command_failed"}`:        1,
		`hardware_smart_scsi_load_unload_cycles_total{device="REDACTED"}`:                     3472,
	} {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	var cciss []string
	for _, call := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.Contains(call, "--scan-open") && !strings.Contains(call, "--nocheck=standby") {
			t.Errorf("a call that may wake a disk: %s", call)
		}
		if m := regexp.MustCompile(`cciss,\d+`).FindString(call); m != "" {
			cciss = append(cciss, m)
		}
	}
	slices.Sort(cciss)
	if strings.Join(cciss, " ") != "cciss,0 cciss,1 cciss,2 cciss,3" {
		t.Errorf("cciss walk %v, want 0 to 3 and no further", cciss)
	}

	// The SAS disk moves from slot 1 to slot 5: its series stay its own.
	writeFile(t, moved, "")
	got, _ = run()
	if got[`hardware_smart_reallocated_sectors{device="W3A0K1ZB0000E8421A7Q"}`] != 14 ||
		got[`hardware_smart_device_info{controller="megaraid:bus/0",device="W3A0K1ZB0000E8421A7Q",firmware="CN03",model="SEAGATE ST1200MM0009",serial="W3A0K1ZB0000E8421A7Q",slot="5",type="scsi"}`] != 1 {
		t.Errorf("after the move: %v", got)
	}

	// A controller disk smartctl fails on keeps its name: the failure
	// lands on its own series.
	writeFile(t, broken, "")
	got, _ = run()
	if v, ok := got[`hardware_smart_device_read_success{device="XXXXXXXXXXXX"}`]; !ok || v != 0 {
		t.Errorf("failed read: %v", got)
	}
}

// Without a Smart Array under the sysfs root, no cciss walk.
func TestSmartNoSmartArray(t *testing.T) {
	if nodes := smartArrayNodes(t.TempDir()); nodes != nil {
		t.Errorf("nodes %v", nodes)
	}
	if nodes := smartArrayNodes(""); nodes != nil {
		t.Errorf("nodes %v for no root", nodes)
	}
	if nodes := smartArrayNodes(smartArraySysfs(t)); !slices.Equal(nodes, []string{"/dev/sdf"}) {
		t.Errorf("nodes %v, want /dev/sdf", nodes)
	}
}

// Controller and slot come from the scan's type; the info series' type
// drops the controller part, so it does not change with the slot.
func TestSmartControllerOf(t *testing.T) {
	for _, tc := range []struct{ name, typ, controller, slot string }{
		{"/dev/bus/0", "megaraid,5", "megaraid:bus/0", "5"},
		{"/dev/sdb", "aacraid,0,0,2", "aacraid:sdb", "0,0,2"},
		{"/dev/sdf", "cciss,12", "cciss:sdf", "12"},
		{"/dev/bus/1", "sat+megaraid,7", "megaraid:bus/1", "7"},
		{"/dev/sda", "sat", "", ""},
		{"/dev/nvme0", "nvme", "", ""},
	} {
		c, s := controllerOf(smartctl.ScanDevice{Name: tc.name, Type: tc.typ})
		if c != tc.controller || s != tc.slot {
			t.Errorf("controllerOf(%s -d %s) = %q, %q", tc.name, tc.typ, c, s)
		}
	}
	for _, tc := range []struct{ typ, protocol, want string }{
		{"sat+megaraid,0", "ATA", "sat"},
		{"megaraid,1", "SCSI", "scsi"},
		{"cciss,2", "SCSI", "scsi"},
		{"nvme", "NVMe", "nvme"},
	} {
		if got := smartTypeOf(tc.typ, tc.protocol); got != tc.want {
			t.Errorf("smartTypeOf(%q, %q) = %q, want %q", tc.typ, tc.protocol, got, tc.want)
		}
	}
	if c := compareSlots("2", "10"); c >= 0 {
		t.Errorf("slot 2 sorts after 10")
	}
}
