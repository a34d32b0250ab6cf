package metriccache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BenchmarkRenderBatch/path=promhttp is a render as the daemon did it
// before issue 22: after a batch in which every probe stored a new result,
// promhttp gathers the cache, encodes text and (for gzip) compresses at
// compress/gzip's default level. The timed loop includes the stores.
func BenchmarkRenderBatchPromhttp(b *testing.B) {
	for _, size := range benchSizes {
		h := newBenchHost(size.probes, size.perFamily)
		for _, enc := range []string{"identity", "gzip"} {
			b.Run(fmt.Sprintf("series=%d/enc=%s", h.series(), enc), func(b *testing.B) {
				c := New()
				reg := prometheus.NewRegistry()
				reg.MustRegister(c)
				bare := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
				r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				r.Header.Set("Accept", benchAccept)
				r.Header.Set("Accept-Encoding", enc)
				w := &countWriter{h: http.Header{}}
				round := 0
				b.ReportAllocs()
				for b.Loop() {
					round++
					h.storeAll(c, round)
					clear(w.h)
					w.n = 0
					bare.ServeHTTP(w, r)
				}
				b.ReportMetric(float64(w.n), "body-bytes")
			})
		}
	}
}
