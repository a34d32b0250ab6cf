// Package probe reads hardware and turns it into Prometheus metrics.
//
// A probe is a small type with a name and one method that reads the hardware
// under a context and returns const metrics. Probes know nothing of HTTP,
// caching or schedules: the metriccache package runs them and stores what
// they return. Each probe reads only below the configured roots (Paths), so a
// test can point it at a fixture tree.
package probe

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric this exporter exports.
const Namespace = "hardware"

// Probe reads one kind of hardware. A probe is built once, when the daemon
// starts, and lives as long as the daemon: state it keeps between runs (the
// smart probe remembers which disks were asleep) survives config reloads.
// Its settings arrive with each run in Env, so a reload changes them without
// rebuilding the probe.
type Probe interface {
	// Describe sends every descriptor Probe may use, so that a registry can
	// catch name and label clashes between probes at start-up.
	Describe(ch chan<- *prometheus.Desc)
	// Probe reads the hardware once. A missing source (no DMI in a VM) means
	// fewer metrics, not an error; an unreadable or malformed input costs the
	// series it would have fed and is recorded in skips. An error means the
	// run as a whole failed and the caller keeps the last good metrics.
	//
	// When ctx is done (the run's timeout, a shutdown) the probe stops: it
	// starts no tool, reads nothing more and returns ctx.Err(), or an error
	// wrapping it (openTool and the ctx checks in read loops do this;
	// TestProbeCancelled holds every probe to it). The scheduler fails a run
	// whose ctx is done whatever Probe returned (scheduler.call), so what a
	// probe had gathered when it stopped is never stored.
	Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error)
}

// Paths are the roots below which probes read: the host's own /proc, /sys
// and / (config.Default), or a fixture tree or container mounts. The config
// file's paths section decodes straight into this type, so the tags are its
// keys and the config loader's rules (one type from the file to the probe).
type Paths struct {
	ProcFS string `yaml:"procfs" check:"nonempty"`
	SysFS  string `yaml:"sysfs" check:"nonempty"`
	RootFS string `yaml:"rootfs" check:"nonempty"`
}

// Env is what one run of a probe reads with: the roots, the probe's own
// options and a logger.
type Env struct {
	Paths Paths
	// Options points to the probe's options struct, of the type its Spec's
	// Options returns, with the file's values over the defaults. Nil for a
	// probe that has none.
	Options any
	Logger  *slog.Logger
	// skips is where the readers (Sys, Proc, Root) record what they could
	// not read: the run's, once Bind has set it.
	skips *Skips
}

// Bind returns e with its readers recording into skips, the run's: a probe
// that reads files calls it first (env = env.Bind(skips)).
func (e Env) Bind(skips *Skips) Env {
	e.skips = skips
	return e
}

// Closer is implemented by probes that hold something between runs that
// must be given back: descriptors kept open (the one-minute sysfs probes'
// layouts, layout.go). The daemon closes a probe when it stops and when a
// reload turns the probe off; a closed probe still runs, and takes what it
// needs again.
type Closer interface {
	Close()
}

// Conditional is implemented by probes whose source may be missing from a
// host altogether: a tool that is not installed, a directory that does not
// exist, no BMC. The daemon leaves such a probe off, with one log line, when
// Available reports why it cannot run and the config did not enable it
// explicitly; enabled explicitly, it runs and fails with that error, so
// hardware_probe_success says 0.
type Conditional interface {
	Available(env Env) error
}

// inventoryDescs are the descriptors declared with Inventory. Only
// constMetric reads it, to mark each series it builds from one; whoever
// holds a probe's result asks the series (IsInventory), not this.
var inventoryDescs = map[*prometheus.Desc]bool{}

// Inventory declares d as inventory: its series describe what the host is
// made of (models, serials, firmware, sizes) rather than how it is. Each
// series built from d is marked (InventorySeries), and when the set of a
// probe's marked series or their values differ from one run to the next,
// the metric cache moves hardware_inventory_last_change_timestamp_seconds.
// Use it only in package-level declarations.
func Inventory(d *prometheus.Desc) *prometheus.Desc {
	inventoryDescs[d] = true
	return d
}

// inventorySeries is a series marked as inventory: the mark travels with
// the series in the probe's result.
type inventorySeries struct{ prometheus.Metric }

// InventorySeries marks m as inventory. Probes get this from Inventory;
// a test of what holds results may mark series itself.
func InventorySeries(m prometheus.Metric) prometheus.Metric { return inventorySeries{m} }

// IsInventory reports whether m is marked as inventory.
func IsInventory(m prometheus.Metric) bool {
	_, ok := m.(inventorySeries)
	return ok
}

// logger returns the environment's logger, or one that discards.
func (e Env) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Skips counts inputs a probe run passed over because they could not be read
// or parsed. Each skip is logged at debug level with its path and cause; the
// count is exported as hardware_probe_read_errors so a malformed file is
// visible without turning the probe red. The zero value is not usable: the
// scheduler makes one per run with NewSkips. Methods are safe for concurrent
// use, since a probe may read devices in parallel.
type Skips struct {
	logger *slog.Logger
	n      atomic.Int64
}

// NewSkips returns a Skips that logs to logger (nil discards).
func NewSkips(logger *slog.Logger) *Skips {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Skips{logger: logger}
}

// Add records that path was skipped because of err.
func (s *Skips) Add(path string, err error) {
	s.n.Add(1)
	s.logger.Debug("skipped unreadable input", "path", path, "err", err)
}

// Count is the number of inputs skipped so far.
func (s *Skips) Count() int { return int(s.n.Load()) }

// scheduledHelp is appended to every HELP text: the values are read on the
// probe's schedule and replayed on scrapes, which Prometheus' exporter
// guidelines ask an exporter to say.
const scheduledHelp = " Refreshed on the probe's schedule, not per scrape."

// declaredNames holds the name of every descriptor declared with newDesc:
// the names the textfile probe must not let a file export. client_golang
// has no accessor for a Desc's name, so it is recorded where it is built.
var declaredNames = map[string]bool{}

// descNames maps each descriptor built by newDesc to its name, for
// MayExport.
var descNames = map[*prometheus.Desc]string{}

// newDesc builds a descriptor in the hardware namespace. Every probe declares
// its descriptors once, at package level, with this.
func newDesc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	fqName := prometheus.BuildFQName(Namespace, subsystem, name)
	declaredNames[fqName] = true
	d := prometheus.NewDesc(fqName, help+scheduledHelp, labels, nil)
	descNames[d] = fqName
	return d
}

// descNotes holds the note declared for a descriptor with withNote.
var descNotes = map[*prometheus.Desc]string{}

// withNote gives d a note for docs/metrics.md: the detail its HELP leaves
// out (what each label value means, which tool version prints what, when
// no series is exported). HELP goes out with every scrape, so it stays a
// sentence or two (TestHelpIsShort); the note is read once, in the docs.
// Use it only in package-level declarations, around newDesc.
func withNote(d *prometheus.Desc, note string) *prometheus.Desc {
	descNotes[d] = note
	return d
}

// Note returns the note declared for d with withNote, or "".
func Note(d *prometheus.Desc) string { return descNotes[d] }

// boolValue is a yes/no fact as a sample value, 1 or 0.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
