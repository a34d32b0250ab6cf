package respcache

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Accept headers of real scrapers.
var accepts = map[string]string{
	"none": "",
	// Prometheus 2.42's fixed scrape header.
	"prometheus-2.42": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
	// The 3.x-style header from the brief.
	"prometheus-3-brief": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,*/*;q=0.1",
	// What Prometheus 3.x's scrape.acceptHeader builds from the default
	// scrape_protocols with UTF-8 names allowed.
	"prometheus-3":   "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
	"protobuf-first": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3",
	"proto-utf8":     "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8",
	"curl":           "*/*",
}

var acceptEncodings = []string{"", "gzip", "zstd;q=1, gzip;q=0.5", "GZIP", "*", "gzip;q=0", "identity;q=0, *;q=0"}

var targets = []string{
	"/metrics",
	"/metrics?name[]=hardware_system_info&name[]=hardware.test_utf8",
	"/metrics?name[]=hardware.test_utf8&name[]=hardware_system_info&name[]=hardware_system_info&other=x",
	"/metrics?name[]=",
}

// TestEquivalence checks that for every scraper, coding and filter the cache
// answers, on a miss and on the hit after it, with the status, headers and
// bytes the bare promhttp handler writes for the same state.
func TestEquivalence(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    promhttp.HandlerOpts
		formats []expfmt.Format
	}{
		{"default", promhttp.HandlerOpts{}, expfmt.DefaultAcceptedFormats()},
		{"openmetrics", promhttp.HandlerOpts{EnableOpenMetrics: true}, expfmt.DefaultOpenMetricsAcceptedFormats()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, col := newRegistry(t, 5)
			bare := promhttp.HandlerFor(reg, tc.opts)
			var gen uint64
			cache := New(bare, Options{Generation: genFunc(func() uint64 { return gen }), AcceptedFormats: tc.formats, MaxEntries: 1000})

			for _, round := range []int{0, 1} {
				if round == 1 { // the same after a refresh
					col.value.Add(1)
					gen++
				}
				for aname, accept := range accepts {
					for _, ae := range acceptEncodings {
						for _, target := range targets {
							hdr := []string{}
							if accept != "" {
								hdr = append(hdr, "Accept", accept)
							}
							if ae != "" {
								hdr = append(hdr, "Accept-Encoding", ae)
							}
							t.Run(fmt.Sprintf("%d/%s/%q/%s", round, aname, ae, target), func(t *testing.T) {
								want := get(bare, target, hdr...)
								again := get(bare, target, hdr...)
								if !bytes.Equal(want.Body.Bytes(), again.Body.Bytes()) {
									t.Fatal("bare handler is not deterministic; comparison would be meaningless")
								}
								// A cache of its own shows miss then hit.
								own := New(bare, Options{Generation: genFunc(func() uint64 { return gen }), AcceptedFormats: tc.formats})
								miss := get(own, target, hdr...)
								wantXCache(t, miss, "MISS")
								hit := get(own, target, hdr...)
								wantXCache(t, hit, "HIT")
								// The shared cache has seen every earlier cell, so a
								// key coarser than promhttp's choice would show here.
								shared := get(cache, target, hdr...)
								for _, got := range []*httptest.ResponseRecorder{miss, hit, shared} {
									sameResponse(t, want, got)
								}
							})
						}
					}
				}
			}
		})
	}
}

func sameResponse(t *testing.T, want, got *httptest.ResponseRecorder) {
	t.Helper()
	if got.Code != want.Code {
		t.Fatalf("status %d, want %d", got.Code, want.Code)
	}
	for _, h := range []string{"Content-Type", "Content-Encoding", "Vary"} {
		if g, w := got.Header().Values(h), want.Header().Values(h); !slices.Equal(g, w) {
			t.Errorf("%s = %q, want %q", h, g, w)
		}
	}
	if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
		t.Errorf("raw body differs (%d bytes, want %d)", got.Body.Len(), want.Body.Len())
	}
	if !bytes.Equal(decoded(t, got), decoded(t, want)) {
		t.Errorf("decoded body differs:\n%s\nwant:\n%s", decoded(t, got), decoded(t, want))
	}
	if got.Header().Get("Content-Length") != fmt.Sprint(want.Body.Len()) {
		t.Errorf("Content-Length = %q, want %d", got.Header().Get("Content-Length"), want.Body.Len())
	}
}

// TestEquivalenceSanity makes sure the matrix exercises what it claims to:
// escaping changes the bytes, and formats and codings differ.
func TestEquivalenceSanity(t *testing.T) {
	reg, _ := newRegistry(t, 1)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	utf8 := get(h, "/metrics", "Accept", accepts["prometheus-3"])
	old := get(h, "/metrics", "Accept", accepts["prometheus-2.42"])
	if !strings.Contains(utf8.Body.String(), `{"hardware.test_utf8"`) {
		t.Errorf("UTF-8 name not kept for a 3.x scraper:\n%s", utf8.Body)
	}
	if strings.Contains(old.Body.String(), "hardware.test_utf8") {
		t.Errorf("UTF-8 name not escaped for a 2.42 scraper:\n%s", old.Body)
	}
	if ct := get(h, "/metrics", "Accept", accepts["protobuf-first"]).Header().Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		t.Errorf("protobuf-first got %q", ct)
	}
	if ce := get(h, "/metrics", "Accept-Encoding", "gzip").Header().Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("gzip request got Content-Encoding %q", ce)
	}
}

// errLog records what promhttp logs.
type errLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *errLog) Println(v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintln(v...))
}

// promhttpEncoding returns the coding real promhttp selects, including the
// cases it cannot serve: the error it logs names the selection ("" for none
// acceptable, "zstd" when the zstd package is not linked in, as here).
func promhttpEncoding(t *testing.T, h http.Handler, log *errLog, values []string) string {
	t.Helper()
	log.mu.Lock()
	log.lines = nil
	log.mu.Unlock()
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if values != nil {
		r.Header["Accept-Encoding"] = values
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	log.mu.Lock()
	defer log.mu.Unlock()
	for _, l := range log.lines {
		const pre, post = "not recognized: ", ". Valid formats"
		if i := strings.Index(l, pre); i >= 0 {
			rest := l[i+len(pre):]
			if j := strings.Index(rest, post); j >= 0 {
				return rest[:j]
			}
		}
		t.Fatalf("unexpected promhttp log: %s", l)
	}
	if ce := w.Header().Get("Content-Encoding"); ce != "" {
		return ce
	}
	return "identity"
}

// FuzzNegotiateEncoding checks negotiateEncoding against real promhttp for
// arbitrary Accept-Encoding lines (split on newlines into several header
// lines), with two offer lists in different orders.
func FuzzNegotiateEncoding(f *testing.F) {
	for _, s := range []string{
		"", "gzip", "GZIP", "*", "zstd;q=1, gzip;q=0.5", "gzip;q=0", "*;q=0", "identity;q=0, *;q=0",
		"gzip, deflate, br", "br;q=1.0, gzip;q=0.8, *;q=0.1", "gzip;q=1.5", "gzip;q=.5", "gzip;q=0.", "gzip ; q=0.3 , zstd",
		"gzip;level=1, zstd", ",gzip", "gzip,,zstd", "gzip\nzstd;q=0.9", "identity\ngzip;q=0", "gz/ip, x-gzip",
		"gzip;q=0.00000000000000000000000000000000000000000000000000000000000000000001",
		"gzip;q=0.1234567890123456789012", "zstd;q=1.0000000000000000000001", "\tgzip\t;\tq=1", "gzip;Q=1",
		"*;q=0.5, gzip;q=0.5", "zstd;q=0.5, *;q=0.5", "identity;q=1, gzip;q=1", "gzip;q=1;q=0", "ÿgzip", "gzip\r\n, zstd",
	} {
		f.Add(s)
	}
	offerSets := [][]promhttp.Compression{
		{"identity", "gzip", "zstd", "br"},
		{"gzip", "br", "identity"},
	}
	type target struct {
		h      http.Handler
		log    *errLog
		offers []string
	}
	var targets []target
	for _, offers := range offerSets {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "x", Help: "x"}))
		log := &errLog{}
		var names []string
		for _, o := range offers {
			names = append(names, string(o))
		}
		targets = append(targets, target{
			h:      promhttp.HandlerFor(reg, promhttp.HandlerOpts{OfferedCompressions: offers, ErrorLog: log}),
			log:    log,
			offers: names,
		})
	}
	f.Fuzz(func(t *testing.T, ae string) {
		var values []string
		if ae != "" {
			values = strings.Split(ae, "\n")
		}
		for _, tg := range targets {
			want := promhttpEncoding(t, tg.h, tg.log, values)
			got := negotiateEncoding(http.Header{"Accept-Encoding": values}, tg.offers)
			if got != want {
				t.Fatalf("offers %q, Accept-Encoding %q: negotiateEncoding = %q, promhttp chose %q", tg.offers, values, got, want)
			}
		}
	})
}
