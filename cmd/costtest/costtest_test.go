package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
		c, err := config.Parse([]byte(exporterConfig(tree, tools, work, k, allProbes)))
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
	c, _ := config.Parse([]byte(exporterConfig(tree, tools, work, 240, allProbes)))
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
# TYPE go_cpu_classes_gc_total_cpu_seconds_total counter
go_cpu_classes_gc_total_cpu_seconds_total 0.25
go_cpu_classes_gc_mark_assist_cpu_seconds_total 0.125
go_cpu_classes_scavenge_total_cpu_seconds_total 0.5
go_gc_cycles_total_gc_cycles_total 42
go_goroutines 31
go_gc_duration_seconds_count 40
`)
	}))
	defer srv.Close()
	m, err := counters(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"runs:hwmon": 13, "runs:smart": 2, "renders": 7,
		"gc_cpu": 0.25, "scavenge_cpu": 0.5, "gc_cycles": 42, "goroutines": 31}
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

// The like-for-like exporter runs every probe but the BMC and GPU ones, the
// BMC+GPU exporter only those; smart is like for like.
func TestExporterConfigEnablesOnlyTheChosenProbes(t *testing.T) {
	for _, v := range dayExporters {
		c, err := config.Parse([]byte(exporterConfig("/t/tree", "/t/tools", "/t/work", 20, v.probes)))
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		for _, name := range probe.Names() {
			if got, want := c.Probe(name).Enabled, v.probes(name); got != want && name != "textfile" {
				t.Errorf("%s: probes.%s.enabled %v, want %v", v.name, name, got, want)
			}
		}
	}
	if !dayExporters[dayLike].probes("smart") || dayExporters[dayLike].probes("ipmi") || !dayExporters[dayBMCGPU].probes("gpu") {
		t.Error("smart must be like for like, ipmi and gpu BMC+GPU")
	}
}

func TestOptionsResolveModes(t *testing.T) {
	for _, c := range []struct {
		name     string
		o        options
		set      []string
		smoke    bool
		wantK    float64
		wantDay  time.Duration
		wantLoad time.Duration
		wantErr  bool
	}{
		// 6h ÷ 20: every default interval comes round once.
		{name: "default", o: options{compress: 20, load: 30 * time.Second, batch: time.Second, conns: 8}, wantK: 20, wantDay: 18 * time.Minute, wantLoad: 30 * time.Second},
		{name: "K=240", o: options{compress: 240, load: 30 * time.Second, batch: time.Second, conns: 8}, set: []string{"compress"}, wantK: 240, wantDay: 90 * time.Second, wantLoad: 30 * time.Second},
		{name: "realtime", o: options{compress: 20, realtime: true, load: 30 * time.Second, batch: time.Second, conns: 8}, wantK: 1, wantDay: 10 * time.Minute, wantLoad: 0},
		{name: "realtime with load", o: options{compress: 20, realtime: true, load: 5 * time.Second, batch: time.Second, conns: 8}, set: []string{"load"}, wantK: 1, wantDay: 10 * time.Minute, wantLoad: 5 * time.Second},
		{name: "realtime, day given", o: options{compress: 20, realtime: true, day: 12 * time.Minute, batch: time.Second, conns: 8}, set: []string{"day"}, wantK: 1, wantDay: 12 * time.Minute},
		{name: "realtime and K", o: options{compress: 20, realtime: true, conns: 8}, set: []string{"compress"}, wantErr: true},
		{name: "smoke", o: options{compress: 20, load: 30 * time.Second, batch: time.Second, conns: 8}, smoke: true, wantK: 20, wantDay: 4 * time.Second, wantLoad: 3 * time.Second},
		{name: "K below 1", o: options{compress: 0.5, conns: 8}, set: []string{"compress"}, wantErr: true},
	} {
		set := map[string]bool{}
		for _, f := range c.set {
			set[f] = true
		}
		o := c.o
		err := o.resolve(set, c.smoke)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: error %v, want error %v", c.name, err, c.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if o.compress != c.wantK || o.day != c.wantDay || o.load != c.wantLoad {
			t.Errorf("%s: K %g day %v load %v, want %g, %v, %v", c.name, o.compress, o.day, o.load, c.wantK, c.wantDay, c.wantLoad)
		}
		if o.timeout != o.load+preWindowWait(o.compress, o.day)+o.day+8*time.Minute {
			t.Errorf("%s: timeout %v, want load+wait+day+8m", c.name, o.timeout)
		}
	}
}

// dayFixture is a day of K=20 over 60s of wall time (20 simulated minutes).
func dayFixture() *report {
	ms := time.Millisecond
	d := &dayResult{
		window: time.Minute,
		cpu: []cpuUsage{
			{own: 900 * ms, children: 300 * ms},  // whole
			{own: 500 * ms, children: 100 * ms},  // like
			{own: 200 * ms, children: 200 * ms},  // BMC+GPU
			{own: 1000 * ms, children: 300 * ms}, // whole, profiled
			{own: 2 * time.Second},               // node_exporter: 100 scrapes
			{own: 40 * ms},                       // static: 80 scrapes
		},
		scrapes:  []int{160, 160, 160, 160, 100, 80},
		failures: make([]int, 6),
		conns:    make([]int, 6),
		before:   []map[string]float64{{"gc_cpu": 1, "gc_cycles": 10, "renders": 3}, {}, {}, {}, nil, nil},
		// runs:hwmon is absent at the start: hwmon had not run yet.
		after: []map[string]float64{{"gc_cpu": 1.2, "gc_cycles": 30, "renders": 23, "goroutines": 30, "runs:hwmon": 20}, {}, {}, {}, nil, nil},
		prof:  make([]profileSums, 5),
	}
	d.prof[dayProfiled].add([]profSample{
		{cpu: 400 * ms, funcs: []string{"x.Probe"}, labels: map[string]string{"probe": "hwmon"}},
		{cpu: 200 * ms, funcs: []string{"compress/flate.deflate"}},
		{cpu: 100 * ms, funcs: []string{"runtime.gcBgMarkWorker"}},
	})
	d.prof[dayBMCGPU].add([]profSample{
		{cpu: 60 * ms, funcs: []string{"x.Probe"}, labels: map[string]string{"probe": "ipmi"}},
		{cpu: 20 * ms, funcs: []string{"x.Probe"}, labels: map[string]string{"probe": "gpu"}},
		{cpu: 100 * ms, funcs: []string{"compress/flate.deflate"}},
	})
	return &report{
		opts:   options{compress: 20},
		series: []int{1000, 800},
		day:    d,
		memory: make([]memory, 6),
	}
}

func TestReportArithmetic(t *testing.T) {
	r := dayFixture()
	if got := r.simulated(); got != 20*time.Minute {
		t.Fatalf("simulated %v, want 20m (60s × 20)", got)
	}
	// Exporters: the window's CPU × 86400 / 1200.
	own, children := r.cpuPerDay(dayLike)
	if !near(own, 36) || !near(children, 7.2) {
		t.Errorf("like for like per day: own %g children %g, want 36 and 7.2", own, children)
	}
	// node_exporter: 20 ms a scrape × 11,520 scrapes a day.
	if own, _ := r.cpuPerDay(dayNode); !near(own, 230.4) {
		t.Errorf("node_exporter per day %g, want 230.4", own)
	}
	if got := r.perMinute(r.day.prof[dayBMCGPU].probes(bmcGPUProbes)); got != 4*time.Millisecond {
		t.Errorf("BMC+GPU Go side %v a minute, want 4ms (80ms over 20 minutes)", got)
	}
	if got, ok := r.counterPerMinute(dayWhole, "gc_cycles"); !ok || got != 1 {
		t.Errorf("GC cycles a minute %g, %v; want 1", got, ok)
	}
	if got, ok := delta(r.day, dayWhole, "runs:hwmon"); !ok || got != 20 {
		t.Errorf("hwmon runs %g, %v; want 20 counted from 0", got, ok)
	}
	if _, ok := r.counterPerMinute(dayLike, "gc_cycles"); ok {
		t.Error("a counter the exporter does not have reads as present")
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

// The printed report carries the three lines the issue asks for, with the
// numbers of TestReportArithmetic.
func TestReportPrintsTheThreeLines(t *testing.T) {
	var b strings.Builder
	dayFixture().print(&b)
	// Compared with runs of blanks as one: the table's alignment is
	// tabwriter's business.
	out := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"(a) like for like 43.2 s 36.0 s 7.2 s 230.4 s 0.19×",
		"(c) whole daemon 86.4 s 64.8 s 21.6 s 230.4 s 0.37×", // 0.375, as %.2f rounds it
		"(b) BMC and GPU probes, CPU per minute of host time (their own exporter): Go side 4.00 ms (gpu 1.00 ms, ipmi 3.00 ms, raid 0, sel 0;",
		"children (fake tools) 10.00 ms",
		"runtime/metrics: GC CPU 10.00 ms a minute",
		"1.00 GC cycles a minute",
		"probe:hwmon",
		"whole daemon's renders in the window: 20 (1.00 per minute of host time)",
		"hwmon 20 (20.0)",
		"profiling's own cost: the twin's own CPU 50.00 ms a minute, the unprofiled whole daemon's 45.00 ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "req/s") {
		t.Error("a report without the scrape-cost phase prints its table")
	}
}

// A day scraper keeps one connection, as a Prometheus server does, and
// sends Prometheus' headers.
func TestScraperKeepsOneConnection(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	headers := make(chan http.Header, 100)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case headers <- r.Header.Clone():
		default:
		}
		io.WriteString(w, "x 1\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()

	s := newScraper(&target{name: "t", url: srv.URL}, 5*time.Millisecond, 0)
	s.timeout = 10 * time.Second // a slow machine must not close the connection by timing out
	s.setWindow(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx) }()
	deadline := time.After(10 * time.Second)
	for n := 0; n < 5; {
		select {
		case <-deadline:
			t.Fatal("fewer than 5 scrapes in 10s")
		case h := <-headers:
			n++
			if h.Get("Accept") != prometheusAccept || h.Get("Accept-Encoding") != "gzip" || h.Get("User-Agent") != prometheusUserAgent ||
				h.Get("X-Prometheus-Scrape-Timeout-Seconds") != "10" {
				t.Errorf("headers %v, want Prometheus'", h)
			}
		}
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("%d connections for 5 scrapes, want 1 (keep-alive)", conns)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.windowConns != 1 || s.failures != 0 {
		t.Errorf("scraper counted %d new connections and %d failures, want 1 and 0", s.windowConns, s.failures)
	}
}

// The window opens half the longest interval that fits in it after the
// start-up runs, so that it holds each probe's scheduled runs.
func TestPreWindowWait(t *testing.T) {
	for _, c := range []struct {
		k      float64
		window time.Duration
		want   time.Duration
	}{
		{20, 18 * time.Minute, 9 * time.Minute},        // 6h ÷ 20 fits: 9m
		{1, 10 * time.Minute, 150 * time.Second},       // real time: 5m fits, 6h does not
		{20, 4 * time.Second, 1500 * time.Millisecond}, // smoke: only 1m ÷ 20 = 3s fits
		{20, time.Second, 1500 * time.Millisecond},     // none fits: two scrape intervals
		{240, 90 * time.Second, 45 * time.Second},      // 6h ÷ 240
	} {
		if got := preWindowWait(c.k, c.window); got != c.want {
			t.Errorf("preWindowWait(%g, %v) = %v, want %v", c.k, c.window, got, c.want)
		}
	}
}

// TestCPUOfIsExact checks the process's own time against getrusage(2),
// which the kernel also keeps exact: /proc/PID/stat's 10 ms ticks would be
// off by up to 20 ms (utime and stime each truncated).
func TestCPUOfIsExact(t *testing.T) {
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	r0 := rusage()
	c0, err := cpuOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for x, deadline := 0, time.Now().Add(37*time.Millisecond); time.Now().Before(deadline); x++ {
		_ = x * x
	}
	c1, err := cpuOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	r1 := rusage()
	got, want := c1.sub(c0).own, r1-r0
	// getrusage brackets the two reads, so got may fall short of want by
	// what the reads themselves took, and never exceeds it.
	if got > want+time.Millisecond || got < want-3*time.Millisecond {
		t.Fatalf("cpuOf moved %v while getrusage moved %v", got, want)
	}
}

// The static handler runs on the exporter's Ps: its default, 1, unless
// -exporter-env gives GOMAXPROCS.
func TestStaticHandlerRunsOnTheExportersPs(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want string
	}{
		{nil, "1"},
		{[]string{"GOGC=200"}, "1"},
		{[]string{"GOMAXPROCS=2", "GOGC=200"}, "2"},
	} {
		if got := exporterMaxProcs(c.env); got != c.want {
			t.Errorf("%v: %s, want %s", c.env, got, c.want)
		}
	}
}
