package respcache

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// bodyRenderer answers with what promhttp writes for the same request, or
// declines when decline says so; it counts its calls.
type bodyRenderer struct {
	bare    http.Handler
	decline bool
	calls   int
}

func (r *bodyRenderer) Render(format expfmt.Format, coding string, names []string) ([]byte, bool) {
	r.calls++
	if r.decline {
		return nil, false
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", string(format))
	req.Header.Set("Accept-Encoding", coding)
	w := httptest.NewRecorder()
	r.bare.ServeHTTP(w, req)
	return w.Body.Bytes(), true
}

// A body from the Renderer goes out with the headers promhttp would have
// written (Vary on Accept, and on Accept-Encoding unless compression is
// off; Content-Type; Content-Encoding), and a Renderer that declines leaves
// the request to the wrapped handler.
func TestRendererHeadersAndFallback(t *testing.T) {
	for _, tc := range []struct {
		name         string
		opts         promhttp.HandlerOpts
		compressions []string
		variants     int // distinct keys of the two requests
	}{
		{"default", promhttp.HandlerOpts{}, nil, 2},
		{"no-compression", promhttp.HandlerOpts{DisableCompression: true}, []string{"identity"}, 1},
	} {
		for _, decline := range []bool{false, true} {
			reg, _ := newRegistry(t, 3)
			bare := promhttp.HandlerFor(reg, tc.opts)
			r := &bodyRenderer{bare: bare, decline: decline}
			c := New(bare, Options{Generation: genFunc(func() uint64 { return 1 }), Compressions: tc.compressions, Renderer: r})
			for _, ae := range []string{"", "gzip"} {
				hdr := []string{"Accept", accepts["prometheus-3"]}
				if ae != "" {
					hdr = append(hdr, "Accept-Encoding", ae)
				}
				want, got := get(bare, "/metrics", hdr...), get(c, "/metrics", hdr...)
				for _, h := range []string{"Content-Type", "Content-Encoding", "Vary"} {
					if g, w := got.Header().Values(h), want.Header().Values(h); !slices.Equal(g, w) {
						t.Errorf("%s, decline %t, %q: %s = %q, want %q", tc.name, decline, ae, h, g, w)
					}
				}
				if string(decoded(t, got)) != string(decoded(t, want)) {
					t.Errorf("%s, decline %t, %q: body differs", tc.name, decline, ae)
				}
			}
			wantDeclined := 0.0
			if decline {
				wantDeclined = float64(tc.variants)
			}
			if d := testutil.ToFloat64(c.m.declined); d != wantDeclined {
				t.Errorf("%s, decline %t: renders_declined_total %v, want %v", tc.name, decline, d, wantDeclined)
			}
			if r.calls != tc.variants {
				t.Errorf("%s, decline %t: renderer called %d times, want once a variant (%d)", tc.name, decline, r.calls, tc.variants)
			}
		}
	}
}
