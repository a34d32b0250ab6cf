package metriccache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/respcache"
)

// BenchmarkRenderBatchRenderer is BenchmarkRenderBatchPromhttp's render as
// the daemon does it now: every probe stores a new result (gathered and
// encoded at store), then the Renderer concatenates and, for gzip,
// compresses the changed runs and stitches them. Timed: the stores and the
// render.
func BenchmarkRenderBatchRenderer(b *testing.B) {
	for _, size := range benchSizes {
		h := newBenchHost(size.probes, size.perFamily)
		for _, enc := range []string{"identity", "gzip"} {
			b.Run(fmt.Sprintf("series=%d/enc=%s", h.series(), enc), func(b *testing.B) {
				c := New()
				rend := c.NewRenderer()
				format := expfmt.NegotiateAccept(http.Header{"Accept": {benchAccept}}, expfmt.DefaultAcceptedFormats()...)
				h.storeAll(c, 0)
				if _, ok := rend.Render(format, enc, nil); !ok {
					b.Fatal("declined")
				}
				round, n := 0, 0
				b.ReportAllocs()
				for b.Loop() {
					round++
					h.storeAll(c, round)
					body, ok := rend.Render(format, enc, nil)
					if !ok {
						b.Fatal("declined")
					}
					n = len(body)
				}
				b.ReportMetric(float64(n), "body-bytes")
			})
		}
	}
}

// BenchmarkRenderOnly is the Renderer's part of a render: after one
// probe (of 20) stored, which is the render's own cost without the
// stores.
func BenchmarkRenderOnly(b *testing.B) {
	for _, size := range benchSizes {
		h := newBenchHost(size.probes, size.perFamily)
		for _, enc := range []string{"identity", "gzip"} {
			b.Run(fmt.Sprintf("series=%d/enc=%s", h.series(), enc), func(b *testing.B) {
				c := New()
				rend := c.NewRenderer()
				format := expfmt.NegotiateAccept(http.Header{"Accept": {benchAccept}}, expfmt.DefaultAcceptedFormats()...)
				h.storeAll(c, 0)
				h.storeAll(c, 1)
				round := 0
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					round++
					c.Store(probeNames[0], h.rounds[round%2][0])
					b.StartTimer()
					if _, ok := rend.Render(format, enc, nil); !ok {
						b.Fatal("declined")
					}
				}
			})
		}
	}
}

// BenchmarkScrapeVsStatic compares a scrape answered from the response
// cache (the daemon's /metrics stack: respcache over the Renderer) with a
// static handler that writes the same bytes and headers, as costtest's
// static target does, in process: both write to a ResponseWriter that
// keeps nothing.
func BenchmarkScrapeVsStatic(b *testing.B) {
	h := newBenchHost(benchSizes[0].probes, benchSizes[0].perFamily)
	c := New()
	h.storeAll(c, 0)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	cached := respcache.New(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), respcache.Options{Generation: c, Renderer: c.NewRenderer()})
	for _, enc := range []string{"identity", "gzip"} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.Header.Set("Accept", benchAccept)
		r.Header.Set("Accept-Encoding", enc)
		first := httptest.NewRecorder()
		cached.ServeHTTP(first, r)
		body, hdr := first.Body.Bytes(), first.Header().Clone()
		static := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			for k, v := range hdr {
				w.Header()[k] = v
			}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
		})
		for name, handler := range map[string]http.Handler{"cache": cached, "static": static} {
			b.Run(fmt.Sprintf("enc=%s/handler=%s", enc, name), func(b *testing.B) {
				w := &countWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					w.n = 0
					handler.ServeHTTP(w, r)
				}
				if w.n != len(body) {
					b.Fatalf("wrote %d bytes, want %d", w.n, len(body))
				}
			})
		}
	}
}

// BenchmarkScrapeVsStaticLoopback is BenchmarkScrapeVsStatic over loopback
// HTTP with a keep-alive client, as a scraper sees it: the request, the
// headers and the body through net/http both ways.
func BenchmarkScrapeVsStaticLoopback(b *testing.B) {
	h := newBenchHost(benchSizes[0].probes, benchSizes[0].perFamily)
	c := New()
	h.storeAll(c, 0)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	cached := respcache.New(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), respcache.Options{Generation: c, Renderer: c.NewRenderer()})
	for _, enc := range []string{"identity", "gzip"} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.Header.Set("Accept", benchAccept)
		r.Header.Set("Accept-Encoding", enc)
		first := httptest.NewRecorder()
		cached.ServeHTTP(first, r)
		body, hdr := first.Body.Bytes(), first.Header().Clone()
		static := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			for k, v := range hdr {
				w.Header()[k] = v
			}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
		})
		for _, name := range []string{"cache", "static"} {
			handler := http.Handler(cached)
			if name == "static" {
				handler = static
			}
			b.Run(fmt.Sprintf("enc=%s/handler=%s", enc, name), func(b *testing.B) {
				srv := httptest.NewServer(handler)
				defer srv.Close()
				client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}}
				defer client.CloseIdleConnections()
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
				req.Header = r.Header.Clone()
				buf := make([]byte, 64<<10)
				b.ReportAllocs()
				for b.Loop() {
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for {
						k, err := resp.Body.Read(buf)
						n += k
						if err != nil {
							break
						}
					}
					resp.Body.Close()
					if n != len(body) {
						b.Fatalf("read %d bytes, want %d", n, len(body))
					}
				}
			})
		}
	}
}
