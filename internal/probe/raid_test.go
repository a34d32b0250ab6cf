package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/host/toolrun"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

func init() {
	fixtureOptions["raid"] = &RAIDOptions{
		Storcli: confval.Path(filepath.Join(testTools, "storcli64")),
		Ssacli:  confval.Path(filepath.Join(testTools, "ssacli")),
	}
}

func TestRAIDGolden(t *testing.T) {
	checkGolden(t, "raid")
	if _, skips := runProbe(t, "raid", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

// raidCaptures are the parser packages' testdata, which the fake tools of
// these tests print.
var (
	storcliCaptures = mustAbs(filepath.Join("..", "format", "storcli", "testdata"))
	ssacliCaptures  = mustAbs(filepath.Join("..", "format", "ssacli", "testdata"))
)

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return abs
}

// fakeStorcli writes a storcli64 that prints controllers for /call show all
// and drives for /call/eall/sall show all (files in storcliCaptures; an
// empty name answers with exit status 1 and nothing).
func fakeStorcli(t *testing.T, controllers, drives string) string {
	t.Helper()
	out := func(name string) string {
		if name == "" {
			return "exit 1"
		}
		return "exec cat '" + filepath.Join(storcliCaptures, name) + "'"
	}
	return fakeTool(t, "storcli64", `case "$*" in
"/call show all J nolog") `+out(controllers)+` ;;
"/call/eall/sall show all J nolog") `+out(drives)+` ;;
esac
echo "unexpected arguments: $*" >&2
exit 2
`)
}

// fakeSsacli writes an ssacli that prints a capture of ssacliCaptures.
func fakeSsacli(t *testing.T, capture string) string {
	t.Helper()
	return fakeTool(t, "ssacli", `[ "$*" = "ctrl all show config detail" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
exec cat '`+filepath.Join(ssacliCaptures, capture)+`'
`)
}

// raidRun runs the raid probe with the given tools (an empty path: a tool
// that is not installed).
func raidRun(t *testing.T, storcli, ssacli string, timeout time.Duration) (map[string]float64, *Skips, error) {
	t.Helper()
	missing := filepath.Join(t.TempDir(), "not-installed")
	if storcli == "" {
		storcli = missing
	}
	if ssacli == "" {
		ssacli = missing
	}
	env := Env{Options: &RAIDOptions{Storcli: confval.Path(storcli), Ssacli: confval.Path(ssacli)}}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	skips := NewSkips(nil)
	ms, err := raidProbe{}.Probe(ctx, env, skips)
	if err != nil {
		return nil, skips, err
	}
	return gatherSeries(t, collected{p: raidProbe{}, metrics: ms}), skips, nil
}

// Two MegaRAID controllers with CacheVaults and an HBA, answered by a real
// storcli 007.1017 (jcpunk/puppet-storcli), and two Smart Arrays (netdata):
// every controller is exported, not only the first. The storcli capture has
// no drive details: that second command failing is one skip, not a failure.
func TestRAIDEveryController(t *testing.T) {
	got, skips, err := raidRun(t,
		fakeStorcli(t, "jcpunk-storcli-call-show-3ctrl.json", ""),
		fakeSsacli(t, "netdata-ssacli-P212_P410i.txt"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1 (the missing drive details)", skips.Count())
	}
	assertSeries(t, got, "hardware_raid_controller_info", map[string]float64{
		`hardware_raid_controller_info{controller="/c0",driver="megaraid_sas 07.705.02.00-rh1",family="megaraid",firmware="24.21.0-0028",model="AVAGO 3108 MegaRAID",serial="FW-BAMQTHEAARBWA"}`: 1,
		`hardware_raid_controller_info{controller="/c1",driver="megaraid_sas 07.705.02.00-rh1",family="megaraid",firmware="24.21.0-0028",model="AVAGO 3108 MegaRAID",serial="FW-HHW1AHEAARBWA"}`: 1,
		`hardware_raid_controller_info{controller="/c2",driver="mpt3sas 40.100.00.00",family="megaraid",firmware="00.00.00.00",model="LSI3008-IR",serial="50030480256256f9"}`:                    1,
		`hardware_raid_controller_info{controller="slot=0",driver="hpsa 3.4.20",family="smartarray",firmware="6.40-0",model="Smart Array P410i",serial="REDACTED"}`:                              1,
		`hardware_raid_controller_info{controller="slot=5",driver="hpsa 3.4.20",family="smartarray",firmware="6.60-0",model="Smart Array P212",serial="REDACTED"}`:                               1,
	})
	// Healthy CacheVaults are healthy, not "a failed battery"; the Smart
	// Arrays print no battery status (no battery, write cache off), so they
	// have no backup unit series.
	assertSeries(t, got, "hardware_raid_backup_unit_", map[string]float64{
		`hardware_raid_backup_unit_info{controller="/c0",kind="cachevault",model="CVPM02"}`: 1,
		`hardware_raid_backup_unit_info{controller="/c1",kind="cachevault",model="CVPM02"}`: 1,
		`hardware_raid_backup_unit_healthy{controller="/c0"}`:                               1,
		`hardware_raid_backup_unit_healthy{controller="/c1"}`:                               1,
	})
	drives := map[string]int{}
	for k := range got {
		if strings.HasPrefix(k, "hardware_raid_physical_drive_info{") {
			drives[k[strings.Index(k, `controller="`)+12:strings.Index(k, `",`)]]++
		}
	}
	if want := map[string]int{"/c0": 18, "/c1": 18, "/c2": 3, "slot=0": 6, "slot=5": 12}; !maps.Equal(drives, want) {
		t.Errorf("drives per controller = %v, want %v", drives, want)
	}
}

// The fixture's PERC: a degraded, a partially degraded and an offline
// volume, a rebuilding drive with errors and a SMART alert, a CacheVault
// that is healthy, and a second controller whose BBU failed.
func TestRAIDDegradedAndRebuilding(t *testing.T) {
	got, skips, err := raidRun(t, filepath.Join(testTools, "storcli64"), "", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
	want := map[string]float64{
		`hardware_raid_virtual_drive_state{controller="/c0",state="degraded",vd="0"}`:                           1,
		`hardware_raid_virtual_drive_state{controller="/c0",state="optimal",vd="0"}`:                            0,
		`hardware_raid_virtual_drive_state{controller="/c0",state="partially_degraded",vd="1"}`:                 1,
		`hardware_raid_virtual_drive_state{controller="/c0",state="offline",vd="2"}`:                            1,
		`hardware_raid_virtual_drive_state{controller="/c1",state="optimal",vd="0"}`:                            1,
		`hardware_raid_physical_drive_state{controller="/c0",enclosure="32",slot="1",state="rebuild"}`:          1,
		`hardware_raid_physical_drive_media_errors_total{controller="/c0",enclosure="32",slot="1"}`:             12,
		`hardware_raid_physical_drive_other_errors_total{controller="/c0",enclosure="32",slot="1"}`:             3,
		`hardware_raid_physical_drive_predictive_failures_total{controller="/c0",enclosure="32",slot="1"}`:      1,
		`hardware_raid_physical_drive_smart_alert{controller="/c0",enclosure="32",slot="1"}`:                    1,
		`hardware_raid_physical_drive_temperature_celsius{controller="/c0",enclosure="32",slot="1"}`:            74,
		`hardware_raid_physical_drive_state{controller="/c0",enclosure="32",slot="3",state="offline"}`:          1,
		`hardware_raid_physical_drive_state{controller="/c0",enclosure="32",slot="4",state="unconfigured_bad"}`: 1,
		`hardware_raid_physical_drive_state{controller="/c0",enclosure="32",slot="5",state="hot_spare"}`:        1,
		`hardware_raid_controller_state{controller="/c0",state="needs_attention"}`:                              1,
		`hardware_raid_controller_temperature_celsius{controller="/c0"}`:                                        71,
		`hardware_raid_controller_temperature_celsius{controller="/c1"}`:                                        55,
		`hardware_raid_controller_memory_errors_total{controller="/c0",type="correctable"}`:                     3,
		`hardware_raid_backup_unit_info{controller="/c0",kind="cachevault",model="CVPM02"}`:                     1,
		`hardware_raid_backup_unit_healthy{controller="/c0"}`:                                                   1,
		`hardware_raid_backup_unit_info{controller="/c1",kind="bbu",model="iBBU09"}`:                            1,
		`hardware_raid_backup_unit_healthy{controller="/c1"}`:                                                   0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// Smart Array, written here in the shape of HPE's output: a logical drive
// in Interim Recovery (degraded), one Recovering at 45%, a failed capacitor.
func TestRAIDSmartArrayDegradedAndRebuilding(t *testing.T) {
	got, skips, err := raidRun(t, "", fakeSsacli(t, "written-here-degraded-rebuilding.txt"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
	want := map[string]float64{
		`hardware_raid_virtual_drive_state{controller="slot=0",state="degraded",vd="1"}`:                      1,
		`hardware_raid_virtual_drive_state{controller="slot=0",state="rebuilding",vd="2"}`:                    1,
		`hardware_raid_virtual_drive_progress_ratio{controller="slot=0",vd="2"}`:                              0.45,
		`hardware_raid_physical_drive_state{controller="slot=0",enclosure="1I:1",slot="2",state="failed"}`:    1,
		`hardware_raid_physical_drive_state{controller="slot=0",enclosure="2I:1",slot="5",state="rebuild"}`:   1,
		`hardware_raid_physical_drive_state{controller="slot=0",enclosure="2I:1",slot="6",state="online"}`:    1,
		`hardware_raid_physical_drive_smart_alert{controller="slot=0",enclosure="2I:1",slot="6"}`:             1,
		`hardware_raid_physical_drive_state{controller="slot=0",enclosure="2I:1",slot="8",state="hot_spare"}`: 1,
		`hardware_raid_backup_unit_healthy{controller="slot=0"}`:                                              0,
		`hardware_raid_controller_temperature_celsius{controller="slot=0"}`:                                   61,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// A family whose tool is not installed, or that finds no controller, is
// left off; the run succeeds with the other family's controllers. With no
// tool at all the probe is unavailable, and enabled anyway it fails.
func TestRAIDFamiliesLeftOff(t *testing.T) {
	noMegaRAID := fakeStorcli(t, "canonical-perccli-no-controller.json", "canonical-perccli-no-controller.json")
	noSmartArray := fakeTool(t, "ssacli", "echo\necho 'Error: No controllers detected. Possible causes: The driver for the installed controller(s) is not loaded.'\nexit 1\n")
	p408 := fakeSsacli(t, "netdata-ssacli-P408i-a.txt")
	m5015 := fakeStorcli(t, "netdata-megaraid-controllers-info.json", "netdata-megaraid-drives-info.json")
	tests := []struct {
		name            string
		storcli, ssacli string
		controllers     []string
	}{
		{"storcli not installed", "", p408, []string{"slot=0"}},
		{"ssacli not installed", m5015, "", []string{"/c0"}},
		{"storcli finds no controller", noMegaRAID, p408, []string{"slot=0"}},
		{"ssacli finds no controller", m5015, noSmartArray, []string{"/c0"}},
		{"neither finds a controller", noMegaRAID, noSmartArray, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skips, err := raidRun(t, tt.storcli, tt.ssacli, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if skips.Count() != 0 {
				t.Errorf("skips = %d, want 0", skips.Count())
			}
			var ctrls []string
			for k := range got {
				if strings.HasPrefix(k, "hardware_raid_controller_info{") {
					ctrls = append(ctrls, k[strings.Index(k, `controller="`)+12:strings.Index(k, `",`)])
				}
			}
			if !slices.Equal(ctrls, tt.controllers) {
				t.Errorf("controllers = %v, want %v", ctrls, tt.controllers)
			}
		})
	}

	missing := filepath.Join(t.TempDir(), "missing")
	env := Env{Options: &RAIDOptions{Storcli: confval.Path(missing), Ssacli: confval.Path(missing)}}
	if err := (raidProbe{}).Available(env); !errors.Is(err, toolrun.ErrMissing) {
		t.Errorf("Available() = %v, want toolrun.ErrMissing", err)
	}
	if _, err := (raidProbe{}).Probe(context.Background(), env, NewSkips(nil)); !errors.Is(err, toolrun.ErrMissing) {
		t.Errorf("Probe() = %v, want toolrun.ErrMissing", err)
	}
	if err := (raidProbe{}).Available(Env{Options: fixtureOptions["raid"]}); err != nil {
		t.Errorf("fixture tools: Available() = %v", err)
	}
}

// A tool that fails for another reason is a failure of its family: the run
// fails when it was the only one, and is a skip beside a family that read.
func TestRAIDToolFailures(t *testing.T) {
	garbage := fakeTool(t, "storcli64", "echo 'Segmentation fault'; exit 139\n")
	refused := fakeStorcli(t, "jcpunk-storcli-call-show-cc.json", "")
	p408 := fakeSsacli(t, "netdata-ssacli-P408i-a.txt")
	if _, _, err := raidRun(t, garbage, "", 10*time.Second); err == nil || !strings.Contains(err.Error(), "exit status 139") {
		t.Errorf("garbage alone: err = %v, want exit status 139", err)
	}
	got, skips, err := raidRun(t, garbage, p408, 10*time.Second)
	if err != nil || skips.Count() != 1 || got[`hardware_raid_controller_state{controller="slot=0",state="ok"}`] != 1 {
		t.Errorf("garbage beside ssacli: err %v, skips %d, series %d", err, skips.Count(), len(got))
	}
	// storcli answering Failure for one of three controllers ("Un-supported
	// Command") costs that controller only.
	got, skips, err = raidRun(t, refused, "", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != 2 { // the third controller, and the drives command
		t.Errorf("skips = %d, want 2", skips.Count())
	}
	if _, ok := got[`hardware_raid_controller_info{controller="/c2",driver="",family="megaraid",firmware="",model="",serial=""}`]; ok {
		t.Error("a controller that answered Failure is exported")
	}
}

// A tool that hangs is killed at the probe's deadline, and the run fails
// promptly rather than exporting half an answer.
func TestRAIDHungTool(t *testing.T) {
	for name, tools := range map[string][2]string{
		"storcli": {fakeTool(t, "storcli64", "sleep 60\n"), ""},
		"ssacli":  {"", fakeTool(t, "ssacli", "sleep 60\n")},
		"storcli drives": {fakeTool(t, "storcli64", `case "$*" in "/call show all J nolog") exec cat '`+
			filepath.Join(storcliCaptures, "netdata-megaraid-controllers-info.json")+`' ;; esac; sleep 60`+"\n"), ""},
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, _, err := raidRun(t, tools[0], tools[1], 300*time.Millisecond)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > toolrun.WaitDelay+5*time.Second {
				t.Errorf("Probe returned after %v", d)
			}
		})
	}
}

// The series one 24-disk controller adds (RAID 6 + RAID 10 + two spares,
// the storcli package's written-here fixture), and what a run on the fake
// tools costs: both are quoted in the docs, so the test says when they
// change.
func TestRAIDSeriesOf24DiskController(t *testing.T) {
	start := time.Now()
	got, skips, err := raidRun(t, fakeStorcli(t, "written-here-24-disks-controller.json", "written-here-24-disks-drives.json"), "", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one run on the fake storcli64: %v", time.Since(start))
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
	perName := map[string]int{}
	for k := range got {
		perName[k[:strings.Index(k, "{")]]++
	}
	t.Logf("series: %d in all, by name %v", len(got), perName)
	if perName["hardware_raid_physical_drive_info"] != 24 {
		t.Errorf("%d drives, want 24", perName["hardware_raid_physical_drive_info"])
	}
	if len(got) != raid24DiskSeries {
		t.Errorf("a 24-disk controller adds %d series, want %d", len(got), raid24DiskSeries)
	}
}

// raid24DiskSeries is counted by TestRAIDSeriesOf24DiskController: 383,
// and hardware_firmware_info for the controller and its 24 drives.
const raid24DiskSeries = 383 + 1 + 24

func TestRAIDFixtureRunTime(t *testing.T) {
	const runs = 5
	var total time.Duration
	for range runs {
		start := time.Now()
		_, skips := runProbe(t, "raid", fixturePaths)
		total += time.Since(start)
		if skips.Count() != 0 {
			t.Fatalf("skips = %d", skips.Count())
		}
	}
	t.Logf("raid probe on the fixture's fake storcli64 and ssacli: %v a run (mean of %d)", total/runs, runs)
}

// storcli answering "Failure" for its only controller while printing the
// controller, VD and PD lists (ErrCd 59, an incomplete foreign
// configuration) is a partial answer: the data is exported, and one read
// error carries storcli's own words. A Failure without data fails the run
// with storcli's description, not "no storcli JSON".
func TestRAIDStorcliFailureWithData(t *testing.T) {
	tool := fakeStorcli(t, "written-here-call-show-all-failure-with-data.json", "netdata-megaraid-drives-info.json")
	var buf bytes.Buffer
	skips := NewSkips(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	env := Env{Options: &RAIDOptions{Storcli: confval.Path(tool), Ssacli: confval.Path(filepath.Join(t.TempDir(), "not-installed"))}}
	ms, err := raidProbe{}.Probe(context.Background(), env, skips)
	if err != nil {
		t.Fatalf("Probe = %v, want the data used", err)
	}
	got := gatherSeries(t, collected{p: raidProbe{}, metrics: ms})
	if n := len(slices.Collect(maps.Keys(got))); n < 10 || got[`hardware_raid_controller_state{controller="/c0",state="ok"}`]+got[`hardware_raid_controller_state{controller="/c0",state="needs_attention"}`] != 1 {
		t.Errorf("%d series, want the controller's data:\n%v", n, slices.Sorted(maps.Keys(got)))
	}
	if skips.Count() != 1 || !strings.Contains(buf.String(), "ErrCd 59: Incomplete foreign configuration") {
		t.Errorf("skips = %d, log:\n%s\nwant one read error naming ErrCd 59 and its message", skips.Count(), buf.String())
	}

	refused := fakeTool(t, "storcli64", `echo '{"Controllers":[{"Command Status":{"Controller":0,"Status":"Failure","Description":"Un-supported Command"}}]}'`+"\n")
	if _, _, err := raidRun(t, refused, "", 10*time.Second); err == nil || !strings.Contains(err.Error(), "Un-supported Command") || strings.Contains(err.Error(), "no storcli JSON") {
		t.Errorf("Failure without data: err = %v, want storcli's description", err)
	}
}

// A controller listing 10k physical drives (far beyond any real one)
// exports the first raidMaxDrivesPerController and counts the controller
// as one read error, instead of 150k series.
func TestRAIDDrivesPerControllerAreBounded(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(storcliCaptures, "written-here-24-disks-controller.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	data := doc["Controllers"].([]any)[0].(map[string]any)["Response Data"].(map[string]any)
	pd := data["PD LIST"].([]any)[0].(map[string]any)
	const n = 10000
	list := make([]any, n)
	for i := range list {
		d := maps.Clone(pd)
		d["EID:Slt"] = fmt.Sprintf("%d:%d", 64+i/256, i%256)
		d["DID"] = i
		list[i] = d
	}
	data["PD LIST"] = list
	big := filepath.Join(t.TempDir(), "10k-drives.json")
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, b, 0o644); err != nil {
		t.Fatal(err)
	}
	storcli := fakeTool(t, "storcli64", `case "$*" in
"/call show all J nolog") exec cat '`+big+`' ;;
esac
exit 1
`)
	got, skips, err := raidRun(t, storcli, "", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	perName := map[string]int{}
	for k := range got {
		perName[k[:strings.Index(k, "{")]]++
	}
	if perName["hardware_raid_physical_drive_info"] != raidMaxDrivesPerController {
		t.Errorf("%d drives exported, want %d", perName["hardware_raid_physical_drive_info"], raidMaxDrivesPerController)
	}
	if len(got) > 20*raidMaxDrivesPerController {
		t.Errorf("%d series", len(got))
	}
	// One for the drive details that the fake does not print, one for the
	// drives left out.
	if skips.Count() != 2 {
		t.Errorf("skips = %d, want 2", skips.Count())
	}
	t.Logf("%d drives listed: %d series", n, len(got))
}
