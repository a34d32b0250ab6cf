package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"sync"
	"time"
)

// prometheusAccept is the Accept header Prometheus 3 sends with its default
// scrape_protocols (as in internal/test/bench): OpenMetrics first, then text.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," +
	"application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4," +
	"text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// target is one server under test.
type target struct {
	name string
	url  string // its /metrics
	proc *process
	// client keeps its connections across batches, as a scraper would.
	client *http.Client
}

func newTarget(name, url string, proc *process, conns int) *target {
	return &target{name: name, url: url, proc: proc, client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			// The body is counted as it comes over the wire: gzip bytes.
			DisableCompression:  true,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
		},
	}}
}

// scrape is one GET /metrics as Prometheus sends it, on the target's shared
// client (the scrape-cost phase); it returns the body bytes read
// (compressed, as sent).
func (t *target) scrape(ctx context.Context) (int64, error) {
	return scrapeWith(ctx, t.client, t.url, 0)
}

// prometheusUserAgent is what Prometheus 3 sends; a handler may log it.
const prometheusUserAgent = "Prometheus/3.5.0"

// scrapeWith is one GET url with Prometheus' headers on client: the Accept
// of its default scrape_protocols, Accept-Encoding: gzip (Prometheus asks
// for gzip itself and decompresses the body; here the compressed bytes are
// counted and dropped), its User-Agent, and the scrape timeout header when
// timeout is set.
func scrapeWith(ctx context.Context, client *http.Client, url string, timeout time.Duration) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", prometheusAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", prometheusUserAgent)
	if timeout > 0 {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return n, nil
}

// loadResult accumulates a target's batches.
type loadResult struct {
	requests, failures int
	bytes              int64
	elapsed            time.Duration
	cpu                cpuUsage
	latencies          []time.Duration
	firstErr           error
}

func (r *loadResult) reqPerSec() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r *loadResult) cpuPerScrape() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu.total() / time.Duration(r.requests)
}

func (r *loadResult) bytesPerScrape() float64 {
	if r.requests == 0 {
		return 0
	}
	return float64(r.bytes) / float64(r.requests)
}

// percentile returns the nearest-rank q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// batch keeps conns requests in flight against t for d, then lets those in
// flight finish, and adds what it saw, including the CPU t used meanwhile,
// to r. Requests are not cut off at the deadline: a server that keeps
// working on a cancelled request (node_exporter finishes its collectors)
// would spend CPU that no counted scrape pays for.
func batch(ctx context.Context, t *target, conns int, d time.Duration, r *loadResult) error {
	before, err := cpuOf(t.proc.Pid())
	if err != nil {
		return err
	}
	start := time.Now()
	deadline := start.Add(d)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var lat []time.Duration
			var n, fails int
			var bytes int64
			var first error
			for t0 := time.Now(); t0.Before(deadline) && ctx.Err() == nil; t0 = time.Now() {
				b, err := t.scrape(ctx)
				if ctx.Err() != nil {
					break // the run is ending
				}
				if err != nil {
					fails++
					first = cmpOr(first, err)
					continue
				}
				lat = append(lat, time.Since(t0))
				n++
				bytes += b
			}
			mu.Lock()
			r.requests += n
			r.failures += fails
			r.bytes += bytes
			r.latencies = append(r.latencies, lat...)
			r.firstErr = cmpOr(r.firstErr, first)
			mu.Unlock()
		})
	}
	wg.Wait()
	r.elapsed += time.Since(start)
	after, err := cpuOf(t.proc.Pid())
	if err != nil {
		return err
	}
	r.cpu.own += after.sub(before).own
	r.cpu.children += after.sub(before).children
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// throughput runs rounds of one batch per target, the order rotating each
// round, so that whatever else the machine does hits every target alike.
func throughput(ctx context.Context, targets []*target, conns, rounds int, d time.Duration) ([]*loadResult, error) {
	results := make([]*loadResult, len(targets))
	for i := range results {
		results[i] = &loadResult{}
	}
	for round := range rounds {
		for k := range targets {
			i := (round + k) % len(targets)
			if err := batch(ctx, targets[i], conns, d, results[i]); err != nil {
				return nil, fmt.Errorf("%s: %w", targets[i].name, err)
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if targets[i].proc.Exited() {
				return nil, fmt.Errorf("%s exited during the load (see %s)", targets[i].name, targets[i].proc.Log())
			}
		}
	}
	for i, r := range results {
		if r.requests == 0 {
			return nil, fmt.Errorf("%s answered no request: %v", targets[i].name, r.firstErr)
		}
		slices.Sort(r.latencies)
	}
	return results, nil
}

// scraper is one Prometheus server scraping a target every interval,
// starting after offset. Like Prometheus it keeps one persistent HTTP/1.1
// connection to the target (its own client and transport, keep-alive on,
// one connection at most) and never overlaps scrapes of a target: a tick
// that comes while the last scrape still runs is dropped (time.Ticker drops
// it), so a slow target gets fewer scrapes, not more load. A scrape that
// runs past the timeout is cancelled, which closes its connection, as
// Prometheus' does; the next scrape opens a new one, and conns counts them.
type scraper struct {
	t        *target
	interval time.Duration
	offset   time.Duration
	timeout  time.Duration // scrapeTimeout(interval)
	client   *http.Client

	mu                sync.Mutex
	scrapes, failures int
	firstErr          error
	windowScrapes     int
	windowConns       int // connections opened during the window
	inWindow          bool
}

// scrapeTimeout is Prometheus' default scrape_timeout (10s), or the interval
// when that is shorter, as Prometheus requires.
func scrapeTimeout(interval time.Duration) time.Duration { return min(interval, 10*time.Second) }

func newScraper(t *target, interval, offset time.Duration) *scraper {
	return &scraper{t: t, interval: interval, offset: offset, timeout: scrapeTimeout(interval), client: &http.Client{
		Transport: &http.Transport{
			DisableCompression:  true, // Accept-Encoding is set by hand, as Prometheus does
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			// Prometheus' scrape clients keep idle connections 5 minutes;
			// the exporter's server closes them after 2 minutes idle, longer
			// than any scrape interval here.
			IdleConnTimeout: 5 * time.Minute,
		},
	}}
}

func (s *scraper) run(ctx context.Context) {
	defer s.client.CloseIdleConnections()
	select {
	case <-ctx.Done():
		return
	case <-time.After(s.offset):
	}
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	timeout := s.timeout
	for {
		newConn := false
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { newConn = !i.Reused }}
		sctx, cancel := context.WithTimeout(httptrace.WithClientTrace(ctx, trace), timeout)
		_, err := scrapeWith(sctx, s.client, s.t.url, timeout)
		cancel()
		s.mu.Lock()
		if ctx.Err() == nil {
			s.scrapes++
			if s.inWindow {
				s.windowScrapes++
				if newConn {
					s.windowConns++
				}
			}
			if err != nil {
				s.failures++
				s.firstErr = cmpOr(s.firstErr, err)
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *scraper) setWindow(on bool) {
	s.mu.Lock()
	s.inWindow = on
	s.mu.Unlock()
}
