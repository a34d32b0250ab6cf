package metriccache

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// benchHost is a synthetic host for render benchmarks: probes probes, each
// with four families of its own (perFamily series each, a device label and
// a serial) and one series of a family all of them feed
// (hardware_bench_firmware_info), plus each probe's status series.
type benchHost struct {
	probes, perFamily int
	descs             [][]*prometheus.Desc
	shared            *prometheus.Desc
	rounds            [2][]Result // two rounds of results, built ahead
}

func newBenchHost(probes, perFamily int) *benchHost {
	h := &benchHost{probes: probes, perFamily: perFamily,
		shared: prometheus.NewDesc("hardware_bench_firmware_info", "Firmware by component.", []string{"component", "version"}, nil)}
	for p := range probes {
		var ds []*prometheus.Desc
		for f, kind := range []string{"temperature_celsius", "errors_total", "power_watts", "info"} {
			ds = append(ds, prometheus.NewDesc(fmt.Sprintf("hardware_bench%02d_%d_%s", p, f, kind),
				"A synthetic family, refreshed on a schedule.", []string{"device", "serial"}, nil))
		}
		h.descs = append(h.descs, ds)
	}
	for round := range h.rounds {
		for p := range probes {
			h.rounds[round] = append(h.rounds[round], h.result(p, round))
		}
	}
	return h
}

func (h *benchHost) series() int { return h.probes * (4*h.perFamily + 1 + 6) }

// result is probe p's result at round.
func (h *benchHost) result(p, round int) Result {
	ms := make([]prometheus.Metric, 0, 4*h.perFamily+1)
	for f, d := range h.descs[p] {
		for i := range h.perFamily {
			v := float64(round + i + f)
			if f == 3 {
				v = 1
			}
			ms = append(ms, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v,
				"dev"+strconv.Itoa(i), fmt.Sprintf("S%08d", i*7919%100000)))
		}
	}
	ms = append(ms, prometheus.MustNewConstMetric(h.shared, prometheus.GaugeValue, 1, fmt.Sprintf("probe%02d", p), "1.0"))
	start := time.Unix(1_700_000_000+int64(round)*60, 0)
	return Result{Metrics: ms, Start: start, Duration: 3 * time.Millisecond, Interval: time.Minute, Expires: start.Add(time.Minute)}
}

// storeAll stores every probe's result of round in c (the results of
// two rounds alternate, so each store changes every value).
func (h *benchHost) storeAll(c *Cache, round int) {
	for p, r := range h.rounds[round%2] {
		c.Store(probeNames[p], r)
	}
}

var probeNames = func() []string {
	var n []string
	for p := range 100 {
		n = append(n, fmt.Sprintf("probe%02d", p))
	}
	return n
}()

// benchSizes are about 1.6k and 10k series.
var benchSizes = []struct{ probes, perFamily int }{{20, 18}, {20, 123}}

// benchAccept is the Accept header Prometheus 3 sends by default.
const benchAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// countWriter keeps nothing but the body's length.
type countWriter struct {
	h http.Header
	n int
}

func (w *countWriter) Header() http.Header         { return w.h }
func (w *countWriter) WriteHeader(int)             {}
func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var _ = testing.Benchmark
