package metriccache

import (
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// The families of the filtered targets of compareAll (testTemp,
// testFirmware, testUTF8) and two of their own.
var (
	reuseLimit = prometheus.NewDesc("hardware_reuse_temperature_max_celsius", "A limit.", []string{"device"}, nil)
	reuseHelp  = prometheus.NewDesc("hardware_firmware_info", "Firmware of a device, worded anew.", []string{"component", "device", "version"}, nil)
	reuseBytes = prometheus.NewDesc("hardware_reuse_read_bytes_total", "A counter.", nil, nil)
)

// reuseBase is a probe's result whose families a change below alters one
// at a time.
func reuseBase() []prometheus.Metric {
	return []prometheus.Metric{
		gauge(testTemp, 41, "a"), gauge(testTemp, 0, "b"), gauge(testTemp, math.NaN(), "c"),
		gauge(reuseLimit, 90, "a"), gauge(reuseLimit, 95, "b"),
		gauge(testFirmware, 1, "bmc", "bmc0", "1.2"),
		prometheus.MustNewConstMetric(reuseBytes, prometheus.CounterValue, 1e9),
		gauge(testUTF8, 3, "cpu.package"),
	}
}

// storeFresh stores ms as probe p and returns, for each format Store
// encodes in, how many families it encoded rather than reused; -1 when the
// whole part of the last store was reused.
func storeFresh(t *testing.T, c *Cache, ms []prometheus.Metric, round int) map[string]int {
	t.Helper()
	c.mu.RLock()
	var last *part
	if s := c.snapshots["p"]; s != nil {
		last = s.data
	}
	c.mu.RUnlock()
	now := time.Unix(1_700_000_000+int64(round)*60, 0)
	c.Store("p", Result{Start: now, Duration: time.Millisecond, Interval: time.Minute, Metrics: ms})
	c.mu.RLock()
	p := c.snapshots["p"].data
	c.mu.RUnlock()
	fresh := map[string]int{}
	for _, f := range c.storeFormats() {
		if p == last {
			fresh[string(f)] = -1
			continue
		}
		fresh[string(f)] = p.encodingFrom(f, nil, nil).fresh
	}
	if len(fresh) == 0 {
		t.Fatal("no formats encoded at store: render once first")
	}
	return fresh
}

// A store reuses the encoded bytes of the families that did not change,
// and only those: after each change below, only the changed family is
// encoded again, and every body (each format, gzip and identity, filtered
// or not) is still what promhttp writes for the new state. Every gzip body
// decodes whole to the identity body.
func TestStoreReusesUnchangedFamilies(t *testing.T) {
	changes := []struct {
		name   string
		change func([]prometheus.Metric) []prometheus.Metric
	}{
		{"value", func(ms []prometheus.Metric) []prometheus.Metric {
			ms[0] = gauge(testTemp, 42, "a")
			return ms
		}},
		{"zero to minus zero", func(ms []prometheus.Metric) []prometheus.Metric {
			ms[1] = gauge(testTemp, math.Copysign(0, -1), "b")
			return ms
		}},
		{"series appears", func(ms []prometheus.Metric) []prometheus.Metric {
			return append(ms, gauge(reuseLimit, 99, "c"))
		}},
		{"series disappears", func(ms []prometheus.Metric) []prometheus.Metric {
			return append(ms[:4], ms[5:]...)
		}},
		{"help", func(ms []prometheus.Metric) []prometheus.Metric {
			ms[5] = gauge(reuseHelp, 1, "bmc", "bmc0", "1.2")
			return ms
		}},
		{"label value, same value", func(ms []prometheus.Metric) []prometheus.Metric {
			ms[5] = gauge(testFirmware, 1, "bmc", "bmc0", "1.3")
			return ms
		}},
		{"counter", func(ms []prometheus.Metric) []prometheus.Metric {
			ms[6] = prometheus.MustNewConstMetric(reuseBytes, prometheus.CounterValue, 1e9+1)
			return ms
		}},
	}
	// Every gzip body is decoded by Go and compared with promhttp's text
	// (compareAll); those after the first partial reuse are also decoded by
	// Python's zlib and curl (each a process: a few bodies suffice).
	var gz gzipBodies
	for i, ch := range changes {
		t.Run(ch.name, func(t *testing.T) {
			c := New()
			bare, cached, r := renderPair(t, c, true, nil)
			c.Store("p", Result{Start: time.Unix(1_700_000_000, 0), Interval: time.Minute, Metrics: reuseBase()})
			var goOnly gzipBodies
			compareAll(t, bare, cached, r, &goOnly) // the formats in use, and compressed runs to reuse

			// The same result again: the whole part is reused.
			for f, n := range storeFresh(t, c, reuseBase(), 1) {
				if n != -1 {
					t.Errorf("%s: an unchanged result encoded %d families again, want the last part reused", f, n)
				}
			}
			compareAll(t, bare, cached, r, &goOnly)

			for f, n := range storeFresh(t, c, ch.change(reuseBase()), 2) {
				if n != 1 {
					t.Errorf("%s: %d families encoded at store, want 1 (the changed one)", f, n)
				}
			}
			if i == 0 {
				compareAll(t, bare, cached, r, &gz)
			} else {
				compareAll(t, bare, cached, r, &goOnly)
			}

			// Back to the base: the changed family again, the rest reused.
			for f, n := range storeFresh(t, c, reuseBase(), 3) {
				if n != 1 {
					t.Errorf("%s: %d families encoded at store going back, want 1", f, n)
				}
			}
			compareAll(t, bare, cached, r, &goOnly)
		})
	}
	gz.decodeAll(t)
}

// sameFamily says changed for what it does not compare field by field
// (histograms, summaries), so their bytes are never reused stale.
func TestStoreEncodesHistogramsAgain(t *testing.T) {
	c := New()
	bare, cached, r := renderPair(t, c, true, nil)
	hist := func(sum float64) []prometheus.Metric {
		return append(reuseBase(), prometheus.MustNewConstHistogram(testHist, 7, sum, map[float64]uint64{0.1: 1, 1: 4, 10: 7}, "bmc0"))
	}
	var gz gzipBodies // decoded by Go only (compareAll)
	c.Store("p", Result{Start: time.Unix(1_700_000_000, 0), Interval: time.Minute, Metrics: hist(12.5)})
	compareAll(t, bare, cached, r, &gz)
	for f, n := range storeFresh(t, c, hist(13), 1) {
		if n != 1 {
			t.Errorf("%s: %d families encoded at store, want 1 (the histogram)", f, n)
		}
	}
	compareAll(t, bare, cached, r, &gz)
}

// writeCounter is a metric that counts the Writes asked of it.
type writeCounter struct {
	prometheus.Metric
	writes *atomic.Int64
}

func (w *writeCounter) Write(d *dto.Metric) error {
	w.writes.Add(1)
	return w.Metric.Write(d)
}

// sliceMetric cannot be compared with ==: a slice field.
type sliceMetric struct {
	prometheus.Metric
	_ []int
}

// A probe handing back the very metrics of its last run (probe.seriesMemo)
// costs its store nothing: no Write, the last part kept. New metrics with
// the same values go the way of any result, and metrics of a type == cannot
// compare do not panic.
func TestStoreOfTheSameMetricsWritesNothing(t *testing.T) {
	c := New()
	c.useFormat(expfmt.NewFormat(expfmt.TypeTextPlain))
	var writes atomic.Int64
	ms := []prometheus.Metric{
		&writeCounter{gauge(testTemp, 41, "a"), &writes},
		&writeCounter{gauge(testFirmware, 1, "bmc", "bmc0", "1.2"), &writes},
	}
	storeFresh(t, c, ms, 0)
	before := writes.Load()
	if got := storeFresh(t, c, slices.Clone(ms), 1); got[string(expfmt.NewFormat(expfmt.TypeTextPlain))] != -1 {
		t.Errorf("the same metrics again: part not reused (%v)", got)
	}
	if w := writes.Load(); w != before {
		t.Errorf("the same metrics again: %d Writes, want none", w-before)
	}
	again := []prometheus.Metric{
		&writeCounter{gauge(testTemp, 41, "a"), &writes},
		&writeCounter{gauge(testFirmware, 1, "bmc", "bmc0", "1.2"), &writes},
	}
	storeFresh(t, c, again, 2)
	if writes.Load() == before {
		t.Error("new metrics with the same values were not gathered")
	}
	odd := []prometheus.Metric{sliceMetric{Metric: gauge(testTemp, 1, "a")}}
	storeFresh(t, c, odd, 3)
	storeFresh(t, c, odd, 4) // must not panic
}
