// Package config loads hardware_exporter's YAML configuration.
//
// The daemon runs with no file at all: Default holds every built-in value,
// and configs/hardware_exporter.yml spells the same values out. A file only
// needs the keys it changes. Unknown keys are errors, and every error names
// the key and the line, so a typo is never silently ignored.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ProbeNames are the probes a config may name, in the order the docs list
// them. A name here that this build has no probe for is accepted and
// ignored with a warning, so one config can serve a mixed fleet of versions.
var ProbeNames = []string{
	"system", "cpu", "memory", "hwmon", "thermal", "storage", "smart",
	"network", "power", "pci", "mdraid", "ipmi", "gpu", "textfile",
}

// Config is the whole configuration.
type Config struct {
	Paths     Paths     `yaml:"paths"`
	Cache     Cache     `yaml:"cache"`
	Scheduler Scheduler `yaml:"scheduler"`
	Pprof     Pprof     `yaml:"pprof"`
	Probes    Probes    `yaml:"probes"`
}

// Paths are the roots below which probes read.
type Paths struct {
	ProcFS string `yaml:"procfs"`
	SysFS  string `yaml:"sysfs"`
	RootFS string `yaml:"rootfs"`
}

// Cache configures the response cache.
type Cache struct {
	// TTL bounds how long an encoded response is replayed even if no probe
	// has refreshed the data.
	TTL        Duration `yaml:"ttl"`
	MaxEntries int      `yaml:"max_entries"`
}

// Scheduler configures how probes are run.
type Scheduler struct {
	MaxConcurrent int      `yaml:"max_concurrent"`
	Jitter        Duration `yaml:"jitter"`
}

// Pprof configures /debug/pprof/.
type Pprof struct {
	Enabled     bool `yaml:"enabled"`
	AllowRemote bool `yaml:"allow_remote"`
}

// Probes holds per-probe settings. Defaults applies to every probe that
// does not set a value itself.
type Probes struct {
	Defaults ProbeDefaults
	ByName   map[string]Probe
}

// ProbeDefaults are the values a probe inherits.
type ProbeDefaults struct {
	Interval Duration `yaml:"interval"`
	Timeout  Duration `yaml:"timeout"`
}

// Probe is one probe's settings. Zero values inherit from the defaults.
type Probe struct {
	Enabled  *bool    `yaml:"enabled,omitempty"`
	Interval Duration `yaml:"interval,omitempty"`
	Timeout  Duration `yaml:"timeout,omitempty"`
	// Command is the absolute path of the tool a tool probe runs
	// (smartctl, ipmitool, nvidia-smi).
	Command string `yaml:"command,omitempty"`
	// Include and Exclude are regular expressions on device paths
	// ("/dev/sda", "/dev/nvme0"): the smart probe reads a device if
	// Include is empty or matches and Exclude is empty or does not.
	Include string `yaml:"include,omitempty"`
	Exclude string `yaml:"exclude,omitempty"`
	// DeviceTimeout bounds one device's smartctl run.
	DeviceTimeout Duration `yaml:"device_timeout,omitempty"`
	// Directory is where the textfile probe reads *.prom files.
	Directory string `yaml:"directory,omitempty"`
}

// optionKeys says which probes accept the keys beyond enabled, interval and
// timeout; validate rejects them elsewhere, so a key put under the wrong
// probe is not silently ignored.
var optionKeys = map[string][]string{
	"command":        {"smart", "ipmi", "gpu"},
	"include":        {"smart"},
	"exclude":        {"smart"},
	"device_timeout": {"smart"},
	"directory":      {"textfile"},
}

// Resolved is a probe's effective settings.
type Resolved struct {
	Enabled bool
	// Explicit is set when the config file itself says enabled: true. A
	// probe whose source is missing (a tool not installed) is left off
	// quietly unless it was enabled explicitly.
	Explicit         bool
	Interval         time.Duration
	Timeout          time.Duration
	Command          string
	Include, Exclude *regexp.Regexp // nil: no filter
	DeviceTimeout    time.Duration
	Directory        string
}

// Probe returns the effective settings of the named probe.
func (c *Config) Probe(name string) Resolved {
	p := c.Probes.ByName[name]
	r := Resolved{
		Enabled:       p.Enabled == nil || *p.Enabled,
		Explicit:      p.Enabled != nil && *p.Enabled,
		Interval:      time.Duration(p.Interval),
		Timeout:       time.Duration(p.Timeout),
		Command:       p.Command,
		DeviceTimeout: time.Duration(p.DeviceTimeout),
		Directory:     p.Directory,
	}
	// Validated when the config was parsed, so these compile.
	if p.Include != "" {
		r.Include = regexp.MustCompile(p.Include)
	}
	if p.Exclude != "" {
		r.Exclude = regexp.MustCompile(p.Exclude)
	}
	if r.Interval == 0 {
		r.Interval = time.Duration(c.Probes.Defaults.Interval)
	}
	if r.Timeout == 0 {
		r.Timeout = time.Duration(c.Probes.Defaults.Timeout)
	}
	return r
}

// Default returns the built-in configuration. configs/hardware_exporter.yml
// must say the same (a test checks it).
func Default() *Config {
	return &Config{
		Paths:     Paths{ProcFS: "/proc", SysFS: "/sys", RootFS: "/"},
		Cache:     Cache{TTL: Duration(6 * time.Hour), MaxEntries: 32},
		Scheduler: Scheduler{MaxConcurrent: 4, Jitter: Duration(10 * time.Second)},
		Pprof:     Pprof{Enabled: true, AllowRemote: false},
		Probes: Probes{
			Defaults: ProbeDefaults{Interval: Duration(6 * time.Hour), Timeout: Duration(time.Minute)},
			ByName: map[string]Probe{
				// Sensors and link or array state move; inventory does not.
				"hwmon":   {Interval: Duration(time.Minute), Timeout: Duration(30 * time.Second)},
				"thermal": {Interval: Duration(time.Minute), Timeout: Duration(30 * time.Second)},
				"network": {Interval: Duration(time.Minute), Timeout: Duration(30 * time.Second)},
				"power":   {Interval: Duration(time.Minute), Timeout: Duration(30 * time.Second)},
				"mdraid":  {Interval: Duration(time.Minute), Timeout: Duration(30 * time.Second)},
				// smartctl takes ~1.6s a disk; a hung one is killed after
				// device_timeout and the other disks still reported.
				"smart": {Timeout: Duration(2 * time.Minute), Command: "/usr/sbin/smartctl",
					DeviceTimeout: Duration(30 * time.Second)},
				// A BMC answers in 10-50s: read it every 5m, not every minute.
				"ipmi": {Interval: Duration(5 * time.Minute), Timeout: Duration(2 * time.Minute),
					Command: "/usr/bin/ipmitool"},
				"gpu": {Interval: Duration(time.Minute), Timeout: Duration(30 * time.Second),
					Command: "/usr/bin/nvidia-smi"},
				"textfile": {Interval: Duration(time.Minute), Timeout: Duration(30 * time.Second),
					Directory: "/var/lib/hardware_exporter/textfile"},
			},
		},
	}
}

// Load reads and validates the file at path. On error the caller keeps
// whatever config it had.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
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
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, cleanYAMLError(err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" { // empty document: all defaults
		return c, nil
	}
	if err := decodeStrict(doc.Content[0], c); err != nil {
		return nil, cleanYAMLError(err)
	}
	if err := c.validate(keyLines(doc.Content[0])); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeStrict decodes n into v rejecting unknown keys. yaml.v3 only
// checks known fields through a Decoder, so n is re-encoded for one.
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// cleanYAMLError makes yaml.v3's messages read like the rest: "line 3:
// field ttll not found in type config.Cache" becomes "line 3: unknown key
// \"ttll\"".
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		if msg, ok := strings.CutPrefix(err.Error(), "yaml: "); ok { // a syntax error
			return fmt.Errorf("invalid YAML: %s", msg)
		}
		return err // ours, from an UnmarshalYAML: already names the line
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if before, after, ok := strings.Cut(m, ": field "); ok {
			if key, _, ok := strings.Cut(after, " not found"); ok {
				m = fmt.Sprintf("%s: unknown key %q", before, key)
			}
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}

// UnmarshalYAML reads the probes mapping: "defaults" plus one entry per
// probe name. Names outside ProbeNames are errors.
func (p *Probes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: probes must be a mapping of probe names", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "defaults" {
			if err := v.Decode(&p.Defaults); err != nil {
				return err
			}
			continue
		}
		if !slices.Contains(ProbeNames, k.Value) {
			return fmt.Errorf("line %d: unknown probe %q (known: %s)", k.Line, k.Value, strings.Join(ProbeNames, ", "))
		}
		if p.ByName == nil {
			p.ByName = map[string]Probe{}
		}
		cur := p.ByName[k.Value] // keep built-in per-probe defaults the file does not override
		if err := v.Decode(&cur); err != nil {
			return err
		}
		p.ByName[k.Value] = cur
	}
	return nil
}

// MarshalYAML writes probes back in the same shape, for --config.check's
// output and the round-trip test.
func (p Probes) MarshalYAML() (any, error) {
	m := map[string]any{"defaults": p.Defaults}
	for k, v := range p.ByName {
		m[k] = v
	}
	return m, nil
}

// Duration is a time.Duration written the Prometheus way in YAML ("30s",
// "6h", "1d").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q: %v", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return formatDuration(time.Duration(d)), nil }

func (d Duration) String() string { return formatDuration(time.Duration(d)) }
