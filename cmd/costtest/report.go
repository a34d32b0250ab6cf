package main

import (
	"cmp"
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
	series                       []int         // exporter, node_exporter
	load                         []*loadResult // exporter, node_exporter, static; nil without the scrape-cost phase
	day                          *dayResult
	memory                       []memory // at the end of the day, per day target
	pprofTop                     string
	churnFiles                   int // files -churn rewrites each simulated minute
}

// The day targets' indexes: dayExporters, then node_exporter and static.
const (
	dayWhole = iota
	dayLike
	dayBMCGPU
	dayProfiled
	dayNode
	dayStatic
)

// simulated is the host time the day window stands for.
func (r *report) simulated() time.Duration {
	return time.Duration(r.day.window.Seconds() * r.opts.compress * float64(time.Second))
}

// cpuPerDay is target i's CPU-seconds per day, its own and its children's:
// an exporter's window scaled to a day; node_exporter's and static's CPU
// per scrape in the window times a day of scrapes (they have no schedule).
func (r *report) cpuPerDay(i int) (own, children float64) {
	c := r.day.cpu[i]
	scale := secondsPerDay / r.simulated().Seconds()
	if i >= dayNode {
		scale = scrapesPerDay / float64(r.day.scrapes[i])
	}
	return c.own.Seconds() * scale, c.children.Seconds() * scale
}

// perMinute is d of the window per minute of host time (the simulated
// minute; a real one with -realtime).
func (r *report) perMinute(d time.Duration) time.Duration {
	return time.Duration(float64(d) / r.simulated().Minutes())
}

// counterPerMinute is the growth of exporter i's counter key per minute of
// host time, and whether the exporter has it.
func (r *report) counterPerMinute(i int, key string) (float64, bool) {
	v, ok := delta(r.day, i, key)
	return v / r.simulated().Minutes(), ok
}

func (r *report) print(w io.Writer) {
	o := r.opts
	d := r.day
	simulated := r.simulated()
	fmt.Fprintf(w, "machine:       %s\n", r.machine)
	fmt.Fprintf(w, "exporter:      %s\n", r.exporterVersion)
	if len(o.exporterEnv) > 0 {
		fmt.Fprintf(w, "               environment: %s\n", strings.Join(o.exporterEnv, " "))
	}
	fmt.Fprintf(w, "node_exporter: %s, collectors off (they read the host, not the tree):\n", r.nodeVersion)
	for _, c := range nodeExporterOff {
		fmt.Fprintf(w, "                 %s: %s\n", c.flag, c.why)
	}
	fmt.Fprintf(w, "static:        the exporter's own /metrics bytes (gzip and identity, its headers) replayed by a bare net/http handler, on as many Ps (GOMAXPROCS) as the exporter\n")
	fmt.Fprintf(w, "series:        exporter %d, node_exporter %d (fixture tree internal/probe/testdata/server)\n", r.series[0], r.series[1])
	mode := fmt.Sprintf("time compressed %g×", o.compress)
	if o.compress == 1 {
		mode = "real time"
	}
	fmt.Fprintf(w, "day:           %s: %v of wall time simulates %v; probe intervals, jitter and cache TTL ÷%g; 2 scrapers per target every %v (15s÷%g), one keep-alive connection each, Prometheus 3's headers\n",
		mode, d.window.Round(time.Millisecond), simulated.Round(time.Second), o.compress,
		time.Duration(float64(scrapeInterval)/o.compress), o.compress)
	fmt.Fprintf(w, "               exporters: CPU over the window × %.1f; node_exporter, static: CPU per scrape in the window × %.0f scrapes a day\n",
		secondsPerDay/simulated.Seconds(), scrapesPerDay)
	fmt.Fprintf(w, "               like for like: every probe but %s (textfile on a missing directory, as node_exporter's is off)\n", strings.Join(bmcGPUProbes, ", "))
	if o.churn {
		fmt.Fprintf(w, "churn:         on (-churn, seed %d): %d files of the tree rewritten in place each simulated minute (every %v of wall time) with new readings: gauges within ±2%%, counters increasing\n",
			o.churnSeed, r.churnFiles, time.Duration(float64(time.Minute)/o.compress))
	}
	fmt.Fprintln(w)

	if r.load != nil {
		r.printLoad(w)
	}

	// Cost per day: (a) and (c) against node_exporter.
	nodeOwn, nodeChildren := r.cpuPerDay(dayNode)
	node := nodeOwn + nodeChildren
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CPU-s per day\ttotal\town (Go)\ttools (children)\tnode_exporter\tratio\t")
	for _, row := range []struct {
		name string
		i    int
	}{{"(a) like for like", dayLike}, {"(c) whole daemon", dayWhole}, {"static handler", dayStatic}} {
		own, children := r.cpuPerDay(row.i)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", row.name, formatCPUSeconds(own+children), formatCPUSeconds(own),
			formatCPUSeconds(children), formatCPUSeconds(node), formatRatio(own+children, node))
	}
	tw.Flush()

	// (b): the BMC and GPU probes, per minute, from their own exporter.
	bmc := d.prof[dayBMCGPU]
	var parts []string
	for _, n := range bmcGPUProbes {
		parts = append(parts, fmt.Sprintf("%s %s", n, formatSeconds(r.perMinute(bmc.byProbe[n]).Seconds())))
	}
	fmt.Fprintf(w, "(b) BMC and GPU probes, CPU per minute of host time (their own exporter): Go side %s (%s; pprof label: run, store, state file; %d samples), children (fake tools) %s; that exporter's whole process %s own, %s children\n",
		formatSeconds(r.perMinute(bmc.probes(bmcGPUProbes)).Seconds()), strings.Join(parts, ", "), bmc.probeSamples(bmcGPUProbes),
		formatSeconds(r.perMinute(d.cpu[dayBMCGPU].children).Seconds()),
		formatSeconds(r.perMinute(d.cpu[dayBMCGPU].own).Seconds()), formatSeconds(r.perMinute(d.cpu[dayBMCGPU].children).Seconds()))
	fmt.Fprintln(w)

	// Where the whole daemon's own CPU goes.
	whole := d.prof[dayProfiled]
	fmt.Fprintf(w, "whole daemon's own CPU by the profile of its twin (%v profiled, %s sampled of %s in /proc; a sample is 10ms of CPU, so a bucket of n samples is ±√n), per minute of host time:\n",
		whole.profiled.Round(time.Second), formatSeconds(whole.total.Seconds()), formatSeconds(d.cpu[dayProfiled].own.Seconds()))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "bucket\tper minute\tshare\tsamples\t")
	for _, b := range sortedBuckets(whole.buckets) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t\n", b, formatSeconds(r.perMinute(whole.buckets[b]).Seconds()), formatShare(whole.buckets[b], whole.total), whole.counts[b])
	}
	fmt.Fprintf(tw, "tools (children, /proc)\t%s\t\t\t\n", formatSeconds(r.perMinute(d.cpu[dayProfiled].children).Seconds()))
	tw.Flush()
	fmt.Fprintf(w, "profiling's own cost: the twin's own CPU %s a minute, the unprofiled whole daemon's %s\n",
		formatSeconds(r.perMinute(d.cpu[dayProfiled].own).Seconds()), formatSeconds(r.perMinute(d.cpu[dayWhole].own).Seconds()))
	var rt time.Duration
	for _, b := range []string{bucketGC, bucketSched, bucketRuntime} {
		rt += whole.buckets[b]
	}
	fmt.Fprintf(w, "Go runtime's own (no goroutine of the daemon's code on the stack): %s a minute, %s of the profile",
		formatSeconds(r.perMinute(rt).Seconds()), formatShare(rt, whole.total))
	if gc, ok := r.counterPerMinute(dayWhole, "gc_cpu"); ok {
		cycles, _ := r.counterPerMinute(dayWhole, "gc_cycles")
		scav, _ := r.counterPerMinute(dayWhole, "scavenge_cpu")
		fmt.Fprintf(w, "; runtime/metrics: GC CPU %s a minute (assists in goroutines included), %.2f GC cycles a minute, scavenger %s a minute",
			formatSeconds(gc), cycles, formatSeconds(scav))
	}
	if g, ok := d.after[dayWhole]["goroutines"]; ok {
		fmt.Fprintf(w, "; %.0f goroutines", g)
	}
	fmt.Fprintln(w)
	if o.compress > 1 {
		fmt.Fprintf(w, "(compressed %g×: what the runtime does per wall-clock second, timers, forced GC, the profiler, counts 1/%g here; -realtime measures it)\n", o.compress, o.compress)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "scrapes in the window (of %.0f due each):", float64(scrapersPerTarget)*simulated.Seconds()/scrapeInterval.Seconds())
	names := []string{"whole", "like", "bmc+gpu", "profiled", "node_exporter", "static"}
	for i := range d.scrapes {
		fmt.Fprintf(w, " %s %d (%d failed, %d connections)", names[i], d.scrapes[i], d.failures[i], d.conns[i])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "RSS at the end of the day:")
	for i, m := range r.memory {
		fmt.Fprintf(w, " %s %s (peak %s)", names[i], formatBytes(float64(m.rss)), formatBytes(float64(m.peak)))
	}
	fmt.Fprintln(w)
	if renders, ok := delta(d, dayWhole, "renders"); ok {
		fmt.Fprintf(w, "whole daemon's renders in the window: %.0f (%.2f per minute of host time)\n", renders, renders/simulated.Minutes())
	}
	var longest time.Duration
	var probes []string
	intervals := defaultIntervals()
	for name, iv := range intervals {
		probes = append(probes, name)
		longest = max(longest, iv)
	}
	slices.Sort(probes)
	fmt.Fprint(w, "whole daemon's probe runs in the window (due at the default interval):")
	var missed []string
	for _, name := range probes {
		if n, ok := delta(d, dayWhole, "runs:"+name); ok {
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
		fmt.Fprintf(w, "\nwhole daemon's CPU profile over the day window, written to %s:\n%s", o.pprofTop, r.pprofTop)
	}
}

// printLoad prints the scrape-cost phase's table.
func (r *report) printLoad(w io.Writer) {
	o := r.opts
	l := r.load
	fmt.Fprintf(w, "scrape cost:   %d rounds of %v per target, round-robin, %d requests in flight, Accept-Encoding: gzip, Prometheus 3's Accept header\n",
		r.rounds, o.batch, o.conns)
	mem := func(i int) float64 { return float64(r.memory[i].rss) }
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
		{"RSS (end of day)", [3]float64{mem(dayWhole), mem(dayNode), mem(dayStatic)}, formatBytes},
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\thardware_exporter\tnode_exporter\tstatic\texporter/node\texporter/static\t")
	for _, row := range rows {
		v := row.values
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", row.name, row.format(v[0]), row.format(v[1]), row.format(v[2]),
			formatRatio(v[0], v[1]), formatRatio(v[0], v[2]))
	}
	tw.Flush()
	fmt.Fprintf(w, "ratios are the exporter's value ÷ the other's: above 1 is better for req/s, below 1 for the rest; failed requests: %d, %d, %d\n",
		l[0].failures, l[1].failures, l[2].failures)
	fmt.Fprintln(w)
}

// sortedBuckets are the buckets, largest first (ties by name).
func sortedBuckets(m map[string]time.Duration) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return names
}

func formatShare(part, total time.Duration) string {
	if total <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(total))
}

func latencies(l []*loadResult, q float64) [3]float64 {
	var v [3]float64
	for i := range v {
		v[i] = percentile(l[i].latencies, q).Seconds()
	}
	return v
}

// delta is the growth of exporter i's counter key over the window, and
// whether the exporter has it at the end. A counter absent at the start
// counts from 0: a labelled one appears with its first increment (a probe
// that had not run yet, its data restored from a state file).
func delta(d *dayResult, i int, key string) (float64, bool) {
	a, ok := d.after[i][key]
	return a - d.before[i][key], ok
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
