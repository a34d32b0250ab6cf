package probe

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/textfile"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// textfileFixtureDir is testdata/textfile: an operator's directory with
// two good files, one with a client-side timestamp, one that does not
// parse, one that reuses a name this exporter owns, and an atomic writer's
// temporary file that is not *.prom.
var textfileFixtureDir string

// textfileFixedMtime is the modification time the tests give every file: git
// checks files out with the time of the checkout.
var textfileFixedMtime = time.Date(2024, 6, 10, 3, 0, 0, 0, time.UTC)

func init() {
	dir, err := filepath.Abs(filepath.Join("testdata", "textfile"))
	if err != nil {
		panic(err)
	}
	textfileFixtureDir = dir
	fixtureOptions["textfile"] = &TextfileOptions{Directory: confval.Path(dir)}
}

// textfileCopy copies the named files of testdata/textfile (all of them if
// none are named) into a new directory and sets their mtimes to
// textfileFixedMtime.
func textfileCopy(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	if len(names) == 0 {
		entries, err := os.ReadDir(textfileFixtureDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(textfileFixtureDir, n))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, n), string(b))
	}
	textfileTouch(t, dir)
	return dir
}

// textfileTouch sets the mtime of every file in dir to textfileFixedMtime.
func textfileTouch(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Chtimes(filepath.Join(dir, e.Name()), textfileFixedMtime, textfileFixedMtime); err != nil {
			t.Fatal(err)
		}
	}
}

// textfileUnchecked is a probe run as an unchecked collector (Describe
// sends nothing), as the files' families are to the registry: they are
// not among any Describe'd descriptors. A pedantic registry refuses
// undescribed descriptors from a checked collector (the golden machinery's
// `collected`), but still applies every other check to an unchecked one:
// help and type consistency, suffix collisions, duplicate series, label
// names and values.
type textfileUnchecked []prometheus.Metric

func (textfileUnchecked) Describe(chan<- *prometheus.Desc) {}
func (c textfileUnchecked) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

// textfileRun runs the textfile probe on dir once.
func textfileRun(t *testing.T, dir string) (textfileUnchecked, *Skips) {
	t.Helper()
	env := Env{Paths: fixturePaths, Options: &TextfileOptions{Directory: confval.Path(dir)}}
	p, err := New("textfile")
	if err != nil {
		t.Fatal(err)
	}
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), env, skips)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	return textfileUnchecked(ms), skips
}

// The golden comparison is checkGolden's, except for the collector: see
// textfileUnchecked. The fixture's bad files make scrape_error 1.
func TestTextfileGolden(t *testing.T) {
	c, skips := textfileRun(t, textfileCopy(t))
	// lldp.prom does not parse, ipmi_sel.prom has timestamps, fans.prom's
	// hardware_hwmon_fan_rpm is the hwmon probe's.
	if skips.Count() != 3 {
		t.Errorf("skips = %d, want 3", skips.Count())
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		// The files' names are the operator's: lint only ours.
		if strings.HasPrefix(p.Metric, "hardware_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	got := exposition(t, c)
	golden := filepath.Join("testdata", "textfile.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("textfile output differs from %s; got:\n%s", golden, got)
	}
}

// The fixed metrics are described, so a checked collector's registry
// accepts them.
func TestTextfileDescribed(t *testing.T) {
	p, err := New("textfile")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := textfileRun(t, textfileCopy(t, "raid_controller.prom"))
	var own []prometheus.Metric
	for _, m := range c {
		if m.Desc() == textfileMtime || m.Desc() == textfileScrapeError {
			own = append(own, m)
		}
	}
	if len(own) != 2 {
		t.Fatalf("got %d own metrics, want mtime and scrape_error", len(own))
	}
	gather(t, collected{p: p, metrics: own})
}

// A clean directory: every file read, scrape_error 0, no skips.
func TestTextfileClean(t *testing.T) {
	c, skips := textfileRun(t, textfileCopy(t, "raid_controller.prom", "ssd_wear.prom", "ssd_wear.prom.tmp.48213"))
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
	got := gatherSeries(t, c)
	assertSeries(t, got, "hardware_textfile_", map[string]float64{
		`hardware_textfile_scrape_error{}`:                             0,
		`hardware_textfile_mtime_seconds{file="raid_controller.prom"}`: 1717988400,
		`hardware_textfile_mtime_seconds{file="ssd_wear.prom"}`:        1717988400,
	})
	assertSeries(t, got, "megaraid_virtual_drive_state", map[string]float64{
		`megaraid_virtual_drive_state{controller="0",vd="0"}`: 1,
		`megaraid_virtual_drive_state{controller="0",vd="1"}`: 0,
	})
}

// An empty directory exports scrape_error 0 and nothing else.
func TestTextfileEmpty(t *testing.T) {
	c, skips := textfileRun(t, t.TempDir())
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
	assertSeries(t, gatherSeries(t, c), "", map[string]float64{`hardware_textfile_scrape_error{}`: 0})
}

// Without its directory the probe is not available, and when run anyway
// (enabled explicitly) it fails with the same reason.
func TestTextfileUnavailable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "")
	for _, tc := range []struct{ name, dir, want string }{
		{"missing", "/nonexistent/textfile", "directory /nonexistent/textfile does not exist"},
		{"not configured", "", "no textfile directory configured"},
		{"relative", "textfile", "not an absolute path"},
		{"a file", file, "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := Env{Options: &TextfileOptions{Directory: confval.Path(tc.dir)}}
			p, err := New("textfile")
			if err != nil {
				t.Fatal(err)
			}
			c, ok := p.(Conditional)
			if !ok {
				t.Fatal("textfile probe does not implement Conditional")
			}
			if err := c.Available(env); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Available() = %v, want %q", err, tc.want)
			}
			if _, err := p.Probe(context.Background(), env, NewSkips(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Probe() err = %v, want %q", err, tc.want)
			}
		})
	}
	env := Env{Options: &TextfileOptions{Directory: confval.Path(t.TempDir())}}
	p, _ := New("textfile")
	if err := p.(Conditional).Available(env); err != nil {
		t.Errorf("Available() on an existing directory = %v", err)
	}
}

// Each way a file, family or series can be refused costs that and only
// that, counts one skip per problem, and sets scrape_error.
func TestTextfileRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		skips  int
		want   map[string]float64 // every series not named hardware_textfile_mtime_seconds
		absent []string           // metric families that must not be there
		help   map[string]string  // family → HELP
	}{
		{
			name: "families merged across files, help from the file that has it",
			files: map[string]string{
				"a.prom": "# TYPE raid_ok gauge\nraid_ok{vd=\"0\"} 1\n",
				"b.prom": "# HELP raid_ok RAID volume optimal.\n# TYPE raid_ok gauge\nraid_ok{vd=\"1\"} 0\n",
				"c.prom": "smart_ok 1\n",
				"d.prom": "smart_ok{device=\"sda\"} 1\n",
			},
			want: map[string]float64{`raid_ok{vd="0"}`: 1, `raid_ok{vd="1"}`: 0, `smart_ok{}`: 1, `smart_ok{device="sda"}`: 1},
			help: map[string]string{"raid_ok": "RAID volume optimal.", "smart_ok": "Metric read from c.prom, d.prom"},
		},
		{
			name: "different help in a later file",
			files: map[string]string{
				"a.prom": "# HELP raid_ok RAID volume optimal.\nraid_ok{vd=\"0\"} 1\n",
				"b.prom": "# HELP raid_ok Volume is fine.\nraid_ok{vd=\"1\"} 1\nother 2\n",
			},
			skips: 1,
			want:  map[string]float64{`raid_ok{vd="0"}`: 1, `other{}`: 2},
		},
		{
			name: "different type in a later file",
			files: map[string]string{
				"a.prom": "# TYPE raid_rebuilds_total counter\nraid_rebuilds_total 3\n",
				"b.prom": "# TYPE raid_rebuilds_total gauge\nraid_rebuilds_total{vd=\"1\"} 1\n",
			},
			skips: 1,
			want:  map[string]float64{`raid_rebuilds_total{}`: 3},
		},
		{
			name: "duplicate series, across files and within one, empty label as absent",
			files: map[string]string{
				"a.prom": "raid_ok{vd=\"0\"} 1\nraid_ok{vd=\"0\"} 0\n",
				"b.prom": "raid_ok{vd=\"0\",ctrl=\"\"} 0\nraid_ok{vd=\"1\"} 1\n",
			},
			skips: 2,
			want:  map[string]float64{`raid_ok{vd="0"}`: 1, `raid_ok{vd="1"}`: 1},
		},
		{
			name: "names this exporter owns",
			files: map[string]string{
				"a.prom": "hardware_probe_success{probe=\"smart\"} 1\nraid_ok 1\n",
				"b.prom": "hardware_exporter_build_info 1\n",
				"c.prom": "hardware_memory_total_bytes 1\n",
				"d.prom": "hardware_textfile_scrape_error 0\n",
				"e.prom": "hardware_raid_ok 1\n", // not owned: the namespace is not reserved as a whole
			},
			skips:  4,
			want:   map[string]float64{`raid_ok{}`: 1, `hardware_raid_ok{}`: 1, `hardware_textfile_scrape_error{}`: 1},
			absent: []string{"hardware_probe_success", "hardware_exporter_build_info", "hardware_memory_total_bytes"},
		},
		{
			name: "suffix collisions",
			files: map[string]string{
				"a.prom": "# TYPE io_seconds histogram\nio_seconds_bucket{le=\"+Inf\"} 2\nio_seconds_sum 0.5\nio_seconds_count 2\n",
				"b.prom": "# TYPE io_seconds_bucket gauge\nio_seconds_bucket 1\n# TYPE wait_count gauge\nwait_count 3\n",
				"c.prom": "# TYPE wait summary\nwait_sum 1\nwait_count 1\n",
			},
			skips: 2,
			// gatherSeries has no value for a histogram: it reads 0.
			want:   map[string]float64{`io_seconds{}`: 0, `wait_count{}`: 3},
			absent: []string{"wait"},
		},
		{
			name: "a label the registry refuses",
			files: map[string]string{
				"a.prom": "raid_ok{__vd=\"0\"} 1\nraid_ok{vd=\"1\"} 1\n",
			},
			skips: 1,
			want:  map[string]float64{`raid_ok{vd="1"}`: 1},
		},
		{
			name: "unsupported type",
			files: map[string]string{
				"a.prom": "# TYPE q gaugehistogram\nq_bucket{le=\"+Inf\"} 1\nq_count 1\nq_sum 1\nraid_ok 1\n",
			},
			skips: 1,
			want:  map[string]float64{`raid_ok{}`: 1},
		},
		{
			name: "labels as the file wrote them",
			files: map[string]string{
				"a.prom": "raid_ok{vd=\"0\"} 1\nraid_ok{controller=\"0\",vd=\"1\"} 1\nraid_ok 0\n",
			},
			want: map[string]float64{`raid_ok{vd="0"}`: 1, `raid_ok{controller="0",vd="1"}`: 1, `raid_ok{}`: 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plantTree(t, dir, tc.files)
			c, skips := textfileRun(t, dir)
			if skips.Count() != tc.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.skips)
			}
			want := map[string]float64{`hardware_textfile_scrape_error{}`: 0}
			if tc.skips > 0 {
				want[`hardware_textfile_scrape_error{}`] = 1
			}
			for k, v := range tc.want {
				want[k] = v
			}
			got := gatherSeries(t, c)
			for k := range got {
				if strings.HasPrefix(k, "hardware_textfile_mtime_seconds{") {
					delete(got, k)
				}
			}
			assertSeries(t, got, "", want)
			text := string(exposition(t, c))
			checkSeries(t, text, nil, tc.absent)
			for name, help := range tc.help {
				if !strings.Contains(text, "# HELP "+name+" "+help+"\n") {
					t.Errorf("HELP of %s is not %q:\n%s", name, help, text)
				}
			}
		})
	}
}

// A file refused whole gets no mtime series; the others keep theirs.
func TestTextfileBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
	}{
		{"timestamp", func(t *testing.T, path string) { writeFile(t, path, "raid_ok 1 1717988400000\n") }},
		{"syntax", func(t *testing.T, path string) { writeFile(t, path, "raid_ok{vd=\"0\" 1\n") }},
		{"too large", func(t *testing.T, path string) {
			writeFile(t, path, "# "+strings.Repeat("x", textfile.MaxFileSize)+"\nraid_ok 1\n")
		}},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		// Opening a FIFO for reading blocks until a writer comes: the probe
		// must not hang on one.
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Skip(err)
			}
		}},
		{"dangling symlink", func(t *testing.T, path string) {
			if err := os.Symlink("raid.prom.gone", path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "good.prom"), "disk_ok 1\n")
			tc.setup(t, filepath.Join(dir, "bad.prom"))
			c, skips := textfileRun(t, dir)
			if skips.Count() != 1 {
				t.Errorf("skips = %d, want 1", skips.Count())
			}
			got := gatherSeries(t, c)
			delete(got, `hardware_textfile_mtime_seconds{file="good.prom"}`)
			assertSeries(t, got, "", map[string]float64{
				`hardware_textfile_scrape_error{}`: 1,
				`disk_ok{}`:                        1,
			})
		})
	}
}

// The exact check knows every name the probes declare with newDesc.
func TestTextfileOwned(t *testing.T) {
	owned := declaredNames
	for _, n := range []string{"hardware_hwmon_fan_rpm", "hardware_memory_total_bytes", "hardware_cpu_info"} {
		if !owned[n] {
			t.Errorf("%s is not among the owned names", n)
		}
	}
	for n := range owned {
		if !strings.HasPrefix(n, Namespace+"_") {
			t.Errorf("owned name %q outside the namespace", n)
		}
	}
}

// TextfileTestFixture gives the external test package (the daemon's path
// through the metric cache) the materialized server fixture and a copy of
// testdata/textfile with fixed mtimes.
func TextfileTestFixture(t *testing.T) (paths Paths, dir string) {
	return fixturePaths, textfileCopy(t)
}

// Each rejected file gets a warning naming it and saying why.
func TestTextfileLogs(t *testing.T) {
	dir := textfileCopy(t)
	var buf bytes.Buffer
	env := Env{
		Options: &TextfileOptions{Directory: confval.Path(dir)},
		Logger:  slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	p, err := New("textfile")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Probe(context.Background(), env, NewSkips(nil)); err != nil {
		t.Fatal(err)
	}
	for file, why := range map[string]string{
		"lldp.prom":     "expected float as value",
		"ipmi_sel.prom": "client-side timestamp",
		"fans.prom":     "hardware_hwmon_fan_rpm is a name this exporter exports itself",
	} {
		found := false
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "file="+filepath.Join(dir, file)) && strings.Contains(line, why) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning for %s saying %q; log:\n%s", file, why, buf.String())
		}
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Errorf("%d log lines, want 3:\n%s", n, buf.String())
	}
}

// A directory others may write draws one warning per daemon, not one a
// run: the probe runs every minute.
func TestTextfileWarnsOnceOnAWritableDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "disk.prom"), "disk_ok 1\n")
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	env := Env{
		Options: &TextfileOptions{Directory: confval.Path(dir)},
		Logger:  slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	p, err := New("textfile")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := p.Probe(context.Background(), env, NewSkips(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "writable by other users"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "mode 0777") {
		t.Errorf("warning does not say why:\n%s", buf.String())
	}
}

// The series caps are the probe's options: a file over max_series_per_file
// is refused, counted as a skip and reported in
// hardware_textfile_scrape_error, and the other files are kept.
func TestTextfileSeriesCaps(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "many.prom"), "many{i=\"1\"} 1\nmany{i=\"2\"} 2\nmany{i=\"3\"} 3\n")
	writeFile(t, filepath.Join(dir, "few.prom"), "few 1\n")
	env := Env{Paths: fixturePaths, Options: &TextfileOptions{Directory: confval.Path(dir), MaxSeriesPerFile: 2, MaxSeries: 10}}
	p, err := New("textfile")
	if err != nil {
		t.Fatal(err)
	}
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), env, skips)
	if err != nil {
		t.Fatal(err)
	}
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1", skips.Count())
	}
	got := gatherSeries(t, textfileUnchecked(ms))
	assertSeries(t, got, "hardware_textfile_", map[string]float64{
		`hardware_textfile_scrape_error{}`:                 1,
		`hardware_textfile_mtime_seconds{file="few.prom"}`: got[`hardware_textfile_mtime_seconds{file="few.prom"}`],
	})
	if _, ok := got[`few{}`]; !ok {
		t.Error("few.prom was not kept")
	}
	for k := range got {
		if strings.HasPrefix(k, "many{") {
			t.Errorf("kept %s of a file over the cap", k)
		}
	}
}
