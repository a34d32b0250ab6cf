// Package respcache replays encoded /metrics responses.
//
// Cache is net/http middleware in front of promhttp.HandlerFor. It keeps the
// bytes promhttp wrote, per everything that changes them (path, name[] filter,
// negotiated format and escaping, negotiated content coding), and answers
// later requests with those bytes while the metric data they were rendered
// from is current: the data generation is unchanged and the TTL has not
// lapsed. A hit costs a map lookup and one Write, whatever the number of
// series, which is what lets a scrape of an exporter with slow probes be cheap.
//
// Caching never changes what a client sees: for any request the replayed
// bytes equal what the wrapped handler would write for the same metric state.
package respcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/defaults"
)

// Generationer says the current data generation: the metric cache's, which
// it bumps on every stored probe result.
type Generationer interface {
	Generation() uint64
}

// Options configure a Cache. Only Generation is required.
type Options struct {
	// TTL bounds an entry's life even when the data generation does not
	// change. Zero means defaults.CacheTTL.
	TTL time.Duration
	// MaxEntries bounds the number of stored responses; the least recently
	// used goes first. Zero means defaults.CacheEntries.
	MaxEntries int
	// Generation says the current data generation (a *metriccache.Cache).
	// An entry rendered at another generation is stale. Required.
	Generation Generationer
	// AcceptedFormats are the formats the wrapped promhttp handler negotiates
	// among, exactly as it does: expfmt.DefaultAcceptedFormats() unless
	// OpenMetrics is enabled there. Nil means expfmt.DefaultAcceptedFormats().
	AcceptedFormats []expfmt.Format
	// Compressions are the content codings the wrapped handler offers, in its
	// order. Nil means promhttp's default without the zstd package imported:
	// identity, gzip. For a handler with DisableCompression use
	// []string{"identity"}.
	//
	// If these two fields disagree with the wrapped handler, a response whose
	// content type or coding the cache did not predict is passed on but not
	// stored (see renders_not_stored_total{reason="negotiation"}). One case
	// cannot be caught that way: a coding the handler offers and the cache
	// does not (zstd, if its package is linked in) gets the client the next
	// best coding it accepts rather than the one promhttp would choose.
	Compressions []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Registerer, if set, gets the cache's own metrics. It should be the
	// exporter's registry, not the one whose responses are cached.
	Registerer prometheus.Registerer
	// Renderer, if set, writes bodies on a miss in place of the wrapped
	// handler (a *metriccache.Renderer, which concatenates what was encoded
	// when results were stored); the wrapped handler renders what it
	// declines. It must write, for the formats and codings above, the body
	// the wrapped handler would write for the same state; the headers are
	// promhttp's (Vary, Content-Type, Content-Encoding), so the wrapped
	// handler must be a promhttp handler without ProcessStartTime,
	// Timeout or MaxRequestsInFlight.
	Renderer Renderer
}

// Renderer writes a response body without the wrapped handler.
type Renderer interface {
	// Render returns the body for format, coding ("identity" or "gzip")
	// and a name[] filter (nil: none), or false to leave the request to
	// the wrapped handler.
	Render(format expfmt.Format, coding string, names []string) ([]byte, bool)
}

// Cache is an http.Handler that answers from stored responses of next.
type Cache struct {
	next         http.Handler
	renderer     Renderer
	gen          Generationer
	now          func() time.Time
	formats      []expfmt.Format
	compressions []string
	maxEntries   int
	ttl          atomic.Int64 // time.Duration; changed by SetTTL

	mu      sync.RWMutex
	entries map[key]*entry
	flights map[key]*flight // renders in progress, one per key
	bytes   atomic.Int64    // stored body bytes, for the gauge

	// useClock orders entries by last use. A counter rather than the time,
	// so ties cannot happen and a fake clock in tests does not matter.
	useClock atomic.Uint64

	// memo maps negotiationInput to negotiation; see negotiate.
	memo    sync.Map
	memoLen atomic.Int64

	m metrics
}

// entry is one rendered response. Everything in it is written once, before it
// is shared, and then only read; lastUsed is the exception and is atomic.
type entry struct {
	gen      uint64
	rendered time.Time
	status   int
	header   http.Header // what next set, ready to be assigned to a response
	body     []byte
	stored   bool // a 200 kept in the cache; otherwise passed through once

	// Set only for stored entries.
	etag     string   // strong, quoted
	etagHdr  []string // {etag}
	lenHdr   []string // {len(body)}
	varyHdr  []string // header["Vary"]
	request  *http.Request
	lastUsed atomic.Uint64
	// age is the Age header value last served, shared by the responses
	// within the same second, so that a hit allocates nothing.
	age atomic.Pointer[ageValue]
	// storedAt is the use clock when e was stored; lastUsed beyond it means
	// a client has asked for e since, which is what makes it worth warming.
	storedAt uint64
}

// flight is a render in progress. Requests for the same key wait on done and
// then share e; e is nil if the render panicked.
type flight struct {
	done    chan struct{}
	e       *entry
	waiters int // requests waiting on done; guarded by Cache.mu, read by tests
}

// New returns a Cache in front of next. It panics if opts.Generation is nil,
// or if registering its metrics with opts.Registerer fails.
func New(next http.Handler, opts Options) *Cache {
	if opts.Generation == nil {
		panic("respcache: Options.Generation is required")
	}
	c := &Cache{
		next:         next,
		renderer:     opts.Renderer,
		gen:          opts.Generation,
		now:          opts.Now,
		formats:      slices.Clone(opts.AcceptedFormats),
		compressions: slices.Clone(opts.Compressions),
		maxEntries:   opts.MaxEntries,
		entries:      make(map[key]*entry),
		flights:      make(map[key]*flight),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.formats == nil {
		c.formats = expfmt.DefaultAcceptedFormats()
	}
	if c.compressions == nil {
		c.compressions = []string{"identity", "gzip"}
	}
	if c.maxEntries <= 0 {
		c.maxEntries = defaults.CacheEntries
	}
	c.SetTTL(opts.TTL)
	c.m = newMetrics(c)
	if opts.Registerer != nil {
		c.m.register(opts.Registerer)
	}
	return c
}

// SetTTL changes the lifetime of entries, stored ones included. A value of
// zero or less means defaults.CacheTTL.
func (c *Cache) SetTTL(d time.Duration) {
	if d <= 0 {
		d = defaults.CacheTTL
	}
	c.ttl.Store(int64(d))
}

// Len returns the number of stored responses.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// fresh reports whether e may still be served at generation gen and time now.
func (c *Cache) fresh(e *entry, gen uint64, now time.Time) bool {
	return e != nil && e.gen == gen && now.Before(e.rendered.Add(time.Duration(c.ttl.Load())))
}

// Header values that never change, shared by every response.
var (
	hdrHit  = []string{"HIT"}
	hdrMiss = []string{"MISS"}
)

func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		c.m.bypass.Inc()
		c.next.ServeHTTP(w, r)
		return
	}
	k := c.keyFor(r)
	force := noCache(r.Header)
	if !force {
		now := c.now()
		c.mu.RLock()
		e := c.entries[k]
		c.mu.RUnlock()
		if c.fresh(e, c.gen.Generation(), now) {
			e.lastUsed.Store(c.useClock.Add(1))
			c.serve(w, r, e, now, true)
			return
		}
	}
	e, ok := c.fill(r.Context(), k, r, force, true)
	switch {
	case !ok:
		// The client went away while waiting; the render goes on for others.
	case e == nil:
		// The render panicked. Do what the cache's absence would have done.
		c.m.miss.Inc()
		c.next.ServeHTTP(w, r)
	default:
		c.serve(w, r, e, c.now(), false)
	}
}

// fill returns a render of k that started no earlier than this call, unless
// a fresh entry exists and force is false. If a render of k is in progress
// it waits for that one instead of starting another, or until ctx is done, in
// which case ok is false. Only the map lookups hold the lock, never the
// render, so requests for other keys go on. touch says whether the request
// counts as a use for the LRU order (Warm's does not).
func (c *Cache) fill(ctx context.Context, k key, r *http.Request, force, touch bool) (e *entry, ok bool) {
	gen, now := c.gen.Generation(), c.now()
	c.mu.Lock()
	if f := c.flights[k]; f != nil {
		f.waiters++
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.e, true
		case <-ctx.Done():
			return nil, false
		}
	}
	// Another request may have stored k between the caller's lookup and now.
	if e := c.entries[k]; !force && c.fresh(e, gen, now) {
		c.mu.Unlock()
		return e, true
	}
	f := &flight{done: make(chan struct{})}
	c.flights[k] = f
	c.mu.Unlock()

	// Deferred so that waiters are released even if next panics; the panic
	// itself goes on to net/http as it would without the cache.
	defer func() {
		c.mu.Lock()
		delete(c.flights, k)
		c.mu.Unlock()
		close(f.done)
	}()
	f.e = c.render(k, r, touch)
	return f.e, true
}

// render calls next for k and stores the response if it may be replayed.
func (c *Cache) render(k key, r *http.Request, touch bool) *entry {
	// The generation is read before rendering: if a probe result lands while
	// next runs, the entry is marked with the older generation and is stale
	// at once, never fresh with old data.
	gen := c.gen.Generation()
	start := c.now()

	// The render serves every waiter, so it must not die with the client that
	// happened to start it. HEAD is rendered as GET: promhttp writes the same
	// header and body for both, and HEAD then shares GET's entry.
	var e *entry
	if c.renderer != nil {
		if body, ok := c.renderer.Render(k.format, k.encoding, namesFromKey(k.names)); ok {
			e = &entry{gen: gen, rendered: start, status: http.StatusOK, header: c.headerFor(k), body: body}
		} else {
			c.m.declined.Inc()
		}
	}
	if e == nil {
		req := r.WithContext(context.WithoutCancel(r.Context()))
		req.Method = http.MethodGet
		rec := &recorder{header: make(http.Header)}
		c.next.ServeHTTP(rec, req)
		e = &entry{
			gen:      gen,
			rendered: start,
			status:   rec.code(),
			header:   rec.sent(),
			body:     bytes.Clone(rec.body.Bytes()), // trims the buffer's slack
		}
	}
	c.m.renders.Inc()

	switch {
	case e.status != http.StatusOK:
		c.m.rejectStatus.Inc()
		return e
	case !c.matches(k, e.header):
		c.m.rejectMismatch.Inc()
		return e
	}
	c.store(k, e, r, touch)
	return e
}

// headerFor is the header promhttp writes for k's response: Vary on Accept
// and, when it offers compression, on Accept-Encoding; the content type;
// the coding unless identity. A handler with DisableCompression is given
// Compressions {"identity"} (see Options), and sends no Vary for it.
func (c *Cache) headerFor(k key) http.Header {
	h := http.Header{"Vary": {"Accept"}, "Content-Type": {string(k.format)}}
	if len(c.compressions) > 0 && !slices.Equal(c.compressions, []string{"identity"}) {
		h["Vary"] = []string{"Accept", "Accept-Encoding"}
	}
	if k.encoding != "identity" {
		h["Content-Encoding"] = []string{k.encoding}
	}
	for name, v := range h {
		h[name] = v[:len(v):len(v)]
	}
	return h
}

// matches reports whether the response next wrote is the one the key
// predicts. If it is not, Options disagree with the wrapped handler (formats
// or codings), keys may be coarser than its negotiation, and storing could
// serve one client bytes meant for another. A coding of identity where the
// key says otherwise is fine: promhttp falls back to it for codings it
// cannot produce, and does so for every request with that key.
func (c *Cache) matches(k key, h http.Header) bool {
	if h.Get("Content-Type") != string(k.format) {
		return false
	}
	enc := h.Get("Content-Encoding")
	return enc == "" || enc == k.encoding
}

// store completes e and puts it in the cache under k, evicting the least
// recently used entry if the cache is full.
func (c *Cache) store(k key, e *entry, r *http.Request, touch bool) {
	sum := sha256.New()
	sum.Write([]byte(e.header.Get("Content-Type") + "\x00" + e.header.Get("Content-Encoding") + "\x00"))
	sum.Write(e.body)
	e.etag = `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`
	e.etagHdr = []string{e.etag}
	e.lenHdr = []string{strconv.Itoa(len(e.body))}
	e.varyHdr = e.header["Vary"]
	e.request = warmRequest(k, r)
	e.stored = true
	e.storedAt = c.useClock.Load()
	if touch {
		e.lastUsed.Store(c.useClock.Add(1))
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[k]; old != nil {
		if !touch {
			e.lastUsed.Store(old.lastUsed.Load())
		}
		c.bytes.Add(-int64(len(old.body)))
	} else if len(c.entries) >= c.maxEntries {
		c.evictLocked()
	}
	c.entries[k] = e
	c.bytes.Add(int64(len(e.body)))
}

// evictLocked drops the least recently used entry. It scans every entry,
// which is fine for the few dozen a cache holds and keeps hits free of any
// list maintenance under a lock; it runs only on a miss, next to a render that
// costs far more.
func (c *Cache) evictLocked() {
	var (
		victim key
		oldest *entry
	)
	for k, e := range c.entries {
		if oldest == nil || e.lastUsed.Load() < oldest.lastUsed.Load() {
			victim, oldest = k, e
		}
	}
	if oldest != nil {
		delete(c.entries, victim)
		c.bytes.Add(-int64(len(oldest.body)))
		c.m.evictions.Inc()
	}
}

// warmRequest is the request Warm renders k with: what r had that changes
// the bytes and nothing else (no credentials, no other query parameters).
func warmRequest(k key, r *http.Request) *http.Request {
	h := make(http.Header, 2)
	for _, name := range []string{"Accept", "Accept-Encoding"} {
		if v := r.Header.Values(name); len(v) > 0 {
			h[name] = append([]string(nil), v...)
		}
	}
	return &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: k.path, RawQuery: queryFor(k)},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		RequestURI: r.RequestURI,
	}
}

// Warm re-renders, one after another, every stored entry that is no longer
// fresh and has been served since it was last rendered, with the request
// that first created it, so that the next scrape after a probe refresh is a
// hit. A variant nobody asked for since the last warm (a curl from last
// week) is not rendered again until someone does: sensors refresh every
// minute, and renders nobody reads are waste. Warming does not count as use
// for the LRU order.
func (c *Cache) Warm() {
	gen, now := c.gen.Generation(), c.now()
	type job struct {
		k key
		r *http.Request
	}
	var jobs []job
	c.mu.RLock()
	for k, e := range c.entries {
		if !c.fresh(e, gen, now) && e.lastUsed.Load() > e.storedAt {
			jobs = append(jobs, job{k, e.request})
		}
	}
	c.mu.RUnlock()

	for _, j := range jobs {
		// A render already in progress may have read the data before the
		// refresh; if what it stores is stale, render once more.
		for range 2 {
			e, _ := c.fill(context.Background(), j.k, j.r, false, false)
			if e == nil || !e.stored || c.fresh(e, c.gen.Generation(), c.now()) {
				break
			}
		}
	}
}

type ageValue struct {
	secs int64
	hdr  []string
}

// ageHeader returns the Age header value for an age of secs seconds,
// formatting it at most once per second per entry.
func (e *entry) ageHeader(secs int64) []string {
	if a := e.age.Load(); a != nil && a.secs == secs {
		return a.hdr
	}
	a := &ageValue{secs: secs, hdr: []string{strconv.FormatInt(secs, 10)}}
	e.age.Store(a)
	return a.hdr
}

// serve writes e to w. Stored entries are replayed with shared, precomputed
// header values and the stored body, so the cost does not depend on the size
// of the response beyond the Write itself.
func (c *Cache) serve(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, hit bool) {
	h := w.Header()
	if hit {
		h["X-Cache"] = hdrHit
	} else {
		h["X-Cache"] = hdrMiss
	}
	if !e.stored {
		// A response that is not kept (an error, say) goes to every waiter
		// of its render; each gets its own copy of the header.
		for name, v := range e.header {
			setHeader(h, name, append([]string(nil), v...))
		}
		h["Content-Length"] = []string{strconv.Itoa(len(e.body))}
		c.m.miss.Inc()
		w.WriteHeader(e.status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(e.body)
		}
		return
	}

	age := max(0, int64(now.Sub(e.rendered)/time.Second))
	h["Age"] = e.ageHeader(age)
	h["Etag"] = e.etagHdr // canonical form of ETag, as Header.Get looks it up
	if inm, ok := r.Header["If-None-Match"]; ok && etagMatches(inm, e.etag) {
		// RFC 9110 §15.4.5: a 304 carries the validators and Vary of the
		// 200 it stands for, and no body.
		if e.varyHdr != nil {
			setHeader(h, "Vary", e.varyHdr)
		}
		c.m.notModified.Inc()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	for name, v := range e.header {
		setHeader(h, name, v)
	}
	h["Content-Length"] = e.lenHdr
	if hit {
		c.m.hit.Inc()
	} else {
		c.m.miss.Inc()
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.body)
	}
}

// setHeader puts a recorded header into a response as promhttp would have:
// Vary is added to whatever an outer handler already listed (promhttp uses
// Header.Add for it), everything else replaces (promhttp uses Header.Set).
// The recorded slice is shared, not copied, when nothing was there before.
func setHeader(h http.Header, name string, v []string) {
	if old, ok := h[name]; ok && name == "Vary" {
		v = append(old[:len(old):len(old)], v...)
	}
	h[name] = v
}

// recorder captures a response of next in memory.
type recorder struct {
	header http.Header
	status int
	frozen http.Header // header as of the first WriteHeader or Write
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status != 0 {
		return
	}
	r.status = code
	// As with a real connection, changes after this point are not sent.
	r.frozen = r.header.Clone()
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// sent returns the header as it went out, minus what the cache sets itself
// on replay. Value slices are capped at their length, so that a middleware
// appending to a replayed header copies rather than writes into the entry.
func (r *recorder) sent() http.Header {
	h := r.frozen
	if h == nil {
		h = r.header.Clone()
	}
	for _, name := range []string{"Content-Length", "Date", "Transfer-Encoding", "X-Cache", "Age", "Etag"} {
		delete(h, name)
	}
	for name, v := range h {
		h[name] = v[:len(v):len(v)]
	}
	return h
}
