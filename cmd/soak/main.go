// Command soak runs the exporter on a hostile fixture host while scraping,
// refreshing and reloading it at once, and fails on growth, on any 5xx and
// on any panic (issue 13). `make soak` runs it for 10 minutes; it is not
// part of CI. Run it from the repository root:
//
//	go run ./cmd/soak -duration 3m
//
// The host is the probe tests' fixture server with hostile files added: a
// FIFO at an hwmon attribute, DMI strings that are not UTF-8, a textfile
// directory over its size cap with a symlink out of it, and a gpu tool that
// leaves children behind (one holding stdout, one in a new session).
// Every few seconds it samples the exporter's RSS, threads and FDs
// (/proc/PID) and goroutines (go_goroutines from /exporter/metrics), and
// at the end prints each one's slope after a warm-up.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	psprocess "github.com/shirou/gopsutil/v3/process"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/test/childproc"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
	"gopkg.in/yaml.v3"
)

type options struct {
	duration, sample, warmup          time.Duration
	scrapers                          int
	maxRSS                            float64 // MiB over the run, by slope
	maxGoroutines, maxThreads, maxFDs float64
	keep                              bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to soak")
	flag.DurationVar(&o.sample, "sample", 3*time.Second, "how often to sample the exporter")
	flag.DurationVar(&o.warmup, "warmup", 30*time.Second, "samples before this are left out of the slopes")
	flag.IntVar(&o.scrapers, "scrapers", 4, "concurrent scrapers")
	flag.Float64Var(&o.maxRSS, "max-rss-growth", 32, "fail when RSS grows more than this many MiB over the run (by its slope)")
	flag.Float64Var(&o.maxGoroutines, "max-goroutine-growth", 50, "fail when goroutines grow more than this over the run")
	flag.Float64Var(&o.maxThreads, "max-thread-growth", 8, "fail when threads grow more than this over the run")
	flag.Float64Var(&o.maxFDs, "max-fd-growth", 16, "fail when open FDs grow more than this over the run")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

func run(ctx context.Context, o options) (err error) {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the repository root (make soak)")
	}
	work, err := os.MkdirTemp("", "hardware_exporter-soak-")
	if err != nil {
		return err
	}
	// A failed soak keeps its work directory: the exporter's log says why.
	defer func() {
		if o.keep || err != nil {
			fmt.Println("work directory (exporter.log, the config, the hostile tree):", work)
			return
		}
		os.RemoveAll(work)
	}()
	bin := filepath.Join(work, "hardware_exporter")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hardware_exporter").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	cfg, err := hostileHost(work)
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	logPath := filepath.Join(work, "exporter.log")
	exp, err := childproc.Start(logPath, bin, "--config.file="+cfg, "--web.listen-address="+addr, "--log.level=info")
	if err != nil {
		return err
	}
	defer exp.Stop(15 * time.Second)
	base := "http://" + addr
	if err := waitReady(ctx, exp, base+"/-/ready", 2*time.Minute); err != nil {
		return err
	}
	fmt.Printf("exporter pid %d on %s; soaking for %v\n", exp.Pid(), addr, o.duration)

	names, err := metricNames(ctx, base)
	if err != nil {
		return err
	}
	soakCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var (
		wg    sync.WaitGroup
		stats loadStats
	)
	client := &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.scrapers + 2, DisableCompression: true}}
	for i := range o.scrapers {
		wg.Go(func() { scrape(soakCtx, client, base, names, rand.New(rand.NewPCG(uint64(i), 1)), &stats) })
	}
	wg.Go(func() { refresh(soakCtx, client, base, &stats) })
	wg.Go(func() { hangUp(soakCtx, exp, &stats) })
	samples := sampleLoop(soakCtx, client, base, exp, o.sample)
	wg.Wait()
	if exp.Exited() {
		return fmt.Errorf("the exporter exited during the soak: %v (see its log)", exp.Cmd.ProcessState)
	}
	fmt.Printf("requests: %d scrapes, %d refreshes, %d SIGHUPs; statuses %s\n",
		stats.scrapes.Load(), stats.refreshes.Load(), stats.hups.Load(), stats.statuses())

	var failures []string
	if n := stats.serverErrors.Load(); n > 0 {
		failures = append(failures, fmt.Sprintf("%d responses were 5xx (last: %s)", n, stats.lastServerError()))
	}
	if n := stats.transportErrors.Load(); n > 0 {
		failures = append(failures, fmt.Sprintf("%d requests failed without a response (last: %s)", n, stats.lastTransportError()))
	}
	failures = append(failures, report(samples, o)...)

	// SIGTERM to the exporter's process group: its tools run in groups of
	// their own, so what they left behind is still there to be found.
	exp.Stop(15 * time.Second)
	if left := leftoverTools(exp.Pid()); len(left) > 0 {
		failures = append(failures, fmt.Sprintf("tool processes outlived the exporter: %v", left))
	}
	logText, _ := os.ReadFile(logPath)
	for _, bad := range []string{"panic", "fatal error", "DATA RACE"} {
		if bytes.Contains(logText, []byte(bad)) {
			failures = append(failures, fmt.Sprintf("the log holds %q", bad))
		}
	}
	fmt.Printf("log: %d lines, %d warnings, %d errors\n", bytes.Count(logText, []byte("\n")),
		bytes.Count(logText, []byte("level=WARN")), bytes.Count(logText, []byte("level=ERROR")))
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

// hostileHost materializes the fixture server under work, adds hostile
// files, and writes the exporter's config; it returns the config's path.
func hostileHost(work string) (string, error) {
	testdata, err := filepath.Abs(filepath.Join("internal", "probe", "testdata"))
	if err != nil {
		return "", err
	}
	tree := filepath.Join(work, "tree")
	if err := fixture.Materialize(filepath.Join(testdata, "server"), tree); err != nil {
		return "", err
	}
	sys := filepath.Join(tree, "sys")
	// A FIFO at one hwmon attribute: opening it blocks until a writer comes.
	attr, err := filepath.EvalSymlinks(filepath.Join(sys, "class", "hwmon", "hwmon1", "temp1_input"))
	if err != nil {
		return "", err
	}
	if err := os.Remove(attr); err != nil {
		return "", err
	}
	if err := syscall.Mkfifo(attr, 0o644); err != nil {
		return "", err
	}
	// Unprogrammed DMI fields are often 0xFF-filled.
	for _, f := range []string{"product_name", "board_vendor", "bios_version"} {
		if err := os.WriteFile(filepath.Join(sys, "class", "dmi", "id", f), []byte("\xff\xff\xfeBoard \xc3(\n"), 0o444); err != nil {
			return "", err
		}
	}
	textDir, err := hostileTextfiles(work)
	if err != nil {
		return "", err
	}
	// A gpu tool that leaves a child holding its stdout and one in a new
	// session, then prints the captured output.
	gpu := filepath.Join(work, "nvidia-smi")
	script := "#!/bin/sh\nsleep 1000 &\nsetsid sleep 1000 >/dev/null 2>&1 &\nexec " + filepath.Join(testdata, "tools", "nvidia-smi") + " \"$@\"\n"
	if err := os.WriteFile(gpu, []byte(script), 0o755); err != nil {
		return "", err
	}

	probes := fixture.ToolConfig(testdata)
	for _, name := range probe.Names() {
		section, _ := probes[name].(map[string]any)
		if section == nil {
			section = map[string]any{}
		}
		section["enabled"] = true
		section["interval"] = "20s"
		section["timeout"] = "5s"
		section["allow_fast"] = true // 20s is below a tool probe's floor
		probes[name] = section
	}
	probes["textfile"].(map[string]any)["directory"] = textDir
	probes["gpu"].(map[string]any)["command"] = gpu
	cfg := map[string]any{
		"paths":     map[string]any{"procfs": filepath.Join(tree, "proc"), "sysfs": sys, "rootfs": filepath.Join(tree, "root")},
		"cache":     map[string]any{"ttl": "10s"},
		"scheduler": map[string]any{"jitter": "2s"},
		// Its own state directory: never the host's default.
		"state":  map[string]any{"path": filepath.Join(work, "state")},
		"probes": probes,
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(work, "hardware_exporter.yml")
	return path, os.WriteFile(path, b, 0o644)
}

// hostileTextfiles writes a textfile directory with files over the
// directory's size cap, a symlink out of it, HELP that is not UTF-8 and a
// line that must never be logged.
func hostileTextfiles(work string) (string, error) {
	dir := filepath.Join(work, "textfile")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	secret := filepath.Join(work, "secret")
	files := map[string]string{
		"a_good.prom":   "# HELP soak_good A file that is fine.\n# TYPE soak_good gauge\nsoak_good 1\n",
		"b_help.prom":   "# HELP soak_help Help that is not \xff UTF-8.\nsoak_help 1\n",
		"c_shadow.prom": "root:$6$soaksecret$Hx8vv:19000:0:99999:7:::\n",
	}
	big := "# " + strings.Repeat("x", 6<<20) + "\n"
	for _, n := range []string{"d_big", "e_big", "f_big"} {
		files[n+".prom"] = big + "soak_" + n + " 1\n"
	}
	for n, content := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(secret, []byte("soak_secret 42\n"), 0o600); err != nil {
		return "", err
	}
	return dir, os.Symlink(secret, filepath.Join(dir, "g_link.prom"))
}

// loadStats counts what the load did and how it was answered.
type loadStats struct {
	scrapes, refreshes, hups      atomic.Int64
	serverErrors, transportErrors atomic.Int64
	mu                            sync.Mutex
	byStatus                      map[int]int64
	lastServer, lastTransport     string
}

// record counts one answer; a 5xx's body (its first line) is kept to say why.
func (s *loadStats) record(what string, resp *http.Response, err error) {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return // the soak ended mid-request
		}
		s.transportErrors.Add(1)
		s.mu.Lock()
		s.lastTransport = what + ": " + err.Error()
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byStatus == nil {
		s.byStatus = map[int]int64{}
	}
	s.byStatus[resp.StatusCode]++
	if resp.StatusCode >= 500 {
		s.serverErrors.Add(1)
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		line, _, _ := strings.Cut(string(body), "\n")
		s.lastServer = fmt.Sprintf("%s: %s: %s", what, resp.Status, line)
	}
}

func (s *loadStats) statuses() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	codes := make([]int, 0, len(s.byStatus))
	for c := range s.byStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, s.byStatus[c]))
	}
	return strings.Join(parts, " ")
}

func (s *loadStats) lastServerError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastServer
}

func (s *loadStats) lastTransportError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastTransport
}

var (
	accepts = []string{
		"", "*/*", "text/plain", "text/plain; version=0.0.4",
		"application/openmetrics-text; version=1.0.0", "application/openmetrics-text; version=0.0.1; escaping=underscores",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"text/plain;version=1.0.0;escaping=allow-utf-8", "garbage/\xff;;;q=x", "text/html",
	}
	encodings = []string{"", "gzip", "identity", "br", "zstd", "gzip;q=0, identity", "deflate, *;q=0.1", "\xff"}
)

// scrape sends GETs of /metrics with random name[] and headers until ctx ends.
func scrape(ctx context.Context, client *http.Client, base string, names []string, rnd *rand.Rand, stats *loadStats) {
	for ctx.Err() == nil {
		q := []string{}
		for range rnd.IntN(4) {
			n := "soak_random_" + strconv.Itoa(rnd.IntN(1<<20))
			if rnd.IntN(3) > 0 && len(names) > 0 {
				n = names[rnd.IntN(len(names))]
			}
			q = append(q, "name[]="+n)
		}
		url := base + "/metrics"
		if len(q) > 0 {
			url += "?" + strings.Join(q, "&")
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if a := accepts[rnd.IntN(len(accepts))]; a != "" {
			req.Header.Set("Accept", a)
		}
		if e := encodings[rnd.IntN(len(encodings))]; e != "" {
			req.Header.Set("Accept-Encoding", e)
		}
		if rnd.IntN(10) == 0 {
			req.Header.Set("Cache-Control", "no-cache")
		}
		resp, err := client.Do(req)
		stats.scrapes.Add(1)
		stats.record("GET "+url, resp, err)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// refresh POSTs /-/refresh (all probes, or one) every 1-3 s.
func refresh(ctx context.Context, client *http.Client, base string, stats *loadStats) {
	names := probe.Names()
	for sleep(ctx, time.Second+rand.N(2*time.Second)) {
		url := base + "/-/refresh"
		if rand.IntN(2) == 0 {
			url += "?probe=" + names[rand.IntN(len(names))]
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		resp, err := client.Do(req)
		stats.refreshes.Add(1)
		stats.record("POST "+url, resp, err)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// hangUp sends the exporter SIGHUP every 2-5 s.
func hangUp(ctx context.Context, exp *childproc.Process, stats *loadStats) {
	for sleep(ctx, 2*time.Second+rand.N(3*time.Second)) {
		if exp.Exited() {
			return
		}
		_ = syscall.Kill(exp.Pid(), syscall.SIGHUP)
		stats.hups.Add(1)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// sample is the exporter's footprint at one time.
type sample struct {
	at                       time.Duration
	rssMiB                   float64
	goroutines, threads, fds float64
}

func sampleLoop(ctx context.Context, client *http.Client, base string, exp *childproc.Process, every time.Duration) []sample {
	var out []sample
	began := time.Now()
	fmt.Printf("%8s %9s %10s %8s %5s\n", "t", "rss_MiB", "goroutines", "threads", "fds")
	for {
		if exp.Exited() {
			return out
		}
		s := sample{at: time.Since(began)}
		s.rssMiB, s.threads, s.fds = usage(ctx, exp.Pid())
		s.goroutines = goroutines(ctx, client, base)
		if ctx.Err() != nil {
			return out
		}
		out = append(out, s)
		fmt.Printf("%8s %9.1f %10.0f %8.0f %5.0f\n", s.at.Round(time.Second), s.rssMiB, s.goroutines, s.threads, s.fds)
		if !sleep(ctx, every) {
			return out
		}
	}
}

// usage is the exporter's resident memory (MiB), threads and open file
// descriptors, through gopsutil's process package; NaN where the kernel
// does not say.
func usage(ctx context.Context, pid int) (rssMiB, threads, fds float64) {
	rssMiB, threads, fds = math.NaN(), math.NaN(), math.NaN()
	p, err := psprocess.NewProcessWithContext(ctx, int32(pid))
	if err != nil {
		return
	}
	if m, err := p.MemoryInfoWithContext(ctx); err == nil {
		rssMiB = float64(m.RSS) / (1 << 20)
	}
	if n, err := p.NumThreadsWithContext(ctx); err == nil {
		threads = float64(n)
	}
	if n, err := p.NumFDsWithContext(ctx); err == nil {
		fds = float64(n)
	}
	return
}

func goroutines(ctx context.Context, client *http.Client, base string) float64 {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/exporter/metrics?name[]=go_goroutines", nil)
	resp, err := client.Do(req)
	if err != nil {
		return math.NaN()
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return math.NaN()
}

// report prints each measure's slope after the warm-up and returns why
// the growth failed the soak.
func report(samples []sample, o options) []string {
	var kept []sample
	for _, s := range samples {
		if s.at >= o.warmup {
			kept = append(kept, s)
		}
	}
	if len(kept) < 3 {
		return []string{fmt.Sprintf("only %d samples after the warm-up: run longer", len(kept))}
	}
	span := kept[len(kept)-1].at - kept[0].at
	var failures []string
	for _, m := range []struct {
		name  string
		get   func(sample) float64
		limit float64
	}{
		{"rss_MiB", func(s sample) float64 { return s.rssMiB }, o.maxRSS},
		{"goroutines", func(s sample) float64 { return s.goroutines }, o.maxGoroutines},
		{"threads", func(s sample) float64 { return s.threads }, o.maxThreads},
		{"fds", func(s sample) float64 { return s.fds }, o.maxFDs},
	} {
		slope := slopePerMinute(kept, m.get)
		growth := slope * span.Minutes()
		fmt.Printf("slope %-10s %+8.3f/min (%+.1f over %v, limit %.0f)\n", m.name, slope, growth, span.Round(time.Second), m.limit)
		if growth > m.limit || math.IsNaN(slope) {
			failures = append(failures, fmt.Sprintf("%s grew %.1f over %v (limit %.0f)", m.name, growth, span.Round(time.Second), m.limit))
		}
	}
	return failures
}

// slopePerMinute is the least-squares slope of get over the samples.
func slopePerMinute(ss []sample, get func(sample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := s.at.Minutes(), get(s)
		if math.IsNaN(y) {
			continue
		}
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	if d := n*sxx - sx*sx; n >= 2 && d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return math.NaN()
}

// leftoverTools lists processes still carrying a tool-run marker of the
// exporter with pid (internal/host/toolrun), and kills them: nothing a tool
// starts may outlive the exporter.
func leftoverTools(pid int) []int {
	needle := []byte("HARDWARE_EXPORTER_TOOLRUN=" + strconv.Itoa(pid) + ".")
	entries, _ := os.ReadDir("/proc")
	var left []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(b, needle) {
			left = append(left, p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	return left
}

// metricNames lists the names /metrics serves, for name[] queries.
func metricNames(ctx context.Context, base string) ([]string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "# TYPE "); ok {
			if f := strings.Fields(n); len(f) > 0 {
				seen[f[0]] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, sc.Err()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(ctx context.Context, p *childproc.Process, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return errors.New("the exporter exited before it was ready (see its log)")
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%s not ready after %v", url, timeout)
}
