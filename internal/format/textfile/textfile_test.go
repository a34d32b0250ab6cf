package textfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// reserved is what the exporter passes, in miniature.
var reserved = Reserved{
	Names:    map[string]bool{"hardware_hwmon_fan_rpm": true, "hardware_x_count": true},
	Prefixes: []string{"hardware_probe_", "hardware_textfile_"},
}

// unchecked collects metrics without describing them, as the exporter's
// metric cache does with file families: a pedantic registry still checks
// names, help, types, suffix collisions and duplicates.
type unchecked []prometheus.Metric

func (unchecked) Describe(chan<- *prometheus.Desc) {}
func (c unchecked) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

// gather registers ms (after extra, standing for the exporter's own
// series) in a pedantic registry and returns the families by name.
func gather(t *testing.T, ms []prometheus.Metric, extra ...prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range extra {
		reg.MustRegister(c)
	}
	reg.MustRegister(unchecked(ms))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestReadDirFixture(t *testing.T) {
	r, err := ReadDir(context.Background(), "testdata", reserved, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range r.Files {
		files = append(files, f.Name)
	}
	if got := strings.Join(files, " "); got != "fans.prom raid_controller.prom ssd_wear.prom" {
		t.Errorf("files read whole: %s", got)
	}
	why := map[string]string{}
	for _, p := range r.Problems {
		why[p.File] += p.Err.Error()
	}
	for file, want := range map[string]string{
		"fans.prom":     "hardware_hwmon_fan_rpm is a name this exporter exports itself",
		"ipmi_sel.prom": "client-side timestamp",
		"lldp.prom":     "expected float as value",
	} {
		if !strings.Contains(why[file], want) {
			t.Errorf("%s: problem %q, want one saying %q", file, why[file], want)
		}
	}
	if len(r.Problems) != 3 {
		t.Errorf("%d problems, want 3: %v", len(r.Problems), r.Problems)
	}

	mfs := gather(t, r.Metrics)
	if _, ok := mfs["hardware_hwmon_fan_rpm"]; ok {
		t.Error("a reserved family was kept")
	}
	if mf := mfs["chassis_fan_redundancy_lost"]; mf == nil || mf.GetMetric()[0].GetGauge().GetValue() != 0 {
		t.Errorf("fans.prom's good family: %v", mf)
	}
	if mf := mfs["megaraid_degraded"]; mf == nil || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("megaraid_degraded: %v", mf)
	}
	if mf := mfs["megaraid_temperature"]; mf == nil || mf.GetMetric()[0].GetGauge().GetValue() != 53 {
		t.Errorf("megaraid_temperature: %v", mf)
	}
	if mf := mfs["ssd_percentage_used_ratio"]; mf == nil || mf.GetHelp() != "Vendor estimate of the drive's life used, 1 = rated endurance reached." {
		t.Errorf("ssd_percentage_used_ratio: %v", mf)
	}
	for name := range mfs {
		if strings.HasPrefix(name, "ipmi_sel") || strings.HasPrefix(name, "lldp") {
			t.Errorf("%s from a file refused whole", name)
		}
	}
}

// A summary or histogram is refused for the names it expands to.
func TestClashWithExpandedNames(t *testing.T) {
	m := merger{reserved: reserved, families: map[string]*family{}}
	if err := m.clash("hardware_x", dto.MetricType_SUMMARY); err == nil {
		t.Error("a summary expanding to a reserved name was accepted")
	}
	if err := m.clash("hardware_x", dto.MetricType_GAUGE); err != nil {
		t.Errorf("a gauge not expanding to a reserved name was refused: %v", err)
	}
}

func TestReadDirErrors(t *testing.T) {
	if _, err := ReadDir(context.Background(), filepath.Join(t.TempDir(), "gone"), reserved, Limits{}); err == nil {
		t.Error("a missing directory read without error")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.prom"), []byte("ok 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadDir(ctx, dir, reserved, Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// FuzzReadDir holds the package to its point: whatever two files say, the
// merged metrics gather without error next to the reserved names.
func FuzzReadDir(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".prom") {
			b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, b)
		}
	}
	for i := range seeds {
		f.Add(seeds[i], seeds[(i+1)%len(seeds)])
	}
	f.Add([]byte("# TYPE x histogram\nx_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n"), []byte("x_count 2\n"))
	own := prometheus.NewGauge(prometheus.GaugeOpts{Name: "hardware_hwmon_fan_rpm", Help: "own"})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		dir := t.TempDir()
		for name, content := range map[string][]byte{"a.prom": a, "b.prom": b} {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r, err := ReadDir(context.Background(), dir, reserved, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		gather(t, r.Metrics, own)
	})
}

func writeTestFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// problemsByFile maps each refused file to its first problem's text.
func problemsByFile(r Result) map[string]string {
	out := map[string]string{}
	for _, p := range r.Problems {
		if _, ok := out[p.File]; !ok {
			out[p.File] = p.Err.Error()
		}
	}
	return out
}

// A symlink that leads out of the directory is not followed, whether
// absolute or relative: the daemon may read what the scripts' authors
// cannot (a 0600 file elsewhere was once exported). A relative one to a
// file inside is followed.
func TestReadDirStaysInTheDirectory(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.prom")
	writeTestFile(t, secret, "secret_value 42\n", 0o600)
	dir := filepath.Join(t.TempDir(), "textfile")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "real", "disk.txt"), "disk_ok 1\n", 0o644)
	for name, target := range map[string]string{
		"absolute.prom":     secret,
		"relative.prom":     "../../" + filepath.Base(outside) + "/secret.prom",
		"through_dir.prom":  "real/../../../" + filepath.Base(outside) + "/secret.prom",
		"inside.prom":       "real/disk.txt",
		"absolute_in.prom":  filepath.Join(dir, "real", "disk.txt"),
		"dir_outside.prom":  outside,
		"inside_again.prom": "inside.prom",
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := ReadDir(context.Background(), dir, reserved, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range r.Files {
		files = append(files, f.Name)
	}
	if got := strings.Join(files, ","); got != "inside.prom,inside_again.prom" {
		t.Errorf("files read: %s, want the two inside the directory", got)
	}
	problems := problemsByFile(r)
	for _, name := range []string{"absolute.prom", "relative.prom", "through_dir.prom", "absolute_in.prom", "dir_outside.prom"} {
		if !strings.Contains(problems[name], "symlink out of the directory") {
			t.Errorf("%s: problem %q, want a symlink refusal", name, problems[name])
		}
	}
	// inside_again.prom is refused as a duplicate of inside.prom's series,
	// which proves it was followed.
	if !strings.Contains(problems["inside_again.prom"], "duplicate series disk_ok") {
		t.Errorf("inside_again.prom: %q", problems["inside_again.prom"])
	}
	for _, m := range r.Metrics {
		if strings.Contains(m.Desc().String(), "secret_value") {
			t.Errorf("exported %s", m.Desc())
		}
	}
}

// A line that does not parse is named by its number and the kind of error;
// what it holds never reaches the error (a shadow-style hash line was once
// logged).
func TestSyntaxErrorsDoNotQuoteTheFile(t *testing.T) {
	dir := t.TempDir()
	const hash = "$6$rounds=5000$saltsalt$Hx8vvQ"
	for name, content := range map[string]string{
		"shadow.prom":     "ok_a 1\nroot:" + hash + ":19000:0:99999:7:::\n",
		"value.prom":      "ok_b 1\n\nok_c{a=\"b\"} " + hash + "\n",
		"label.prom":      "ok_d{" + hash + "=\"x\"} 1\n",
		"labelvalue.prom": "ok_e{a=\"" + hash + "\\q\"} 1\n",
		"type.prom":       "# TYPE ok_f " + hash + "\nok_f 1\n",
	} {
		writeTestFile(t, filepath.Join(dir, name), content, 0o644)
	}
	r, err := ReadDir(context.Background(), dir, reserved, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	problems := problemsByFile(r)
	for name, want := range map[string]string{
		"shadow.prom":     "syntax error on line 2: ",
		"value.prom":      "syntax error on line 3: expected float as value", // not "…, got"
		"label.prom":      "syntax error on line 1: ",
		"labelvalue.prom": "syntax error on line 1: invalid escape sequence",
		"type.prom":       "syntax error on line 1: unknown metric type",
	} {
		got := problems[name]
		if !strings.HasPrefix(got, want) || strings.HasSuffix(got, " got") {
			t.Errorf("%s: %q, want prefix %q", name, got, want)
		}
		for _, leak := range []string{"$6$", "saltsalt", "rounds", "root"} {
			if strings.Contains(got, leak) {
				t.Errorf("%s: error %q quotes the file (%q)", name, got, leak)
			}
		}
	}
}

func TestOthersMayWrite(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		want string
	}{
		{0o755, ""},
		{0o775, ""}, // t.TempDir's group is ours
		{0o777, "mode 0777 lets every user write"},
		{0o1777, "mode 0777 lets every user write"},
	} {
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		r, err := ReadDir(context.Background(), dir, reserved, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if r.OthersMayWrite != tc.want {
			t.Errorf("mode %04o: %q, want %q", tc.mode, r.OthersMayWrite, tc.want)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// The files together are read up to MaxDirSize a run: six files just under
// MaxFileSize once cost 2.6 GB of RSS. Later files are refused unread, and
// the error says why.
func TestReadDirCapsTheDirectoryTotal(t *testing.T) {
	dir := t.TempDir()
	big := "# " + strings.Repeat("x", 5<<20) + "\n" // three fit in MaxDirSize, four do not
	for _, name := range []string{"a", "b", "c", "d"} {
		writeTestFile(t, filepath.Join(dir, name+".prom"), big+"size_"+name+" 1\n", 0o644)
	}
	writeTestFile(t, filepath.Join(dir, "e.prom"), "size_e 1\n", 0o644) // small: still fits
	r, err := ReadDir(context.Background(), dir, reserved, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range r.Files {
		files = append(files, f.Name)
	}
	if got := strings.Join(files, ","); got != "a.prom,b.prom,c.prom,e.prom" {
		t.Errorf("files read: %s", got)
	}
	if got := problemsByFile(r)["d.prom"]; !strings.Contains(got, "bytes read a run") {
		t.Errorf("d.prom: %q, want the directory cap", got)
	}
}

// HELP bytes that are not UTF-8 must not reach /metrics raw: a scraper may
// refuse the whole response.
func TestHelpIsMadeValidUTF8(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "a.prom"), "# HELP bad_help Temperature \xff\xfe of the \xc3 box.\nbad_help 1\n", 0o644)
	r, err := ReadDir(context.Background(), dir, reserved, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	mfs := gather(t, r.Metrics)
	help := mfs["bad_help"].GetHelp()
	if help != "Temperature \uFFFD of the \uFFFD box." {
		t.Errorf("help %q", help)
	}
}

// statInfo is a directory's FileInfo with a chosen owner, which a test not
// running as root cannot give a real directory.
type statInfo struct {
	os.FileInfo
	mode     os.FileMode
	uid, gid uint32
}

func (s statInfo) Mode() os.FileMode { return os.ModeDir | s.mode }
func (s statInfo) Sys() any          { return &syscall.Stat_t{Uid: s.uid, Gid: s.gid} }

// Root running --once on an installed host finds the textfile directory
// owned by the service's own user (deploy/sysusers, StateDirectory=): that
// is no stranger. Another user still is.
func TestOthersMayWriteTrustsTheServiceUser(t *testing.T) {
	const svc = 64997 // not ours, not root
	defer func(f func() (int, int, bool)) { lookupServiceUser = f }(lookupServiceUser)
	lookupServiceUser = func() (int, int, bool) { return svc, svc, true }
	for _, tc := range []struct {
		fi   statInfo
		want string
	}{
		{statInfo{mode: 0o755, uid: svc, gid: svc}, ""},
		{statInfo{mode: 0o775, uid: svc, gid: svc}, ""},
		{statInfo{mode: 0o755, uid: svc + 1, gid: svc}, fmt.Sprintf("it belongs to user %d", svc+1)},
		{statInfo{mode: 0o775, uid: 0, gid: svc + 1}, fmt.Sprintf("mode 0775 lets group %d write", svc+1)},
		{statInfo{mode: 0o777, uid: svc, gid: svc}, "mode 0777 lets every user write"},
	} {
		if got := othersMayWrite(tc.fi); got != tc.want {
			t.Errorf("mode %04o uid %d gid %d: %q, want %q", tc.fi.mode, tc.fi.uid, tc.fi.gid, got, tc.want)
		}
	}
	// No such user on this host: its uid is a stranger's.
	lookupServiceUser = func() (int, int, bool) { return 0, 0, false }
	if got := othersMayWrite(statInfo{mode: 0o755, uid: svc, gid: svc}); got == "" {
		t.Errorf("no service user: owner %d trusted", svc)
	}
}

// genSeries writes a file of n series of one gauge family.
func genSeries(t *testing.T, path, name string, n int) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
	for i := range n {
		fmt.Fprintf(&b, "%s{id=\"%d\"} %d\n", name, i, i)
	}
	writeTestFile(t, path, b.String(), 0o644)
}

// Series, not only bytes, are bounded: a generated file of 100k short
// series (2 MiB, well under MaxFileSize) is refused whole with a reason
// naming the limit, and a file at the limit and the other files are kept.
func TestReadDirCapsSeriesPerFile(t *testing.T) {
	dir := t.TempDir()
	genSeries(t, filepath.Join(dir, "big.prom"), "big_total", 100000)
	genSeries(t, filepath.Join(dir, "full.prom"), "full_total", DefaultMaxSeriesPerFile)
	writeTestFile(t, filepath.Join(dir, "small.prom"), "small 1\n", 0o644)
	writeTestFile(t, filepath.Join(dir, "hist.prom"), "# TYPE h histogram\n"+
		"h_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 4\nh_count 3\n", 0o644)
	r, err := ReadDir(context.Background(), dir, reserved, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	problems := problemsByFile(r)
	if msg := problems["big.prom"]; !strings.Contains(msg, "100000 series") || !strings.Contains(msg, "max_series_per_file") {
		t.Errorf("big.prom: %q, want it refused for its 100000 series", msg)
	}
	if len(problems) != 1 {
		t.Errorf("problems %v, want big.prom's only", problems)
	}
	if len(r.Metrics) != DefaultMaxSeriesPerFile+1+1 { // full, small, one histogram
		t.Errorf("%d metrics kept, want %d", len(r.Metrics), DefaultMaxSeriesPerFile+2)
	}
	// A histogram's buckets count each.
	r, err = ReadDir(context.Background(), dir, reserved, Limits{SeriesPerFile: 4, Series: 100})
	if err != nil {
		t.Fatal(err)
	}
	if msg := problemsByFile(r)["hist.prom"]; !strings.Contains(msg, "5 series") {
		t.Errorf("hist.prom with a limit of 4: %q, want it refused for its 5 series", msg)
	}
}

// The directory's files together keep at most Limits.Series, in name
// order: the file that would pass the limit is refused whole, later
// smaller files still fit.
func TestReadDirCapsSeriesPerDirectory(t *testing.T) {
	dir := t.TempDir()
	for i := range 6 { // 6 x 9000: past the default 50k with the sixth
		genSeries(t, filepath.Join(dir, fmt.Sprintf("f%d.prom", i)), fmt.Sprintf("f%d", i), 9000)
	}
	writeTestFile(t, filepath.Join(dir, "z.prom"), "z 1\n", 0o644)
	r, err := ReadDir(context.Background(), dir, reserved, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	problems := problemsByFile(r)
	if msg := problems["f5.prom"]; !strings.Contains(msg, "already hold 45000 of the 50000") {
		t.Errorf("f5.prom: %q, want it refused by the directory's limit", msg)
	}
	if len(problems) != 1 {
		t.Errorf("problems %v, want f5.prom's only", problems)
	}
	if len(r.Metrics) != 45001 {
		t.Errorf("%d metrics kept, want 45001", len(r.Metrics))
	}
}
