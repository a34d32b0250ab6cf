package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/hardware-exporter/hardware_exporter/internal/host/toolrun"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/format/ipmitool"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// The sel probe reads the BMC's System Event Log. Reading a full log is
// slow (a BMC answers one entry at a time: 500-1200 entries take 15-33 s),
// so each run asks only `sel info`, which is one command, and reads the
// log itself only when sel info says it changed: when its last add or
// erase time, as printed, or its entry count differs from the run that
// last read it. The counts of that read are kept in the probe and exported
// again by the runs in between.
//
// Events are exported as counts over bounded labels (sensor type, kind,
// severity, direction), never one series per entry.

var (
	selEvents = withNote(newDesc("sel", "events",
		"Events the BMC's System Event Log holds now (ipmitool -c sel elist), by sensor type, kind, severity and direction. A gauge: it drops when the log is cleared or overwritten.", "sensor_type", "kind", "severity", "direction"),
		"sensor_type is the IPMI sensor type (\"\" for OEM records); kind and severity come from a fixed table (internal/format/ipmitool Classify); direction is asserted, deasserted, or \"\" for records without one. A gauge, not a counter: it counts what the log holds, so it drops to what is left when the log is cleared or the BMC overwrites old entries, and a clear is never read as a counter reset (which would make rate() and increase() count the whole log again). Compare it with its own past (delta()) or alert on its value; hardware_sel_last_erase_timestamp_seconds says when the log was last cleared.")
	selNewestEvent = newDesc("sel", "newest_event_timestamp_seconds",
		"Time of the newest dated event the log holds, per IPMI sensor type, in Unix seconds (ipmitool prints the BMC's clock as local time; it is read in the exporter's time zone unless it names one).",
		"sensor_type")
	selEntries = newDesc("sel", "entries",
		"Entries in the BMC's System Event Log (ipmitool sel info).")
	selUsed = withNote(newDesc("sel", "used_ratio",
		"Share of the System Event Log's space in use, 0 to 1 (ipmitool sel info Percent Used). A full log drops new events unless the BMC overwrites old ones."),
		"No series when ipmitool prints unknown (64 KiB or more free).")
	selOverflow = newDesc("sel", "overflow",
		"1 when the BMC says events were dropped because the System Event Log was full (ipmitool sel info Overflow), else 0.")
	selLastAdd = newDesc("sel", "last_add_timestamp_seconds",
		"When the BMC last added an event to the log, in Unix seconds (ipmitool sel info Last Add Time). No series when the BMC does not know (Not Available, or a time counted from the BMC's start).")
	selLastErase = newDesc("sel", "last_erase_timestamp_seconds",
		"When the log was last cleared or an entry deleted, in Unix seconds (ipmitool sel info Last Del Time). No series when the BMC does not know.")
)

func init() {
	Register(Spec{
		Name:      "sel",
		Summary:   "BMC System Event Log through ipmitool: event counts by sensor type, kind, severity and direction; the log is re-read only when sel info says it changed.",
		Reads:     "`ipmitool sel info` every run; `ipmitool -c sel elist` only when the last add or erase time or the entry count changed. Counts of what the log holds (gauges: a clear drops them), newest event per sensor type, entries, percent used, overflow.",
		Privilege: "root (`/dev/ipmi0`)",
		Interval:  5 * time.Minute,
		// A full log takes half a minute on a fast BMC and several on a
		// slow or busy one; a timeout that cuts the read short would fail
		// every run on exactly the hosts whose log matters.
		Timeout: 3 * time.Minute,
		Kind:    KindTool,
		Options: func() any { return newSELOptions() },
		New:     func() Probe { return &selProbe{loc: time.Local} },
	})
}

// SELOptions are the sel probe's own settings (probes.sel.*).
type SELOptions struct {
	Command confval.Path `yaml:"command" help:"Absolute path of ipmitool."`
}

func newSELOptions() *SELOptions { return &SELOptions{Command: "/usr/bin/ipmitool"} }

func (o *SELOptions) available() error { return toolrun.Available(string(o.Command)) }

// selProbe keeps what the last full read of the log found, and the sel
// info values it was taken at, so that a run whose sel info is unchanged
// need not read the log again.
type selProbe struct {
	loc *time.Location // ipmitool prints local time without a zone on older releases

	mu      sync.Mutex
	readAt  selMark // sel info when summary was read; zero before the first read
	summary ipmitool.SELSummary
	// fullReads counts reads of the whole log, for tests.
	fullReads int
	hints     func() // nil: hintInventory, the daemon's
}

// selMark is what sel info says that tells whether the log changed.
type selMark struct {
	lastAdd, lastErase string
	entries            int
	valid              bool
}

func (*selProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		selEvents, selNewestEvent, selEntries, selUsed, selOverflow, selLastAdd, selLastErase,
	} {
		ch <- d
	}
}

// Available reports why the log cannot be read: no ipmitool, or no BMC
// device (no BMC, or ipmi_si and ipmi_devintf not loaded).
func (p *selProbe) Available(env Env) error {
	if err := optionsOf(env, newSELOptions).available(); err != nil {
		return err
	}
	return bmcAvailable(env.Paths)
}

func (p *selProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	o, unlock, err := openTool(ctx, env, newSELOptions, &p.mu)
	if err != nil {
		return nil, err
	}
	defer unlock()
	command := string(o.Command)

	infoSrc := command + " sel info"
	out, err := toolrun.Run(ctx, command, "sel", "info")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", infoSrc, err)
	}
	info, perr := ipmitool.ParseSELInfo(out.Stdout, p.loc)
	if perr != nil {
		if ferr := out.Failed(false, "no Entries line"); ferr != nil {
			return nil, fmt.Errorf("%s: %w", infoSrc, ferr)
		}
		return nil, fmt.Errorf("%s: %w", infoSrc, perr)
	}
	ms := selInfoMetrics(info)

	mark := selMark{lastAdd: info.LastAddText, lastErase: info.LastEraseText, entries: info.Entries, valid: true}
	switch {
	case mark == p.readAt:
	case info.Entries == 0:
		// Cleared: nothing to read, and the counts drop to nothing.
		p.summary, p.readAt = ipmitool.SELSummary{}, mark
	default:
		before, erased := p.summary, mark.lastErase != p.readAt.lastErase
		if err := p.readLog(ctx, command, env, skips); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// The counts of the last good read, if any, stay: a BMC that
			// fails one read of a long log is not a log that emptied.
			skips.Add(command+" -c sel elist", err)
		} else {
			if p.readAt.valid && (selHotSwap(p.summary) > selHotSwap(before) || erased && selHotSwap(p.summary) > 0) {
				// A part may have been swapped: the tool probes read
				// their inventory again (FRU, controller configuration)
				// rather than wait for their inventory interval.
				if p.hints != nil {
					p.hints()
				} else {
					hintInventory()
				}
			}
			p.readAt = mark
		}
	}
	return append(ms, selSummaryMetrics(p.summary)...), nil
}

// selHotSwapTypes are the sensor types whose entries say a part was
// inserted, removed, replaced or updated.
var selHotSwapTypes = []string{
	"Power Supply", "Drive Slot / Bay", "Drive Slot", "Entity Presence", "FRU State", "Version Change",
	"Module / Board", "Module/Board", "Add-in Card", "Slot / Connector", "Slot/Connector",
}

// selHotSwap counts the events of selHotSwapTypes in s.
func selHotSwap(s ipmitool.SELSummary) int {
	n := 0
	for k, c := range s.Counts {
		if slices.Contains(selHotSwapTypes, k.SensorType) {
			n += c
		}
	}
	return n
}

// readLog reads the whole log and replaces the kept summary. Its cost is
// logged at debug level: it is the one expensive thing the probe does.
func (p *selProbe) readLog(ctx context.Context, command string, env Env, skips *Skips) error {
	src := command + " -c sel elist"
	start := time.Now()
	out, err := toolrun.Run(ctx, command, "-c", "sel", "elist")
	if err != nil {
		return err
	}
	var sum ipmitool.SELSummary
	stats, err := ipmitool.ScanSEL(bytes.NewReader(out.Stdout), p.loc, sum.Add)
	if err != nil {
		return err
	}
	// "SEL has no entries" is no line to ScanSEL, and an answer.
	parsed := stats.Events > 0 || stats.Lines == 0 && out.ExitCode == 0
	if err := out.Failed(parsed, "no SEL lines"); err != nil {
		return err
	}
	p.fullReads++
	for range stats.Malformed {
		skips.Add(src, errors.New("line is not a SEL event"))
	}
	p.summary = sum
	env.logger().Debug("read the whole System Event Log", "command", src,
		"duration", time.Since(start), "bytes", len(out.Stdout), "events", stats.Events,
		"malformed", stats.Malformed, "overlong", stats.Overlong)
	return nil
}

func selInfoMetrics(info ipmitool.SELInfo) []prometheus.Metric {
	ms := []prometheus.Metric{
		constMetric(selEntries, prometheus.GaugeValue, float64(info.Entries)),
		constMetric(selOverflow, prometheus.GaugeValue, selBool(info.Overflow)),
	}
	if info.PercentUsedKnown {
		ms = append(ms, constMetric(selUsed, prometheus.GaugeValue, info.PercentUsed/100))
	}
	if !info.LastAdd.IsZero() {
		ms = append(ms, constMetric(selLastAdd, prometheus.GaugeValue, selUnixSeconds(info.LastAdd)))
	}
	if !info.LastErase.IsZero() {
		ms = append(ms, constMetric(selLastErase, prometheus.GaugeValue, selUnixSeconds(info.LastErase)))
	}
	return ms
}

func selSummaryMetrics(sum ipmitool.SELSummary) []prometheus.Metric {
	keys := make([]ipmitool.SELCount, 0, len(sum.Counts))
	for k := range sum.Counts {
		keys = append(keys, k)
	}
	// Sorted only so a run's output is stable to read in tests and logs.
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return strings.Join([]string{a.SensorType, string(a.Kind), string(a.Severity), string(a.Direction)}, "\x00") <
			strings.Join([]string{b.SensorType, string(b.Kind), string(b.Severity), string(b.Direction)}, "\x00")
	})
	var ms []prometheus.Metric
	for _, k := range keys {
		ms = append(ms, constMetric(selEvents, prometheus.GaugeValue, float64(sum.Counts[k]),
			labelValue(k.SensorType), string(k.Kind), string(k.Severity), string(k.Direction)))
	}
	for typ, t := range sum.Newest {
		ms = append(ms, constMetric(selNewestEvent, prometheus.GaugeValue, selUnixSeconds(t), labelValue(typ)))
	}
	return ms
}

func selUnixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func selBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
