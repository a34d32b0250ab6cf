package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/scheduler"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

var readingDesc = prometheus.NewDesc("hardware_test_reading", "A reading.", nil, nil)

// countingProbe reports how many times it has run, after gate opens.
type countingProbe struct {
	runs atomic.Int64
	gate chan struct{}
}

func (p *countingProbe) Describe(ch chan<- *prometheus.Desc) { ch <- readingDesc }
func (p *countingProbe) Probe(ctx context.Context, _ probe.Env, _ *probe.Skips) ([]prometheus.Metric, error) {
	select {
	case <-p.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n := p.runs.Add(1)
	return []prometheus.Metric{prometheus.MustNewConstMetric(readingDesc, prometheus.GaugeValue, float64(n))}, nil
}

// fixture is a server over a real metric cache and scheduler running one
// countingProbe.
type fixture struct {
	srv   *Server
	probe *countingProbe
	cache *metriccache.Cache
}

// readyFunc is a Readier made of a function.
type readyFunc func() bool

func (f readyFunc) Ready() bool { return f() }

// refreshFunc is a Refresher made of a function.
type refreshFunc func(ctx context.Context, names ...string) ([]scheduler.Reuse, error)

func (f refreshFunc) RefreshReusing(ctx context.Context, names ...string) ([]scheduler.Reuse, error) {
	return f(ctx, names...)
}

// warming stores into the metric cache and then re-renders the cached
// responses, as the daemon does after each store.
type warming struct {
	*metriccache.Cache
	f *fixture
}

func (w warming) Store(name string, r metriccache.Result) {
	w.Cache.Store(name, r)
	w.f.srv.Cache().Warm()
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	p := &countingProbe{gate: make(chan struct{})}
	cache := metriccache.New(p)
	hardware := prometheus.NewRegistry()
	hardware.MustRegister(cache)
	f := &fixture{probe: p, cache: cache}
	opts.Hardware = hardware
	opts.Exporter = prometheus.NewRegistry()
	opts.Generation = cache
	opts.Ready = readyFunc(func() bool { return cache.Ran("counting") })
	var err error
	f.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sched := scheduler.New(warming{cache, f}, []scheduler.Job{{Name: "counting", Probe: p, Interval: time.Hour, Timeout: time.Minute}},
		scheduler.Options{})
	f.srv.opts.Refresh = sched
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("scheduler did not stop")
		}
	})
	return f
}

// do sends a request from remote through the server's handler.
func (f *fixture) do(method, target, remote string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	return w
}

// waitReady polls /-/ready, bounded in time.
func (f *fixture) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.do("GET", "/-/ready", "127.0.0.1:1", nil).Code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ready within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const local, remote = "127.0.0.1:40000", "192.0.2.10:40000"

func TestPprofAnswersLoopbackAndRefusesOthers(t *testing.T) {
	for _, tc := range []struct {
		name        string
		enabled     bool
		allowRemote bool
		remoteAddr  string
		want        int
	}{
		{"loopback v4", true, false, local, http.StatusOK},
		{"loopback v6", true, false, "[::1]:40000", http.StatusOK},
		{"remote refused", true, false, remote, http.StatusForbidden},
		{"remote allowed", true, true, remote, http.StatusOK},
		{"disabled", false, false, local, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{PprofEnabled: tc.enabled, PprofAllowRemote: tc.allowRemote})
			w := f.do("GET", "/debug/pprof/", tc.remoteAddr, nil)
			if w.Code != tc.want {
				t.Fatalf("GET /debug/pprof/ from %s = %d, want %d", tc.remoteAddr, w.Code, tc.want)
			}
			if tc.want == http.StatusOK && !strings.Contains(w.Body.String(), "goroutine") {
				t.Errorf("pprof index does not list profiles:\n%s", w.Body)
			}
			if tc.want == http.StatusOK {
				if w := f.do("GET", "/debug/pprof/heap?debug=1", tc.remoteAddr, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "heap profile") {
					t.Errorf("heap profile = %d", w.Code)
				}
			}
		})
	}
}

func TestReadyAfterFirstRound(t *testing.T) {
	f := newFixture(t, Options{})
	if w := f.do("GET", "/-/ready", local, nil); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("ready before any probe ran = %d, want 503", w.Code)
	}
	if w := f.do("GET", "/-/healthy", local, nil); w.Code != http.StatusOK {
		t.Errorf("healthy = %d, want 200 even before the first round", w.Code)
	}
	close(f.probe.gate)
	f.waitReady(t)
}

func TestRefreshRerunsProbesAndNextScrapeShowsNewValues(t *testing.T) {
	f := newFixture(t, Options{})
	close(f.probe.gate)
	f.waitReady(t)

	scrape := func() (string, string) {
		w := f.do("GET", "/metrics", remote, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET /metrics = %d", w.Code)
		}
		return w.Body.String(), w.Header().Get("X-Cache")
	}
	body, _ := scrape()
	if !strings.Contains(body, "hardware_test_reading 1\n") {
		t.Fatalf("first scrape lacks reading 1:\n%s", body)
	}
	if _, xc := scrape(); xc != "HIT" {
		t.Errorf("second scrape X-Cache = %q, want HIT", xc)
	}

	if w := f.do("POST", "/-/refresh", local, nil); w.Code != http.StatusOK {
		t.Fatalf("POST /-/refresh = %d: %s", w.Code, w.Body)
	}
	body, xc := scrape()
	if !strings.Contains(body, "hardware_test_reading 2\n") {
		t.Errorf("scrape after refresh lacks reading 2:\n%s", body)
	}
	// The refresh stored a result, which re-rendered the cached response:
	// the scrape after it is already a replay.
	if xc != "HIT" {
		t.Errorf("scrape after refresh X-Cache = %q, want HIT (warmed)", xc)
	}

	if w := f.do("POST", "/-/refresh?probe=counting", local, nil); w.Code != http.StatusOK {
		t.Errorf("refresh of one probe = %d: %s", w.Code, w.Body)
	}
	if got := f.probe.runs.Load(); got != 3 {
		t.Errorf("probe ran %d times, want 3", got)
	}
}

func TestRefreshRefusals(t *testing.T) {
	f := newFixture(t, Options{})
	close(f.probe.gate)
	for _, tc := range []struct {
		method, target, remote string
		want                   int
	}{
		{"GET", "/-/refresh", local, http.StatusMethodNotAllowed},
		{"POST", "/-/refresh", remote, http.StatusForbidden},
		{"POST", "/-/refresh?probe=nosuch", local, http.StatusBadRequest},
		{"POST", "/metrics", local, http.StatusMethodNotAllowed},
		{"PUT", "/metrics", local, http.StatusMethodNotAllowed},
	} {
		if w := f.do(tc.method, tc.target, tc.remote, nil); w.Code != tc.want {
			t.Errorf("%s %s from %s = %d, want %d", tc.method, tc.target, tc.remote, w.Code, tc.want)
		} else if tc.want == http.StatusMethodNotAllowed && tc.target == "/metrics" && w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /metrics: Allow = %q, want GET, HEAD", tc.method, w.Header().Get("Allow"))
		}
	}
	if w := f.do("HEAD", "/metrics", local, nil); w.Code != http.StatusOK {
		t.Errorf("HEAD /metrics = %d, want 200", w.Code)
	}
}

// --web.telemetry-path moves the hardware metrics; /metrics is then not
// served.
func TestMetricsPath(t *testing.T) {
	f := newFixture(t, Options{MetricsPath: "/hw"})
	close(f.probe.gate)
	f.waitReady(t)
	if w := f.do("GET", "/hw", local, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "hardware_test_reading") {
		t.Errorf("GET /hw = %d, want 200 with the metrics", w.Code)
	}
	if w := f.do("GET", "/metrics", local, nil); w.Code == http.StatusOK && strings.Contains(w.Body.String(), "hardware_test_reading") {
		t.Error("/metrics still serves the hardware metrics")
	}
}

// A refresh that outlasts the server's write timeout still gets its answer.
func TestRefreshOutlastsWriteTimeout(t *testing.T) {
	f := newFixture(t, Options{RefreshTimeout: 5 * time.Second})
	close(f.probe.gate)
	f.srv.opts.Refresh = refreshFunc(func(ctx context.Context, _ ...string) ([]scheduler.Reuse, error) {
		select {
		case <-time.After(600 * time.Millisecond):
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	hs := f.srv.HTTPServer()
	hs.WriteTimeout = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	resp, err := http.Post("http://"+ln.Addr().String()+"/-/refresh", "", nil)
	if err != nil {
		t.Fatalf("refresh longer than the write timeout: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Refreshed") {
		t.Errorf("refresh = %d %q, want 200 Refreshed", resp.StatusCode, body)
	}
}

// A refresh whose run had a probe fail answers 500, naming the probe and
// why: the client asked for fresh data and did not get it.
func TestRefreshReportsProbeFailure(t *testing.T) {
	f := newFixture(t, Options{})
	close(f.probe.gate)
	f.srv.opts.Refresh = refreshFunc(func(context.Context, ...string) ([]scheduler.Reuse, error) {
		return nil, errors.Join(fmt.Errorf("ipmi: %w", errors.New("no BMC answered")))
	})
	w := f.do("POST", "/-/refresh", local, nil)
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "ipmi: no BMC answered") {
		t.Errorf("refresh with a failed probe = %d %q, want 500 naming ipmi and why", w.Code, w.Body.String())
	}
}

func TestExporterMetricsAreLiveNotCached(t *testing.T) {
	f := newFixture(t, Options{})
	close(f.probe.gate)
	f.waitReady(t)
	f.do("GET", "/metrics", local, nil)
	w1 := f.do("GET", "/exporter/metrics", local, nil)
	f.do("GET", "/metrics", local, nil)
	w2 := f.do("GET", "/exporter/metrics", local, nil)
	if w2.Header().Get("X-Cache") != "" {
		t.Error("/exporter/metrics went through the response cache")
	}
	for _, want := range []string{
		`hardware_exporter_http_requests_total{code="200",handler="metrics"} 2`,
		`hardware_exporter_response_cache_`,
	} {
		if !strings.Contains(w2.Body.String(), want) {
			t.Errorf("/exporter/metrics lacks %q", want)
		}
	}
	if w1.Body.String() == w2.Body.String() {
		t.Error("/exporter/metrics did not change between requests")
	}
	if strings.Contains(w2.Body.String(), "hardware_test_reading") {
		t.Error("hardware metrics leaked into /exporter/metrics")
	}
}

func TestLandingPage(t *testing.T) {
	f := newFixture(t, Options{Version: "1.2.3"})
	w := f.do("GET", "/", remote, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "/metrics") {
		t.Errorf("landing page = %d:\n%s", w.Code, w.Body)
	}
}

// serve serves hs on ln until the returned func shuts it down, which fails
// the test if the shutdown or the serving did.
func serve(t *testing.T, hs *http.Server, ln net.Listener) (shutdown func()) {
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; err != http.ErrServerClosed {
			t.Error(err)
		}
	}
}

// Over a real loopback socket, as go tool pprof would fetch it.
func TestServesOverLoopbackWithTimeouts(t *testing.T) {
	f := newFixture(t, Options{PprofEnabled: true})
	close(f.probe.gate)
	f.waitReady(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := f.srv.HTTPServer()
	if hs.ReadHeaderTimeout == 0 || hs.ReadTimeout == 0 || hs.WriteTimeout == 0 || hs.IdleTimeout == 0 {
		t.Errorf("server timeouts not all set: %+v", hs)
	}
	defer serve(t, hs, ln)()
	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()

	resp, err := client.Get(base + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("CPU profile: status %d, %d bytes, want a gzipped profile", resp.StatusCode, len(b))
	}

	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = http.DefaultTransport.RoundTrip(req) // no transparent decompression
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("Content-Encoding = %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
}

// A refresh answered from an earlier run (the probe's refresh spacing)
// says so, naming the probe, how old that run is and the spacing.
func TestRefreshSaysWhenAnsweredFromAnEarlierRun(t *testing.T) {
	f := newFixture(t, Options{})
	close(f.probe.gate)
	f.srv.opts.Refresh = refreshFunc(func(context.Context, ...string) ([]scheduler.Reuse, error) {
		return []scheduler.Reuse{
			{Probe: "sel", Start: time.Now().Add(-3 * time.Second), Spacing: time.Minute},
			{Probe: "ipmi", InFlight: true, Start: time.Now(), Spacing: time.Minute},
		}, nil
	})
	w := f.do("POST", "/-/refresh?probe=sel&probe=ipmi", local, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("refresh = %d %q", w.Code, body)
	}
	for _, want := range []string{
		"sel: not run again: answered from its last run, which began 3",
		"at most every 1m0s (probes.sel.refresh_spacing)",
		"ipmi: not run again: answered from the run that was in flight",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("reply %q does not say %q", body, want)
		}
	}
}

// acceptFunc is an Accepter made of a function.
type acceptFunc func(class, who string) ([]string, error)

func (f acceptFunc) Accept(class, who string) ([]string, error) { return f(class, who) }

// POST /-/baseline/accept lowers baselines only for a loopback peer, and
// tells the guard who asked (it logs that).
func TestBaselineAccept(t *testing.T) {
	var calls []string
	f := newFixture(t, Options{Baseline: acceptFunc(func(class, who string) ([]string, error) {
		calls = append(calls, class+"@"+who)
		switch class {
		case "nosuch":
			return nil, errors.New(`no device class "nosuch"`)
		case "disk":
			return []string{"disk"}, nil
		}
		return nil, nil
	})})
	close(f.probe.gate)
	for _, tc := range []struct {
		method, target, remote string
		want                   int
		body                   string
	}{
		{"POST", "/-/baseline/accept", remote, http.StatusForbidden, "Forbidden"},
		{"POST", "/-/baseline/accept?class=disk", "[2001:db8::1]:4000", http.StatusForbidden, "Forbidden"},
		{"GET", "/-/baseline/accept", local, http.StatusMethodNotAllowed, "Use POST"},
		{"POST", "/-/baseline/accept?class=", local, http.StatusBadRequest, "class is empty"},
		{"POST", "/-/baseline/accept?class=a&class=b", local, http.StatusBadRequest, "at most one"},
		{"POST", "/-/baseline/accept?class=nosuch", local, http.StatusBadRequest, "nosuch"},
		{"POST", "/-/baseline/accept?class=disk", local, http.StatusOK, "baseline of disk"},
		{"POST", "/-/baseline/accept", "[::1]:3000", http.StatusOK, "Nothing to accept"},
	} {
		w := f.do(tc.method, tc.target, tc.remote, nil)
		if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %s from %s = %d %q, want %d with %q", tc.method, tc.target, tc.remote, w.Code, w.Body.String(), tc.want, tc.body)
		}
	}
	want := []string{"nosuch@" + local, "disk@" + local, "@[::1]:3000"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("guard called with %v, want %v (refused peers must not reach it)", calls, want)
	}
	// Without a guard the endpoint says so.
	g := newFixture(t, Options{})
	close(g.probe.gate)
	if w := g.do("POST", "/-/baseline/accept", local, nil); w.Code != http.StatusServiceUnavailable {
		t.Errorf("no guard: %d, want 503", w.Code)
	}
}

// deadlineConn records the read and write deadlines the server sets.
type deadlineConn struct {
	net.Conn
	mu           sync.Mutex
	reads, write []time.Time
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.reads = append(c.reads, t)
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.write = append(c.write, t)
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

type deadlineListener struct {
	net.Listener
	conns chan *deadlineConn
}

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &deadlineConn{Conn: c}
	select {
	case l.conns <- dc:
	default:
	}
	return dc, nil
}

// movedEarlier returns the first deadline in ds that comes before one set
// earlier and still ahead. Zero (none) and past deadlines (net/http's way
// of interrupting a read) are not timers waiting, and are skipped.
func movedEarlier(ds []time.Time, since time.Time) (prev, next time.Time, ok bool) {
	var latest time.Time
	for _, d := range ds {
		if d.IsZero() || d.Before(since) {
			continue
		}
		if d.Before(latest) {
			return latest, d, true
		}
		latest = d
	}
	return time.Time{}, time.Time{}, false
}

// A keep-alive connection's deadlines only ever move later. The runtime
// keeps a deadline's timer at the earliest time it was set until that time
// comes, so a deadline moved earlier and then later again wakes the daemon
// for nothing once per scrape (see connTimeout).
func TestKeepAliveDeadlinesOnlyMoveLater(t *testing.T) {
	f := newFixture(t, Options{})
	close(f.probe.gate)
	f.waitReady(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := deadlineListener{Listener: inner, conns: make(chan *deadlineConn, 4)}
	hs := f.srv.HTTPServer()
	defer serve(t, hs, ln)()
	tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	for i := range 4 {
		if i > 0 {
			time.Sleep(20 * time.Millisecond) // a scrape interval, shortened
		}
		resp, err := client.Get("http://" + inner.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape %d: status %d", i, resp.StatusCode)
		}
	}
	if n := len(ln.conns); n != 1 {
		t.Fatalf("%d connections for 4 keep-alive scrapes, want 1", n)
	}
	c := <-ln.conns
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reads) < 4 || len(c.write) < 4 {
		t.Fatalf("read deadlines %v, write deadlines %v: want one or more of each per scrape", c.reads, c.write)
	}
	for kind, ds := range map[string][]time.Time{"read": c.reads, "write": c.write} {
		if prev, next, ok := movedEarlier(ds, start); ok {
			t.Errorf("%s deadline moved earlier, from %v to %v (by %v): the timer wakes the process at the old time for nothing",
				kind, prev.Sub(start), next.Sub(start), prev.Sub(next))
		}
	}
}
