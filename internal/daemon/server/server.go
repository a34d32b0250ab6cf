// Package server is hardware_exporter's HTTP surface: one mux with the
// cached hardware metrics, the exporter's own live metrics, pprof, health,
// readiness, an on-demand refresh and a landing page.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/respcache"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/scheduler"
)

// Readier says whether the daemon is ready: every enabled probe has
// completed a run, successful or not, or restored a snapshot from its
// state file.
type Readier interface {
	Ready() bool
}

// Refresher re-runs the named probes (all enabled ones when none are
// named) and returns once their results are stored, naming the probes it
// answered from a run they did not cause (their refresh spacing): a
// *scheduler.Scheduler.
type Refresher interface {
	RefreshReusing(ctx context.Context, names ...string) ([]scheduler.Reuse, error)
}

// Accepter lowers device baselines for POST /-/baseline/accept: a
// *devguard.Guard. It returns the classes whose baseline it lowered.
type Accepter interface {
	Accept(class, who string) ([]string, error)
}

// Options wire the server to the rest of the daemon.
type Options struct {
	// Hardware gathers the metric cache (served, cached, on /metrics).
	Hardware prometheus.Gatherer
	// Renderer, if set, writes /metrics bodies from what the metric cache
	// encoded at store, with the same bytes as promhttp over Hardware,
	// which renders what it declines (respcache.Options.Renderer).
	Renderer respcache.Renderer
	// Exporter is the exporter's own registry (served live on
	// /exporter/metrics); the server registers its request metrics there.
	Exporter *prometheus.Registry
	// MetricsPath is where the hardware metrics are served (default
	// /metrics, --web.telemetry-path).
	MetricsPath string
	// Generation is the metric cache's generation.
	Generation respcache.Generationer
	CacheTTL   time.Duration
	MaxEntries int

	PprofEnabled     bool
	PprofAllowRemote bool

	// Ready answers /-/ready; nil is never ready.
	Ready Readier
	// Refresh answers POST /-/refresh; nil answers 503.
	Refresh Refresher
	// Baseline answers POST /-/baseline/accept; nil answers 503.
	Baseline Accepter
	// RefreshTimeout bounds how long POST /-/refresh waits (default 5m).
	RefreshTimeout time.Duration

	Version string
	Logger  *slog.Logger
}

// Server holds the handler and the response cache behind /metrics.
type Server struct {
	opts    Options
	cache   *respcache.Cache
	handler http.Handler
}

// encodings promhttp offers by default (zstd needs an extra import this
// exporter does not make: Prometheus asks for gzip).
var encodings = []string{"identity", "gzip"}

// New builds the server's handler.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RefreshTimeout <= 0 {
		opts.RefreshTimeout = 5 * time.Minute
	}
	if opts.MetricsPath == "" {
		opts.MetricsPath = "/metrics"
	}
	s := &Server{opts: opts}

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hardware_exporter_http_requests_total",
		Help: "HTTP requests served, by handler and status code.",
	}, []string{"handler", "code"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hardware_exporter_http_request_duration_seconds",
		Help:    "Time to serve HTTP requests, by handler.",
		Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
	}, []string{"handler"})
	if err := errors.Join(opts.Exporter.Register(requests), opts.Exporter.Register(durations)); err != nil {
		return nil, err
	}
	instrument := func(name string, h http.Handler) http.Handler {
		l := prometheus.Labels{"handler": name}
		return promhttp.InstrumentHandlerDuration(durations.MustCurryWith(l),
			promhttp.InstrumentHandlerCounter(requests.MustCurryWith(l), h))
	}

	errorLog := slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError)
	hardware := promhttp.HandlerFor(opts.Hardware, promhttp.HandlerOpts{
		ErrorLog:      errorLog,
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      opts.Exporter,
	})
	s.cache = respcache.New(hardware, respcache.Options{
		TTL:             opts.CacheTTL,
		MaxEntries:      opts.MaxEntries,
		Generation:      opts.Generation,
		AcceptedFormats: expfmt.DefaultAcceptedFormats(),
		Compressions:    encodings,
		Registerer:      opts.Exporter,
		Renderer:        opts.Renderer,
	})

	mux := http.NewServeMux()
	mux.Handle(opts.MetricsPath, instrument("metrics", readOnly(s.cache)))
	mux.Handle("/exporter/metrics", instrument("exporter_metrics",
		promhttp.HandlerFor(opts.Exporter, promhttp.HandlerOpts{ErrorLog: errorLog, ErrorHandling: promhttp.ContinueOnError})))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy.")
	})
	mux.HandleFunc("/-/ready", s.ready)
	mux.Handle("/-/refresh", instrument("refresh", loopbackOnly(http.HandlerFunc(s.refresh))))
	// Lowering a baseline silences an alert: only from the host itself,
	// whatever pprof or refresh allow.
	mux.Handle("/-/baseline/accept", instrument("baseline_accept", loopbackOnly(http.HandlerFunc(s.acceptBaseline))))
	if opts.PprofEnabled {
		var h http.Handler = pprofMux()
		if !opts.PprofAllowRemote {
			h = loopbackOnly(h)
		}
		mux.Handle("/debug/pprof/", h)
	}
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Hardware Exporter",
		Description: "Hardware inventory and health of this host, probed on a schedule and replayed to Prometheus.",
		Version:     opts.Version,
		Profiling:   fmt.Sprint(opts.PprofEnabled),
		Links: []web.LandingLinks{
			{Address: opts.MetricsPath, Text: "Metrics", Description: "Hardware metrics (cached between probe runs)"},
			{Address: "/exporter/metrics", Text: "Exporter metrics", Description: "The exporter's own metrics (live)"},
			{Address: "/-/ready", Text: "Ready", Description: "200 once every enabled probe has run or restored its data"},
		},
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/", landing)
	s.handler = mux
	return s, nil
}

// Handler is the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Cache is the response cache behind /metrics.
func (s *Server) Cache() *respcache.Cache { return s.cache }

// connTimeout bounds each phase of a connection: reading a request's
// header, reading the whole request, writing the response, and waiting idle
// between keep-alive requests. It leaves room for pprof's CPU profiles
// (?seconds=30 by default) and for a scrape interval of up to 2 minutes on
// one kept-alive connection.
//
// The read-side timeouts are one value on purpose. net/http sets a read
// deadline at each phase, and the Go runtime keeps a deadline's timer at
// the earliest time it was ever set until that time comes: a deadline
// moved later wakes the process at the old time for nothing (the netpoller
// and sysmon's 20µs spin, 130-150µs of CPU on the reference VM). With a
// 10s header timeout after a 2m idle one, every scrape at Prometheus' 15s
// moved the deadline earlier and left such a wake behind it: 523µs of
// CPU a scrape against 389µs with equal timeouts, and 375µs with none
// (docs/benchmarks.md). Equal timeouts only ever move a deadline later,
// so a connection wakes the process for them at most once per connTimeout.
const connTimeout = 2 * time.Minute

// HTTPServer returns an http.Server for the handler with timeouts set, so a
// slow or stalled client cannot hold a connection forever (node_exporter
// sets none; Prometheus' own server reads for up to 5 minutes).
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: connTimeout,
		ReadTimeout:       connTimeout,
		WriteTimeout:      connTimeout,
		IdleTimeout:       connTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}
}

// readOnly answers methods other than GET and HEAD with 405: a POST to
// /metrics is a client's mistake, and each one would otherwise cost a
// fresh render, since only GET and HEAD share the cached entries.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Use GET or HEAD to read metrics.", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Ready == nil || !s.opts.Ready.Ready() {
		http.Error(w, "Not ready: waiting for the first run of every enabled probe.", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "Ready.")
}

// refresh handles POST /-/refresh[?probe=NAME...]: it re-runs probes now
// and answers once their results are stored, so the next scrape sees them.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Use POST to re-run probes.", http.StatusMethodNotAllowed)
		return
	}
	if s.opts.Refresh == nil {
		http.Error(w, "Refresh is not available.", http.StatusServiceUnavailable)
		return
	}
	names := r.URL.Query()["probe"]
	// A refresh may take longer than the server's write timeout (a BMC, a
	// chassis of disks): extend this response's deadline to the refresh's
	// own, or the client would get an empty reply to a refresh that worked.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.RefreshTimeout + 10*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RefreshTimeout)
	defer cancel()
	start := time.Now()
	reused, err := s.opts.Refresh.RefreshReusing(ctx, names...)
	if err != nil {
		// A bad name is the client's mistake; a probe that failed in this
		// run is the server's news, named with why in the body.
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, scheduler.ErrUnknownProbe):
			code = http.StatusBadRequest
		case errors.Is(err, scheduler.ErrStopped):
			code = http.StatusServiceUnavailable // shutting down
		case ctx.Err() != nil:
			code = http.StatusGatewayTimeout
		}
		http.Error(w, "Refresh failed: "+err.Error()+reusedText(reused, start), code)
		return
	}
	what := "all enabled probes"
	if len(names) > 0 {
		what = strings.Join(names, ", ")
	}
	s.opts.Logger.Info("refreshed on request", "probes", what, "remote", r.RemoteAddr, "took", time.Since(start))
	fmt.Fprintf(w, "Refreshed %s in %s.\n", what, took(time.Since(start)))
	if text := reusedText(reused, start); text != "" {
		fmt.Fprintln(w, strings.TrimPrefix(text, "\n"))
	}
}

// acceptBaseline handles POST /-/baseline/accept[?class=NAME]: the
// devices present now become the expected ones, for one class or all, so
// that hardware removed on purpose stops being reported missing. The guard
// logs each class it lowers, with the peer that asked.
func (s *Server) acceptBaseline(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Use POST to accept the present devices as the baseline.", http.StatusMethodNotAllowed)
		return
	}
	if s.opts.Baseline == nil {
		http.Error(w, "Device baselines are not available.", http.StatusServiceUnavailable)
		return
	}
	classes := r.URL.Query()["class"]
	if len(classes) > 1 {
		http.Error(w, "Name at most one class.", http.StatusBadRequest)
		return
	}
	class := ""
	if len(classes) == 1 {
		if class = classes[0]; class == "" {
			http.Error(w, "class is empty; leave it out to accept every class.", http.StatusBadRequest)
			return
		}
	}
	accepted, err := s.opts.Baseline.Accept(class, r.RemoteAddr)
	if err != nil {
		http.Error(w, "Not accepted: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(accepted) == 0 {
		fmt.Fprintln(w, "Nothing to accept: every baseline matches the devices present.")
		return
	}
	fmt.Fprintf(w, "Accepted the present devices as the baseline of %s.\n", strings.Join(accepted, ", "))
}

// reusedText says, a line each (each starting with a newline), which
// probes a refresh did not run again because a run of theirs began within
// their refresh spacing, and which run answered: a client must not take a
// reused answer for a fresh reading.
func reusedText(reused []scheduler.Reuse, now time.Time) string {
	var b strings.Builder
	for _, r := range reused {
		run := fmt.Sprintf("its last run, which began %s ago", now.Sub(r.Start).Round(time.Millisecond))
		if r.InFlight {
			run = "the run that was in flight"
		}
		fmt.Fprintf(&b, "\n%s: not run again: answered from %s; refreshes run it at most every %s (probes.%s.refresh_spacing).",
			r.Probe, run, r.Spacing, r.Probe)
	}
	return b.String()
}

// pprofMux registers net/http/pprof's handlers explicitly, rather than
// through the package's side effect on http.DefaultServeMux, which this
// daemon does not serve.
func pprofMux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}

// loopbackOnly refuses requests whose peer is not a loopback address. The
// peer is the TCP connection's, never a forwarded header: a proxy in front
// must not turn remote callers into local ones.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopback(r.RemoteAddr) {
			http.Error(w, "Forbidden: only available from the host itself.", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// took renders how long a refresh took to three significant digits:
// rounding to a fixed unit would print a sysfs probe's 300µs as "0s" and a
// BMC's minute as nine decimals.
func took(d time.Duration) string {
	r := time.Duration(1)
	for d/r >= 1000 {
		r *= 10
	}
	return d.Round(r).String()
}
