// Command costtest measures what the whole daemon costs next to Debian's
// node_exporter and to a static handler replaying the exporter's own bytes,
// on the project's fixture host tree, in one run (`make costtest`):
//
//	go run ./cmd/costtest [-smoke] [-load 30s] [-day 90s] [-compress 240] [-pprof-top FILE]
//
// It is a benchmark, not a test: it exits non-zero only when it cannot run,
// never because of the numbers. Everything it starts listens on loopback,
// runs in its own process group, and is killed when it ends, fails or is
// interrupted; every wait is bounded by -timeout.
//
// Two phases:
//
//   - Scrape cost. The exporter (built-in config), node_exporter and the
//     static handler are driven in round-robin batches of -batch each,
//     -conns requests in flight, for -load in all: req/s, p50, p99, CPU per
//     scrape (/proc/PID/stat deltas over the batches, waited-for children
//     included), bytes per scrape (gzip, Prometheus' Accept header).
//   - A simulated day. A second exporter runs with every scheduling duration
//     divided by -compress (K), and two scrapers per target scrape every
//     15s/K, for -day of wall time (-day×K of simulated time). The
//     exporter's CPU over that window is scaled to a day; node_exporter and
//     the static handler have no schedule, so theirs is their CPU per
//     scrape in the window times the 11,520 scrapes a day of two scrapers.
//     With -pprof-top the exporter is profiled over the window and the
//     top 15 of `go tool pprof -top` is written to that file.
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// scrapeInterval is each simulated Prometheus server's, before compression.
const scrapeInterval = 15 * time.Second

const scrapersPerTarget = 2

type options struct {
	exporter, nodeExporter string
	fixture, tools         string
	conns                  int
	load, batch, day       time.Duration
	compress               float64
	pprofTop               string
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
	flag.DurationVar(&o.load, "load", 30*time.Second, "scrape-cost phase, all targets together")
	flag.DurationVar(&o.batch, "batch", time.Second, "one target's turn in the scrape-cost rounds")
	flag.DurationVar(&o.day, "day", 90*time.Second, "wall time of the simulated-day window")
	flag.Float64Var(&o.compress, "compress", 240, "time compression K of the simulated day: intervals ÷K, scrapes ×K (240 makes 90s the 6h of the longest default interval)")
	flag.StringVar(&o.pprofTop, "pprof-top", "", "profile the exporter over the day window and write `go tool pprof -top` (top 15) here, the profile next to it (.pb.gz)")
	flag.DurationVar(&o.timeout, "timeout", 6*time.Minute, "bound on the whole run")
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
	if *smoke {
		o.load, o.batch, o.day = 3*time.Second, 250*time.Millisecond, 4*time.Second
	}
	if err := o.check(); err != nil {
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

func (o options) check() error {
	switch {
	case o.conns < 1:
		return errors.New("-conns must be at least 1")
	case o.batch <= 0 || o.load < o.batch:
		return errors.New("-batch must be positive and -load at least one batch")
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

	// Scrape cost: the exporter as shipped, node_exporter, the static handler.
	exp, expURL, err := startExporter(ctx, &g, bin, tree, tools, work, "exporter", 1)
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
	static, staticURL, err := startStatic(ctx, &g, work, gz, identity)
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
	for _, t := range targets { // connections open, caches warm
		for range 3 {
			if _, err := t.scrape(ctx); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	rounds := max(int(o.load/(o.batch*time.Duration(len(targets)))), 1)
	load, err := throughput(ctx, targets, o.conns, rounds, o.batch)
	if err != nil {
		return err
	}
	exp.Stop(5 * time.Second) // its CPU would otherwise compete with the day's

	// The simulated day.
	dayExp, dayURL, err := startExporter(ctx, &g, bin, tree, tools, work, "exporter-day", o.compress)
	if err != nil {
		return err
	}
	day, err := simulateDay(ctx, o, []*target{
		newTarget("hardware_exporter", dayURL+"/metrics", dayExp, scrapersPerTarget),
		targets[1], targets[2],
	}, dayURL)
	if err != nil {
		return err
	}

	r := report{
		opts: o, rounds: rounds, series: series, load: load, day: day,
		machine:         fmt.Sprintf("%d CPUs (nproc), %s, Linux %s, %s", runtime.NumCPU(), cpuModel(), kernelRelease(), runtime.Version()),
		exporterVersion: versionOf(ctx, bin),
		nodeVersion:     versionOf(ctx, o.nodeExporter),
	}
	for _, p := range []*process{dayExp, node, static} {
		m, err := memoryOf(p.Pid())
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		r.memory = append(r.memory, m)
	}
	if o.pprofTop != "" && day.profile != nil {
		top, err := pprofTop(ctx, day.profile, o.pprofTop)
		if err != nil {
			return err
		}
		r.pprofTop = top
	}
	r.print(out)
	return nil
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
// config compressed by compress, and waits until every probe has run once.
func startExporter(ctx context.Context, g *group, bin, tree, tools, work, name string, compress float64) (*process, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(work, name+".yml")
	if err := os.WriteFile(cfg, []byte(exporterConfig(tree, tools, work, compress)), 0o644); err != nil {
		return nil, "", err
	}
	p, err := g.start(name, filepath.Join(work, name+".log"), bin,
		"--config.file="+cfg, "--web.listen-address="+addr, "--log.level=warn")
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	return p, url, waitReady(ctx, p, url+"/-/ready", time.Minute)
}

// startStatic saves the exporter's responses and starts this program again
// as the static handler serving them.
func startStatic(ctx context.Context, g *group, work string, gz, identity variant) (*process, string, error) {
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
	p, err := g.start("static", filepath.Join(work, "static.log"), self, "-serve-static", dir, "-listen", addr)
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	return p, url, waitReady(ctx, p, url+"/metrics", time.Minute)
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

// dayResult is what the simulated day measured, per target.
type dayResult struct {
	window      time.Duration // wall time
	cpu         []cpuUsage
	scrapes     []int // in the window, all scrapers of the target
	failures    []int
	before      map[string]float64 // exporter's counters at the window's start
	after       map[string]float64
	profile     []byte
	profileSecs int
}

// simulateDay starts two scrapers per target at 15s/K, then measures each
// target's CPU over a window of o.day. With -pprof-top the exporter is
// profiled over the window (its few milliseconds of profiling count in the
// exporter's CPU).
func simulateDay(ctx context.Context, o options, targets []*target, expURL string) (*dayResult, error) {
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
			s := &scraper{t: t, interval: interval, offset: offset}
			ss = append(ss, s)
			wg.Go(func() { s.run(sctx) })
		}
		scrapers = append(scrapers, ss)
	}
	// Let every scraper start before the window opens.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(2 * interval):
	}

	d := &dayResult{}
	var err error
	if d.before, err = counters(ctx, expURL+"/exporter/metrics"); err != nil {
		return nil, err
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
	var profileDone chan error
	if o.pprofTop != "" {
		// The exporter's server refuses a profile as long as its write
		// timeout (2m).
		d.profileSecs = min(max(int(o.day.Seconds()), 1), 110)
		profileDone = make(chan error, 1)
		go func() {
			var err error
			d.profile, err = fetchProfile(ctx, expURL, d.profileSecs)
			profileDone <- err
		}()
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.day):
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
		n, f := 0, 0
		for _, s := range ss {
			s.mu.Lock()
			s.inWindow = false
			n += s.windowScrapes
			f += s.failures
			s.mu.Unlock()
		}
		d.scrapes = append(d.scrapes, n)
		d.failures = append(d.failures, f)
	}
	if d.after, err = counters(ctx, expURL+"/exporter/metrics"); err != nil {
		return nil, err
	}
	if profileDone != nil {
		if err := <-profileDone; err != nil {
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

// pprofTop saves the profile next to path and writes the top 15 to path.
func pprofTop(ctx context.Context, profile []byte, path string) (string, error) {
	raw := strings.TrimSuffix(path, filepath.Ext(path)) + ".pb.gz"
	if err := os.WriteFile(raw, profile, 0o644); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=15", raw).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %v\n%s", err, out)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", err
	}
	return string(out), nil
}
