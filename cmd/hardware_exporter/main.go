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
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
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
	"github.com/hardware-exporter/hardware_exporter/internal/server"
)

const name = "hardware_exporter"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// flags are the command line. A flag given explicitly wins over the file.
type flags struct {
	configFile  string
	configCheck bool
	once        bool
	procfs      pathFlag
	sysfs       pathFlag
	rootfs      pathFlag
	web         *web.FlagConfig
	log         *promslog.Config
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
		return 0
	}
	if err != nil {
		logger.Error("cannot load config", "err", err)
		return 1
	}
	if f.once {
		return runOnce(cfg, stdout, logger)
	}
	if err := serve(f, cfg, logger); err != nil {
		logger.Error("exiting", "err", err)
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
	}{{f.procfs, &cfg.Paths.ProcFS}, {f.sysfs, &cfg.Paths.SysFS}, {f.rootfs, &cfg.Paths.RootFS}} {
		if p.flag.set {
			*p.dst = p.flag.value
		}
	}
	return cfg, nil
}

// probes builds every probe this build has, and the jobs for the enabled
// ones. All are returned so the metric cache can describe every
// descriptor once, enabled or not. A probe whose source is missing from the
// host (probe.Conditional) is left off with one log line, unless the config
// enabled it explicitly: then it runs and fails, and says why.
func probes(cfg *config.Config, logger *slog.Logger) (all []probe.Probe, jobs []metriccache.Job, err error) {
	paths := probe.Paths{ProcFS: cfg.Paths.ProcFS, SysFS: cfg.Paths.SysFS, RootFS: cfg.Paths.RootFS}
	for _, n := range probe.Names() {
		r := cfg.Probe(n)
		p, err := probe.New(n, probe.Env{
			Paths:  paths,
			Logger: logger,
			Options: probe.Options{
				Command: r.Command, Include: r.Include, Exclude: r.Exclude,
				DeviceTimeout: r.DeviceTimeout, Directory: r.Directory,
			},
		})
		if err != nil {
			return nil, nil, err
		}
		all = append(all, p)
		if !r.Enabled {
			continue
		}
		if c, ok := p.(probe.Conditional); ok && !r.Explicit {
			if why := c.Available(); why != nil {
				logger.Info("probe off: its source is missing on this host; set enabled: true to run it anyway",
					"probe", n, "reason", why)
				continue
			}
		}
		jobs = append(jobs, metriccache.Job{Probe: p, Interval: r.Interval, Timeout: r.Timeout})
	}
	return all, jobs, nil
}

func runOnce(cfg *config.Config, stdout io.Writer, logger *slog.Logger) int {
	all, jobs, err := probes(cfg, logger)
	if err != nil {
		logger.Error("cannot build probes", "err", err)
		return 1
	}
	cache := metriccache.New(all...)
	reg := prometheus.NewRegistry()
	if err := reg.Register(cache); err != nil {
		logger.Error("cannot register probes", "err", err)
		return 1
	}
	sched := metriccache.NewScheduler(cache, jobs, metriccache.Options{Logger: logger, MaxConcurrent: cfg.Scheduler.MaxConcurrent})
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

// daemon owns the running scheduler; a config reload swaps it.
type daemon struct {
	logger *slog.Logger
	flags  *flags
	cache  *metriccache.Cache
	srv    *server.Server

	mu      sync.Mutex
	sched   *metriccache.Scheduler
	enabled []string
	stop    context.CancelFunc
	done    chan struct{}
}

func serve(f *flags, cfg *config.Config, logger *slog.Logger) error {
	all, _, err := probes(cfg, logger)
	if err != nil {
		return err
	}
	d := &daemon{logger: logger, flags: f, cache: metriccache.New(all...)}

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
	d.srv, err = server.New(server.Options{
		Hardware:         hardware,
		Exporter:         exporter,
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
	d.start(cfg, exporter)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	httpSrv := d.srv.HTTPServer()
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(httpSrv, f.web, logger) }()
	logger.Info("started", "version", version.Info(), "config", describeSource(f.configFile), "probes", d.enabledNames())

	for {
		select {
		case err := <-serveErr:
			d.halt()
			return err
		case <-hup:
			d.reload(exporter)
		case <-ctx.Done():
			logger.Info("shutting down")
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := httpSrv.Shutdown(shutdownCtx)
			cancel()
			d.halt()
			<-serveErr
			return err
		}
	}
}

// start builds and runs a scheduler for cfg.
func (d *daemon) start(cfg *config.Config, exporter prometheus.Registerer) {
	_, jobs, err := probes(cfg, d.logger)
	if err != nil {
		d.logger.Error("cannot build probes", "err", err)
		return
	}
	sched := metriccache.NewScheduler(d.cache, jobs, metriccache.Options{
		MaxConcurrent: cfg.Scheduler.MaxConcurrent,
		Jitter:        time.Duration(cfg.Scheduler.Jitter),
		Logger:        d.logger,
		Registerer:    exporter,
		// Re-render the cached responses now, so the next scrape after a
		// probe run is a replay too.
		OnStore: func(string) { d.srv.Cache().Warm() },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sched.Run(ctx)
	}()
	d.mu.Lock()
	d.sched, d.enabled, d.stop, d.done = sched, sched.Names(), cancel, done
	d.mu.Unlock()
	d.cache.Retain(sched.Names()...)
	d.srv.Cache().SetTTL(time.Duration(cfg.Cache.TTL))
}

// halt stops the running scheduler and waits for it.
func (d *daemon) halt() {
	d.mu.Lock()
	stop, done := d.stop, d.done
	d.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// reload re-reads the config file. A bad file is logged and the running
// config kept. Listen address, TLS and pprof settings need a restart.
func (d *daemon) reload(exporter prometheus.Registerer) {
	cfg, err := loadConfig(d.flags)
	if err != nil {
		d.logger.Error("config reload failed; keeping the running config", "err", err)
		return
	}
	d.halt()
	d.start(cfg, exporter)
	d.logger.Info("config reloaded", "config", describeSource(d.flags.configFile), "probes", d.enabledNames())
}

func (d *daemon) enabledNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := append([]string(nil), d.enabled...)
	sort.Strings(n)
	return n
}

func (d *daemon) ready() bool {
	return d.cache.Ran(d.enabledNames()...)
}

func (d *daemon) refresh(ctx context.Context, names ...string) error {
	d.mu.Lock()
	sched := d.sched
	d.mu.Unlock()
	if sched == nil {
		return errors.New("no scheduler running")
	}
	return sched.Refresh(ctx, names...)
}
