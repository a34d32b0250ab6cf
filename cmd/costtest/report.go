package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// secondsPerDay and scrapesPerDay turn the day window into a day.
const secondsPerDay = 24 * 60 * 60

var scrapesPerDay = float64(scrapersPerTarget) * secondsPerDay / scrapeInterval.Seconds()

type report struct {
	opts                         options
	rounds                       int
	machine                      string
	exporterVersion, nodeVersion string
	series                       []int
	load                         []*loadResult // exporter, node_exporter, static
	day                          *dayResult
	memory                       []memory // at the end of the day
	pprofTop                     string
}

// cpuPerDay is each target's CPU-seconds per simulated day: the exporter's
// window scaled to a day, the others' CPU per scrape times a day of scrapes.
func (r *report) cpuPerDay() []float64 {
	d := r.day
	simulated := d.window.Seconds() * r.opts.compress
	out := []float64{d.cpu[0].total().Seconds() * secondsPerDay / simulated}
	for i := 1; i < len(d.cpu); i++ {
		out = append(out, d.cpu[i].total().Seconds()/float64(d.scrapes[i])*scrapesPerDay)
	}
	return out
}

func (r *report) print(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "machine:       %s\n", r.machine)
	fmt.Fprintf(w, "exporter:      %s\n", r.exporterVersion)
	fmt.Fprintf(w, "node_exporter: %s, collectors off (they read the host, not the tree):\n", r.nodeVersion)
	for _, c := range nodeExporterOff {
		fmt.Fprintf(w, "                 %s: %s\n", c.flag, c.why)
	}
	fmt.Fprintf(w, "static:        the exporter's own /metrics bytes (gzip and identity, its headers) replayed by a bare net/http handler\n")
	fmt.Fprintf(w, "series:        exporter %d, node_exporter %d (fixture tree internal/probe/testdata/server)\n", r.series[0], r.series[1])
	fmt.Fprintf(w, "scrape cost:   %d rounds of %v per target, round-robin, %d requests in flight, Accept-Encoding: gzip, Prometheus 3's Accept header\n",
		r.rounds, o.batch, o.conns)
	simulated := time.Duration(r.day.window.Seconds() * o.compress * float64(time.Second))
	fmt.Fprintf(w, "day:           time compressed %g×: %v of wall time simulates %v; probe intervals, jitter and cache TTL ÷%g; 2 scrapers per target every %v (15s÷%g)\n",
		o.compress, r.day.window.Round(time.Millisecond), simulated.Round(time.Second), o.compress,
		time.Duration(float64(scrapeInterval)/o.compress), o.compress)
	fmt.Fprintf(w, "               exporter: its CPU over the window × %.0f; node_exporter, static: CPU per scrape in the window × %.0f scrapes a day\n",
		secondsPerDay/simulated.Seconds(), scrapesPerDay)
	fmt.Fprintln(w)

	l := r.load
	perDay := r.cpuPerDay()
	rows := []struct {
		name   string
		values [3]float64
		format func(float64) string
	}{
		{"req/s", [3]float64{l[0].reqPerSec(), l[1].reqPerSec(), l[2].reqPerSec()}, formatRate},
		{"p50 latency", latencies(l, 0.50), formatSeconds},
		{"p99 latency", latencies(l, 0.99), formatSeconds},
		{"CPU per scrape", [3]float64{l[0].cpuPerScrape().Seconds(), l[1].cpuPerScrape().Seconds(), l[2].cpuPerScrape().Seconds()}, formatSeconds},
		{"bytes per scrape", [3]float64{l[0].bytesPerScrape(), l[1].bytesPerScrape(), l[2].bytesPerScrape()}, formatBytes},
		{"RSS", [3]float64{float64(r.memory[0].rss), float64(r.memory[1].rss), float64(r.memory[2].rss)}, formatBytes},
		{"CPU-s per day", [3]float64{perDay[0], perDay[1], perDay[2]}, formatCPUSeconds},
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\thardware_exporter\tnode_exporter\tstatic\texporter/node\texporter/static\t")
	for _, row := range rows {
		v := row.values
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", row.name, row.format(v[0]), row.format(v[1]), row.format(v[2]),
			formatRatio(v[0], v[1]), formatRatio(v[0], v[2]))
	}
	tw.Flush()
	fmt.Fprintln(w, "ratios are the exporter's value ÷ the other's: above 1 is better for req/s, below 1 for the rest.")
	fmt.Fprintln(w)

	d := r.day
	fmt.Fprintf(w, "day window: exporter CPU %v (own %v, tools %v) = %.2f%% of a CPU; node_exporter %v; static %v\n",
		d.cpu[0].total(), d.cpu[0].own, d.cpu[0].children, 100*d.cpu[0].total().Seconds()/d.window.Seconds(),
		d.cpu[1].total(), d.cpu[2].total())
	want := float64(scrapersPerTarget) * d.window.Seconds() * o.compress / scrapeInterval.Seconds()
	fmt.Fprintf(w, "scrapes in the window (of %.0f due): exporter %d, node_exporter %d, static %d; failed scrapes: %d, %d, %d\n",
		want, d.scrapes[0], d.scrapes[1], d.scrapes[2], d.failures[0], d.failures[1], d.failures[2])
	fmt.Fprintf(w, "failed requests in the scrape-cost phase: %d, %d, %d; RSS at the end of the day %s, %s, %s, peak %s, %s, %s\n",
		l[0].failures, l[1].failures, l[2].failures,
		formatBytes(float64(r.memory[0].rss)), formatBytes(float64(r.memory[1].rss)), formatBytes(float64(r.memory[2].rss)),
		formatBytes(float64(r.memory[0].peak)), formatBytes(float64(r.memory[1].peak)), formatBytes(float64(r.memory[2].peak)))
	if renders, ok := delta(d, "renders"); ok {
		fmt.Fprintf(w, "exporter renders in the window: %.0f (%.1f per simulated minute)\n", renders, renders/(simulated.Minutes()))
	}
	var longest time.Duration
	var names []string
	intervals := defaultIntervals()
	for name, iv := range intervals {
		names = append(names, name)
		longest = max(longest, iv)
	}
	slices.Sort(names)
	fmt.Fprint(w, "exporter probe runs in the window (due at the default interval):")
	var missed []string
	for _, name := range names {
		if n, ok := delta(d, "runs:"+name); ok {
			due := simulated.Seconds() / intervals[name].Seconds()
			fmt.Fprintf(w, " %s %.0f (%.1f)", name, n, due)
			if n == 0 && due >= 1 {
				missed = append(missed, name)
			}
		}
	}
	fmt.Fprintln(w)
	if len(missed) > 0 {
		fmt.Fprintf(w, "WARNING: %s did not run in the window although due (late under load?): the exporter's CPU per day is low by their cost\n",
			strings.Join(missed, ", "))
	}
	if simulated < longest {
		fmt.Fprintf(w, "WARNING: the window simulates %v, less than the longest interval (%v): probes on it may not have run in the window, and the exporter's CPU per day is low by their cost\n",
			simulated.Round(time.Second), longest)
	}
	if r.pprofTop != "" {
		fmt.Fprintf(w, "\nexporter CPU profile over %ds of the day window, written to %s:\n%s", d.profileSecs, o.pprofTop, r.pprofTop)
	}
}

func latencies(l []*loadResult, q float64) [3]float64 {
	var v [3]float64
	for i := range v {
		v[i] = percentile(l[i].latencies, q).Seconds()
	}
	return v
}

func delta(d *dayResult, key string) (float64, bool) {
	a, ok1 := d.after[key]
	b, ok2 := d.before[key]
	return a - b, ok1 && ok2
}

func formatRatio(a, b float64) string {
	if b == 0 || math.IsNaN(a/b) {
		return "n/a"
	}
	x := a / b
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	case x >= 0.01:
		return fmt.Sprintf("%.2f×", x)
	default:
		return fmt.Sprintf("1/%.0f", 1/x)
	}
}

func formatRate(v float64) string { return fmt.Sprintf("%.0f", v) }

func formatSeconds(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1e-3:
		return fmt.Sprintf("%.1f µs", v*1e6)
	case v < 1:
		return fmt.Sprintf("%.2f ms", v*1e3)
	default:
		return fmt.Sprintf("%.2f s", v)
	}
}

func formatCPUSeconds(v float64) string { return fmt.Sprintf("%.1f s", v) }

func formatBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	default:
		return strings.TrimSuffix(fmt.Sprintf("%.0f B", v), " ")
	}
}
