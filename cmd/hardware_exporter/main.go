// Command hardware_exporter exports a bare-metal host's hardware inventory
// and health to Prometheus. Probes run on their own schedule; scrapes replay
// their cached results. See README.md.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/hardware-exporter/hardware_exporter/internal/config"
	"github.com/hardware-exporter/hardware_exporter/internal/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/scheduler"
	"github.com/hardware-exporter/hardware_exporter/internal/server"
)

const name = "hardware_exporter"

// The man page (--help-man, installed by the packages as
// hardware_exporter.1): kingpin's template puts App.Version on the .TH line,
// where version.Print's several lines end that line early and spill into the
// page, and its NAME section lacks the "name \- summary" line man-db
// indexes. Set once, before any parse: kingpin reads the global then.
func init() {
	kingpin.ManPageTemplate = strings.NewReplacer(
		`.TH {{.App.Name}} 1 {{.App.Version}} "{{.App.Author}}"`,
		`.TH {{.App.Name}} 1 "" "`+name+` `+version.Version+`" "User Commands"`,
		".SH \"NAME\"\n{{.App.Name}}\n",
		".SH \"NAME\"\n{{.App.Name}} \\- {{.App.Help}}\n",
	).Replace(kingpin.ManPageTemplate)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// flags are the command line. A flag given explicitly wins over the file.
type flags struct {
	configFile    string
	configCheck   bool
	once          bool
	procfs        pathFlag
	sysfs         pathFlag
	rootfs        pathFlag
	statePath     pathFlag
	telemetryPath string
	// probes holds --[no-]probe.NAME for every registered probe.
	probes map[string]*probeFlag
	web    *web.FlagConfig
	log    *promslog.Config
}

// probeFlag is --[no-]probe.NAME: it wins over the file's enabled when
// given.
type probeFlag struct {
	enabled bool
	set     bool
}

// pathFlag is a path flag that remembers whether the user gave it.
type pathFlag struct {
	value string
	set   bool
}

func parseFlags(args []string, stdout, stderr io.Writer) (*flags, int, bool) {
	app := kingpin.New(name, "Exports hardware inventory and health of this host to Prometheus.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	f := &flags{}
	app.Flag("config.file", "Configuration file (YAML). Without one, built-in defaults apply.").StringVar(&f.configFile)
	app.Flag("config.check", "Validate --config.file and exit 0 if it is valid, 1 if not.").BoolVar(&f.configCheck)
	app.Flag("once", "Run every enabled probe once, print the text exposition to stdout and exit (non-zero if a probe failed).").BoolVar(&f.once)
	app.Flag("path.procfs", "procfs mountpoint (overrides paths.procfs).").IsSetByUser(&f.procfs.set).Default("/proc").StringVar(&f.procfs.value)
	app.Flag("path.sysfs", "sysfs mountpoint (overrides paths.sysfs).").IsSetByUser(&f.sysfs.set).Default("/sys").StringVar(&f.sysfs.value)
	app.Flag("path.rootfs", "Root of the host's file system (overrides paths.rootfs).").IsSetByUser(&f.rootfs.set).Default("/").StringVar(&f.rootfs.value)
	app.Flag("state.path", "Directory of the state files that carry probe results across restarts; empty turns them off (overrides state.path).").IsSetByUser(&f.statePath.set).Default(config.DefaultStatePath).StringVar(&f.statePath.value)
	app.Flag("web.telemetry-path", "Path under which to expose the hardware metrics.").Default("/metrics").StringVar(&f.telemetryPath)
	f.probes = map[string]*probeFlag{}
	for _, s := range probe.Specs() {
		pf := &probeFlag{}
		app.Flag("probe."+s.Name, fmt.Sprintf("Enable the %s probe (--no-probe.%s disables it; overrides probes.%s.enabled). %s",
			s.Name, s.Name, s.Name, s.Summary)).IsSetByUser(&pf.set).BoolVar(&pf.enabled)
		f.probes[s.Name] = pf
	}
	f.web = kingpinflag.AddFlags(app, ":9816")
	f.log = &promslog.Config{}
	promslogflag.AddFlags(app, f.log)
	app.Version(version.Print(name))
	app.HelpFlag.Short('h')

	exited := false
	code := 0
	app.Terminate(func(c int) { exited, code = true, c })
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, 2, true
	}
	return f, code, exited
}

func run(args []string, stdout, stderr io.Writer) int {
	f, code, exited := parseFlags(args, stdout, stderr)
	if exited {
		return code
	}
	f.log.Writer = stderr
	logger := promslog.New(f.log)

	cfg, err := loadConfig(f)
	if f.configCheck {
		if err != nil {
			fmt.Fprintf(stderr, "%s: config invalid: %v\n", name, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: config valid\n", describeSource(f.configFile))
		writeProbeSummary(stdout, cfg)
		return 0
	}
	if err != nil {
		logger.Error("cannot load config", "err", err)
		return config.ExitInvalid
	}
	if f.once {
		return runOnce(cfg, stdout, logger)
	}
	if err := serve(f, cfg, logger); err != nil {
		logger.Error("exiting", "err", err)
		if errors.Is(err, errInvalidConfig) {
			return config.ExitInvalid
		}
		return 1
	}
	return 0
}

func describeSource(file string) string {
	if file == "" {
		return "built-in defaults"
	}
	return file
}

// loadConfig reads the file (or takes the defaults) and applies the path
// flags the user gave.
func loadConfig(f *flags) (*config.Config, error) {
	cfg := config.Default()
	if f.configFile != "" {
		c, err := config.Load(f.configFile)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	for _, p := range []struct {
		flag pathFlag
		dst  *string
	}{{f.procfs, &cfg.Paths.ProcFS}, {f.sysfs, &cfg.Paths.SysFS}, {f.rootfs, &cfg.Paths.RootFS}, {f.statePath, &cfg.State.Path}} {
		if p.flag.set {
			*p.dst = p.flag.value
		}
	}
	for name, pf := range f.probes {
		if pf.set {
			on := pf.enabled
			cfg.Probes.ByName[name].Enabled = &on
		}
	}
	return cfg, nil
}

// writeProbeSummary prints what --config.check found: each probe's
// effective schedule, from the registry and the config, and "off" with why
// for a probe the daemon would leave off on this host (see offReason).
func writeProbeSummary(w io.Writer, cfg *config.Config) {
	all := buildProbes()
	paths := probePaths(cfg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "probe\tenabled\tinterval\ttimeout")
	for _, name := range probe.Names() {
		r := cfg.Probe(name)
		schedule := fmt.Sprintf("%s\t%s", config.Duration(r.Interval), config.Duration(r.Timeout))
		if why := offReason(all[name], r, probe.Env{Paths: paths, Options: r.Options}); r.Enabled && why != nil {
			fmt.Fprintf(tw, "%s\toff\t%s\toff: %v\n", name, schedule, why)
			continue
		}
		fmt.Fprintf(tw, "%s\t%t\t%s\t\n", name, r.Enabled, schedule) // aligns the reasons' column
	}
	tw.Flush()
}

func probePaths(cfg *config.Config) probe.Paths {
	return probe.Paths{ProcFS: cfg.Paths.ProcFS, SysFS: cfg.Paths.SysFS, RootFS: cfg.Paths.RootFS}
}

// offReason says why the daemon leaves enabled probe p off: its source is
// missing from this host (probe.Conditional) and the config did not enable
// it explicitly. Nil means it runs.
func offReason(p probe.Probe, r config.Resolved, env probe.Env) error {
	if c, ok := p.(probe.Conditional); ok && !r.Explicit {
		return c.Available(env)
	}
	return nil
}

// buildProbes builds every probe this build has, once: they live as long as
// the daemon, across reloads, so the state they keep survives.
func buildProbes() map[string]probe.Probe {
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
	paths := probePaths(cfg)
	var js []scheduler.Job
	for _, name := range probe.Names() {
		r := cfg.Probe(name)
		if !r.Enabled {
			continue
		}
		p := all[name]
		env := probe.Env{Paths: paths, Options: r.Options, Logger: logger.With("probe", name)}
		if why := offReason(p, r, env); why != nil {
			logger.Info("probe off: its source is missing on this host; set enabled: true to run it anyway",
				"probe", name, "reason", why)
			continue
		}
		js = append(js, scheduler.Job{Name: name, Probe: p, Env: env, Interval: r.Interval, Timeout: r.Timeout, RefreshSpacing: r.RefreshSpacing})
	}
	return js
}

func runOnce(cfg *config.Config, stdout io.Writer, logger *slog.Logger) int {
	all := buildProbes()
	cache := metriccache.New(describers(all)...)
	reg := prometheus.NewRegistry()
	if err := errors.Join(reg.Register(cache), reg.Register(versioncollector.NewCollector(name))); err != nil {
		logger.Error("cannot register probes", "err", err)
		return 1
	}
	sched := scheduler.New(cache, jobs(cfg, all, logger), scheduler.Options{Logger: logger, MaxConcurrent: cfg.Scheduler.MaxConcurrent})
	sched.RunOnce(context.Background())
	mfs, err := reg.Gather()
	if err != nil {
		logger.Error("gathering metrics", "err", err)
		return 1
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			logger.Error("encoding metrics", "err", err)
			return 1
		}
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return 1
	}
	failures := cache.Failures()
	names := make([]string, 0, len(failures))
	for n := range failures {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		logger.Error("probe failed", "probe", n, "err", failures[n])
	}
	if len(failures) > 0 {
		return 1
	}
	return 0
}

// daemon owns the probes, the scheduler and the server; a config reload
// retunes the scheduler in place.
type daemon struct {
	logger *slog.Logger
	flags  *flags
	probes map[string]probe.Probe
	cache  *metriccache.Cache
	srv    *server.Server
	sched  *scheduler.Scheduler
	state  *metriccache.State // nil when state files are off
	// started is the config the daemon started with: the restartOnly keys
	// keep its values until a restart.
	started *config.Config
}

func serve(f *flags, cfg *config.Config, logger *slog.Logger) error {
	d := &daemon{logger: logger, flags: f, probes: buildProbes(), started: cfg}
	d.cache = metriccache.New(describers(d.probes)...)

	hardware := prometheus.NewRegistry()
	exporter := prometheus.NewRegistry()
	if err := errors.Join(
		hardware.Register(d.cache),
		hardware.Register(versioncollector.NewCollector(name)),
		exporter.Register(versioncollector.NewCollector(name)),
		exporter.Register(collectors.NewGoCollector()),
		exporter.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
	); err != nil {
		return fmt.Errorf("registering collectors: %w", err)
	}
	var err error
	d.srv, err = server.New(server.Options{
		Hardware:         hardware,
		Exporter:         exporter,
		MetricsPath:      f.telemetryPath,
		Generation:       d.cache.Generation,
		CacheTTL:         time.Duration(cfg.Cache.TTL),
		MaxEntries:       cfg.Cache.MaxEntries,
		PprofEnabled:     cfg.Pprof.Enabled,
		PprofAllowRemote: cfg.Pprof.AllowRemote,
		Ready:            d.ready,
		Refresh:          d.refresh,
		Version:          version.Info(),
		Logger:           logger,
	})
	if err != nil {
		return err
	}
	// Re-render the cached responses once a batch of results has landed,
	// so the next scrape after a probe run is a replay too.
	warmer := newBatchWarmer(d.srv.Cache().Warm)
	d.sched = scheduler.New(d.cache, nil, scheduler.Options{
		MaxConcurrent: cfg.Scheduler.MaxConcurrent,
		// A random place on each interval for this host: its probes of an
		// interval run (and are rendered) together, and a fleet's hosts
		// spread over the interval.
		Offset:     time.Duration(rand.Int64N(int64(24 * time.Hour))),
		Jitter:     time.Duration(cfg.Scheduler.Jitter),
		Logger:     logger,
		Registerer: exporter,
		OnStore: func(name string) {
			if d.state != nil {
				d.state.Save(name) // does not wait for the disk
			}
			warmer.Stored()
		},
	})
	d.apply(cfg)
	d.state = openState(cfg, d.cache, exporter, logger)
	if d.state != nil {
		d.restore(cfg)
	}
	primeResponses(d.srv.Cache(), f.telemetryPath)

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
			warmer.Run(schedCtx)
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
	}

	httpSrv := d.srv.HTTPServer()
	serve, err := listen(httpSrv, f.web, logger)
	if err != nil {
		halt()
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serve() }()
	logger.Info("started", "version", version.Info(), "config", describeSource(f.configFile), "probes", d.sched.Names())
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

// errInvalidConfig marks the errors of serve that a restart cannot cure,
// so that the daemon exits with config.ExitInvalid.
var errInvalidConfig = errors.New("invalid config")

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
			return nil, fmt.Errorf("%w: web config %s: %w", errInvalidConfig, *flags.WebConfigFile, err)
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
	for _, j := range js {
		d.cache.SetInterval(j.Name, j.Interval)
	}
	d.srv.Cache().SetTTL(time.Duration(cfg.Cache.TTL))
	d.sched.SetJitter(time.Duration(cfg.Scheduler.Jitter))
}

// reloadConfig is what a reload reads the config with; a test makes it
// block, as a read from a hung network mount would.
var reloadConfig = loadConfig

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
	cfg, err := reloadConfig(d.flags)
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
	d.logger.Info("config reloaded", "config", describeSource(d.flags.configFile), "probes", d.sched.Names())
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

// ready is true once every enabled probe has completed a run, successful or
// not, or restored a snapshot from its state file (README, /-/ready).
func (d *daemon) ready() bool {
	return d.cache.Ready(d.sched.Names()...)
}

func (d *daemon) refresh(ctx context.Context, names ...string) ([]scheduler.Reuse, error) {
	return d.sched.RefreshReusing(ctx, names...)
}
