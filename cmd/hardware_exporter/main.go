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
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/gcpace"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

const name = daemon.Name

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
	// options holds --probe.NAME.OPTION for every probe option tagged
	// with a flag (config.OptionFlags).
	options []*optionFlag
	web     *web.FlagConfig
	log     *promslog.Config
	// maxProcs is --runtime.gomaxprocs.
	maxProcs int
}

// probeFlag is --[no-]probe.NAME: it wins over the file's enabled when
// given.
type probeFlag struct {
	enabled bool
	set     bool
}

// optionFlag is --probe.NAME.OPTION: it wins over the file's key when
// given. Its value is checked as the file's would be when the flag is
// parsed, so a bad one fails before anything starts.
type optionFlag struct {
	flag  config.OptionFlag
	value string
	set   bool
}

func (o *optionFlag) Set(v string) error {
	if err := o.flag.Check(v); err != nil {
		return err
	}
	o.value, o.set = v, true
	return nil
}

func (o *optionFlag) String() string { return o.value }

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
	for _, of := range config.OptionFlags() {
		o := &optionFlag{flag: of}
		app.Flag(of.Flag, of.Help).PlaceHolder(of.Placeholder).SetValue(o)
		f.options = append(f.options, o)
	}
	// One P, as node_exporter's --runtime.gomaxprocs defaults to: the
	// daemon's work is a few probes a minute and a scrape every few
	// seconds, and on a second P the runtime spends more waking and
	// parking threads (and GC workers) than the parallelism saves. Measured
	// in docs/benchmarks.md; GOMAXPROCS in the environment sets it too.
	app.Flag("runtime.gomaxprocs", "The target number of CPUs Go will run on (GOMAXPROCS).").Envar("GOMAXPROCS").Default("1").IntVar(&f.maxProcs)
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
	if f.maxProcs > 0 {
		setMaxProcs(f.maxProcs)
	}

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
	// The daemon only: --once and --config.check end before a
	// collection would matter.
	if stop, ok := startGCPace(); ok {
		defer stop()
		logger.Debug("garbage collector paced by the heap's growth (GOGC off, a soft memory limit); GOGC or GOMEMLIMIT in the environment leave it to the runtime")
	}
	if err := daemon.Serve(cfg, daemon.Options{
		MetricsPath: f.telemetryPath,
		Web:         f.web,
		Source:      describeSource(f.configFile),
		Load:        func() (*config.Config, error) { return reloadConfig(f) },
		Logger:      logger,
	}); err != nil {
		logger.Error("exiting", "err", err)
		if errors.Is(err, daemon.ErrInvalidConfig) {
			return config.ExitInvalid
		}
		return 1
	}
	return 0
}

// setMaxProcs applies --runtime.gomaxprocs; the tests, which call run in
// their own process, record it instead.
var setMaxProcs = func(n int) { runtime.GOMAXPROCS(n) }

// startGCPace is gcpace.Start; the tests, which run the daemon in their own
// process, leave their collector alone.
var startGCPace = gcpace.Start

func describeSource(file string) string {
	if file == "" {
		return "built-in defaults"
	}
	return file
}

// reloadConfig is what a reload reads the config with; a test makes it
// block, as a read from a hung network mount would.
var reloadConfig = loadConfig

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
	for _, o := range f.options {
		if o.set {
			if err := cfg.SetOption(o.flag, o.value); err != nil {
				return nil, err
			}
		}
	}
	return cfg, nil
}

// writeProbeSummary prints what --config.check found: each probe's
// effective schedule, from the registry and the config, and "off" with why
// for a probe the daemon would leave off on this host (see daemon.OffReason).
func writeProbeSummary(w io.Writer, cfg *config.Config) {
	all := daemon.BuildProbes()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "probe\tenabled\tinterval\ttimeout")
	for _, name := range probe.Names() {
		r := cfg.Probe(name)
		schedule := fmt.Sprintf("%s\t%s", config.Duration(r.Interval), config.Duration(r.Timeout))
		if why := daemon.OffReason(all[name], r, probe.Env{Paths: cfg.Paths, Options: r.Options}); r.Enabled && why != nil {
			fmt.Fprintf(tw, "%s\toff\t%s\toff: %v\n", name, schedule, why)
			continue
		}
		fmt.Fprintf(tw, "%s\t%t\t%s\t\n", name, r.Enabled, schedule) // aligns the reasons' column
	}
	tw.Flush()
}

func runOnce(cfg *config.Config, stdout io.Writer, logger *slog.Logger) int {
	reg, failures, err := daemon.Once(context.Background(), cfg, logger)
	if err != nil {
		logger.Error("cannot register probes", "err", err)
		return 1
	}
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
