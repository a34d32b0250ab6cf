package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

const exampleHeader = `# hardware_exporter configuration.
#
# Every key below is shown with its built-in default: the daemon runs the same
# with no file at all. Keep only the keys you change. Unknown keys are errors.
# Check a file with:  hardware_exporter --config.check --config.file=FILE
# Reload a running daemon with SIGHUP (systemctl reload hardware_exporter);
# a bad file is logged and the running config kept.
# Durations are Prometheus-style: 30s, 5m, 6h, 1d.
#
# This file is generated from the probe registry and the config's types
# (go test ./internal/daemon/config -update); edit those, not this.
`

const probesHelp = `Every probe is on by default. One whose source is missing from the host (a VM has no EDAC, no hwmon) exports fewer series, not a failure. A probe whose source may be missing altogether (a tool not installed, no BMC, no NVIDIA device, no textfile directory, no readable /dev/kmsg) is left off with one log line, and --config.check says why, unless "enabled: true" is written here: then it runs, and hardware_probe_success says 0 until its source appears. "enabled: false" (or --no-probe.NAME) turns any probe off.`

// floorsHelp says, from the registry, how short an interval and a timeout
// each kind of probe accepts (probe.Kind.Floor).
func floorsHelp() string {
	readI, readT := probe.KindRead.Floor()
	toolI, toolT := probe.KindTool.Floor()
	var tools []string
	for _, s := range probe.Specs() {
		if s.Kind == probe.KindTool {
			tools = append(tools, s.Name)
		}
	}
	return fmt.Sprintf("An interval or timeout below its probe's floor is an error: %s and %s for probes that read files, %s and %s for those that run a tool (%s). \"allow_fast: true\" in a probe's section lifts it, for tests and benchmarks.",
		Duration(readI), Duration(readT), Duration(toolI), Duration(toolT), strings.Join(tools, ", "))
}

// Example renders c as a commented YAML document, every key with its value;
// Example(Default()) is the shipped configs/hardware_exporter.yml.
func Example(c *Config) []byte {
	var b bytes.Buffer
	b.WriteString(exampleHeader)
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		b.WriteString("\n")
		comment(&b, "", sf.Tag.Get("help"))
		if sf.Type == reflect.TypeFor[Probes]() {
			writeProbes(&b, &c.Probes)
			continue
		}
		fmt.Fprintf(&b, "%s:\n", tagName(sf))
		writeFields(&b, "  ", v.Field(i))
	}
	return b.Bytes()
}

func tagName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	return name
}

// comment writes text as comment lines of at most 79 columns.
func comment(b *bytes.Buffer, indent, text string) {
	if text == "" {
		return
	}
	line := indent + "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 79 && line != indent+"#" {
			b.WriteString(line + "\n")
			line = indent + "#"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}

// writeFields writes struct v's fields as keys at indent. A field whose
// value is empty (an unset filter) is shown commented out.
func writeFields(b *bytes.Buffer, indent string, v reflect.Value) {
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		name := tagName(sf)
		if name == "" {
			continue
		}
		comment(b, indent, sf.Tag.Get("help"))
		val := scalar(v.Field(i))
		if v.Field(i).IsZero() && v.Field(i).Kind() != reflect.Bool {
			fmt.Fprintf(b, "%s# %s: %s\n", indent, name, val)
			continue
		}
		fmt.Fprintf(b, "%s%s: %s\n", indent, name, val)
	}
}

// scalar renders one value the way YAML reads it back.
func scalar(v reflect.Value) string {
	out, err := yaml.Marshal(v.Interface())
	if err != nil {
		panic(err) // only config types reach here, and all marshal
	}
	return strings.TrimSpace(string(out))
}

func writeProbes(b *bytes.Buffer, p *Probes) {
	b.WriteString("probes:\n")
	comment(b, "  ", "Inherited by every probe that does not set its own.")
	b.WriteString("  defaults:\n")
	writeFields(b, "    ", reflect.ValueOf(p.Defaults))
	comment(b, "  ", probesHelp+" "+floorsHelp())
	for _, s := range probe.Specs() {
		b.WriteString("\n")
		comment(b, "  ", s.Summary)
		var body bytes.Buffer
		cur := p.ByName[s.Name]
		if cur.Enabled != nil {
			fmt.Fprintf(&body, "    enabled: %t\n", *cur.Enabled)
		}
		if cur.Interval != 0 {
			fmt.Fprintf(&body, "    interval: %s\n", cur.Interval)
		}
		if cur.Timeout != 0 {
			fmt.Fprintf(&body, "    timeout: %s\n", cur.Timeout)
		}
		if cur.AllowFast {
			body.WriteString("    allow_fast: true\n")
		}
		if cur.Options != nil {
			writeFields(&body, "    ", reflect.ValueOf(cur.Options).Elem())
		}
		if body.Len() == 0 {
			fmt.Fprintf(b, "  %s: {}\n", s.Name)
			continue
		}
		fmt.Fprintf(b, "  %s:\n", s.Name)
		b.Write(body.Bytes())
	}
}

// ProbeTable renders README's table of probes from the registry: what each
// reads, its default interval (and timeout when it sets its own) and the
// privilege it needs.
func ProbeTable(c *Config) string {
	var b strings.Builder
	b.WriteString("| Probe | Reads | Default interval | Privilege |\n|---|---|---|---|\n")
	for _, s := range probe.Specs() {
		r := c.Probe(s.Name)
		interval := Duration(r.Interval).String()
		if s.Timeout != 0 && r.Timeout != time.Duration(c.Probes.Defaults.Timeout) {
			interval += fmt.Sprintf(" (timeout %s)", Duration(r.Timeout))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Name, s.Reads, interval, s.Privilege)
	}
	return b.String()
}
