package respcache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// discardWriter is a ResponseWriter that keeps nothing, so a benchmark
// measures the cache and not the recorder. Its header map is reused, as a
// server reuses nothing but allocates it once per request anyway.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkReplay measures a hit. Its time and allocations should be the same
// at 1k and 10k series: a replay does not touch the body beyond Write.
func BenchmarkReplay(b *testing.B) {
	for _, disks := range []int{500, 5000} { // about 1k and 10k series
		reg, _ := newRegistry(b, disks)
		bare := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		for _, enc := range []string{"identity", "gzip"} {
			b.Run(fmt.Sprintf("series=%dk/%s", disks*2/1000, enc), func(b *testing.B) {
				c := New(bare, Options{Generation: genFunc(func() uint64 { return 1 })})
				r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				r.Header.Set("Accept", accepts["prometheus-3"])
				r.Header.Set("Accept-Encoding", enc)
				w := &discardWriter{h: make(http.Header)}
				c.ServeHTTP(w, r) // the miss
				body := w.n
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					clear(w.h)
					w.n = 0
					c.ServeHTTP(w, r)
				}
				b.StopTimer()
				if w.status != http.StatusOK || w.n != body || w.h.Get("X-Cache") != "HIT" {
					b.Fatalf("not a hit: %d, %d bytes, X-Cache %q", w.status, w.n, w.h.Get("X-Cache"))
				}
				b.ReportMetric(float64(body), "body-bytes")
			})
		}
	}
}

// BenchmarkReplayParallel measures hits from many goroutines on one entry,
// where a lock on the hit path would show.
func BenchmarkReplayParallel(b *testing.B) {
	reg, _ := newRegistry(b, 500)
	c := New(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Options{Generation: genFunc(func() uint64 { return 1 })})
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	c.ServeHTTP(&discardWriter{h: make(http.Header)}, r)
	var misses atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			clear(w.h)
			c.ServeHTTP(w, r)
			if w.h.Get("X-Cache") != "HIT" {
				misses.Add(1)
			}
		}
	})
	if misses.Load() != 0 {
		b.Fatalf("%d misses", misses.Load())
	}
}

// BenchmarkRender is the miss the cache saves, for comparison.
func BenchmarkRender(b *testing.B) {
	for _, disks := range []int{500, 5000} {
		reg, _ := newRegistry(b, disks)
		bare := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		b.Run(fmt.Sprintf("series=%dk/gzip", disks*2/1000), func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			r.Header.Set("Accept-Encoding", "gzip")
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bare.ServeHTTP(w, r)
			}
		})
	}
}
