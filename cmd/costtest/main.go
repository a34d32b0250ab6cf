// Command costtest measures what the whole daemon costs next to Debian's
// node_exporter and to a static handler replaying the exporter's own bytes,
// on the project's fixture host tree, in one run (`make costtest`,
// `make costtest-realtime`):
//
//	go run ./cmd/costtest [-smoke] [-realtime] [-churn] [-compress 20] [-day D] [-load 30s] [-pprof-top FILE]
//
// It is a benchmark, not a test: it exits non-zero only when it cannot run,
// never because of the numbers. Everything it starts listens on loopback,
// runs in its own process group, and is killed when it ends, fails or is
// interrupted; every wait is bounded by -timeout.
//
// Two phases:
//
//   - Scrape cost (-load, 0 skips it; -realtime skips it unless -load is
//     given). The exporter (built-in config), node_exporter and the static
//     handler are driven in round-robin batches of -batch each, -conns
//     requests in flight, for -load in all: req/s, p50, p99, CPU per scrape
//     (/proc/PID/stat deltas over the batches, waited-for children
//     included), bytes per scrape (gzip, Prometheus' Accept header).
//   - A simulated day. Four exporters run with every scheduling duration
//     divided by -compress (K, default 20; 1 with -realtime): the whole
//     daemon, one with only the probes node_exporter also has plus smart
//     (like for like), one with only the BMC and GPU probes (ipmi, sel,
//     raid, gpu), and a profiled twin of the whole daemon. Two scrapers per
//     target, each with one keep-alive connection as a Prometheus server
//     keeps, scrape every 15s/K for -day of wall time (default: the longest
//     default probe interval ÷ K, so that every probe runs; 10 minutes with
//     -realtime), which opens half an interval after the start-up runs
//     (preWindowWait). Each exporter's CPU over that window is scaled to a
//     day; node_exporter and the static handler have no schedule, so
//     theirs is their CPU per scrape in the window times the 11,520 scrapes
//     a day of two scrapers. The twin and the BMC+GPU exporter are profiled
//     over the window (/debug/pprof/profile, in pieces of at most 100s):
//     the samples, by the pprof label probe=NAME the scheduler sets and by
//     function, say what each probe, the renders, the scrapes and the Go
//     runtime cost.
//
// The fixture's files never change, the exporter's best case. With -churn,
// once the day's exporters are up and until the window closes, the readings
// the one-minute probes read (hwmon inputs, thermal zones, cooling states,
// throttle and RAPL counters, InfiniBand counters, carrier changes: see
// churnPatterns) are rewritten in place once per simulated minute with new
// plausible values, seeded by -churn-seed, as a real host's change.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// scrapeInterval is each simulated Prometheus server's, before compression.
const scrapeInterval = 15 * time.Second

const scrapersPerTarget = 2

// bmcGPUProbes are the probes with a line of their own in the report: they
// talk to the BMC, the RAID controller and the GPUs through tools, which
// node_exporter does not do. Every other probe reads sysfs, procfs or files
// (or runs smartctl), what node_exporter's collectors do: the like-for-like
// exporter runs those.
var bmcGPUProbes = []string{"gpu", "ipmi", "raid", "sel"}

func isBMCGPU(name string) bool { return slices.Contains(bmcGPUProbes, name) }

type options struct {
	exporter, nodeExporter string
	fixture, tools         string
	conns                  int
	load, batch, day       time.Duration
	compress               float64
	realtime               bool
	churn                  bool
	churnSeed              int64
	pprofTop               string
	exporterEnv            []string // KEY=VALUE for every exporter started
	timeout                time.Duration
	keep                   bool
}

func main() {
	var o options
	flag.StringVar(&o.exporter, "exporter", "", "hardware_exporter binary to measure (default: go build ./cmd/hardware_exporter)")
	flag.StringVar(&o.nodeExporter, "node-exporter", "/usr/bin/prometheus-node-exporter", "node_exporter binary (Debian's; `make costtest` installs it)")
	flag.StringVar(&o.fixture, "fixture", "internal/probe/testdata/server", "fixture host tree")
	flag.StringVar(&o.tools, "tools", "internal/probe/testdata/tools", "directory of the fake smartctl, ipmitool and nvidia-smi")
	flag.IntVar(&o.conns, "conns", 8, "requests in flight in the scrape-cost phase")
	flag.DurationVar(&o.load, "load", 30*time.Second, "scrape-cost phase, all targets together (0: none)")
	flag.DurationVar(&o.batch, "batch", time.Second, "one target's turn in the scrape-cost rounds")
	flag.DurationVar(&o.day, "day", 0, "wall time of the simulated-day window (default: the longest default probe interval ÷ K; 10m with -realtime)")
	flag.Float64Var(&o.compress, "compress", 20, "time compression K of the simulated day: intervals ÷K, scrapes ×K")
	flag.BoolVar(&o.realtime, "realtime", false, "real time (K=1): the Go runtime's idle cost as a host pays it; no scrape-cost phase unless -load is given")
	flag.BoolVar(&o.churn, "churn", false, "rewrite the tree's readings (hwmon inputs, thermal, throttle, RAPL and InfiniBand counters...) once per simulated minute with new values, as a real host's change; off, the fixture's never change (the exporter's best case, and the earlier runs' setting)")
	flag.Int64Var(&o.churnSeed, "churn-seed", 1, "seed of -churn's values: the same seed writes the same values")
	flag.StringVar(&o.pprofTop, "pprof-top", "", "write `go tool pprof -top` (top 15) of the whole daemon over the day window here, the profiles next to it (.N.pb.gz)")
	flag.Func("exporter-env", "`KEY=VALUE` set in the exporters' environment (repeatable; e.g. GOGC=200 to measure a runtime setting before and after)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("%q is not KEY=VALUE", v)
		}
		o.exporterEnv = append(o.exporterEnv, v)
		return nil
	})
	flag.DurationVar(&o.timeout, "timeout", 0, "bound on the whole run (default: -load + -day + 8m)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, configs, fixture tree)")
	smoke := flag.Bool("smoke", false, "a few seconds of each phase, for CI: the numbers mean little")
	serveStaticDir := flag.String("serve-static", "", "internal: serve the replay variants in this directory (the static handler's process)")
	listen := flag.String("listen", "", "internal: the static handler's address")
	flag.Parse()

	if *serveStaticDir != "" {
		if err := serveStatic(*serveStaticDir, *listen); err != nil {
			fmt.Fprintln(os.Stderr, "costtest static handler:", err)
			os.Exit(1)
		}
		return
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := o.resolve(set, *smoke); err != nil {
		fmt.Fprintln(os.Stderr, "costtest:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "costtest:", err)
		stop()
		cancel()
		os.Exit(1)
	}
}

// resolve fills the defaults that depend on the mode and on the flags given
// (set), then checks the whole.
func (o *options) resolve(set map[string]bool, smoke bool) error {
	if o.realtime {
		if set["compress"] && o.compress != 1 {
			return errors.New("-realtime is -compress 1")
		}
		o.compress = 1
		if !set["load"] {
			o.load = 0
		}
	}
	if o.compress < 1 {
		return errors.New("-compress must be at least 1")
	}
	if !set["day"] {
		if o.realtime {
			o.day = 10 * time.Minute
		} else {
			o.day = dayWindow(o.compress)
		}
	}
	if smoke {
		o.load, o.batch, o.day = 3*time.Second, 250*time.Millisecond, 4*time.Second
	}
	if !set["timeout"] {
		o.timeout = o.load + preWindowWait(o.compress, o.day) + o.day + 8*time.Minute
	}
	return o.check()
}

// dayWindow is the wall time in which every default interval comes round
// once at compression k: the longest interval ÷ k (6h ÷ 20 = 18m).
func dayWindow(k float64) time.Duration {
	var longest time.Duration
	for _, iv := range defaultIntervals() {
		longest = max(longest, iv)
	}
	return time.Duration(float64(longest) / k).Round(time.Second)
}

// preWindowWait is how long after the day's exporters are ready (every
// probe has run once) the window opens: half of the longest interval ÷ k
// that fits in the window, and two scrape intervals at least. A probe's
// next run after a run at t is the first tick of its grid from t + I/2
// (internal/daemon/scheduler), so a window opened I/2 after the start-up
// runs holds exactly window÷I scheduled runs of a probe of interval I,
// wherever the daemon's random grid offset puts them; opened sooner, it
// can miss one (at K=20, the 6h probes' only run half the time).
func preWindowWait(k float64, window time.Duration) time.Duration {
	wait := 2 * time.Duration(float64(scrapeInterval)/k)
	for _, iv := range defaultIntervals() {
		if scaled := time.Duration(float64(iv) / k); scaled <= window {
			wait = max(wait, scaled/2)
		}
	}
	return wait
}

func (o options) check() error {
	switch {
	case o.conns < 1:
		return errors.New("-conns must be at least 1")
	case o.load != 0 && (o.batch <= 0 || o.load < o.batch):
		return errors.New("-batch must be positive and -load 0 or at least one batch")
	case o.day < time.Second:
		return errors.New("-day must be at least 1s")
	case o.compress < 1:
		return errors.New("-compress must be at least 1")
	}
	return nil
}

// run does the whole measurement. The deferred stopAll ends every process it
// started, whichever way it returns.
func run(ctx context.Context, o options, out io.Writer) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the repository root (make costtest)")
	}
	if _, err := os.Stat(o.nodeExporter); err != nil {
		return fmt.Errorf("node_exporter: %w (run `make tools`)", err)
	}
	tools, err := filepath.Abs(o.tools)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "hardware_exporter-costtest-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "costtest: work directory %s kept\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	var g group
	defer g.stopAll()

	bin := o.exporter
	if bin == "" {
		bin = filepath.Join(work, "hardware_exporter")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "-ldflags", versionFlags(ctx), "./cmd/hardware_exporter")
		if b, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/hardware_exporter: %v\n%s", err, b)
		}
	}
	tree := filepath.Join(work, "tree")
	if err := fixture.Materialize(o.fixture, tree); err != nil {
		return err
	}

	// The exporter as shipped, node_exporter, the static handler.
	exp, expURL, err := startExporter(ctx, &g, o, bin, tree, tools, work, "exporter", 1, allProbes)
	if err != nil {
		return err
	}
	nodeAddr, err := freeAddr()
	if err != nil {
		return err
	}
	node, err := g.start("node_exporter", filepath.Join(work, "node_exporter.log"), o.nodeExporter, nodeExporterArgs(tree, nodeAddr)...)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, node, "http://"+nodeAddr+"/", time.Minute); err != nil {
		return err
	}
	gz, err := fetchVariant(ctx, expURL+"/metrics", "gzip")
	if err != nil {
		return err
	}
	identity, err := fetchVariant(ctx, expURL+"/metrics", "identity")
	if err != nil {
		return err
	}
	static, staticURL, err := startStatic(ctx, &g, work, exporterMaxProcs(o.exporterEnv), gz, identity)
	if err != nil {
		return err
	}
	targets := []*target{
		newTarget("hardware_exporter", expURL+"/metrics", exp, o.conns),
		newTarget("node_exporter", "http://"+nodeAddr+"/metrics", node, o.conns),
		newTarget("static", staticURL+"/metrics", static, o.conns),
	}
	series, err := seriesCounts(ctx, targets)
	if err != nil {
		return err
	}
	r := report{
		opts: o, series: series,
		machine:         fmt.Sprintf("%d CPUs (nproc), %s, Linux %s, %s", runtime.NumCPU(), cpuModel(), kernelRelease(), runtime.Version()),
		exporterVersion: versionOf(ctx, bin),
		nodeVersion:     versionOf(ctx, o.nodeExporter),
	}
	if o.load > 0 {
		for _, t := range targets { // connections open, caches warm
			for range 3 {
				if _, err := t.scrape(ctx); err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
			}
		}
		r.rounds = max(int(o.load/(o.batch*time.Duration(len(targets)))), 1)
		if r.load, err = throughput(ctx, targets, o.conns, r.rounds, o.batch); err != nil {
			return err
		}
	}
	exp.Stop(5 * time.Second) // its CPU would otherwise compete with the day's

	// The simulated day: three exporters, each on its own set of probes.
	var day []*dayTarget
	for _, v := range dayExporters {
		p, url, err := startExporter(ctx, &g, o, bin, tree, tools, work, "exporter-"+v.short, o.compress, v.probes)
		if err != nil {
			return err
		}
		day = append(day, &dayTarget{target: newTarget(v.name, url+"/metrics", p, scrapersPerTarget), base: url, profile: v.profiled})
	}
	day = append(day, &dayTarget{target: targets[1]}, &dayTarget{target: targets[2]})
	ready := time.Now()
	stopChurn := func() error { return nil }
	if o.churn {
		c, err := newChurner(tree, o.churnSeed)
		if err != nil {
			return err
		}
		r.churnFiles = c.count()
		stopChurn = startChurn(ctx, c, o.compress)
		defer stopChurn() // on an error return; its own error is checked below
	}
	if r.day, err = simulateDay(ctx, o, day, ready, work); err != nil {
		return err
	}
	if err := stopChurn(); err != nil {
		return err
	}
	for _, t := range day {
		m, err := memoryOf(t.proc.Pid())
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		r.memory = append(r.memory, m)
	}
	if o.pprofTop != "" && len(r.day.profiles) > 0 {
		if r.pprofTop, err = pprofTop(ctx, r.day.profiles, o.pprofTop); err != nil {
			return err
		}
	}
	r.print(out)
	return nil
}

// A day exporter: which probes it runs, and whether it is profiled.
type dayExporter struct {
	name, short string
	probes      func(string) bool
	profiled    bool
}

func allProbes(string) bool { return true }

// dayExporters are the simulated day's exporters, in the order the report
// and dayResult use (the day* constants). The CPU lines (a) and (c) come
// from exporters that are not profiled: the profiler wakes every 100ms
// and takes a signal per 10ms of CPU, which in real time is a visible part
// of an idle daemon's cost. A profiled twin of the whole daemon says where
// its CPU goes (and, next to the whole daemon, what profiling costs); the
// BMC+GPU exporter is profiled for its probes' Go side.
var dayExporters = []dayExporter{
	{"hardware_exporter", "whole", allProbes, false},
	{"like for like", "like", func(n string) bool { return !isBMCGPU(n) }, false},
	{"BMC+GPU probes", "bmcgpu", isBMCGPU, true},
	{"hardware_exporter, profiled", "profiled", allProbes, true},
}

// versionFlags stamp the build with the commit measured, as `make build`
// does, so that a pasted run says what it ran.
func versionFlags(ctx context.Context) string {
	git := func(args ...string) string {
		out, err := exec.CommandContext(ctx, "git", args...).Output()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(out))
	}
	const pkg = "github.com/prometheus/common/version"
	return fmt.Sprintf("-X %s.Version=%s -X %s.Revision=%s -X %s.Branch=%s", pkg, git("describe", "--tags", "--always", "--dirty"),
		pkg, git("rev-parse", "HEAD"), pkg, git("rev-parse", "--abbrev-ref", "HEAD"))
}

// startExporter starts the exporter on the fixture tree with the built-in
// config compressed by compress and only the probes enabled says, and waits until every probe has run once.
func startExporter(ctx context.Context, g *group, o options, bin, tree, tools, work, name string, compress float64, enabled func(string) bool) (*process, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	// A directory of its own for each exporter: its state files must be
	// neither another's nor restored from another's.
	dir := filepath.Join(work, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(exporterConfig(tree, tools, dir, compress, enabled)), 0o644); err != nil {
		return nil, "", err
	}
	args := []string{"--config.file=" + cfg, "--web.listen-address=" + addr, "--log.level=warn"}
	if len(o.exporterEnv) > 0 {
		// env(1) execs the exporter in its own process: the PID, and so the
		// CPU read from /proc, are the exporter's.
		args = append(append(slices.Clone(o.exporterEnv), bin), args...)
		bin = "env"
	}
	p, err := g.start(name, filepath.Join(dir, "log"), bin, args...)
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	return p, url, waitReady(ctx, p, url+"/-/ready", time.Minute)
}

// startStatic saves the exporter's responses and starts this program again
// as the static handler serving them.
func startStatic(ctx context.Context, g *group, work, maxProcs string, gz, identity variant) (*process, string, error) {
	dir := filepath.Join(work, "static")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, "", err
	}
	if err := saveVariants(dir, gz, identity); err != nil {
		return nil, "", err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	// The handler runs on as many Ps as the exporter (its
	// --runtime.gomaxprocs, 1 unless -exporter-env sets GOMAXPROCS), so that
	// it is the floor of the same process serving the same bytes.
	p, err := g.start("static", filepath.Join(work, "static.log"), "env", "GOMAXPROCS="+maxProcs,
		self, "-serve-static", dir, "-listen", addr)
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	return p, url, waitReady(ctx, p, url+"/metrics", time.Minute)
}

// exporterMaxProcs is the GOMAXPROCS the exporters run with: the one
// -exporter-env gives, else the exporter's default (--runtime.gomaxprocs).
func exporterMaxProcs(env []string) string {
	n := "1"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOMAXPROCS="); ok {
			n = v
		}
	}
	return n
}

// seriesCounts fetches each target once, checks it answers gzip, and counts
// its series.
func seriesCounts(ctx context.Context, targets []*target) ([]int, error) {
	var n []int
	for _, t := range targets {
		v, err := fetchVariant(ctx, t.url, "gzip")
		if err != nil {
			return nil, err
		}
		if v.Header.Get("Content-Encoding") != "gzip" {
			return nil, fmt.Errorf("%s did not answer with gzip to Accept-Encoding: gzip", t.name)
		}
		c, err := seriesIn(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		n = append(n, c)
	}
	return n, nil
}

// dayTarget is a target of the simulated day; base is an exporter's root
// URL (its counters and profile), empty for node_exporter and static.
type dayTarget struct {
	*target
	base    string
	profile bool // profile it over the window
}

// dayResult is what the simulated day measured, per target (in the order
// given to simulateDay).
type dayResult struct {
	window   time.Duration // wall time
	cpu      []cpuUsage
	scrapes  []int // in the window, all scrapers of the target
	failures []int
	conns    []int                // connections the scrapers opened in the window
	before   []map[string]float64 // an exporter's counters at the window's start; nil for the others
	after    []map[string]float64
	prof     []profileSums // an exporter's profile over the window
	profiles []string      // the profiled twin's profile files
}

// simulateDay starts two scrapers per target at 15s/K, waits from ready
// (the exporters' start-up runs done) for preWindowWait, then measures each
// target's CPU over a window of o.day, profiling each exporter over it (the
// profiler's own cost counts in the exporter's CPU and is shown apart).
func simulateDay(ctx context.Context, o options, targets []*dayTarget, ready time.Time, work string) (*dayResult, error) {
	interval := time.Duration(float64(scrapeInterval) / o.compress)
	sctx, stopScrapers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopScrapers(); wg.Wait() }()
	var scrapers [][]*scraper
	for i, t := range targets {
		var ss []*scraper
		for j := range scrapersPerTarget {
			// Offsets spread like independent Prometheus servers'.
			offset := time.Duration(float64(interval) * (0.13*float64(i) + 0.47*float64(j)))
			s := newScraper(t.target, interval, offset)
			ss = append(ss, s)
			wg.Go(func() { s.run(sctx) })
		}
		scrapers = append(scrapers, ss)
	}
	// Let every scraper start, and every probe's first scheduled run come
	// round, before the window opens.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(ready.Add(preWindowWait(o.compress, o.day)))):
	}

	n := len(targets)
	d := &dayResult{before: make([]map[string]float64, n), after: make([]map[string]float64, n), prof: make([]profileSums, n)}
	var err error
	for i, t := range targets {
		if t.base == "" {
			continue
		}
		if d.before[i], err = counters(ctx, t.base+"/exporter/metrics"); err != nil {
			return nil, err
		}
	}
	var start []cpuUsage
	for _, t := range targets {
		c, err := cpuOf(t.proc.Pid())
		if err != nil {
			return nil, err
		}
		start = append(start, c)
	}
	for _, ss := range scrapers {
		for _, s := range ss {
			s.setWindow(true)
		}
	}
	t0 := time.Now()
	deadline := t0.Add(o.day)
	profErrs := make(chan error, n)
	var profiling sync.WaitGroup
	for i, t := range targets {
		if !t.profile {
			continue
		}
		keep := ""
		if i == dayProfiled && o.pprofTop != "" {
			keep = strings.TrimSuffix(o.pprofTop, filepath.Ext(o.pprofTop))
		} else if o.keep {
			keep = filepath.Join(work, "profile-"+strings.ReplaceAll(t.name, " ", "_"))
		}
		profiling.Go(func() {
			files, err := profileUntil(ctx, t.base, deadline, &d.prof[i], keep)
			if i == dayProfiled {
				d.profiles = files
			}
			profErrs <- err
		})
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(deadline)):
	}
	for i, t := range targets {
		c, err := cpuOf(t.proc.Pid())
		if err != nil {
			return nil, err
		}
		d.cpu = append(d.cpu, c.sub(start[i]))
	}
	d.window = time.Since(t0)
	for _, ss := range scrapers {
		scrapes, fails, conns := 0, 0, 0
		for _, s := range ss {
			s.mu.Lock()
			s.inWindow = false
			scrapes += s.windowScrapes
			fails += s.failures
			conns += s.windowConns
			s.mu.Unlock()
		}
		d.scrapes = append(d.scrapes, scrapes)
		d.failures = append(d.failures, fails)
		d.conns = append(d.conns, conns)
	}
	for i, t := range targets {
		if t.base == "" {
			continue
		}
		if d.after[i], err = counters(ctx, t.base+"/exporter/metrics"); err != nil {
			return nil, err
		}
	}
	profiling.Wait()
	close(profErrs)
	for err := range profErrs {
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	for i, t := range targets {
		if t.proc.Exited() {
			return nil, fmt.Errorf("%s exited during the day (see %s)", t.name, t.proc.Log())
		}
		if d.scrapes[i] == 0 {
			return nil, fmt.Errorf("%s: no scrape in the day window", t.name)
		}
	}
	return d, nil
}

// maxProfileSeconds keeps each profile under the exporter's server write
// timeout (2m), which would cut a longer one off.
const maxProfileSeconds = 100

// profileUntil profiles the exporter at base in consecutive pieces until
// deadline, adding each piece's samples to sums; with keep, each piece is
// saved as keep.N.pb.gz and the files are returned.
func profileUntil(ctx context.Context, base string, deadline time.Time, sums *profileSums, keep string) ([]string, error) {
	var files []string
	for i := 0; ; i++ {
		left := time.Until(deadline)
		secs := min(int(left.Round(time.Second)/time.Second), maxProfileSeconds)
		if secs < 1 {
			return files, nil
		}
		b, err := fetchProfile(ctx, base, secs)
		if err != nil {
			return files, err
		}
		samples, err := parseProfile(b)
		if err != nil {
			return files, err
		}
		sums.add(samples)
		sums.profiled += time.Duration(secs) * time.Second
		if keep != "" {
			f := fmt.Sprintf("%s.%d.pb.gz", keep, i)
			if err := os.WriteFile(f, b, 0o644); err != nil {
				return files, err
			}
			files = append(files, f)
		}
	}
}

func fetchProfile(ctx context.Context, base string, seconds int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /debug/pprof/profile: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// pprofTop writes the top 15 of the profiles (merged by pprof) to path.
func pprofTop(ctx context.Context, profiles []string, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args := append([]string{"tool", "pprof", "-top", "-nodecount=15"}, profiles...)
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %v\n%s", err, out)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", err
	}
	return string(out), nil
}
