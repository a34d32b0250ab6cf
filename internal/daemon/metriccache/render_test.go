package metriccache

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/respcache"
	"github.com/hardware-exporter/hardware_exporter/internal/test/gunzip"
)

// Scrapers' Accept headers (as in respcache's equivalence test).
var renderAccepts = map[string]string{
	"none":             "",
	"prometheus-2.42":  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
	"prometheus-3":     "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
	"protobuf-first":   "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3",
	"proto-utf8":       "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8",
	"text-underscores": "text/plain;version=1.0.0;escaping=underscores",
}

var renderEncodings = []string{"", "gzip", "identity;q=0, *;q=0", "zstd;q=1, gzip;q=0.5"}

var renderTargets = []string{
	"/metrics",
	"/metrics?name[]=hardware_firmware_info&name[]=hardware_probe_success",
	"/metrics?name[]=hardware_firmware_info&name[]=hardware.test_utf8&name[]=hardware_disk_temperature_celsius",
	"/metrics?name[]=",
}

var (
	testFirmware = prometheus.NewDesc("hardware_firmware_info", "Firmware of a device.", []string{"component", "device", "version"}, nil)
	testTemp     = prometheus.NewDesc("hardware_disk_temperature_celsius", "Disk temperature.", []string{"device"}, nil)
	testUTF8     = prometheus.NewDesc("hardware.test_utf8", "A dotted name, escaped unless the scraper allows UTF-8.", []string{"sensor.name"}, nil)
	testHist     = prometheus.NewDesc("hardware_test_latency_seconds", "A histogram.", []string{"device"}, nil)
	testOther    = prometheus.NewDesc("hardware_zz_last", "Sorts last.", nil, nil)
)

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// sharedState fills c as a host whose probes share families: bmc and nic
// both feed hardware_firmware_info, with label values that interleave;
// every probe feeds the status families; smart failed after a success
// (its data stays), gpu never succeeded, and a dropped probe is gone.
func sharedState(c *Cache, round int, hist bool) {
	now := time.Unix(1_700_000_000+int64(round)*60, 0)
	v := float64(round)
	bmc := []prometheus.Metric{
		gauge(testFirmware, 1, "bmc", "bmc0", "1.2"),
		gauge(testFirmware, 1, "nic", "eth2", "22.1"), // sorts between nic's own
		gauge(testUTF8, 41.5+v, "cpu.package"),
	}
	if hist { // state files keep no histograms
		bmc = append(bmc, prometheus.MustNewConstHistogram(testHist, 7, 12.5+v, map[float64]uint64{0.1: 1, 1: 4, 10: 7}, "bmc0"))
	}
	c.Store("bmc", Result{Start: now, Duration: time.Second, Interval: 5 * time.Minute, Metrics: bmc})
	c.Store("nic", Result{Start: now, Duration: 2 * time.Millisecond, Interval: time.Minute, Metrics: []prometheus.Metric{
		gauge(testFirmware, 1, "nic", "eth0", "20.0"),
		gauge(testFirmware, 1, "nic", "eth9", "20.1"),
		gauge(testOther, v),
	}})
	c.Store("smart", Result{Start: now.Add(-time.Hour), Interval: time.Minute, Metrics: []prometheus.Metric{
		gauge(testTemp, 30+v, "sda"), gauge(testTemp, 31, "sdb"),
	}})
	c.Store("smart", Result{Start: now, Err: errors.New("smartctl: timeout"), Interval: time.Minute})
	c.Store("gpu", Result{Start: now, Err: errors.New("nvidia-smi: not found"), Interval: time.Minute})
	c.Store("dropped", Result{Start: now, Interval: time.Minute, Metrics: []prometheus.Metric{gauge(testTemp, 5, "dropped0")}})
	c.Retain("bmc", "nic", "smart", "gpu")
	c.SetInterval("nic", 2*time.Minute)
}

// renderPair returns promhttp over a registry of c and the build info, as
// the daemon's registry, and a response cache in front of it that renders
// with c's Renderer.
func renderPair(t *testing.T, c *Cache, openMetrics bool, log promhttp.Logger) (bare, cached http.Handler, r *Renderer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, versioncollector.NewCollector("hardware_exporter"))
	formats := expfmt.DefaultAcceptedFormats()
	if openMetrics {
		formats = expfmt.DefaultOpenMetricsAcceptedFormats()
	}
	bare = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: openMetrics, ErrorLog: log})
	r = c.NewRenderer(versioncollector.NewCollector("hardware_exporter"))
	cached = respcache.New(bare, respcache.Options{Generation: c, AcceptedFormats: formats, Renderer: r, MaxEntries: 1000})
	return bare, cached, r
}

func request(h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func gunzipGo(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gzipBodies collects the distinct gzip bodies a test served, to decode
// each once with every decoder.
type gzipBodies struct {
	mu   sync.Mutex
	seen map[[32]byte]bool
	list [][2][]byte // gzip body, identity body
}

func (g *gzipBodies) add(gz, plain []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := sha256.Sum256(gz)
	if g.seen == nil {
		g.seen = map[[32]byte]bool{}
	}
	if !g.seen[k] {
		g.seen[k] = true
		g.list = append(g.list, [2][]byte{gz, plain})
	}
}

// decodeAll decodes every collected gzip body with Go, Python's zlib and
// curl --compressed and compares each with the identity body.
func (g *gzipBodies) decodeAll(t *testing.T) {
	t.Helper()
	for _, b := range g.list {
		for dec, got := range gunzip.Decode(t, b[0]) {
			if !bytes.Equal(got, b[1]) {
				t.Errorf("%s decodes a gzip body to %d bytes, want the identity body's %d", dec, len(got), len(b[1]))
			}
		}
	}
}

// compareAll checks, for every scraper, coding and filter, that the cache
// rendering through r answers with promhttp's status, headers and bytes
// (for gzip: the bytes it decodes to, since the compressor differs), and
// that r rendered them rather than promhttp.
func compareAll(t *testing.T, bare, cached http.Handler, r *Renderer, gz *gzipBodies) {
	t.Helper()
	for aname, accept := range renderAccepts {
		for _, ae := range renderEncodings {
			for _, target := range renderTargets {
				hdr := []string{"Cache-Control", "no-cache"} // a render every time
				if accept != "" {
					hdr = append(hdr, "Accept", accept)
				}
				if ae != "" {
					hdr = append(hdr, "Accept-Encoding", ae)
				}
				name := fmt.Sprintf("%s/%q/%s", aname, ae, target)
				want, got := request(bare, target, hdr...), request(cached, target, hdr...)
				if got.Code != want.Code {
					t.Fatalf("%s: status %d, want %d", name, got.Code, want.Code)
				}
				for _, h := range []string{"Content-Type", "Content-Encoding", "Vary"} {
					if g, w := got.Header().Values(h), want.Header().Values(h); !slices.Equal(g, w) {
						t.Errorf("%s: %s = %q, want %q", name, h, g, w)
					}
				}
				wantBody, gotBody := want.Body.Bytes(), got.Body.Bytes()
				if want.Header().Get("Content-Encoding") == "gzip" {
					wantBody, gotBody = gunzipGo(t, wantBody), gunzipGo(t, got.Body.Bytes())
					if !strings.Contains(target, "?") { // each distinct body once, at a process start each
						gz.add(got.Body.Bytes(), gotBody)
					}
				}
				if !bytes.Equal(gotBody, wantBody) {
					t.Fatalf("%s: body differs from promhttp's:\n%s\nwant:\n%s", name, gotBody, wantBody)
				}
				if len(wantBody) == 0 && !strings.HasSuffix(target, "name[]=") {
					t.Fatalf("%s: empty body", name)
				}
				format := expfmt.Format(want.Header().Get("Content-Type"))
				coding := want.Header().Get("Content-Encoding")
				if coding == "" {
					coding = "identity"
				}
				if _, ok := r.Render(format, coding, nil); !ok {
					t.Fatalf("%s: the renderer declined %s, %s; promhttp rendered it", name, format, coding)
				}
			}
		}
	}
}

// TestRenderEquivalence checks the Renderer against promhttp over the same
// cache for every format it offers (with OpenMetrics and without), both
// codings and name[] filters, before and after a round of new results: a
// family two probes feed, the status families of every probe, a failed
// probe's stale data, a probe that never succeeded, a retained-away probe
// and a changed interval.
func TestRenderEquivalence(t *testing.T) {
	var gz gzipBodies
	for _, om := range []bool{false, true} {
		t.Run(fmt.Sprintf("openmetrics=%t", om), func(t *testing.T) {
			c := New()
			bare, cached, r := renderPair(t, c, om, nil)
			for round := range 2 {
				sharedState(c, round, true)
				compareAll(t, bare, cached, r, &gz)
			}
		})
	}
	gz.decodeAll(t)
}

// TestRenderEquivalenceRestored checks the Renderer on data restored from
// state files, which holds no run of this process yet.
func TestRenderEquivalenceRestored(t *testing.T) {
	dir := t.TempDir()
	c := New()
	sharedState(c, 0, false)
	var l logs
	st := newState(t, openDir(t, dir, hostA), c, &l)
	for _, p := range []string{"bmc", "nic", "smart"} {
		st.Save(p)
	}
	st.Flush(5 * time.Second)

	restored := New()
	rst := newState(t, openDir(t, dir, hostA), restored, &l)
	now := time.Unix(1_700_000_000, 0).Add(time.Minute)
	for _, p := range []string{"bmc", "nic", "smart"} {
		if !rst.Restore(p, Want{Interval: time.Hour, MaxAge: 2 * time.Hour}, now) {
			t.Fatalf("%s not restored:\n%s", p, l.String())
		}
	}
	var gz gzipBodies
	bare, cached, r := renderPair(t, restored, false, nil)
	compareAll(t, bare, cached, r, &gz)
	gz.decodeAll(t)
}

// errLog keeps what promhttp logs.
type errLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *errLog) Println(v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintln(v...))
}

// Where the probes' families disagree (another HELP for a shared family),
// repeat a series across probes, or collide by suffix with a histogram,
// Registry.Gather reports an error and promhttp logs it and serves the
// rest. The Renderer declines those states, so the response and the error
// log are still promhttp's.
func TestRenderDeclinesWhatGatherRefuses(t *testing.T) {
	otherHelp := prometheus.NewDesc("hardware_firmware_info", "Another help.", []string{"component", "device", "version"}, nil)
	histCount := prometheus.NewDesc("hardware_test_latency_seconds_count", "Collides.", nil, nil)
	for name, second := range map[string][]prometheus.Metric{
		"help":      {gauge(otherHelp, 1, "nic", "eth0", "1")},
		"duplicate": {gauge(testFirmware, 1, "bmc", "bmc0", "1.2")},
		"suffix":    {gauge(histCount, 1)},
	} {
		t.Run(name, func(t *testing.T) {
			c := New()
			now := time.Unix(1_700_000_000, 0)
			c.Store("bmc", Result{Start: now, Metrics: []prometheus.Metric{
				gauge(testFirmware, 1, "bmc", "bmc0", "1.2"),
				prometheus.MustNewConstHistogram(testHist, 7, 12.5, map[float64]uint64{1: 4}, "bmc0"),
			}})
			c.Store("nic", Result{Start: now, Metrics: second})
			log := &errLog{}
			bare, cached, r := renderPair(t, c, false, log)
			if _, ok := r.Render(expfmt.NewFormat(expfmt.TypeTextPlain), "identity", nil); ok {
				t.Error("rendered a state Registry.Gather refuses")
			}
			want := request(bare, "/metrics")
			log.lines = nil
			got := request(cached, "/metrics")
			// Which of two clashing families Gather keeps depends on the
			// order it collects in, which is map order: compare bodies
			// only where both choices are the same bytes.
			if name == "duplicate" && (!bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || got.Code != want.Code) {
				t.Errorf("response differs from promhttp's:\n%s\nwant:\n%s", got.Body, want.Body)
			}
			// promhttp rendered it: it logged the gather error.
			if len(log.lines) != 1 || !strings.HasPrefix(log.lines[0], "error gathering metrics:") {
				t.Errorf("logged %q, want promhttp's gather error", log.lines)
			}
		})
	}
}

// A shared family is merged with its series in Gather's order, whichever
// probe stored last; a store of one probe changes only that probe's part.
func TestRenderMergesSharedFamily(t *testing.T) {
	c := New()
	_, _, r := renderPair(t, c, false, nil)
	now := time.Unix(1_700_000_000, 0)
	c.Store("nic", Result{Start: now, Metrics: []prometheus.Metric{gauge(testFirmware, 1, "nic", "eth0", "20.0")}})
	c.Store("bmc", Result{Start: now, Metrics: []prometheus.Metric{gauge(testFirmware, 1, "bmc", "bmc0", "1.2"), gauge(testFirmware, 1, "x", "a", "1")}})
	body, ok := r.Render(expfmt.NewFormat(expfmt.TypeTextPlain), "identity", []string{"hardware_firmware_info"})
	if !ok {
		t.Fatal("declined")
	}
	want := `# HELP hardware_firmware_info Firmware of a device.
# TYPE hardware_firmware_info gauge
hardware_firmware_info{component="bmc",device="bmc0",version="1.2"} 1
hardware_firmware_info{component="nic",device="eth0",version="20.0"} 1
hardware_firmware_info{component="x",device="a",version="1"} 1
`
	if string(body) != want {
		t.Errorf("got:\n%s\nwant:\n%s", body, want)
	}
}

// newStatusPart builds, without a registry, the families a registry
// gathers from the status series: the same names, HELP and series.
func TestStatusPartIsWhatAGatherReturns(t *testing.T) {
	s := &snapshot{lastSuccess: time.Unix(1_700_000_000, 0), inventoryChange: time.Unix(1_600_000_000, 0), duration: time.Second, skipped: 3, restored: true}
	ms := s.statusMetrics("smart", true, time.Minute)
	if len(ms) != 7 {
		t.Fatalf("%d status series, want all 7", len(ms))
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	got, want := newStatusPart(ms, []expfmt.Format{format}, nil), newPart(ms, []expfmt.Format{format}, nil)
	if want.err != nil {
		t.Fatal(want.err)
	}
	if g, w := got.encoding(format).all, want.encoding(format).all; !bytes.Equal(g, w) {
		t.Errorf("status part:\n%s\nwant what a registry gathers:\n%s", g, w)
	}
}

// Renders in every coding run while probes store, retain and change
// intervals (for -race), and each body is promhttp's for some state: it
// decodes and holds every family that all states share.
func TestRenderConcurrentWithStores(t *testing.T) {
	c := New()
	sharedState(c, 0, true)
	r := c.NewRenderer(versioncollector.NewCollector("hardware_exporter"))
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := 1; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			sharedState(c, round, round%2 == 0)
		}
	}()
	deadline := time.Now().Add(time.Second)
	for _, coding := range []string{"identity", "gzip"} {
		for time.Now().Before(deadline) {
			body, ok := r.Render(format, coding, nil)
			if !ok {
				t.Fatal("declined")
			}
			if coding == "gzip" {
				body = gunzipGo(t, body)
			}
			for _, want := range []string{"# TYPE hardware_firmware_info gauge\n", "hardware_probe_success{probe=\"gpu\"} 0\n", "hardware_exporter_build_info{"} {
				if !bytes.Contains(body, []byte(want)) {
					t.Fatalf("%s body lacks %q:\n%s", coding, want, body)
				}
			}
		}
		deadline = time.Now().Add(time.Second)
	}
	close(stop)
	wg.Wait()
}

// rawMetric writes whatever dto.Metric it holds, as a broken collector's
// metric might.
type rawMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (r rawMetric) Desc() *prometheus.Desc { return r.desc }
func (r rawMetric) Write(m *dto.Metric) error {
	m.Label, m.Gauge, m.Counter, m.TimestampMs = r.m.Label, r.m.Gauge, r.m.Counter, r.m.TimestampMs
	return nil
}

// quickGather returns what Registry.Gather returns, or declines: never
// other families, never families where Gather reports an error.
func TestQuickGatherIsRegistryGather(t *testing.T) {
	lp := func(kv ...string) []*dto.LabelPair {
		var l []*dto.LabelPair
		for i := 0; i+1 < len(kv); i += 2 {
			l = append(l, &dto.LabelPair{Name: &kv[i], Value: &kv[i+1]})
		}
		return l
	}
	g := func(v float64) *dto.Gauge { return &dto.Gauge{Value: &v} }
	counter := prometheus.NewDesc("hardware_test_errors_total", "Errors.", []string{"device"}, nil)
	summary := prometheus.NewDesc("hardware_test_latency", "A summary.", []string{"device"}, nil)
	withTS := prometheus.NewMetricWithTimestamp(time.Unix(1_700_000_000, 0), gauge(testTemp, 3, "sdz"))
	otherHelp := prometheus.NewDesc("hardware_disk_temperature_celsius", "Other help.", []string{"device"}, nil)
	twoLabels := prometheus.NewDesc("hardware_disk_temperature_celsius", "Disk temperature.", []string{"bus", "device"}, nil)
	raw := prometheus.NewDesc("hardware_raw", "Raw.", []string{"a", "b"}, nil)
	cases := map[string]struct {
		ms   []prometheus.Metric
		want bool // quickGather must accept
	}{
		"kinds": {[]prometheus.Metric{
			gauge(testTemp, 31, "sdb"), gauge(testTemp, 30, "sda"), gauge(testUTF8, 1, "cpu.package"),
			prometheus.MustNewConstMetric(counter, prometheus.CounterValue, 4, "sda"),
			prometheus.MustNewConstHistogram(testHist, 7, 12.5, map[float64]uint64{0.1: 1, 1: 4}, "bmc0"),
			prometheus.MustNewConstSummary(summary, 3, 1.5, map[float64]float64{0.5: 0.2}, "sda"),
			gauge(testOther, 2), withTS, gauge(testFirmware, 1, "b", "x", "1"), gauge(testFirmware, 1, "a", "y", "\u00e9"),
		}, true},
		"duplicate":            {[]prometheus.Metric{gauge(testTemp, 1, "sda"), gauge(testTemp, 2, "sda")}, false},
		"other help":           {[]prometheus.Metric{gauge(testTemp, 1, "sda"), gauge(otherHelp, 2, "sdb")}, false},
		"tie, other labels":    {[]prometheus.Metric{gauge(testTemp, 1, "x"), gauge(twoLabels, 2, "x", "y"), gauge(twoLabels, 2, "y", "x")}, true},
		"suffix collision":     {[]prometheus.Metric{prometheus.MustNewConstHistogram(testHist, 1, 1, nil, "a"), gauge(prometheus.NewDesc("hardware_test_latency_seconds_bucket", "x", nil, nil), 1)}, false},
		"not utf8":             {[]prometheus.Metric{rawMetric{raw, &dto.Metric{Label: lp("a", "\xff", "b", "x"), Gauge: g(1)}}}, false},
		"labels out of order":  {[]prometheus.Metric{rawMetric{raw, &dto.Metric{Label: lp("b", "1", "a", "2"), Gauge: g(1)}}}, false},
		"repeated label":       {[]prometheus.Metric{rawMetric{raw, &dto.Metric{Label: lp("a", "1", "a", "2"), Gauge: g(1)}}}, false},
		"reserved label":       {[]prometheus.Metric{rawMetric{raw, &dto.Metric{Label: lp("__a", "1", "b", "2"), Gauge: g(1)}}}, false},
		"type differs in name": {[]prometheus.Metric{rawMetric{raw, &dto.Metric{Label: lp("a", "1", "b", "2"), Gauge: g(1)}}, rawMetric{raw, &dto.Metric{Label: lp("a", "2", "b", "2"), Counter: &dto.Counter{Value: new(float64)}}}}, false},
	}
	for name, tc := range cases {
		got, ok := quickGather(tc.ms)
		reg := prometheus.NewRegistry()
		reg.MustRegister(sliceCollector(tc.ms))
		want, err := reg.Gather()
		if ok != tc.want {
			t.Errorf("%s: quickGather ok = %t, want %t (Gather's error: %v)", name, ok, tc.want, err)
		}
		if !ok {
			continue
		}
		if err != nil {
			t.Errorf("%s: quickGather accepted what Gather refuses: %v", name, err)
			continue
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d families, Gather %d", name, len(got), len(want))
		}
		// The delimited protobuf encoding holds every field of a family.
		for i := range got {
			var g, w bytes.Buffer
			if expfmt.NewEncoder(&g, expfmt.NewFormat(expfmt.TypeProtoDelim)).Encode(got[i]) != nil ||
				expfmt.NewEncoder(&w, expfmt.NewFormat(expfmt.TypeProtoDelim)).Encode(want[i]) != nil || !bytes.Equal(g.Bytes(), w.Bytes()) {
				t.Errorf("%s: family %d:\n%v\nGather:\n%v", name, i, got[i], want[i])
			}
		}
	}
}

// A result with many descriptors never seen (a textfile probe's, built
// each run) is gathered by one registry rather than learned one by one,
// and gives the same part.
func TestQuickGatherLearnsFewDescriptorsAtOnce(t *testing.T) {
	var ms []prometheus.Metric
	for i := range learnBudget + 2 {
		ms = append(ms, gauge(prometheus.NewDesc(fmt.Sprintf("hardware_textfile_x%d", i), "From a file.", nil, nil), float64(i)))
	}
	if _, ok := quickGather(ms); ok {
		t.Errorf("learned %d new descriptors in one gather; the budget is %d", len(ms), learnBudget)
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	p := newPart(ms, []expfmt.Format{format}, nil)
	if p.err != nil || len(p.fams) != len(ms) || !strings.Contains(string(p.encoding(format).all), "hardware_textfile_x9 9\n") {
		t.Errorf("part: err %v, %d families:\n%s", p.err, len(p.fams), p.encoding(format).all)
	}
	if _, ok := quickGather(ms[:learnBudget]); !ok {
		t.Error("declined a result within the budget")
	}
}

// countingCollector is a collector whose one series changes outside the
// cache's stores, as the device guard's do on an accept.
type countingCollector struct {
	desc     *prometheus.Desc
	value    atomic.Int64
	gen      atomic.Uint64
	collects atomic.Int64
}

func (c *countingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *countingCollector) Collect(ch chan<- prometheus.Metric) {
	c.collects.Add(1)
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.value.Load()))
}

// A dynamic collector is rendered with the cache's families, gathered again
// when its generation moves and not at every render.
func TestRenderDynamicCollector(t *testing.T) {
	c := New()
	c.Store("nic", Result{Start: time.Unix(1_700_000_000, 0), Metrics: []prometheus.Metric{gauge(testFirmware, 1, "nic", "eth0", "20.0")}})
	dyn := &countingCollector{desc: prometheus.NewDesc("hardware_device_expected", "Devices expected.", nil, nil)}
	dyn.value.Store(4)
	r := c.NewRenderer().WithDynamic(dyn, dyn.gen.Load)
	render := func() string {
		t.Helper()
		body, ok := r.Render(expfmt.NewFormat(expfmt.TypeTextPlain), "identity", []string{"hardware_device_expected"})
		if !ok {
			t.Fatal("declined")
		}
		return string(body)
	}
	want := func(v int) string {
		return fmt.Sprintf("# HELP hardware_device_expected Devices expected.\n# TYPE hardware_device_expected gauge\nhardware_device_expected %d\n", v)
	}
	if got := render(); got != want(4) {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want(4))
	}
	dyn.value.Store(3) // changed, generation not moved: the kept part
	if got := render(); got != want(4) {
		t.Errorf("re-gathered without a new generation:\n%s", got)
	}
	dyn.gen.Add(1)
	if got := render(); got != want(3) {
		t.Errorf("after the generation moved, got:\n%s\nwant:\n%s", got, want(3))
	}
	if n := dyn.collects.Load(); n != 2 {
		t.Errorf("collected %d times over three renders and one change, want 2", n)
	}
}

// A store makes a new status part, so every status family is merged
// again at the next render; those whose text did not change keep their
// compressed block, and those that did are compressed again. The body
// decodes to the identity body either way.
func TestRenderReusesBlocksOfUnchangedSharedFamilies(t *testing.T) {
	c := New()
	r := c.NewRenderer()
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	now := time.Unix(1_700_000_000, 0)
	store := func(d time.Duration) {
		for _, p := range []string{"a", "b"} {
			c.Store(p, Result{Start: now, Duration: d, Interval: time.Minute,
				Metrics: []prometheus.Metric{gauge(testTemp, 30, p)}})
		}
	}
	block := func(name string) []byte {
		r.mu.Lock()
		defer r.mu.Unlock()
		m := r.merged[mergedKey{name, format}]
		if m == nil || !m.hasBlock {
			t.Fatalf("%s: no compressed merge", name)
		}
		return m.block.Deflated
	}
	render := func() {
		t.Helper()
		gz, ok := r.Render(format, "gzip", nil)
		plain, ok2 := r.Render(format, "identity", nil)
		if !ok || !ok2 {
			t.Fatal("declined")
		}
		for dec, got := range gunzip.Decode(t, gz) {
			if !bytes.Equal(got, plain) {
				t.Fatalf("%s: gzip body does not decode to the identity body", dec)
			}
		}
	}
	store(time.Second)
	render()
	success, duration := block("hardware_probe_success"), block("hardware_probe_duration_seconds")
	store(2 * time.Second)
	render()
	if &block("hardware_probe_success")[0] != &success[0] {
		t.Error("hardware_probe_success did not change and was compressed again")
	}
	if &block("hardware_probe_duration_seconds")[0] == &duration[0] {
		t.Error("hardware_probe_duration_seconds changed and kept its old block")
	}
}
