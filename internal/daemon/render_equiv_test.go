package daemon

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/test/gunzip"
)

// The daemon's /metrics, rendered from what the metric cache encoded at
// store, is what promhttp writes over the daemon's registry, on the fixture
// host's full state after a run of every probe and after a restart that
// restored that state from the state files: the same headers, the same
// identity bytes, gzip bodies that Go, Python's zlib and curl decode whole
// to the same text.
func TestMetricsMatchPromhttpOnTheFixtureHost(t *testing.T) {
	cfg := loadConfig(t, nil)
	cfg.State.Path = t.TempDir()
	opts := Options{MetricsPath: "/metrics", Logger: slog.New(slog.DiscardHandler)}

	d, err := start(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d.sched.RunOnce(ctx)
	if f := d.cache.Failures(); len(f) > 0 {
		t.Logf("failed on the fixture (their status is compared too): %v", f)
	}
	compareWithPromhttp(t, d, "after a run")
	// A second run stores the same families again (nothing changes on the
	// fixture) but the status series: the stores reuse the first run's
	// encoded bytes and gzip blocks, which must still be promhttp's.
	d.sched.RunOnce(ctx)
	compareWithPromhttp(t, d, "after a second run")
	if d.state == nil || !d.state.Close(10*time.Second) {
		t.Fatal("state files not written")
	}

	again, err := start(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	restored := 0
	for _, n := range again.sched.Names() {
		if !again.cache.LastSuccess(n).IsZero() {
			restored++
		}
	}
	if restored < 5 {
		t.Fatalf("the restart restored %d probes; the comparison would not cover restored state", restored)
	}
	t.Logf("%d probes restored", restored)
	compareWithPromhttp(t, again, "restored")
}

func compareWithPromhttp(t *testing.T, d *daemon, when string) {
	t.Helper()
	// The daemon's own registry: every collector /metrics serves, the
	// device guard's included.
	bare := promhttp.HandlerFor(d.hardware, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	accepts := []string{
		"",
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3",
	}
	for _, accept := range accepts {
		var identity []byte
		for _, ae := range []string{"identity", "gzip"} {
			do := func(h http.Handler) *httptest.ResponseRecorder {
				r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				r.Header.Set("Accept", accept)
				r.Header.Set("Accept-Encoding", ae)
				r.Header.Set("Cache-Control", "no-cache")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w
			}
			want, got := do(bare), do(d.srv.Handler())
			for _, h := range []string{"Content-Type", "Content-Encoding", "Vary"} {
				if g, w := got.Header().Values(h), want.Header().Values(h); !slices.Equal(g, w) {
					t.Errorf("%s, %q, %s: %s = %q, want %q", when, accept, ae, h, g, w)
				}
			}
			if _, ok := d.cache.NewRenderer(versioncollector.NewCollector(Name)).Render(
				expfmt.Format(want.Header().Get("Content-Type")), ae, nil); !ok {
				t.Fatalf("%s, %q, %s: the renderer declined; promhttp rendered it", when, accept, ae)
			}
			wantBody, gotBody := want.Body.Bytes(), got.Body.Bytes()
			if ae == "gzip" {
				t.Logf("%s, %q: gzip body %d bytes, promhttp's %d (compress/gzip default level); identity %d",
					when, accept, got.Body.Len(), want.Body.Len(), len(identity))
				wantBody, gotBody = gunzipBody(t, wantBody), gunzipBody(t, gotBody)
				for dec, b := range gunzip.Decode(t, got.Body.Bytes()) {
					if !bytes.Equal(b, identity) {
						t.Errorf("%s, %q: %s decodes the gzip body to %d bytes, the identity body has %d", when, accept, dec, len(b), len(identity))
					}
				}
			} else {
				identity = gotBody
			}
			if len(wantBody) < 10000 || !bytes.Equal(gotBody, wantBody) {
				t.Fatalf("%s, %q, %s: body (%d bytes) differs from promhttp's (%d bytes)", when, accept, ae, len(gotBody), len(wantBody))
			}
		}
	}
}

func gunzipBody(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
