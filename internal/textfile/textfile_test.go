package textfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	r, err := ReadDir(context.Background(), "testdata", reserved)
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
	if _, err := ReadDir(context.Background(), filepath.Join(t.TempDir(), "gone"), reserved); err == nil {
		t.Error("a missing directory read without error")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.prom"), []byte("ok 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadDir(ctx, dir, reserved); !errors.Is(err, context.Canceled) {
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
		r, err := ReadDir(context.Background(), dir, reserved)
		if err != nil {
			t.Fatal(err)
		}
		gather(t, r.Metrics, own)
	})
}
