package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// The day's config must load in the exporter (it is parsed by the same
// code) with every scheduling duration divided by K and nothing else moved.
func TestExporterConfigDividesSchedulingByCompression(t *testing.T) {
	tree, tools, work := "/t/tree", "/t/tools", "/t/work"
	def := config.Default()
	for _, k := range []float64{1, 60, 240} {
		c, err := config.Parse([]byte(exporterConfig(tree, tools, work, k)))
		if err != nil {
			t.Fatalf("K=%g: %v", k, err)
		}
		scaled := func(d time.Duration) time.Duration {
			return time.Duration(float64(d.Milliseconds())/k) * time.Millisecond
		}
		if got, want := time.Duration(c.Cache.TTL), scaled(time.Duration(def.Cache.TTL)); got != want {
			t.Errorf("K=%g: cache.ttl %v, want %v", k, got, want)
		}
		if got, want := time.Duration(c.Scheduler.Jitter), scaled(time.Duration(def.Scheduler.Jitter)); got != want {
			t.Errorf("K=%g: scheduler.jitter %v, want %v", k, got, want)
		}
		if c.Paths.SysFS != filepath.Join(tree, "sys") || c.Paths.ProcFS != filepath.Join(tree, "proc") || c.Paths.RootFS != filepath.Join(tree, "root") {
			t.Errorf("K=%g: paths %+v", k, c.Paths)
		}
		for _, name := range probe.Names() {
			got, want := c.Probe(name), def.Probe(name)
			if got.Interval != scaled(want.Interval) {
				t.Errorf("K=%g: probes.%s.interval %v, want %v", k, name, got.Interval, scaled(want.Interval))
			}
			if got.Timeout != want.Timeout {
				t.Errorf("K=%g: probes.%s.timeout %v, want it unscaled (%v)", k, name, got.Timeout, want.Timeout)
			}
		}
		if r := c.Probe("smart"); !r.Explicit || r.Options.(*probe.SmartOptions).Command != "/t/tools/smartctl" {
			t.Errorf("K=%g: smart %+v, want enabled on the fake smartctl", k, r)
		}
		if r := c.Probe("textfile"); r.Explicit || r.Options.(*probe.TextfileOptions).Directory != "/t/work/no-textfile-directory" {
			t.Errorf("K=%g: textfile %+v, want left to its default on a missing directory", k, r)
		}
	}
	// 240 makes the 6h default one 90s window.
	c, _ := config.Parse([]byte(exporterConfig(tree, tools, work, 240)))
	if got := time.Duration(c.Probes.Defaults.Interval); got != 90*time.Second {
		t.Errorf("K=240: probes.defaults.interval %v, want 90s", got)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, c.q); got != c.want {
			t.Errorf("percentile(1..100ms, %g) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

// The static handler replays what it fetched, byte for byte, with the
// origin's headers, choosing the variant by Accept-Encoding.
func TestStaticHandlerReplaysTheFetchedVariants(t *testing.T) {
	plain := []byte("# HELP x An x.\n# TYPE x gauge\nx 1\ny{a=\"b\"} 2\n")
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(plain)
	zw.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != prometheusAccept {
			t.Errorf("Accept %q, want Prometheus'", r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "text/plain; version=1.0.0; charset=utf-8; escaping=underscores")
		w.Header().Set("X-Cache", "HIT")
		if r.Header.Get("Accept-Encoding") == "gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(zipped.Bytes())
			return
		}
		w.Write(plain)
	}))
	defer origin.Close()
	ctx := context.Background()
	gz, err := fetchVariant(ctx, origin.URL, "gzip")
	if err != nil {
		t.Fatal(err)
	}
	id, err := fetchVariant(ctx, origin.URL, "identity")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := seriesIn(gz); err != nil || n != 2 {
		t.Errorf("seriesIn(gzip) = %d, %v; want 2", n, err)
	}
	if n, err := seriesIn(id); err != nil || n != 2 {
		t.Errorf("seriesIn(identity) = %d, %v; want 2", n, err)
	}
	dir := t.TempDir()
	if err := saveVariants(dir, gz, id); err != nil {
		t.Fatal(err)
	}
	gz2, err := loadVariant(filepath.Join(dir, "gzip.json"))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := loadVariant(filepath.Join(dir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	replay := httptest.NewServer(staticHandler(gz2, id2))
	defer replay.Close()
	for _, c := range []struct {
		enc, wantEncoding string
		want              []byte
	}{{"gzip", "gzip", zipped.Bytes()}, {"identity", "", plain}} {
		v, err := fetchVariant(ctx, replay.URL, c.enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v.Body, c.want) {
			t.Errorf("%s: replayed %q, want %q", c.enc, v.Body, c.want)
		}
		if got := v.Header.Get("Content-Encoding"); got != c.wantEncoding {
			t.Errorf("%s: Content-Encoding %q, want %q", c.enc, got, c.wantEncoding)
		}
		if v.Header.Get("X-Cache") != "HIT" || v.Header.Get("Content-Type") != "text/plain; version=1.0.0; charset=utf-8; escaping=underscores" {
			t.Errorf("%s: headers not replayed: %v", c.enc, v.Header)
		}
	}
}

func TestCountersReadProbeRunsAndRenders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `# TYPE hardware_exporter_probe_runs_total counter
hardware_exporter_probe_runs_total{probe="hwmon",result="success"} 12
hardware_exporter_probe_runs_total{probe="hwmon",result="failure"} 1
hardware_exporter_probe_runs_total{probe="smart",result="success"} 2
hardware_exporter_response_cache_renders_total 7
hardware_exporter_response_cache_renders_not_stored_total{reason="status"} 3
`)
	}))
	defer srv.Close()
	m, err := counters(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"runs:hwmon": 13, "runs:smart": 2, "renders": 7}
	if len(m) != len(want) {
		t.Errorf("counters = %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("counters[%s] = %g, want %g", k, m[k], v)
		}
	}
}

func TestFormatRatio(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		want string
	}{{294, 1, "294×"}, {10.26, 1, "10.3×"}, {1.031, 1, "1.03×"}, {1, 485, "1/485"}, {1, 0, "n/a"}} {
		if got := formatRatio(c.a, c.b); got != c.want {
			t.Errorf("formatRatio(%g, %g) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}
