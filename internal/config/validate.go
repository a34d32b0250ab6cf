package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// parseDuration accepts Prometheus durations ("90s", "6h", "1d", "1h30m")
// and says plainly when a value is negative, which model.ParseDuration
// only reports as "not a valid duration string".
func parseDuration(s string) (time.Duration, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		return 0, errors.New("must not be negative")
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`want a number and a unit, like "30s", "5m" or "6h"`)
	}
	return time.Duration(d), nil
}

func formatDuration(d time.Duration) string { return model.Duration(d).String() }

// keyLines maps every dotted key path in the document ("cache.ttl",
// "probes.hwmon.interval") to the line of its value, so that validation
// errors can point at the line to fix.
func keyLines(n *yaml.Node) map[string]int {
	lines := map[string]int{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			lines[key] = n.Content[i+1].Line
			walk(key, n.Content[i+1])
		}
	}
	walk("", n)
	return lines
}

// validate checks values the YAML types cannot, naming the key and, when
// the file set it, its line.
func (c *Config) validate(lines map[string]int) error {
	var errs []string
	bad := func(key, format string, args ...any) {
		msg := fmt.Sprintf("%s: %s", key, fmt.Sprintf(format, args...))
		if l, ok := lines[key]; ok {
			msg = fmt.Sprintf("line %d: %s", l, msg)
		}
		errs = append(errs, msg)
	}
	for _, p := range []struct{ key, value string }{
		{"paths.procfs", c.Paths.ProcFS}, {"paths.sysfs", c.Paths.SysFS}, {"paths.rootfs", c.Paths.RootFS},
	} {
		if p.value == "" {
			bad(p.key, "must not be empty")
		}
	}
	if c.Cache.TTL <= 0 {
		bad("cache.ttl", "must be positive, got %s", c.Cache.TTL)
	}
	if c.Cache.MaxEntries < 1 {
		bad("cache.max_entries", "must be at least 1, got %d", c.Cache.MaxEntries)
	}
	if c.Scheduler.MaxConcurrent < 1 {
		bad("scheduler.max_concurrent", "must be at least 1, got %d", c.Scheduler.MaxConcurrent)
	}
	if c.Probes.Defaults.Interval <= 0 {
		bad("probes.defaults.interval", "must be positive, got %s", c.Probes.Defaults.Interval)
	}
	if c.Probes.Defaults.Timeout <= 0 {
		bad("probes.defaults.timeout", "must be positive, got %s", c.Probes.Defaults.Timeout)
	}
	for _, name := range ProbeNames {
		p, ok := c.Probes.ByName[name]
		if !ok {
			continue
		}
		prefix := "probes." + name + "."
		// Zero means "inherit" in the struct, but a file that writes 0s
		// almost certainly meant something else.
		if _, set := lines[prefix+"interval"]; set && p.Interval <= 0 {
			bad(prefix+"interval", "must be positive, got %s", p.Interval)
		}
		if _, set := lines[prefix+"timeout"]; set && p.Timeout <= 0 {
			bad(prefix+"timeout", "must be positive, got %s", p.Timeout)
		}
		for key, probes := range optionKeys {
			if _, set := lines[prefix+key]; set && !slices.Contains(probes, name) {
				bad(prefix+key, "applies only to %s", strings.Join(probes, ", "))
			}
		}
		if p.Command != "" && !filepath.IsAbs(p.Command) {
			bad(prefix+"command", "must be an absolute path, got %q", p.Command)
		}
		if p.Directory != "" && !filepath.IsAbs(p.Directory) {
			bad(prefix+"directory", "must be an absolute path, got %q", p.Directory)
		}
		for _, re := range []struct{ key, expr string }{{"include", p.Include}, {"exclude", p.Exclude}} {
			if _, err := regexp.Compile(re.expr); err != nil {
				bad(prefix+re.key, "invalid regular expression: %v", err)
			}
		}
		if _, set := lines[prefix+"device_timeout"]; set && p.DeviceTimeout <= 0 {
			bad(prefix+"device_timeout", "must be positive, got %s", p.DeviceTimeout)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
