package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// BenchmarkStoreMinute is one minute of the daemon's store path on the
// fixture host: each probe on a one-minute interval (cpu, hwmon, network,
// thermal, power, mdraid, kmsg, textfile...) hands its result to the
// after-store step (device guard, metric cache, state file mark, batch
// warmer), then the response cache renders Prometheus 3's default scrape
// (OpenMetrics, gzip) as the batch warmer does, and one scrape replays it.
// The probes ran once before the timer; their own cost is in
// internal/probe's benchmarks.
//
// "fixture": every minute stores the same results, as the fixture host
// gives them (no value changes). "readings": two rounds alternate in which
// the series that look like readings (temperatures, counters, power...)
// change value, as on a real host where limits, info and layout-derived
// series stay the same.
func BenchmarkStoreMinute(b *testing.B) {
	cfg := loadConfig(b, nil)
	cfg.State.Path = b.TempDir()
	d, err := start(cfg, Options{MetricsPath: "/metrics", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer d.state.Close(10 * time.Second)
	ctx := context.Background()
	d.sched.RunOnce(ctx) // every probe, so the body is the host's whole

	type run struct {
		name   string
		rounds [2]metriccache.Result
	}
	var runs []run
	changed, series := 0, 0
	for _, j := range jobs(cfg, d.probes, d.logger) {
		if j.Interval > time.Minute {
			continue
		}
		skips := probe.NewSkips(nil)
		start := time.Now()
		ms, err := j.Probe.Probe(ctx, j.Env, skips)
		if err != nil {
			b.Fatalf("%s: %v", j.Name, err)
		}
		r := metriccache.Result{Metrics: ms, Start: start, Duration: time.Since(start), Skipped: skips.Count(),
			Expires: start.Add(j.Interval), Interval: j.Interval}
		bumped := r
		bumped.Metrics = make([]prometheus.Metric, len(ms))
		for i, m := range ms {
			bumped.Metrics[i] = m
			if isReading(m) {
				bumped.Metrics[i] = bump{m}
				changed++
			}
		}
		series += len(ms)
		runs = append(runs, run{j.Name, [2]metriccache.Result{r, bumped}})
	}
	after := &afterStore{Cache: d.cache, state: d.state, guard: d.guard, warmer: d.warmer}
	scrape, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	scrape.Header = primeRequests[0].Clone()
	scrape.RemoteAddr = "127.0.0.1:0"
	h := d.srv.Cache()

	for _, variant := range []string{"fixture", "readings"} {
		b.Run(variant, func(b *testing.B) {
			round := 0
			b.ReportAllocs()
			for b.Loop() {
				if variant == "readings" {
					round ^= 1
				}
				for _, r := range runs {
					after.Store(r.name, r.rounds[round])
				}
				h.Warm()
				w := &discard{header: http.Header{}}
				h.ServeHTTP(w, scrape)
			}
			b.ReportMetric(float64(len(runs)), "probes")
			b.ReportMetric(float64(series), "series")
			if variant == "readings" {
				b.ReportMetric(float64(changed), "changing-series")
			}
		})
	}
}

// isReading tells the series that change from minute to minute on a real
// host by their family's name: readings, not limits, info or inventory.
func isReading(m prometheus.Metric) bool {
	if probe.IsInventory(m) {
		return false
	}
	desc := m.Desc().String()
	name, _, _ := strings.Cut(strings.TrimPrefix(desc, `Desc{fqName: "`), `"`)
	for _, limit := range []string{"_max", "_min", "_crit", "_limit", "_info", "_capacity", "_size", "_speed"} {
		if strings.Contains(name, limit) {
			return false
		}
	}
	for _, reading := range []string{"_celsius", "_total", "_watts", "_volts", "_rpm", "_amperes", "_joules", "_hertz", "_seconds", "_bytes", "_ratio"} {
		if strings.HasSuffix(name, reading) {
			return true
		}
	}
	return false
}

// bump is a series whose value is one more than m's.
type bump struct{ prometheus.Metric }

func (b bump) Write(out *dto.Metric) error {
	if err := b.Metric.Write(out); err != nil {
		return err
	}
	switch {
	case out.Gauge != nil:
		out.Gauge.Value = proto1(out.Gauge.GetValue())
	case out.Counter != nil:
		out.Counter.Value = proto1(out.Counter.GetValue())
	case out.Untyped != nil:
		out.Untyped.Value = proto1(out.Untyped.GetValue())
	}
	return nil
}

func proto1(v float64) *float64 { v++; return &v }
