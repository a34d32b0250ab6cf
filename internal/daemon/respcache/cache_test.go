package respcache

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// textType is what promhttp sends for a request without Accept.
const textType = string(expfmt.FmtText) + "; escaping=underscores"

func TestGenerationBumpInvalidates(t *testing.T) {
	f := newFixture(t, Options{})
	first := get(f.cache, "/metrics")
	wantXCache(t, first, "MISS")
	wantXCache(t, get(f.cache, "/metrics"), "HIT")

	f.refresh()
	after := get(f.cache, "/metrics")
	wantXCache(t, after, "MISS")
	if after.Body.String() == first.Body.String() {
		t.Fatal("body unchanged after a refresh")
	}
	if want := get(f.bare, "/metrics").Body.String(); after.Body.String() != want {
		t.Fatalf("body after refresh:\n%s\nwant:\n%s", after.Body, want)
	}
	wantXCache(t, get(f.cache, "/metrics"), "HIT")
}

// A refresh that lands while a render runs must leave the entry stale: the
// render may have read the old data.
func TestRefreshDuringRenderLeavesEntryStale(t *testing.T) {
	var gen atomic.Uint64
	var calls atomic.Int32
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", textType)
		fmt.Fprint(w, "data")
		gen.Add(1) // the refresh lands after the data was read
	})
	c := New(next, Options{Generation: genFunc(gen.Load)})
	wantXCache(t, get(c, "/metrics"), "MISS")
	wantXCache(t, get(c, "/metrics"), "MISS")
	if calls.Load() != 2 {
		t.Fatalf("next called %d times, want 2", calls.Load())
	}
}

func TestTTL(t *testing.T) {
	f := newFixture(t, Options{TTL: time.Minute})
	wantXCache(t, get(f.cache, "/metrics"), "MISS")

	f.clock.Advance(59 * time.Second)
	hit := get(f.cache, "/metrics")
	wantXCache(t, hit, "HIT")
	if age := hit.Header().Get("Age"); age != "59" {
		t.Errorf("Age = %q, want 59", age)
	}

	f.clock.Advance(time.Second) // exactly TTL: no longer fresh
	miss := get(f.cache, "/metrics")
	wantXCache(t, miss, "MISS")
	if age := miss.Header().Get("Age"); age != "0" {
		t.Errorf("Age after a render = %q, want 0", age)
	}

	// SetTTL applies to stored entries too.
	f.clock.Advance(30 * time.Second)
	wantXCache(t, get(f.cache, "/metrics"), "HIT")
	f.cache.SetTTL(10 * time.Second)
	wantXCache(t, get(f.cache, "/metrics"), "MISS")
}

// blockingNext is a handler that counts calls and, while gate is open,
// blocks each call until released.
type blockingNext struct {
	calls   atomic.Int32
	entered chan struct{} // receives once per call
	release chan struct{} // closed to let calls finish
	once    sync.Once
	status  atomic.Int32
}

// newBlockingNext returns a blocked handler; the test's end unblocks it, so
// a failing test does not leave goroutines behind.
func newBlockingNext(t *testing.T) *blockingNext {
	b := &blockingNext{entered: make(chan struct{}, 1000), release: make(chan struct{})}
	b.status.Store(http.StatusOK)
	t.Cleanup(b.open)
	return b
}

func (b *blockingNext) open() { b.once.Do(func() { close(b.release) }) }

// waitEntered waits for the next call to start.
func (b *blockingNext) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no render started")
	}
}

func (b *blockingNext) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := b.calls.Add(1)
	b.entered <- struct{}{}
	<-b.release
	w.Header().Set("Content-Type", textType)
	w.Header().Add("Vary", "Accept")
	w.Header().Add("Vary", "Accept-Encoding")
	w.WriteHeader(int(b.status.Load()))
	fmt.Fprintf(w, "render %d\n", n)
}

func waiters(c *Cache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.flights {
		n += f.waiters
	}
	return n
}

func TestConcurrentMissesRenderOnce(t *testing.T) {
	next := newBlockingNext(t)
	c := New(next, Options{Generation: genFunc(func() uint64 { return 0 })})

	const n = 100
	results := make(chan *httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { results <- get(c, "/metrics") })
	}
	// One request renders, the other 99 wait for it.
	next.waitEntered(t)
	eventually(t, "99 waiters", func() bool { return waiters(c) == n-1 })
	next.open()
	wg.Wait()
	close(results)

	if got := next.calls.Load(); got != 1 {
		t.Fatalf("next called %d times, want 1", got)
	}
	for w := range results {
		if w.Code != http.StatusOK || w.Body.String() != "render 1\n" {
			t.Fatalf("got %d %q", w.Code, w.Body)
		}
		wantXCache(t, w, "MISS")
	}
	wantXCache(t, get(c, "/metrics"), "HIT")
}

// A render in progress for one key must not hold up another key.
func TestOtherKeysNotBlocked(t *testing.T) {
	next := newBlockingNext(t)
	c := New(next, Options{Generation: genFunc(func() uint64 { return 0 })})
	done := make(chan struct{})
	go func() {
		defer close(done)
		get(c, "/metrics")
	}()
	next.waitEntered(t)

	served := make(chan *httptest.ResponseRecorder, 1)
	go func() { served <- get(c, "/metrics", "Accept-Encoding", "gzip") }()
	select {
	case <-next.entered: // the gzip key started its own render, unblocked
	case <-time.After(10 * time.Second):
		t.Fatal("a render for another key was held up")
	}
	next.open()
	within(t, done)
	if w := within(t, served); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
}

func TestErrorsAreNotStored(t *testing.T) {
	next := newBlockingNext(t)
	next.open()
	next.status.Store(http.StatusInternalServerError)
	c := New(next, Options{Generation: genFunc(func() uint64 { return 0 })})

	w := get(c, "/metrics")
	if w.Code != http.StatusInternalServerError || w.Body.String() != "render 1\n" {
		t.Fatalf("got %d %q, want the 500 passed through", w.Code, w.Body)
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d after a 500", c.Len())
	}
	next.status.Store(http.StatusOK)
	wantXCache(t, get(c, "/metrics"), "MISS")
	wantXCache(t, get(c, "/metrics"), "HIT")
	if got := next.calls.Load(); got != 2 {
		t.Fatalf("next called %d times, want 2", got)
	}
}

// The 500 of a render goes to every request that waited for it.
func TestErrorGoesToWaiters(t *testing.T) {
	next := newBlockingNext(t)
	next.status.Store(http.StatusInternalServerError)
	c := New(next, Options{Generation: genFunc(func() uint64 { return 0 })})
	results := make(chan *httptest.ResponseRecorder, 3)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { results <- get(c, "/metrics") })
	}
	next.waitEntered(t)
	eventually(t, "2 waiters", func() bool { return waiters(c) == 2 })
	next.open()
	wg.Wait()
	close(results)
	for w := range results {
		if w.Code != http.StatusInternalServerError || w.Body.String() != "render 1\n" {
			t.Fatalf("got %d %q", w.Code, w.Body)
		}
	}
}

func TestLRUBound(t *testing.T) {
	f := newFixture(t, Options{MaxEntries: 8})
	reg := prometheus.NewRegistry()
	f.cache = New(f.bare, Options{MaxEntries: 8, Generation: genFunc(f.gen.Load), Now: f.clock.Now, Registerer: reg})

	wantXCache(t, get(f.cache, "/metrics"), "MISS") // the one real scrapers use
	for i := range 10000 {
		get(f.cache, fmt.Sprintf("/metrics?name[]=m%d", i))
		if i%5 == 0 { // keep the real one recently used
			wantXCache(t, get(f.cache, "/metrics"), "HIT")
		}
		if f.cache.Len() > 8 {
			t.Fatalf("Len = %d after %d queries", f.cache.Len(), i+1)
		}
	}
	wantXCache(t, get(f.cache, "/metrics"), "HIT")
	if got := testutil.ToFloat64(f.cache.m.evictions); got != 10000+1-8 {
		t.Errorf("evictions = %v, want %d", got, 10000+1-8)
	}
	if n, err := testutil.GatherAndCount(reg, "hardware_exporter_response_cache_entries"); err != nil || n != 1 {
		t.Errorf("entries gauge: %d, %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hardware_exporter_response_cache_entries Responses currently stored, fresh or stale.
# TYPE hardware_exporter_response_cache_entries gauge
hardware_exporter_response_cache_entries 8
`), "hardware_exporter_response_cache_entries"); err != nil {
		t.Error(err)
	}
}

func TestNameOrderAndRepeatsShareAnEntry(t *testing.T) {
	f := newFixture(t, Options{})
	wantXCache(t, get(f.cache, "/metrics?name[]=a&name[]=b"), "MISS")
	wantXCache(t, get(f.cache, "/metrics?name[]=b&name[]=a&name[]=b&x=1"), "HIT")
	wantXCache(t, get(f.cache, "/metrics?name[]=a"), "MISS")
	wantXCache(t, get(f.cache, "/metrics?name[]="), "MISS") // filters everything
	wantXCache(t, get(f.cache, "/metrics?x=1"), "MISS")     // no filter
	wantXCache(t, get(f.cache, "/metrics"), "HIT")
}

func TestConditionalRequests(t *testing.T) {
	f := newFixture(t, Options{})
	w := get(f.cache, "/metrics")
	etag := w.Header().Get("ETag")
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag %q is not a strong quoted tag", etag)
	}
	if gz := get(f.cache, "/metrics", "Accept-Encoding", "gzip").Header().Get("ETag"); gz == etag {
		t.Fatal("gzip and identity representations share an ETag")
	}
	for _, inm := range []string{etag, "W/" + etag, "*", `"nope", ` + etag, `"a",W/` + etag} {
		w := get(f.cache, "/metrics", "If-None-Match", inm)
		if w.Code != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status %d, want 304", inm, w.Code)
			continue
		}
		if w.Body.Len() != 0 || w.Header().Get("ETag") != etag || w.Header().Get("X-Cache") != "HIT" ||
			len(w.Header().Values("Vary")) != 2 || w.Header().Get("Content-Length") != "" {
			t.Errorf("If-None-Match %s: 304 with header %v and %d body bytes", inm, w.Header(), w.Body.Len())
		}
	}
	for _, inm := range []string{`"nope"`, strings.Trim(etag, `"`), `W/"x"`} {
		if w := get(f.cache, "/metrics", "If-None-Match", inm); w.Code != http.StatusOK {
			t.Errorf("If-None-Match %s: status %d, want 200", inm, w.Code)
		}
	}
	// After a refresh the old tag no longer matches.
	f.refresh()
	if w := get(f.cache, "/metrics", "If-None-Match", etag); w.Code != http.StatusOK || w.Header().Get("ETag") == etag {
		t.Errorf("after refresh: status %d, ETag %s", w.Code, w.Header().Get("ETag"))
	}
}

func TestNoCacheRerenders(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, Options{})
	f.cache.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		f.bare.ServeHTTP(w, r)
	})
	wantXCache(t, get(f.cache, "/metrics"), "MISS")
	wantXCache(t, get(f.cache, "/metrics"), "HIT")

	// The data changed without a generation bump (as if the client knows
	// better); no-cache must still get a fresh render, and store it.
	f.col.value.Add(1)
	w := get(f.cache, "/metrics", "Cache-Control", "max-age=0, No-Cache")
	wantXCache(t, w, "MISS")
	if w.Body.String() != get(f.bare, "/metrics").Body.String() {
		t.Fatal("no-cache did not serve a fresh render")
	}
	wantXCache(t, get(f.cache, "/metrics", "Pragma", "no-cache"), "MISS")
	hit := get(f.cache, "/metrics")
	wantXCache(t, hit, "HIT")
	if hit.Body.String() != w.Body.String() {
		t.Fatal("no-cache render was not stored")
	}
	if calls.Load() != 3 {
		t.Fatalf("next called %d times, want 3", calls.Load())
	}
}

func TestWarm(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, Options{})
	f.cache.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		f.bare.ServeHTTP(w, r)
	})
	variants := [][]string{
		{"Accept", accepts["prometheus-3"], "Accept-Encoding", "gzip"},
		{"Accept", accepts["protobuf-first"], "Accept-Encoding", "gzip"},
		{},
	}
	for _, v := range variants {
		wantXCache(t, get(f.cache, "/metrics?name[]=hardware_system_info&name[]=hardware.test_utf8", v...), "MISS")
	}
	f.cache.Warm() // all fresh: nothing to do
	if calls.Load() != 3 {
		t.Fatalf("Warm rendered fresh entries: %d calls", calls.Load())
	}

	f.refresh()
	f.cache.Warm()
	if calls.Load() != 6 {
		t.Fatalf("next called %d times, want 6", calls.Load())
	}
	for _, v := range variants {
		got := get(f.cache, "/metrics?name[]=hardware.test_utf8&name[]=hardware_system_info", v...)
		wantXCache(t, got, "HIT")
		want := get(f.bare, "/metrics?name[]=hardware.test_utf8&name[]=hardware_system_info", v...)
		sameResponse(t, want, got)
	}
}

// A variant nobody asked for since the last warm is not rendered again on
// every refresh (hwmon refreshes each minute), only when a client asks.
func TestWarmSkipsVariantsNobodyUses(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, Options{})
	f.cache.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		f.bare.ServeHTTP(w, r)
	})
	scraped := []string{"Accept", accepts["prometheus-3"], "Accept-Encoding", "gzip"}
	wantXCache(t, get(f.cache, "/metrics", scraped...), "MISS")
	wantXCache(t, get(f.cache, "/metrics"), "MISS") // a one-off curl
	if calls.Load() != 2 {
		t.Fatalf("next called %d times, want 2", calls.Load())
	}

	f.refresh()
	f.cache.Warm() // both were served since rendered: both warmed
	if calls.Load() != 4 {
		t.Fatalf("after first warm next called %d times, want 4", calls.Load())
	}
	wantXCache(t, get(f.cache, "/metrics", scraped...), "HIT") // Prometheus scrapes; curl does not

	f.refresh()
	f.cache.Warm()
	if calls.Load() != 5 {
		t.Fatalf("after second warm next called %d times, want 5 (only the scraped variant)", calls.Load())
	}
	wantXCache(t, get(f.cache, "/metrics", scraped...), "HIT")
	got := get(f.cache, "/metrics")
	wantXCache(t, got, "MISS") // the curl variant renders on demand
	sameResponse(t, get(f.bare, "/metrics"), got)
}

func TestHead(t *testing.T) {
	f := newFixture(t, Options{})
	head := do(f.cache, http.MethodHead, "/metrics")
	wantXCache(t, head, "MISS")
	get200 := get(f.cache, "/metrics")
	wantXCache(t, get200, "HIT") // HEAD and GET share the representation
	if head.Body.Len() != 0 {
		t.Fatalf("HEAD wrote %d body bytes", head.Body.Len())
	}
	if head.Header().Get("Content-Length") != fmt.Sprint(get200.Body.Len()) || get200.Body.Len() == 0 {
		t.Fatalf("HEAD Content-Length %q, GET body %d bytes", head.Header().Get("Content-Length"), get200.Body.Len())
	}
	if head.Header().Get("ETag") != get200.Header().Get("ETag") || head.Header().Get("Content-Type") != get200.Header().Get("Content-Type") {
		t.Fatal("HEAD and GET headers differ")
	}
	again := do(f.cache, http.MethodHead, "/metrics")
	wantXCache(t, again, "HIT")
	if again.Body.Len() != 0 {
		t.Fatal("HEAD hit wrote a body")
	}
}

func TestOtherMethodsBypass(t *testing.T) {
	f := newFixture(t, Options{})
	w := do(f.cache, http.MethodPost, "/metrics")
	if w.Header().Get("X-Cache") != "" || w.Code != http.StatusOK || f.cache.Len() != 0 {
		t.Fatalf("POST: %d, X-Cache %q, Len %d", w.Code, w.Header().Get("X-Cache"), f.cache.Len())
	}
}

func TestWaiterCancelDoesNotBlockRender(t *testing.T) {
	before := runtime.NumGoroutine()
	next := newBlockingNext(t)
	c := New(next, Options{Generation: genFunc(func() uint64 { return 0 })})

	leader := make(chan *httptest.ResponseRecorder, 1)
	go func() { leader <- get(c, "/metrics") }()
	next.waitEntered(t)

	ctx, cancel := context.WithCancel(context.Background())
	waiterDone := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		w := httptest.NewRecorder()
		c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil).WithContext(ctx))
		waiterDone <- w
	}()
	eventually(t, "a waiter", func() bool { return waiters(c) == 1 })
	cancel()
	select {
	case w := <-waiterDone:
		if w.Body.Len() != 0 {
			t.Errorf("cancelled waiter got a body")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled waiter still blocked")
	}

	next.open()
	select {
	case w := <-leader:
		if w.Code != http.StatusOK {
			t.Fatalf("leader status %d", w.Code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("render blocked")
	}
	wantXCache(t, get(c, "/metrics"), "HIT")
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// The client that starts a render going away must not spoil it for the
// requests waiting on it.
func TestLeaderCancelDoesNotCancelRender(t *testing.T) {
	var sawCancel atomic.Bool
	gate := make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		sawCancel.Store(r.Context().Err() != nil)
		w.Header().Set("Content-Type", textType)
		fmt.Fprint(w, "ok")
	})
	c := New(next, Options{Generation: genFunc(func() uint64 { return 0 })})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil).WithContext(ctx))
	}()
	eventually(t, "the render to start", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.flights) == 1 })
	cancel()
	close(gate)
	within(t, done)
	if sawCancel.Load() {
		t.Fatal("the render saw the leader's cancellation")
	}
	wantXCache(t, get(c, "/metrics"), "HIT")
}

func TestRenderPanicReleasesWaiters(t *testing.T) {
	var calls atomic.Int32
	gate := make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-gate
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("Content-Type", textType)
		fmt.Fprint(w, "ok")
	})
	c := New(next, Options{Generation: genFunc(func() uint64 { return 0 })})
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		get(c, "/metrics")
	}()
	eventually(t, "the render to start", func() bool { return calls.Load() == 1 })
	waiter := make(chan *httptest.ResponseRecorder, 1)
	go func() { waiter <- get(c, "/metrics") }()
	eventually(t, "a waiter", func() bool { return waiters(c) == 1 })
	close(gate)
	if p := within(t, panicked); p != http.ErrAbortHandler {
		t.Fatalf("leader recovered %v, want the handler's panic", p)
	}
	select {
	case w := <-waiter: // served by calling next itself
		if w.Code != http.StatusOK || w.Body.String() != "ok" {
			t.Fatalf("waiter got %d %q", w.Code, w.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter stuck after a panicking render")
	}
}

// If the cache's options disagree with the wrapped handler, it must not
// store what it cannot key correctly, and must still pass responses through.
func TestNegotiationMismatchIsNotStored(t *testing.T) {
	f := newFixture(t, Options{}) // default formats: no OpenMetrics
	f.bare = promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	f.cache.next = f.bare
	hdr := []string{"Accept", accepts["prometheus-2.42"]}
	w := get(f.cache, "/metrics", hdr...)
	sameResponse(t, get(f.bare, "/metrics", hdr...), w)
	if f.cache.Len() != 0 {
		t.Fatalf("stored a response whose content type the key did not predict")
	}
	if got := testutil.ToFloat64(f.cache.m.rejectMismatch); got != 1 {
		t.Fatalf("negotiation rejections = %v", got)
	}
}

func TestSelfMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, Options{})
	f.cache = New(f.bare, Options{Generation: genFunc(f.gen.Load), Now: f.clock.Now, Registerer: reg})
	w := get(f.cache, "/metrics")
	get(f.cache, "/metrics")
	get(f.cache, "/metrics", "If-None-Match", w.Header().Get("ETag"))
	do(f.cache, http.MethodPost, "/metrics")
	err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP hardware_exporter_response_cache_bytes Body bytes of the responses currently stored, as sent (after compression).
# TYPE hardware_exporter_response_cache_bytes gauge
hardware_exporter_response_cache_bytes %d
# HELP hardware_exporter_response_cache_renders_total Responses rendered from the metric cache because no fresh stored response existed. Concurrent misses on one response share a render.
# TYPE hardware_exporter_response_cache_renders_total counter
hardware_exporter_response_cache_renders_total 1
# HELP hardware_exporter_response_cache_requests_total Requests for cached /metrics responses by result: hit (served from a stored response), miss (rendered, or waited for a render), not_modified (answered 304 to If-None-Match), bypass (a method the cache does not handle).
# TYPE hardware_exporter_response_cache_requests_total counter
hardware_exporter_response_cache_requests_total{result="bypass"} 1
hardware_exporter_response_cache_requests_total{result="hit"} 1
hardware_exporter_response_cache_requests_total{result="miss"} 1
hardware_exporter_response_cache_requests_total{result="not_modified"} 1
`, w.Body.Len())), "hardware_exporter_response_cache_bytes", "hardware_exporter_response_cache_renders_total", "hardware_exporter_response_cache_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range f.cache.m.collectors {
		problems, err := testutil.CollectAndLint(col)
		if err != nil || len(problems) > 0 {
			t.Fatalf("lint: %v %v", problems, err)
		}
	}
}

func TestNewRequiresGeneration(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New without Generation did not panic")
		}
	}()
	New(http.NotFoundHandler(), Options{})
}

// Random Accept headers must not grow the negotiation memo without bound,
// nor change what is negotiated once it is full.
func TestNegotiationMemoBounded(t *testing.T) {
	f := newFixture(t, Options{})
	for i := range 1000 {
		get(f.cache, "/metrics", "Accept", fmt.Sprintf("text/plain;version=0.0.4;q=0.%d, x/y%d", i%10, i))
	}
	if n := f.cache.memoLen.Load(); n > maxMemo {
		t.Fatalf("memo holds %d entries", n)
	}
	long := "gzip;q=1, " + strings.Repeat("x, ", maxMemoHeader)
	for _, hdr := range [][]string{
		{"Accept", accepts["prometheus-3"], "Accept-Encoding", "gzip"},
		{"Accept", accepts["protobuf-first"]},
		{"Accept-Encoding", long},
		{"Accept-Encoding", "br", "Accept-Encoding", "gzip;q=0.5"},
	} {
		sameResponse(t, get(f.bare, "/metrics", hdr...), get(f.cache, "/metrics", hdr...))
	}
}

// An outer handler's Vary survives, as it would with promhttp alone.
func TestVaryIsAdded(t *testing.T) {
	f := newFixture(t, Options{})
	outer := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Vary", "Origin")
			h.ServeHTTP(w, r)
		})
	}
	want := get(outer(f.bare), "/metrics").Header().Values("Vary")
	for _, x := range []string{"MISS", "HIT"} {
		w := get(outer(f.cache), "/metrics")
		wantXCache(t, w, x)
		if got := w.Header().Values("Vary"); !slices.Equal(got, want) {
			t.Fatalf("Vary %q, want %q", got, want)
		}
	}
	// The stored entry is untouched by what was added to one response.
	if got := get(f.cache, "/metrics").Header().Values("Vary"); !slices.Equal(got, []string{"Accept", "Accept-Encoding"}) {
		t.Fatalf("stored Vary became %q", got)
	}
}

// within receives from ch, failing the test if that takes over 10 seconds.
func within[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
		panic("unreachable")
	}
}
