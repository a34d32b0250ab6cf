package respcache

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// hwCollector looks like the exporter's metric cache: const metrics of every
// kind, including an _info gauge, a histogram and a UTF-8 name that changes
// with the escaping scheme. value changes what it reports, like a probe run.
type hwCollector struct {
	disks int // series per gauge family
	value atomic.Int64
}

var (
	descTemp = prometheus.NewDesc("hardware_disk_temperature_celsius",
		"Disk temperature. Refreshed on a schedule, not per scrape.", []string{"device", "serial"}, nil)
	descErrors = prometheus.NewDesc("hardware_disk_read_errors_total",
		"Disk read errors. Refreshed on a schedule, not per scrape.", []string{"device"}, nil)
	descInfo = prometheus.NewDesc("hardware_system_info",
		"System identity. Refreshed on a schedule, not per scrape.", []string{"vendor", "product", "serial"}, nil)
	descUTF8 = prometheus.NewDesc("hardware.test_utf8",
		"A dotted name, escaped unless the scraper allows UTF-8.", []string{"sensor.name"}, nil)
	descProbe = prometheus.NewDesc("hardware_probe_duration_seconds",
		"Probe run time. Refreshed on a schedule, not per scrape.", []string{"probe"}, nil)
)

func (c *hwCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTemp, descErrors, descInfo, descUTF8, descProbe} {
		ch <- d
	}
}

func (c *hwCollector) Collect(ch chan<- prometheus.Metric) {
	v := float64(c.value.Load())
	for i := range c.disks {
		dev := "sd" + strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(descTemp, prometheus.GaugeValue, 30+v+float64(i%7), dev, fmt.Sprintf("S%08d", i))
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, v*3+float64(i), dev)
	}
	ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, "Dell Inc.", "PowerEdge R650", "ABC123"+strconv.Itoa(int(v)))
	ch <- prometheus.MustNewConstMetric(descUTF8, prometheus.GaugeValue, 41.5+v, "cpu.package")
	ch <- prometheus.MustNewConstHistogram(descProbe, 7, 12.5+v, map[float64]uint64{0.1: 1, 1: 4, 10: 7}, "smart")
}

// newRegistry returns a registry whose collector reports about 2*disks+3
// series, and the collector to change them with.
func newRegistry(t testing.TB, disks int) (*prometheus.Registry, *hwCollector) {
	t.Helper()
	reg := prometheus.NewRegistry()
	col := &hwCollector{disks: disks}
	if err := reg.Register(col); err != nil {
		t.Fatal(err)
	}
	return reg, col
}

// fakeClock is a settable clock for TTL tests.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fixture is a cache in front of promhttp over a test registry.
type fixture struct {
	reg   *prometheus.Registry
	col   *hwCollector
	gen   atomic.Uint64
	clock *fakeClock
	bare  http.Handler
	cache *Cache
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	f := &fixture{clock: newFakeClock()}
	f.reg, f.col = newRegistry(t, 3)
	f.bare = promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{})
	opts.Generation = genFunc(f.gen.Load)
	opts.Now = f.clock.Now
	f.cache = New(f.bare, opts)
	return f
}

// refresh is what a probe run does: new data, new generation.
func (f *fixture) refresh() {
	f.col.value.Add(1)
	f.gen.Add(1)
}

func get(h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	return do(h, http.MethodGet, target, header...)
}

// do sends a request with header given as name, value pairs.
func do(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// decoded returns the body with its Content-Encoding undone.
func decoded(t testing.TB, w *httptest.ResponseRecorder) []byte {
	t.Helper()
	body := w.Body.Bytes()
	switch enc := w.Header().Get("Content-Encoding"); enc {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gunzip: %v", err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gunzip: %v", err)
		}
		return out
	default:
		t.Fatalf("unexpected Content-Encoding %q", enc)
		return nil
	}
}

func wantXCache(t testing.TB, w *httptest.ResponseRecorder, want string) {
	t.Helper()
	if got := w.Header().Get("X-Cache"); got != want {
		t.Fatalf("X-Cache = %q, want %q", got, want)
	}
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// genFunc is a Generationer made of a function: a counter's Load, or a
// constant.
type genFunc func() uint64

func (f genFunc) Generation() uint64 { return f() }
