// Package daemon is hardware_exporter's lifecycle: it builds the probes,
// the metric cache, the scheduler and the server, restores the state files,
// serves, reloads the config on SIGHUP and shuts down on SIGTERM. The
// command (cmd/hardware_exporter) reads the flags and hands them over.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/devguard"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/scheduler"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/server"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/statefile"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// OffReason says why the daemon leaves enabled probe p off: its source is
// missing from this host (probe.Conditional) and the config did not enable
// it explicitly. Nil means it runs.
func OffReason(p probe.Probe, r config.Resolved, env probe.Env) error {
	if c, ok := p.(probe.Conditional); ok && !r.Explicit {
		return c.Available(env)
	}
	return nil
}

// BuildProbes builds every probe this build has, once: they live as long as
// the daemon, across reloads, so the state they keep survives.
func BuildProbes() map[string]probe.Probe {
	all := map[string]probe.Probe{}
	for _, s := range probe.Specs() {
		all[s.Name] = s.New()
	}
	return all
}

// describers lists the probes for the metric cache's Describe: every probe
// this build has, enabled or not, so the registry checks them all for
// clashes once and a reload that enables one needs no re-registration.
func describers(all map[string]probe.Probe) []metriccache.Describer {
	d := make([]metriccache.Describer, 0, len(all))
	for _, name := range probe.Names() {
		d = append(d, all[name])
	}
	return d
}

// jobs returns the scheduler's jobs for cfg: the enabled probes with their
// settings. A probe whose source is missing from the host
// (probe.Conditional) is left off with one log line, unless the config
// enabled it explicitly: then it runs and fails, and says why.
func jobs(cfg *config.Config, all map[string]probe.Probe, logger *slog.Logger) []scheduler.Job {
	var js []scheduler.Job
	for _, name := range probe.Names() {
		r := cfg.Probe(name)
		if !r.Enabled {
			continue
		}
		p := all[name]
		env := probe.Env{Paths: cfg.Paths, Options: r.Options, Logger: logger.With("probe", name)}
		if why := OffReason(p, r, env); why != nil {
			logger.Info("probe off: its source is missing on this host; set enabled: true to run it anyway",
				"probe", name, "reason", why)
			continue
		}
		js = append(js, scheduler.Job{Name: name, Probe: p, Env: env, Interval: r.Interval, Timeout: r.Timeout, RefreshSpacing: r.RefreshSpacing})
	}
	return js
}

// daemon owns the probes, the scheduler and the server; a config reload
// retunes the scheduler in place.
type daemon struct {
	logger *slog.Logger
	opts   Options
	probes map[string]probe.Probe
	cache  *metriccache.Cache
	// hardware is the registry /metrics serves: the cache, the build info
	// and the device guard. The renderer writes what promhttp would write
	// over it; promhttp renders over it what the renderer declines.
	hardware *prometheus.Registry
	srv      *server.Server
	sched    *scheduler.Scheduler
	state    *metriccache.State // nil when state files are off
	guard    *devguard.Guard    // the device baselines (in memory when state files are off)
	warmer   *batchWarmer       // renders ahead after each batch of stores
	// started is the config the daemon started with: the restartOnly keys
	// keep its values until a restart.
	started *config.Config
}

// Options are what the command line gives the daemon beside the config.
type Options struct {
	// MetricsPath is where the hardware metrics are served
	// (--web.telemetry-path).
	MetricsPath string
	// Web holds the listen addresses, the web config file (TLS, basic auth)
	// and socket activation.
	Web *web.FlagConfig
	// Source names the config file in the logs.
	Source string
	// Load reads the config again on SIGHUP, with the command line's flags
	// applied over the file as at start.
	Load   func() (*config.Config, error)
	Logger *slog.Logger
}

// Name is the program's name, in its build info and version collector.
const Name = "hardware_exporter"

// Serve runs the daemon with cfg until SIGTERM or SIGINT, or until serving
// fails. An error wrapping ErrInvalidConfig is one a restart cannot cure.
func Serve(cfg *config.Config, opts Options) error {
	d, err := start(cfg, opts)
	if err != nil {
		return err
	}
	return d.serve()
}

// start builds the daemon for cfg: the probes, the metric cache, the
// server, the scheduler with the after-store step, and the state restored
// from the state files, with the usual scrapes rendered ahead. Nothing runs
// or listens yet.
func start(cfg *config.Config, opts Options) (*daemon, error) {
	logger := opts.Logger
	d := &daemon{logger: logger, opts: opts, probes: BuildProbes(), started: cfg}
	d.cache = metriccache.New(describers(d.probes)...)

	hardware := prometheus.NewRegistry()
	exporter := prometheus.NewRegistry()
	if err := errors.Join(
		hardware.Register(d.cache),
		hardware.Register(versioncollector.NewCollector(Name)),
		exporter.Register(versioncollector.NewCollector(Name)),
		exporter.Register(goCollector()),
		exporter.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
	); err != nil {
		return nil, fmt.Errorf("registering collectors: %w", err)
	}
	// The state directory opens before the server is built: the device
	// guard's baselines live there, and its series are part of what the
	// server renders.
	var dir *statefile.Dir
	d.state, dir = openState(cfg, d.cache, exporter, logger)
	d.guard = devguard.New(dir, logger.With("component", "device_guard"))
	if err := hardware.Register(d.guard); err != nil {
		return nil, fmt.Errorf("registering collectors: %w", err)
	}
	d.hardware = hardware
	var err error
	d.srv, err = server.New(server.Options{
		Hardware: hardware,
		// The guard's series change on its own generation, not at a store.
		Renderer:         d.cache.NewRenderer(versioncollector.NewCollector(Name)).WithDynamic(d.guard, d.guard.Generation),
		Exporter:         exporter,
		MetricsPath:      opts.MetricsPath,
		Generation:       generations{d.cache, d.guard},
		CacheTTL:         time.Duration(cfg.Cache.TTL),
		MaxEntries:       cfg.Cache.MaxEntries,
		PprofEnabled:     cfg.Pprof.Enabled,
		PprofAllowRemote: cfg.Pprof.AllowRemote,
		Ready:            d,
		Refresh:          d,
		Baseline:         d.guard,
		Version:          version.Info(),
		Logger:           logger,
	})
	if err != nil {
		return nil, err
	}
	// Re-render the cached responses once a batch of results has landed,
	// so the next scrape after a probe run is a replay too.
	d.warmer = newBatchWarmer(d.srv.Cache().Warm, func(name string) bool { return d.sched.Pending(name) })
	after := &afterStore{Cache: d.cache, state: d.state, guard: d.guard, warmer: d.warmer}
	d.sched = scheduler.New(after, nil, scheduler.Options{
		MaxConcurrent: cfg.Scheduler.MaxConcurrent,
		// A random place on each interval for this host: its probes of an
		// interval run (and are rendered) together, and a fleet's hosts
		// spread over the interval.
		Offset:     time.Duration(rand.Int64N(int64(24 * time.Hour))),
		Jitter:     time.Duration(cfg.Scheduler.Jitter),
		Logger:     logger,
		Registerer: exporter,
	})
	d.apply(cfg)
	if d.state != nil {
		d.restore(cfg)
	}
	primeResponses(d.srv.Cache(), opts.MetricsPath)
	return d, nil
}

// serve runs the scheduler and serves until SIGTERM or SIGINT (a second
// one exits at once), or until serving fails; a SIGHUP reloads the config.
// At the end the probes are halted and the pending state files written.
func (d *daemon) serve() error {
	logger, opts := d.logger, d.opts
	// Signals are taken from a channel, not signal.NotifyContext, so that
	// a second SIGTERM during a slow shutdown can still be seen.
	stopSignals := make(chan os.Signal, 2)
	signal.Notify(stopSignals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stopSignals)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	schedCtx, stopSched := context.WithCancel(context.Background())
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		warmed := make(chan struct{})
		go func() {
			defer close(warmed)
			d.warmer.Run(schedCtx)
		}()
		d.sched.Run(schedCtx)
		<-warmed
	}()
	halt := func() {
		stopSched()
		// Probes that ignore their context are left behind; their tools
		// were killed with the run's context.
		select {
		case <-schedDone:
		case <-time.After(schedulerStopLimit):
			logger.Warn("probes still running at exit", "waited", schedulerStopLimit)
		}
		if d.state != nil && !d.state.Close(stateFlushLimit) {
			logger.Warn("state files not all written at exit", "waited", stateFlushLimit)
		}
		closeProbes(d.probes, nil)
	}

	httpSrv := d.srv.HTTPServer()
	serve, err := listen(httpSrv, opts.Web, logger)
	if err != nil {
		halt()
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serve() }()
	logger.Info("started", "version", version.Info(), "config", opts.Source, "probes", d.sched.Names())
	// The listener is bound (listen above) and the state restored: a client
	// that systemctl start lets go on now gets an answer. Socket activation
	// and vsock bind in serve, a moment later; systemd holds the former.
	notify(logger, sddaemon.SdNotifyReady)

	// Reloads run on a goroutine of their own, one at a time: reading the
	// file can block (a hung network mount), and this loop must always be
	// free to take SIGTERM. A SIGHUP during a reload queues one more.
	reloads := make(chan struct{}, 1)
	go d.reloadLoop(schedCtx, reloads)

	for {
		select {
		case err := <-serveErr:
			halt()
			return err
		case <-hup:
			select {
			case reloads <- struct{}{}:
			default: // one is queued already; it will read the newest file
			}
		case sig := <-stopSignals:
			notify(logger, sddaemon.SdNotifyStopping)
			logger.Info("shutting down; a second signal exits at once", "signal", sig)
			go func() {
				sig := <-stopSignals
				logger.Warn("second signal; exiting now", "signal", sig)
				os.Exit(1)
			}()
			// Probes are cancelled (their tools killed) while in-flight
			// scrapes finish: a scrape is a replay and needs no probe.
			halted := make(chan struct{})
			go func() {
				defer close(halted)
				halt()
			}()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), httpShutdownLimit)
			err := httpSrv.Shutdown(shutdownCtx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				logger.Warn("scrapes still in flight at exit; closing them", "waited", httpShutdownLimit)
				httpSrv.Close()
				err = nil
			}
			<-halted
			<-serveErr
			return err
		}
	}
}

// afterStore is the daemon's step after each probe run, where the
// scheduler hands it the result: count the devices it saw against their
// baselines (the device guard), store it in the metric cache (a new
// generation), save the probe's state file, render the responses ahead of
// the next scrape. Neither of the last two waits: the state file is written
// on State's own goroutine, the render once the batch of results is in.
type afterStore struct {
	// Cache also answers what the scheduler reads back (LastSuccess,
	// Expires).
	*metriccache.Cache
	state  *metriccache.State // nil when state files are off
	guard  *devguard.Guard    // nil in tests that need none
	warmer *batchWarmer
}

func (a *afterStore) Store(name string, r metriccache.Result) {
	// The guard first: the render the store leads to then shows both.
	if a.guard != nil {
		a.guard.Observe(name, r.Metrics, r.Err)
	}
	a.Cache.Store(name, r)
	if a.state != nil {
		a.state.Save(name)
	}
	a.warmer.Stored(name)
}

// generations is the response cache's generation over the metric cache
// and the device guard: either changing makes stored responses stale. Both
// only grow, so their sum changes whenever one does.
type generations []interface{ Generation() uint64 }

func (gs generations) Generation() uint64 {
	var n uint64
	for _, g := range gs {
		n += g.Generation()
	}
	return n
}

// ErrInvalidConfig marks the errors of Serve that a restart cannot cure,
// so that the daemon exits with config.ExitInvalid.
var ErrInvalidConfig = errors.New("invalid config")

// notify sends state to systemd when it runs the daemon as Type=notify
// (NOTIFY_SOCKET is set), and does nothing otherwise. It uses go-systemd's
// sd_notify, already in the build for exporter-toolkit's socket activation.
func notify(logger *slog.Logger, state string) {
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		logger.Warn("cannot notify systemd", "state", state, "err", err)
	}
}

// listen binds the listen addresses now, so that "started" is logged only
// once the port is ours and a port in use is an error before it; serve then
// serves on them. Socket activation and vsock addresses are left to
// exporter-toolkit, which binds them itself.
func listen(srv *http.Server, flags *web.FlagConfig, logger *slog.Logger) (serve func() error, err error) {
	if flags.WebSystemdSocket != nil && *flags.WebSystemdSocket {
		return func() error { return web.ListenAndServe(srv, flags, logger) }, nil
	}
	for _, addr := range *flags.WebListenAddresses {
		if strings.HasPrefix(addr, "vsock://") {
			return func() error { return web.ListenAndServe(srv, flags, logger) }, nil
		}
	}
	if flags.WebConfigFile != nil && *flags.WebConfigFile != "" {
		if err := web.Validate(*flags.WebConfigFile); err != nil {
			return nil, fmt.Errorf("%w: web config %s: %w", ErrInvalidConfig, *flags.WebConfigFile, err)
		}
	}
	var listeners []net.Listener
	for _, addr := range *flags.WebListenAddresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, err
		}
		listeners = append(listeners, l)
	}
	return func() error { return web.ServeMultiple(listeners, srv, flags, logger) }, nil
}

// apply hands cfg's probe settings to the scheduler, drops the data of
// probes it turned off and makes the status series say the new intervals.
func (d *daemon) apply(cfg *config.Config) {
	js := jobs(cfg, d.probes, d.logger)
	d.sched.Update(js)
	d.cache.Retain(d.sched.Names()...)
	// A probe the config turned off takes its device baselines with it.
	d.guard.Retain(d.sched.Names()...)
	// A probe turned off gives back what it keeps (descriptors); one that
	// stays on notices new settings at its next run.
	closeProbes(d.probes, d.sched.Names())
	for _, j := range js {
		d.cache.SetInterval(j.Name, j.Interval)
	}
	d.srv.Cache().SetTTL(time.Duration(cfg.Cache.TTL))
	d.sched.SetJitter(time.Duration(cfg.Scheduler.Jitter))
}

// closeProbes closes every probe that keeps something between runs
// (probe.Closer), but those named in running.
func closeProbes(all map[string]probe.Probe, running []string) {
	on := map[string]bool{}
	for _, n := range running {
		on[n] = true
	}
	for name, p := range all {
		if c, ok := p.(probe.Closer); ok && !on[name] {
			c.Close()
		}
	}
}

// reloadLoop reloads the config for each request on kick until ctx ends
// (shutdown). A reload still reading when ctx ends applies nothing.
func (d *daemon) reloadLoop(ctx context.Context, kick <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		d.reload(ctx)
	}
}

// reload re-reads the config file. A bad file is logged and the running
// config kept. The keys of restartOnly, and the flags (listen address,
// TLS), need a restart; a reload that changes one says so.
func (d *daemon) reload(ctx context.Context) {
	cfg, err := d.opts.Load()
	if err != nil {
		d.logger.Error("config reload failed; keeping the running config", "err", err)
		return
	}
	if ctx.Err() != nil {
		return // shutting down
	}
	d.apply(cfg)
	if keys := changedRestartOnly(d.started, cfg); len(keys) > 0 {
		d.logger.Warn("config reloaded, but these keys keep their old value until a restart",
			"keys", strings.Join(keys, ","))
	}
	d.logger.Info("config reloaded", "config", d.opts.Source, "probes", d.sched.Names())
}

// restartOnly are the config keys that are read once, at start: the server
// and its response cache are built with them (pprof, cache.max_entries), the
// scheduler's concurrency slots are made with them, and the state directory
// is opened with them.
var restartOnly = []struct {
	key   string
	value func(*config.Config) any
}{
	{"pprof.enabled", func(c *config.Config) any { return c.Pprof.Enabled }},
	{"pprof.allow_remote", func(c *config.Config) any { return c.Pprof.AllowRemote }},
	{"cache.max_entries", func(c *config.Config) any { return c.Cache.MaxEntries }},
	{"scheduler.max_concurrent", func(c *config.Config) any { return c.Scheduler.MaxConcurrent }},
	{"state.path", func(c *config.Config) any { return c.State.Path }},
}

// changedRestartOnly lists the restartOnly keys whose value in cfg differs
// from the one the daemon started with (and so still uses).
func changedRestartOnly(started, cfg *config.Config) []string {
	var keys []string
	for _, k := range restartOnly {
		if k.value(started) != k.value(cfg) {
			keys = append(keys, k.key)
		}
	}
	return keys
}

// Ready is true once every enabled probe has completed a run, successful or
// not, or restored a snapshot from its state file (README, /-/ready).
func (d *daemon) Ready() bool {
	return d.cache.Ready(d.sched.Names()...)
}

// RefreshReusing re-runs probes for POST /-/refresh (server.Refresher): the
// scheduler's, reached through the daemon because the server is built
// before the scheduler.
func (d *daemon) RefreshReusing(ctx context.Context, names ...string) ([]scheduler.Reuse, error) {
	return d.sched.RefreshReusing(ctx, names...)
}

// goCollector is client_golang's Go collector with, beside its defaults,
// the runtime's CPU classes (GC, scavenger, user) and GC cycle count: what
// the runtime costs a daemon that is idle most of the time, read by
// cmd/costtest (about a dozen series on /exporter/metrics).
func goCollector() prometheus.Collector {
	return collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/|^/gc/cycles/total:`)},
	))
}
