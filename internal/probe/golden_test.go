package probe

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// update rewrites golden files from the probes' current output. Read the diff
// before committing it: a golden file is only as good as its review.
var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// fixtureRoot is testdata/server, materialized by TestMain with real
// colons in its names (see package fixture), and fixturePaths point every
// root into it: the shared fixture tree of a real-shaped server.
var (
	fixtureRoot  string
	fixturePaths Paths
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(fixture.WithTree(filepath.Join("testdata", "server"), func(root string) int {
		fixtureRoot = root
		fixturePaths = Paths{
			ProcFS: filepath.Join(root, "proc"),
			SysFS:  filepath.Join(root, "sys"),
			RootFS: filepath.Join(root, "root"),
		}
		return m.Run()
	}))
}

// fixtureOptions are the Options each probe runs with in tests that use the
// fixture tree: tool probes point Command at a fake tool that prints
// captured output. Probe test files fill it from init.
var fixtureOptions = map[string]any{}

// collected adapts one probe run to a prometheus.Collector, so tests can use
// a pedantic registry and testutil on it.
type collected struct {
	p       Probe
	metrics []prometheus.Metric
}

func (c collected) Describe(ch chan<- *prometheus.Desc) { c.p.Describe(ch) }
func (c collected) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		ch <- m
	}
}

// runProbe builds the probe called name on paths and runs it once.
func runProbe(t *testing.T, name string, paths Paths) (collected, *Skips) {
	t.Helper()
	env := Env{Paths: paths, Options: fixtureOptions[name]}
	p, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := p.(Closer); ok {
		t.Cleanup(c.Close)
	}
	skips := NewSkips(nil)
	metrics, err := p.Probe(context.Background(), env, skips)
	if err != nil {
		t.Fatalf("probe %s: %v", name, err)
	}
	return collected{p: p, metrics: metrics}, skips
}

// exposition renders c in the text format, through a pedantic registry that
// rejects inconsistent descriptors, duplicate series and undeclared metrics
// (see gather).
func exposition(t *testing.T, c prometheus.Collector) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range gather(t, c) {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	return buf.Bytes()
}

// checkGolden runs the probe on the fixture tree, lints its output and
// compares it with testdata/<name>.golden.
func checkGolden(t *testing.T, name string) {
	t.Helper()
	c, skips := runProbe(t, name, fixturePaths)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	got := exposition(t, c)
	golden := filepath.Join("testdata", name+".golden")
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
		t.Errorf("probe %s output differs from %s (skips: %d); got:\n%s", name, golden, skips.Count(), got)
	}
}
