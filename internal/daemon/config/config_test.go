package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
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
	if got := c.Probe("memory"); got.Interval != 6*time.Hour || got.Timeout != time.Minute || !got.Enabled {
		t.Errorf("memory = %+v, want enabled every 6h with 1m timeout", got)
	}
	if c.Cache.TTL != Duration(6*time.Hour) {
		t.Errorf("cache.ttl = %s, want 6h", c.Cache.TTL)
	}
	for _, name := range probe.Names() {
		if _, ok := c.Probes.ByName[name]; !ok {
			t.Errorf("probe %s has no settings in Default", name)
		}
	}
}

var update = flag.Bool("update", false, "rewrite configs/hardware_exporter.yml and README's probe table from the registry")

// The shipped example is generated from the registry and the config's
// types, so it cannot drift from them; and it parses back to the defaults.
func TestExampleConfigIsGenerated(t *testing.T) {
	const path = "../../../configs/hardware_exporter.yml"
	want := Example(Default())
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the registry's example; run go test ./internal/daemon/config -update and read the diff", path)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("example parses to %+v, want the defaults", c)
	}
	for _, s := range probe.Specs() {
		if !bytes.Contains(b, []byte("\n  "+s.Name+":")) {
			t.Errorf("example has no section for probe %s", s.Name)
		}
	}
}

// README's probe table is generated from the registry too.
func TestReadmeProbeTable(t *testing.T) {
	const path = "../../../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- probes:begin -->\n", "<!-- probes:end -->"
	i, j := bytes.Index(b, []byte(begin)), bytes.Index(b, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q block", path, begin, end)
	}
	want := "\n" + ProbeTable(Default()) + "\n"
	if *update {
		b = append(append(append([]byte{}, b[:i+len(begin)]...), want...), b[j:]...)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		i, j = bytes.Index(b, []byte(begin)), bytes.Index(b, []byte(end))
	}
	if got := string(b[i+len(begin) : j]); got != want {
		t.Errorf("README's probe table differs from the registry; run go test ./internal/daemon/config -update and read the diff.\ngot:\n%s\nwant:\n%s", got, want)
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
	so := s.Options.(*probe.SmartOptions)
	if !so.Include.MatchString("/dev/nvme0") || so.Include.MatchString("/dev/sda") || !so.Exclude.MatchString("/dev/nvme2n2") {
		t.Errorf("smart filters include=%v exclude=%v", so.Include, so.Exclude)
	}
	if so.Command != "/usr/sbin/smartctl" || s.Timeout != 2*time.Minute || so.DeviceTimeout != Duration(30*time.Second) {
		t.Errorf("smart lost its built-in defaults: %+v %+v", s, so)
	}
	i := c.Probe("ipmi")
	if i.Explicit || !i.Enabled || i.Options.(*probe.IPMIOptions).Command != "/opt/ipmitool/bin/ipmitool" || i.Interval != 5*time.Minute {
		t.Errorf("ipmi = %+v, want enabled by default (not explicitly), the new command and the 5m default", i)
	}
	// Each Parse has its own options: the defaults are not shared.
	if Default().Probe("ipmi").Options.(*probe.IPMIOptions).Command != "/usr/bin/ipmitool" {
		t.Error("parsing a file changed the built-in default command")
	}
}

// Strict at every depth: an unknown key, a key of another probe and a
// value of the wrong type each fail, naming the dotted key and its line.
func TestErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown top-level key", "caches:\n  ttl: 1h\n", []string{"line 1: caches: unknown key"}},
		{"unknown key in a section", "cache:\n  ttl: 1h\n  ttll: 2h\n", []string{"line 3: cache.ttll: unknown key", "known here: ttl, max_entries"}},
		{"unknown key in probes.defaults", "probes:\n  defaults:\n    intervall: 1m\n", []string{"line 3: probes.defaults.intervall: unknown key"}},
		{"unknown key in a probe", "probes:\n  hwmon:\n    intervall: 1m\n", []string{"line 3: probes.hwmon.intervall: unknown key", "known here: enabled, interval, timeout"}},
		{"unknown key in a tool probe", "probes:\n  smart:\n    timout: 1m\n", []string{"line 3: probes.smart.timout: unknown key", "device_timeout"}},
		{"unknown probe", "probes:\n  hwmonn:\n    enabled: true\n", []string{"line 2: probes.hwmonn: unknown probe"}},
		{"key under the wrong probe", "probes:\n  hwmon:\n    include: sda\n", []string{"line 3: probes.hwmon.include: applies only to optics, smart"}},
		// Each owner of the key is named; a new tool probe adds itself to
		// the list, and must not break this case.
		{"command for a sysfs probe", "probes:\n  pci:\n    command: /usr/bin/lspci\n", []string{"line 3: probes.pci.command: applies only to ", "gpu", "ipmi", "sel", "smart"}},
		{"bool typo", "probes:\n  hwmon:\n    enabled: ture\n", []string{`line 3: probes.hwmon.enabled: want true or false, got "ture"`}},
		{"wrong type", "cache:\n  max_entries: lots\n", []string{`line 2: cache.max_entries: want a whole number, got "lots"`}},
		{"mapping for a scalar", "cache:\n  ttl:\n    h: 1\n", []string{"line 3: cache.ttl: want a duration"}},
		{"scalar for a section", "paths: /proc\n", []string{"line 1: paths: want a mapping"}},
		{"list for a probe", "probes:\n  cpu: [a]\n", []string{"line 2: probes.cpu: want a mapping"}},
		{"missing value", "cache:\n  ttl:\n", []string{"line 2: cache.ttl: needs a value"}},
		{"key given twice", "cache:\n  ttl: 1h\n  ttl: 2h\n", []string{"line 3: cache.ttl: given twice (first on line 2)"}},
		{"bad duration", "scheduler:\n  jitter: 10 seconds\n", []string{"line 2: scheduler.jitter", `invalid duration "10 seconds"`}},
		{"negative duration", "probes:\n  defaults:\n    interval: -1h\n", []string{"line 3: probes.defaults.interval", "must not be negative"}},
		{"zero ttl", "cache:\n  ttl: 0s\n", []string{"line 2: cache.ttl: must be positive"}},
		{"negative max_entries", "cache:\n  max_entries: -5\n", []string{"line 2: cache.max_entries: must be at least 1"}},
		{"zero concurrency", "\nscheduler:\n  max_concurrent: 0\n", []string{"line 3: scheduler.max_concurrent"}},
		{"zero probe interval", "probes:\n  cpu:\n    interval: 0s\n", []string{"line 3: probes.cpu.interval: must be positive"}},
		{"relative command", "probes:\n  smart:\n    command: smartctl\n", []string{"line 3: probes.smart.command", "absolute path"}},
		{"bad regexp", "probes:\n  smart:\n    exclude: \"(sd\"\n", []string{"line 3: probes.smart.exclude", "invalid regular expression"}},
		{"bad hwmon filter", "probes:\n  hwmon:\n    interval: 1m\n    sensor_exclude: \"temp[\"\n", []string{"line 4: probes.hwmon.sensor_exclude", "invalid regular expression"}},
		{"filter of another probe", "probes:\n  network:\n    chip_include: x\n", []string{"line 3: probes.network.chip_include: applies only to hwmon"}},
		{"relative directory", "probes:\n  textfile:\n    directory: prom\n", []string{"line 3: probes.textfile.directory", "absolute path"}},
		{"zero device timeout", "probes:\n  smart:\n    device_timeout: 0s\n", []string{"line 3: probes.smart.device_timeout: must be positive"}},
		{"empty path", "paths:\n  sysfs: \"\"\n", []string{"line 2: paths.sysfs: must not be empty"}},
		{"two documents", "cache:\n  ttl: 1h\n---\ncache:\n  ttl: 2h\n", []string{"line 3", "one YAML document"}},
		{"not YAML", "cache: [unclosed\n", []string{"invalid YAML"}},
		{"README's example", "probes:\n  hwmon:\n    intervall: 1m\n    enabled: ture\n", []string{
			"line 3: probes.hwmon.intervall: unknown key (known here: enabled, interval, timeout, allow_fast, refresh_spacing, chip_include, chip_exclude, sensor_include, sensor_exclude)",
			`line 4: probes.hwmon.enabled: want true or false, got "ture"`}},
		{"every error at once", "cache:\n  ttll: 1h\npprof:\n  enabled: yess\n", []string{"line 2: cache.ttll", "line 4: pprof.enabled"}},
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

// Any document either fails with an error or gives a config that renders
// (Example) and parses back to itself; nothing panics.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../../configs/hardware_exporter.yml"); err == nil {
		f.Add(b)
	}
	for _, doc := range []string{
		"", "probes:\n  hwmon:\n    intervall: 1m\n", "cache: [1, 2]\n", "probes:\n  smart:\n    include: \"(\"\n",
		"probes:\n  smart:\n    enabled: true\n    exclude: \"n2$\"\n    device_timeout: 1d\n", "a: &x 1\nb: *x\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			return
		}
		back, err := Parse(Example(c))
		if err != nil {
			t.Fatalf("rendered config does not parse: %v\n%s", err, Example(c))
		}
		if !reflect.DeepEqual(c, back) {
			t.Fatalf("round trip changed the config:\n%s", Example(c))
		}
	})
}

// An empty state path is valid: it turns state files off.
func TestStatePath(t *testing.T) {
	if got := Default().State.Path; got != DefaultStatePath {
		t.Errorf("default state.path = %q, want %q", got, DefaultStatePath)
	}
	for doc, want := range map[string]string{
		"state:\n  path: \"\"\n":       "",
		"state:\n  path: /srv/state\n": "/srv/state",
	} {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c.State.Path != want {
			t.Errorf("%q: state.path = %q, want %q", doc, c.State.Path, want)
		}
	}
	if _, err := Parse([]byte("state:\n  file: x\n")); err == nil {
		t.Error("unknown key state.file accepted")
	}
}

// A config path that is a FIFO, a directory or a huge file is an error at
// once, naming the path: a reload must not hang on a FIFO without a writer
// or read a 200 MiB file (or /dev/zero) into memory.
func TestLoadRefusesWhatIsNotASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := dir + "/fifo.yml"
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := dir + "/huge.yml"
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(200 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		path string
		want error
	}{{fifo, hostfs.ErrNotRegular}, {dir, hostfs.ErrNotRegular}, {huge, hostfs.ErrTooLarge}} {
		done := make(chan error, 1)
		go func() {
			_, err := Load(tc.path)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("Load(%s) = %v; want %v naming the path", tc.path, err, tc.want)
			}
		case <-time.After(5 * time.Second):
			// The goroutine stays blocked on the FIFO until the test binary
			// exits; opening it for writing here would let it go on.
			t.Errorf("Load(%s) still blocked after 5s", tc.path)
			if w, err := os.OpenFile(tc.path, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
	}
}

// An interval of "1ms" (one character from "1m") ran ipmitool hundreds of
// times a second. Intervals and timeouts below their probe kind's floor
// (seconds for probes that read files, a minute for tool probes) are
// refused, naming the key and line, unless the probe's section says
// allow_fast: true.
func TestIntervalAndTimeoutFloors(t *testing.T) {
	readI, readT := probe.KindRead.Floor()
	toolI, toolT := probe.KindTool.Floor()
	if readI < time.Second || toolI < time.Minute || readT <= 0 || toolT <= 0 {
		t.Fatalf("floors: read %v/%v, tool %v/%v", readI, readT, toolI, toolT)
	}
	if s, _ := probe.Lookup("sel"); s.Kind != probe.KindTool {
		t.Error("sel is not a tool probe")
	}
	if s, _ := probe.Lookup("hwmon"); s.Kind != probe.KindRead {
		t.Error("hwmon is not a read probe")
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"tool interval", "probes:\n  sel:\n    interval: 1ms\n", "line 3: probes.sel.interval: 1ms is below 1m"},
		{"tool interval of seconds", "probes:\n  ipmi:\n    interval: 30s\n", "line 3: probes.ipmi.interval: 30s is below 1m"},
		{"read interval", "probes:\n  hwmon:\n    interval: 10ms\n", "line 3: probes.hwmon.interval: 10ms is below " + Duration(readI).String()},
		{"read timeout", "probes:\n  hwmon:\n    timeout: 1ms\n", "line 3: probes.hwmon.timeout: 1ms is below " + Duration(readT).String()},
		{"tool timeout", "\nprobes:\n  smart:\n    timeout: 1ms\n", "line 4: probes.smart.timeout: 1ms is below " + Duration(toolT).String()},
		{"inherited", "probes:\n  defaults:\n    interval: 1ms\n", "line 3: probes.defaults.interval: 1ms is below " + Duration(readI).String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "allow_fast") {
				t.Errorf("Parse(%q) = %v, want %q and how to allow it", tc.doc, err, tc.want)
			}
		})
	}
	c, err := Parse([]byte("probes:\n  sel:\n    interval: 1s\n    timeout: 100ms\n    allow_fast: true\n  hwmon:\n    interval: 10ms\n    allow_fast: true\n"))
	if err != nil {
		t.Fatalf("allow_fast: %v", err)
	}
	if r := c.Probe("sel"); r.Interval != time.Second || r.Timeout != 100*time.Millisecond || !r.AllowFast {
		t.Errorf("sel = %+v", r)
	}
	// The floors sit below every built-in default.
	if _, err := Parse(Example(Default())); err != nil {
		t.Errorf("the example config: %v", err)
	}
}

// A probe's refresh spacing is its own, else probes.defaults', else a
// tenth of its interval and at least MinRefreshSpacing.
func TestRefreshSpacing(t *testing.T) {
	c, err := Parse([]byte("probes:\n  hwmon:\n    interval: 10s\n  smart:\n    refresh_spacing: 1m\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]time.Duration{"memory": 36 * time.Minute, "hwmon": MinRefreshSpacing, "smart": time.Minute} {
		if got := c.Probe(name).RefreshSpacing; got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	c, err = Parse([]byte("probes:\n  defaults:\n    refresh_spacing: 2s\n  smart:\n    refresh_spacing: 1m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Probe("cpu").RefreshSpacing; got != 2*time.Second {
		t.Errorf("cpu with defaults.refresh_spacing 2s: %v", got)
	}
	if got := c.Probe("smart").RefreshSpacing; got != time.Minute {
		t.Errorf("smart with its own 1m: %v", got)
	}
	if _, err := Parse([]byte("probes:\n  sel:\n    refresh_spacing: 0s\n")); err == nil || !strings.Contains(err.Error(), "probes.sel.refresh_spacing") {
		t.Errorf("refresh_spacing 0s: %v, want an error naming the key", err)
	}
}
