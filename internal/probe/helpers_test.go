package probe

import (
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Helpers shared by the probes' tests. The golden-file machinery (runProbe,
// exposition, checkGolden, fixturePaths, -update) is in golden_test.go.

// --- Fixture trees ---

// writeFile writes content to path, creating its directory.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// plantTree writes files below root. A value starting with "-> " makes a
// symlink to the rest of the value instead, as sysfs is full of them.
func plantTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(root, name)
		target, ok := strings.CutPrefix(content, "-> ")
		if !ok {
			writeFile(t, path, content)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

// treePaths are Paths for a planted tree with proc/ and sys/ below root.
func treePaths(root string) Paths {
	return Paths{ProcFS: filepath.Join(root, "proc"), SysFS: filepath.Join(root, "sys"), RootFS: root}
}

// serverFixtureParts are the parts of the shared server fixture that the
// system and cpu probes read; other probes' fixtures are not copied.
var serverFixtureParts = []string{
	"proc/cpuinfo", "proc/modules", "proc/stat", "proc/sys/kernel",
	"sys/class/dmi", "sys/devices/system/cpu", "root/etc",
}

// copyServerFixture copies the system and cpu parts of the shared server
// fixture into a temporary directory, so a test can break them without
// touching testdata.
func copyServerFixture(t *testing.T) Paths {
	t.Helper()
	dir := t.TempDir()
	for _, part := range serverFixtureParts {
		src, dst := filepath.Join(fixtureRoot, part), filepath.Join(dir, part)
		fi, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() {
			err = os.CopyFS(dst, os.DirFS(src))
		} else {
			var b []byte
			if b, err = os.ReadFile(src); err == nil {
				writeFile(t, dst, string(b))
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return Paths{
		ProcFS: filepath.Join(dir, "proc"),
		SysFS:  filepath.Join(dir, "sys"),
		RootFS: filepath.Join(dir, "root"),
	}
}

// replaceWithDir turns path into a directory: opening it succeeds and reading
// it fails with EISDIR, an unreadable file even for root.
func replaceWithDir(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

// --- Gathering and checking series ---

// gather collects c through a pedantic registry, which rejects inconsistent
// descriptors, duplicate series and undeclared metrics.
func gather(t *testing.T, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return mfs
}

// gatherSeries renders c's metrics as `name{label="value",...}` → value,
// through a pedantic registry so duplicate series fail the test.
func gatherSeries(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, mf := range gather(t, c) {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+`"`+l.GetValue()+`"`)
			}
			sort.Strings(ls)
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = metricValue(m)
		}
	}
	return out
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// assertSeries checks that got holds exactly want among the series whose
// name starts with prefix.
func assertSeries(t *testing.T, got map[string]float64, prefix string, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("missing %s", k)
		case g != v:
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, prefix) {
			t.Errorf("unexpected %s = %v", k, v)
		}
	}
}

// probeText runs the probe called name on paths and returns its exposition.
func probeText(t *testing.T, name string, paths Paths) (string, *Skips) {
	t.Helper()
	c, skips := runProbe(t, name, paths)
	return string(exposition(t, c)), skips
}

// checkSeries fails t unless text contains each line of want and none of
// the metric names in absent.
func checkSeries(t *testing.T, text string, want, absent []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, "\n"+w+"\n") {
			t.Errorf("missing series %s", w)
		}
	}
	for _, name := range absent {
		if strings.Contains(text, "\n"+name+"{") || strings.Contains(text, "\n"+name+" ") {
			t.Errorf("unexpected series %s", name)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}

// degradedCase breaks one thing in a copy of the server fixture and says
// what the probe must still export.
type degradedCase struct {
	name      string
	break_    func(t *testing.T, p Paths)
	skips     int
	want      []string // exposition lines that must be present
	absent    []string // metric names that must not be
	needsUser bool     // file modes do not stop root
}

// runDegraded runs the probe called probeName once per case, in parallel,
// each on its own broken copy of the server fixture.
func runDegraded(t *testing.T, probeName string, tests []degradedCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.needsUser && os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			paths := copyServerFixture(t)
			tt.break_(t, paths)
			text, skips := probeText(t, probeName, paths)
			if skips.Count() != tt.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tt.skips)
			}
			checkSeries(t, text, tt.want, tt.absent)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// withCommand returns the named tool probe's default options with its
// command replaced.
func withCommand(name, command string) any {
	switch name {
	case "smart":
		o := newSmartOptions()
		o.Command = confval.Path(command)
		return o
	case "ipmi":
		o := newIPMIOptions()
		o.Command = confval.Path(command)
		return o
	case "gpu":
		return &GPUOptions{Command: confval.Path(command)}
	}
	panic("no tool probe named " + name)
}
