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
)

// update rewrites golden files from the probes' current output. Read the diff
// before committing it: a golden file is only as good as its review.
var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// fixturePaths points every root at the shared fixture tree of a real-shaped
// server (testdata/server).
var fixturePaths = Paths{
	ProcFS: "testdata/server/proc",
	SysFS:  "testdata/server/sys",
	RootFS: "testdata/server/root",
}

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
	p, err := New(name, Env{Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	skips := NewSkips(nil)
	metrics, err := p.Probe(context.Background(), skips)
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
