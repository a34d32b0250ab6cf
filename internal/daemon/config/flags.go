package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// OptionFlag is a probe option that also has a command-line flag: a field
// of the probe's options struct tagged flag:"NAME" becomes
// --probe.PROBE.NAME, so a probe gets flags by tagging its fields, and
// nothing else lists them. The flags are named where node_exporter's users
// expect them (--collector.hwmon.chip-include is --probe.hwmon.chip-include
// here). A flag given on the command line wins over the file's key.
type OptionFlag struct {
	Probe string // the probe's name
	Flag  string // the flag's name, without "--": probe.hwmon.chip-include
	Key   string // the config key it overrides: probes.hwmon.chip_include
	Help  string // the option's help, and what it overrides
	// Placeholder names the value's kind in --help: REGEX, DURATION, PATH.
	Placeholder string
	field       int
}

// OptionFlags lists every tagged option of every registered probe, by
// probe name and then in field order.
func OptionFlags() []OptionFlag {
	var out []OptionFlag
	for _, s := range probe.Specs() {
		o := s.DefaultOptions()
		if o == nil {
			continue
		}
		t := reflect.TypeOf(o).Elem()
		for i := range t.NumField() {
			sf := t.Field(i)
			name := sf.Tag.Get("flag")
			if name == "" {
				continue
			}
			key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			out = append(out, OptionFlag{
				Probe:       s.Name,
				Flag:        "probe." + s.Name + "." + name,
				Key:         "probes." + s.Name + "." + key,
				Help:        fmt.Sprintf("%s (overrides %s)", sf.Tag.Get("help"), "probes."+s.Name+"."+key),
				Placeholder: placeholder(sf.Type),
				field:       i,
			})
		}
	}
	return out
}

func placeholder(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[confval.Regexp]():
		return "REGEX"
	case reflect.TypeFor[Duration]():
		return "DURATION"
	case reflect.TypeFor[confval.Path]():
		return "PATH"
	}
	return strings.ToUpper(t.Kind().String())
}

// Check says what is wrong with value for the option, as the config
// would, naming the flag; nil when it is good.
func (f OptionFlag) Check(value string) error {
	s, _ := probe.Lookup(f.Probe)
	return f.set(s.DefaultOptions(), value)
}

// SetOption applies value to f's option in c, over what the file said.
func (c *Config) SetOption(f OptionFlag, value string) error {
	p := c.Probes.ByName[f.Probe]
	if p == nil || p.Options == nil {
		return fmt.Errorf("--%s: probe %q has no options", f.Flag, f.Probe)
	}
	return f.set(p.Options, value)
}

// set decodes value into f's field of opts (a pointer to the probe's
// options struct) as the file's value would be decoded: the same types,
// checks and messages.
func (f OptionFlag) set(opts any, value string) error {
	v := reflect.ValueOf(opts).Elem()
	var e errs
	decodeValue(&yaml.Node{Kind: yaml.ScalarNode, Value: value}, "--"+f.Flag, v.Field(f.field), v.Type().Field(f.field), &e)
	return e.err()
}
