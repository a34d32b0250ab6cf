// Package confval holds the value types of hardware_exporter's YAML
// configuration that plain Go types cannot express: durations written the
// Prometheus way, regular expressions and absolute paths. Each rejects a bad
// value when it is decoded, so the config's own keys and every probe's
// options are checked the same way; the config loader adds the key and line
// to the message.
package confval

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written the Prometheus way ("30s", "6h",
// "1d", "1h30m"). Negative values are errors; whether zero is allowed is
// the field's business (see the config package's check tag).
type Duration time.Duration

// ParseDuration parses a Prometheus duration and says plainly when a value
// is negative, which model.ParseDuration only reports as "not a valid
// duration string".
func ParseDuration(s string) (time.Duration, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		return 0, errors.New("must not be negative")
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`want a number and a unit, like "30s", "5m" or "6h"`)
	}
	return time.Duration(d), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration like \"30s\", got a %s", KindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %v", n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d Duration) String() string { return model.Duration(d).String() }

// Regexp is a regular expression; the empty string means "no filter" and
// leaves Regexp nil.
type Regexp struct {
	*regexp.Regexp
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a regular expression, got a %s", KindName(n))
	}
	if n.Value == "" {
		r.Regexp = nil
		return nil
	}
	re, err := regexp.Compile(n.Value)
	if err != nil {
		return fmt.Errorf("invalid regular expression %q: %v", n.Value, err)
	}
	r.Regexp = re
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (r Regexp) MarshalYAML() (any, error) { return r.String(), nil }

// String is the expression as written, or "" when unset.
func (r Regexp) String() string {
	if r.Regexp == nil {
		return ""
	}
	return r.Regexp.String()
}

// MatchOr reports whether s matches, or unset when no expression is set.
func (r Regexp) MatchOr(s string, unset bool) bool {
	if r.Regexp == nil {
		return unset
	}
	return r.MatchString(s)
}

// Path is an absolute file system path. Relative paths are errors: the
// daemon's working directory is not something a config should depend on.
type Path string

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *Path) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want an absolute path, got a %s", KindName(n))
	}
	if !filepath.IsAbs(n.Value) {
		return fmt.Errorf("must be an absolute path, got %q", n.Value)
	}
	*p = Path(filepath.Clean(n.Value))
	return nil
}

// KindName says what a YAML node is, for messages: "mapping", "list" or
// "scalar".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "scalar"
	}
}
