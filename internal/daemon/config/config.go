// Package config loads hardware_exporter's YAML configuration.
//
// The daemon runs with no file at all: Default holds every built-in value,
// and configs/hardware_exporter.yml, generated from the same declarations
// (Example), spells them out. A file only needs the keys it changes. Every
// probe's section comes from the probe registry (probe.Spec): its interval,
// timeout and typed options. Unknown keys at any depth, a key of another
// probe and a value of the wrong type are errors that name the dotted key
// and its line, so a typo is never silently ignored.
package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/defaults"
	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// Duration is the config's duration type (confval.Duration).
type Duration = confval.Duration

// Config is the whole configuration. Field tags give each key (yaml), the
// comment the example config shows for it (help), and the rule its value
// must meet beyond its type (check: "positive" or "nonempty").
type Config struct {
	Paths     probe.Paths `yaml:"paths" help:"Roots below which probes read. Point them at the host's when running in a container (e.g. /host/proc). Command-line flags --path.* win over these."`
	Cache     Cache       `yaml:"cache" help:"The response cache replays the encoded /metrics body per format and encoding until a probe refresh changes the data or the TTL lapses."`
	Scheduler Scheduler   `yaml:"scheduler"`
	Pprof     Pprof       `yaml:"pprof" help:"Go's profiler at /debug/pprof/. Remote peers get 403 unless allow_remote."`
	State     State       `yaml:"state" help:"Each probe's last result is written below path after every run and restored at start when it belongs to this host, was read with the probe's current settings, is not dated in the future and is younger than twice the probe's interval, so a restart serves the last good data at once. Command-line flag --state.path wins over this."`
	Probes    Probes      `yaml:"probes"`
}

// Cache configures the response cache.
type Cache struct {
	// TTL bounds how long an encoded response is replayed even if no probe
	// has refreshed the data.
	TTL        Duration `yaml:"ttl" check:"positive"`
	MaxEntries int      `yaml:"max_entries" check:"positive" help:"Distinct cached responses kept (least recently used evicted first). A Prometheus server uses one; curl, browsers and name[] filters a few more."`
}

// Scheduler configures how probes are run.
type Scheduler struct {
	MaxConcurrent int      `yaml:"max_concurrent" check:"positive" help:"Probes running at once."`
	Jitter        Duration `yaml:"jitter" help:"Probes run on a grid: each host picks, at start, a random place in every interval, and probes of one interval run together there (one render serves the batch). Each tick is delayed by up to this much more, so hosts restarted together still drift apart."`
}

// Pprof configures /debug/pprof/.
type Pprof struct {
	Enabled     bool `yaml:"enabled"`
	AllowRemote bool `yaml:"allow_remote"`
}

// State configures the state files that carry probe results across
// restarts.
type State struct {
	// Path is a plain string, not a confval.Path: empty is valid and
	// turns state files off.
	Path string `yaml:"path" help:"Directory of the state files (one per probe); empty turns them off. The systemd unit's StateDirectory creates the default."`
}

// Probes holds per-probe settings. Defaults applies to every probe that
// does not set a value itself.
type Probes struct {
	Defaults ProbeDefaults
	// ByName has an entry for every registered probe, holding its
	// built-in defaults until a file overrides them.
	ByName map[string]*Probe
}

// ProbeDefaults are the values a probe inherits.
type ProbeDefaults struct {
	Interval Duration `yaml:"interval" check:"positive"`
	Timeout  Duration `yaml:"timeout" check:"positive"`
	// RefreshSpacing has no built-in value: unset, each probe gets a
	// tenth of its own interval (Resolved.RefreshSpacing).
	RefreshSpacing Duration `yaml:"refresh_spacing" check:"positive" help:"POST /-/refresh runs a probe again only when its last run began at least this long ago; a refresh sooner is answered from the run in flight or the last run, and says so. Unset: a tenth of the probe's interval, at least 5s. Also settable per probe."`
}

// Probe is one probe's settings: the keys every probe has, and its own
// options. Zero Interval and Timeout inherit from the defaults.
type Probe struct {
	Enabled  *bool    `yaml:"enabled"`
	Interval Duration `yaml:"interval" check:"positive"`
	Timeout  Duration `yaml:"timeout" check:"positive"`
	// AllowFast lifts the floor of the probe's kind (probe.Kind.Floor) on
	// its interval and timeout: for tests and benchmarks, never needed on
	// a host.
	AllowFast bool `yaml:"allow_fast"`
	// RefreshSpacing zero inherits probes.defaults, or a tenth of the
	// interval.
	RefreshSpacing Duration `yaml:"refresh_spacing" check:"positive"`
	// Options points to the probe's options struct (probe.Spec.Options),
	// nil for a probe without options.
	Options any
}

// Resolved is a probe's effective settings.
type Resolved struct {
	Enabled bool
	// Explicit is set when the config itself says enabled: true. A
	// probe whose source is missing (a tool not installed) is left off
	// quietly unless it was enabled explicitly.
	Explicit bool
	Interval time.Duration
	Timeout  time.Duration
	// AllowFast: the interval and timeout may be below the kind's floor.
	AllowFast bool
	// RefreshSpacing is the least time between the start of a run and a
	// run POST /-/refresh causes.
	RefreshSpacing time.Duration
	Options        any
}

// MinRefreshSpacing is the least default refresh spacing: a probe of a
// 10s interval is still not run by refreshes more than every 5s.
const MinRefreshSpacing = 5 * time.Second

// Probe returns the effective settings of the named probe.
func (c *Config) Probe(name string) Resolved {
	p := c.Probes.ByName[name]
	if p == nil {
		p = &Probe{}
	}
	r := Resolved{
		Enabled:   p.Enabled == nil || *p.Enabled,
		Explicit:  p.Enabled != nil && *p.Enabled,
		Interval:  time.Duration(p.Interval),
		Timeout:   time.Duration(p.Timeout),
		AllowFast: p.AllowFast,
		Options:   p.Options,
	}
	if r.Interval == 0 {
		r.Interval = time.Duration(c.Probes.Defaults.Interval)
	}
	if r.Timeout == 0 {
		r.Timeout = time.Duration(c.Probes.Defaults.Timeout)
	}
	// /-/refresh needs no credentials; without a spacing any local user
	// could run a probe's tool (ipmitool) as fast as they can ask.
	switch {
	case p.RefreshSpacing != 0:
		r.RefreshSpacing = time.Duration(p.RefreshSpacing)
	case c.Probes.Defaults.RefreshSpacing != 0:
		r.RefreshSpacing = time.Duration(c.Probes.Defaults.RefreshSpacing)
	default:
		r.RefreshSpacing = max(r.Interval/10, MinRefreshSpacing)
	}
	return r
}

// DefaultStatePath is below the directory the systemd unit's
// StateDirectory= creates and makes writable.
const DefaultStatePath = "/var/lib/hardware_exporter/state"

// Default returns the built-in configuration: the values below, and each
// registered probe's own defaults.
func Default() *Config {
	c := &Config{
		Paths:     probe.Paths{ProcFS: "/proc", SysFS: "/sys", RootFS: "/"},
		Cache:     Cache{TTL: Duration(defaults.CacheTTL), MaxEntries: defaults.CacheEntries},
		Scheduler: Scheduler{MaxConcurrent: defaults.MaxConcurrent, Jitter: Duration(defaults.Jitter)},
		Pprof:     Pprof{Enabled: true, AllowRemote: false},
		State:     State{Path: DefaultStatePath},
		Probes: Probes{
			Defaults: ProbeDefaults{Interval: Duration(defaults.ProbeInterval), Timeout: Duration(defaults.ProbeTimeout)},
			ByName:   map[string]*Probe{},
		},
	}
	for _, s := range probe.Specs() {
		c.Probes.ByName[s.Name] = &Probe{
			Interval: Duration(s.Interval),
			Timeout:  Duration(s.Timeout),
			Options:  s.DefaultOptions(),
		}
	}
	return c
}

// ExitInvalid is the daemon's exit status when its configuration (the
// file, or the web config of --web.config.file) is invalid at start: 78,
// EX_CONFIG of sysexits.h. The systemd unit names it in
// RestartPreventExitStatus=, so that systemd does not restart, every few
// seconds and forever, a daemon that can only fail the same way, and
// `systemctl start` fails visibly instead. --config.check keeps 0 and 1.
const ExitInvalid = 78

// MaxFileSize bounds the config file. The shipped example, every key
// spelled out with its comment, is under 20 KiB.
const MaxFileSize = 1 << 20

// Load reads and validates the file at path. On error the caller keeps
// whatever config it had. The file is read as host files are
// (hostfs.ReadNamedFile): a reload must not hang on a FIFO put at path, nor
// swallow /dev/zero or a file of gigabytes.
func Load(path string) (*Config, error) {
	b, err := hostfs.ReadNamedFile(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse parses and validates a YAML document on top of Default.
func Parse(b []byte) (*Config, error) {
	c := Default()
	if err := decode(b, reflect.ValueOf(c).Elem()); err != nil {
		return nil, err
	}
	if err := c.checkFloors(b); err != nil {
		return nil, err
	}
	return c, nil
}

// checkFloors refuses an effective interval or timeout below the floor of
// its probe's kind (probe.Kind.Floor) unless the probe's section says
// allow_fast: true. The error names the key that set the value, the
// probe's own or probes.defaults', and its line in document b.
func (c *Config) checkFloors(b []byte) error {
	var doc yaml.Node
	_ = yaml.Unmarshal(b, &doc) // decode has already parsed it
	type below struct {
		value, floor time.Duration
		kind         probe.Kind
		probes       []string
	}
	found := map[string]*below{}
	var keys []string
	for _, s := range probe.Specs() {
		r := c.Probe(s.Name)
		if r.AllowFast {
			continue
		}
		own := c.Probes.ByName[s.Name]
		minInterval, minTimeout := s.Kind.Floor()
		for _, v := range []struct {
			name         string
			value, floor time.Duration
			inherited    bool
		}{
			{"interval", r.Interval, minInterval, own == nil || own.Interval == 0},
			{"timeout", r.Timeout, minTimeout, own == nil || own.Timeout == 0},
		} {
			if v.value >= v.floor {
				continue
			}
			key := "probes." + s.Name + "." + v.name
			if v.inherited {
				key = "probes.defaults." + v.name
			}
			if found[key] == nil {
				found[key] = &below{value: v.value, floor: v.floor, kind: s.Kind}
				keys = append(keys, key)
			}
			found[key].probes = append(found[key].probes, s.Name)
		}
	}
	var e errs
	for _, key := range keys {
		f := found[key]
		e.add(lineOf(&doc, strings.Split(key, ".")...), key,
			"%s is below %s, the shortest a probe that %s accepts (%s); write allow_fast: true in %s section to allow it",
			Duration(f.value), Duration(f.floor), f.kind, strings.Join(f.probes, ", "), map[bool]string{true: "its", false: "their"}[len(f.probes) == 1])
	}
	return e.err()
}

// lineOf returns the line of the value at the dotted path in doc, or 0.
func lineOf(doc *yaml.Node, path ...string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range path {
		if n.Kind != yaml.MappingNode {
			return 0
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return n.Line
}

// errs collects every problem of a document, so one --config.check shows
// them all.
type errs []error

func (e *errs) add(line int, key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch {
	case line > 0 && key != "":
		*e = append(*e, fmt.Errorf("line %d: %s: %s", line, key, msg))
	case line > 0:
		*e = append(*e, fmt.Errorf("line %d: %s", line, msg))
	default:
		*e = append(*e, fmt.Errorf("%s: %s", key, msg))
	}
}

func (e errs) err() error { return errors.Join(e...) }
