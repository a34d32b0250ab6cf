package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestEmptyFileGivesDefaults(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "---\n"} {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("Parse(%q): %v", doc, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want defaults", doc, c)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if got := c.Probe("hwmon"); got.Interval != time.Minute || !got.Enabled {
		t.Errorf("hwmon = %+v, want enabled every 1m", got)
	}
	if got := c.Probe("cpu"); got.Interval != 6*time.Hour || got.Timeout != time.Minute || !got.Enabled {
		t.Errorf("cpu = %+v, want enabled every 6h with 1m timeout", got)
	}
	if c.Cache.TTL != Duration(6*time.Hour) {
		t.Errorf("cache.ttl = %s, want 6h", c.Cache.TTL)
	}
	if err := c.validate(nil); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

// The shipped example must say exactly the built-in defaults and mention
// every key they have, so a reader of the file sees the whole config.
func TestExampleConfigMatchesDefaults(t *testing.T) {
	b, err := os.ReadFile("../../configs/hardware_exporter.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	d := Default()
	if c.Paths != d.Paths || c.Cache != d.Cache || c.Scheduler != d.Scheduler || c.Pprof != d.Pprof || c.Probes.Defaults != d.Probes.Defaults {
		t.Errorf("example differs from defaults:\n got %+v\nwant %+v", c, d)
	}
	for _, name := range ProbeNames {
		if !sameResolved(c.Probe(name), d.Probe(name)) {
			t.Errorf("probe %s: example %+v, defaults %+v", name, c.Probe(name), d.Probe(name))
		}
	}
	var doc, def yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	db, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(db, &def); err != nil {
		t.Fatal(err)
	}
	inFile := keyLines(doc.Content[0])
	for key := range keyLines(def.Content[0]) {
		if _, ok := inFile[key]; !ok {
			t.Errorf("example config does not show key %s", key)
		}
	}
}

func TestOverridesMergeWithDefaults(t *testing.T) {
	c, err := Parse([]byte(`
cache:
  ttl: 1h
probes:
  defaults:
    interval: 2h
  hwmon:
    timeout: 5s
  cpu:
    enabled: false
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cache.TTL != Duration(time.Hour) || c.Cache.MaxEntries != 32 {
		t.Errorf("cache = %+v, want ttl 1h and default max_entries 32", c.Cache)
	}
	if got := c.Probe("hwmon"); got.Interval != time.Minute || got.Timeout != 5*time.Second {
		t.Errorf("hwmon = %+v, want its built-in 1m interval kept and timeout 5s", got)
	}
	if got := c.Probe("system"); got.Interval != 2*time.Hour {
		t.Errorf("system interval = %s, want the new default 2h", got.Interval)
	}
	if c.Probe("cpu").Enabled {
		t.Error("cpu still enabled")
	}
}

func TestToolProbeSettings(t *testing.T) {
	c, err := Parse([]byte(`
probes:
  smart:
    enabled: true
    include: "^/dev/nvme"
    exclude: "n2$"
  ipmi:
    command: /opt/ipmitool/bin/ipmitool
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Probe("smart")
	if !s.Enabled || !s.Explicit {
		t.Errorf("smart = %+v, want explicitly enabled", s)
	}
	if !s.Include.MatchString("/dev/nvme0") || s.Include.MatchString("/dev/sda") || !s.Exclude.MatchString("/dev/nvme2n2") {
		t.Errorf("smart filters include=%v exclude=%v", s.Include, s.Exclude)
	}
	if s.Command != "/usr/sbin/smartctl" || s.Timeout != 2*time.Minute || s.DeviceTimeout != 30*time.Second {
		t.Errorf("smart lost its built-in defaults: %+v", s)
	}
	if i := c.Probe("ipmi"); i.Explicit || !i.Enabled || i.Command != "/opt/ipmitool/bin/ipmitool" || i.Interval != 5*time.Minute {
		t.Errorf("ipmi = %+v, want enabled by default (not explicitly), the new command and the 5m default", i)
	}
	if g := c.Probe("gpu"); g.Include != nil || g.Exclude != nil {
		t.Errorf("gpu has device filters: %+v", g)
	}
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", "cache:\n  ttl: 1h\n  ttll: 2h\n", []string{"line 3", `unknown key "ttll"`}},
		{"unknown top-level key", "caches:\n  ttl: 1h\n", []string{"line 1", `unknown key "caches"`}},
		{"unknown probe", "probes:\n  hwmonn:\n    enabled: true\n", []string{"line 2", `unknown probe "hwmonn"`}},
		{"bad duration", "scheduler:\n  jitter: 10 seconds\n", []string{"line 2", `invalid duration "10 seconds"`}},
		{"negative duration", "probes:\n  defaults:\n    interval: -1h\n", []string{"line 3", "must not be negative"}},
		{"zero ttl", "cache:\n  ttl: 0s\n", []string{"line 2", "cache.ttl", "must be positive"}},
		{"negative max_entries", "cache:\n  max_entries: -5\n", []string{"line 2", "cache.max_entries", "at least 1"}},
		{"zero concurrency", "\nscheduler:\n  max_concurrent: 0\n", []string{"line 3", "scheduler.max_concurrent"}},
		{"zero probe interval", "probes:\n  cpu:\n    interval: 0s\n", []string{"line 3", "probes.cpu.interval", "must be positive"}},
		{"relative command", "probes:\n  smart:\n    command: smartctl\n", []string{"line 3", "probes.smart.command", "absolute path"}},
		{"key under the wrong probe", "probes:\n  hwmon:\n    include: sda\n", []string{"line 3", "probes.hwmon.include", "applies only to smart"}},
		{"command for a sysfs probe", "probes:\n  pci:\n    command: /usr/bin/lspci\n", []string{"line 3", "probes.pci.command", "applies only to smart, ipmi, gpu"}},
		{"bad regexp", "probes:\n  smart:\n    exclude: \"(sd\"\n", []string{"line 3", "probes.smart.exclude", "invalid regular expression"}},
		{"relative directory", "probes:\n  textfile:\n    directory: prom\n", []string{"line 3", "probes.textfile.directory", "absolute path"}},
		{"zero device timeout", "probes:\n  smart:\n    device_timeout: 0s\n", []string{"line 3", "probes.smart.device_timeout", "must be positive"}},
		{"wrong type", "cache:\n  max_entries: lots\n", []string{"line 2", "lots"}},
		{"empty path", "paths:\n  sysfs: \"\"\n", []string{"line 2", "paths.sysfs", "must not be empty"}},
		{"not YAML", "cache: [unclosed\n", []string{"invalid YAML"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.doc)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := t.TempDir() + "/bad.yml"
	if err := os.WriteFile(path, []byte("cache:\n  ttl: soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Load error = %v, want the path and line 2", err)
	}
	if _, err := Load(t.TempDir() + "/missing.yml"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for _, s := range []string{"30s", "1m", "6h", "1d", "1h30m"} {
		d, err := parseDuration(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got := formatDuration(d); got != s {
			t.Errorf("format(parse(%q)) = %q", s, got)
		}
	}
}

// sameResolved compares settings, regular expressions by their source.
func sameResolved(a, b Resolved) bool {
	src := func(re *regexp.Regexp) string {
		if re == nil {
			return ""
		}
		return re.String()
	}
	if src(a.Include) != src(b.Include) || src(a.Exclude) != src(b.Exclude) {
		return false
	}
	a.Include, a.Exclude, b.Include, b.Exclude = nil, nil, nil, nil
	return a == b
}
