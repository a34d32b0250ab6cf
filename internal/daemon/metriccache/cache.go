// Package metriccache holds the results of probe runs and replays them to
// Prometheus. The scheduler package fills it.
//
// Scrapes never wait for hardware: Collect only sends const metrics that a
// scheduled run built earlier. Every stored result bumps a generation
// number, which the response cache uses to know that its encoded bytes are
// out of date.
package metriccache

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// The status families' HELP, shared with newStatusPart.
const (
	successHelp         = "Whether the probe's last run succeeded (1) or failed (0). After a failure the probe's last good metrics are still exported."
	durationHelp        = "How long the probe's last run took."
	lastSuccessHelp     = "When the probe last succeeded, as a Unix time. Its metrics are that old."
	readErrorsHelp      = "Inputs (files, devices) the probe's last run skipped because they could not be read or parsed; each cost its own series only."
	intervalHelp        = "How often the probe is scheduled to run. Alert when time() - hardware_probe_last_success_timestamp_seconds exceeds twice this."
	inventoryChangeHelp = "When the probe's inventory (models, serials, firmware, sizes) last differed from its previous run, as a Unix time; the time of its first run until then."
	restoredHelp        = "Whether the probe's metrics were restored from the state file at start (1) and it has not completed a run since, or come from a run of this process (0)."
)

var (
	successDesc = prometheus.NewDesc("hardware_probe_success",
		successHelp,
		[]string{"probe"}, nil)
	durationDesc = prometheus.NewDesc("hardware_probe_duration_seconds",
		durationHelp,
		[]string{"probe"}, nil)
	lastSuccessDesc = prometheus.NewDesc("hardware_probe_last_success_timestamp_seconds",
		lastSuccessHelp,
		[]string{"probe"}, nil)
	readErrorsDesc = prometheus.NewDesc("hardware_probe_read_errors",
		readErrorsHelp,
		[]string{"probe"}, nil)
	intervalDesc = prometheus.NewDesc("hardware_probe_interval_seconds",
		intervalHelp,
		[]string{"probe"}, nil)
	inventoryChangeDesc = prometheus.NewDesc("hardware_inventory_last_change_timestamp_seconds",
		inventoryChangeHelp,
		[]string{"probe"}, nil)
	restoredDesc = prometheus.NewDesc("hardware_probe_restored",
		restoredHelp,
		[]string{"probe"}, nil)
)

// Result is the outcome of one probe run.
type Result struct {
	Metrics  []prometheus.Metric // nil when Err is set
	Err      error
	Start    time.Time
	Duration time.Duration
	Skipped  int           // inputs the run skipped (probe.Skips)
	Expires  time.Time     // when the stored metrics are due for a refresh
	Interval time.Duration // the probe's schedule; 0 if it has none (--once)
	Options  uint64        // fingerprint of the settings the run read with (probe.Env.Fingerprint)
}

// snapshot is what the cache holds for one probe. It is immutable once
// stored: a new result replaces the whole snapshot, so Collect can send from
// it without copying.
type snapshot struct {
	metrics     []prometheus.Metric // last good metrics
	status      []prometheus.Metric // hardware_probe_* for the last run
	data        *part               // metrics, gathered and encoded; nil when there are none
	statusPart  *part               // status, gathered and encoded
	lastSuccess time.Time           // zero until the first success
	expires     time.Time
	ran         bool
	err         error // of the last run

	inventory       uint64    // fingerprint of the last good run's inventory series
	inventoryChange time.Time // zero if the probe reported no inventory

	// What the state file keeps of the last run, beside the above.
	run      time.Time
	duration time.Duration
	skipped  int
	options  uint64 // of the last good run's settings
	restored bool   // from a state file; no run of this process yet

	interval time.Duration // the schedule the status reports (statusMetrics)
}

// Cache is a prometheus.Collector that replays stored probe results. The zero
// value is not usable; use New.
type Cache struct {
	describe []Describer // whose descriptors Describe sends

	mu        sync.RWMutex
	snapshots map[string]*snapshot

	generation atomic.Uint64

	// formats are those renders asked for (Renderer), in which Store
	// encodes each result at once.
	formats atomic.Pointer[[]expfmt.Format]
}

// New returns an empty cache. Describe sends the descriptors of probes, which
// should be every probe the daemon may ever run (enabled or not), so that the
// registry checks them all for clashes once at start-up and a config reload
// that enables a probe needs no re-registration.
func New(probes ...Describer) *Cache {
	return &Cache{describe: probes, snapshots: make(map[string]*snapshot)}
}

// Describer is what the cache needs of a probe: its descriptors.
type Describer interface {
	Describe(ch chan<- *prometheus.Desc)
}

// Generation changes whenever the cache's content changes.
func (c *Cache) Generation() uint64 { return c.generation.Load() }

// Store records a probe run. A failed run keeps the probe's last good
// metrics (stale-while-error) and only updates its status.
func (c *Cache) Store(name string, r Result) {
	// Gathering and encoding a result's metrics takes as long as the
	// result is large; it is done once here, outside the lock, so that a
	// render never does it (Renderer). The probe's last part lends the
	// encoded bytes of the families that did not change (reusePart); a
	// store of the same probe in between only makes the reuse smaller.
	c.mu.RLock()
	var (
		last          *part
		lastMetrics   []prometheus.Metric
		lastInventory uint64
	)
	if prev := c.snapshots[name]; prev != nil {
		last, lastMetrics, lastInventory = prev.data, prev.metrics, prev.inventory
	}
	c.mu.RUnlock()
	var data *part
	unchanged := false
	if r.Err == nil {
		// A probe that hands back the very metrics of its last run
		// (const metrics are immutable; see probe.seriesMemo) stored
		// nothing new: its part and inventory are the last ones, and
		// nothing is gathered or compared.
		if unchanged = last != nil && sameMetrics(r.Metrics, lastMetrics); unchanged {
			data = last
			for _, f := range c.storeFormats() {
				data.encoding(f)
			}
		} else {
			data = newPart(r.Metrics, c.storeFormats(), last)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.snapshots[name]
	s := &snapshot{ran: true, expires: r.Expires, err: r.Err, run: r.Start, duration: r.Duration, skipped: r.Skipped}
	if r.Err == nil {
		s.metrics = r.Metrics
		s.data = data
		s.options = r.Options
		s.lastSuccess = r.Start
		if unchanged {
			s.inventory = lastInventory
		} else {
			s.inventory = inventoryFingerprint(r.Metrics)
		}
		s.inventoryChange = r.Start
		if s.inventory == 0 {
			s.inventoryChange = time.Time{}
		} else if prev != nil && !prev.inventoryChange.IsZero() && prev.inventory == s.inventory &&
			!prev.inventoryChange.After(r.Start) {
			// A change time after this run began was set by a clock that
			// was ahead; keeping it would hold the series in the future.
			s.inventoryChange = prev.inventoryChange
		}
	} else if prev != nil {
		s.metrics = prev.metrics
		s.data = prev.data
		s.options = prev.options
		s.lastSuccess = prev.lastSuccess
		s.inventory, s.inventoryChange = prev.inventory, prev.inventoryChange
	}
	var lastStatus *part
	if prev != nil {
		lastStatus = prev.statusPart
	}
	s.setStatus(name, r.Err == nil, r.Interval, c.storeFormats(), lastStatus)
	c.snapshots[name] = s
	c.generation.Add(1)
}

// sameMetrics reports whether a and b hold the same metric values in the
// same order. Probes' metrics are pointers, compared by address; a
// metric type that cannot be compared (a struct holding a slice) panics
// in ==, and counts as changed.
func sameMetrics(a, b []prometheus.Metric) (same bool) {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inventoryFingerprint hashes the series of ms the probe marked as
// inventory (probe.IsInventory), values included, in an order that does
// not depend on the order the probe returned them in. It is 0 when there
// are none. This runs once per stored result, never on a scrape: each
// series is hashed on its own from its gathered fields (seriesHash), and
// the sorted hashes are hashed again, without building a string a series
// (fmt and Desc.String each store were most of a store's cost beside the
// encoding). The value is kept in state files; a change of this scheme
// moves a restored probe's inventory change time once, at its first run.
func inventoryFingerprint(ms []prometheus.Metric) uint64 {
	var hs []uint64
	var d dto.Metric
	for _, m := range ms {
		if !probe.IsInventory(m) {
			continue
		}
		d.Reset()
		if err := m.Write(&d); err != nil {
			continue
		}
		hs = append(hs, seriesHash(descHash(m.Desc()), &d))
	}
	if len(hs) == 0 {
		return 0
	}
	slices.Sort(hs)
	h := fnv.New64a()
	var b [8]byte
	for _, x := range hs {
		binary.LittleEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	return h.Sum64() | 1 // never 0, which means "no inventory"
}

// seriesHash is FNV-1a over a series' descriptor (desc, from descHash), its
// label pairs and its value's bits.
func seriesHash(desc uint64, d *dto.Metric) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	word := func(x uint64) {
		for range 8 {
			h = (h ^ (x & 0xff)) * prime
			x >>= 8
		}
	}
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
		h = (h ^ 0xff) * prime // no string holds 0xff (UTF-8): a separator
	}
	word(desc)
	for _, l := range d.GetLabel() {
		str(l.GetName())
		str(l.GetValue())
	}
	word(math.Float64bits(d.GetGauge().GetValue()))
	word(math.Float64bits(d.GetCounter().GetValue()))
	word(math.Float64bits(d.GetUntyped().GetValue()))
	return h
}

// descHashes caches a hash of each descriptor's String (its name, HELP,
// constant and variable labels), which is what tells two inventory series'
// families apart across restarts; descriptors are package variables, so
// the String is built once, not once per series and store. Bounded like
// descInfos.
var descHashes struct {
	sync.Mutex
	m map[*prometheus.Desc]uint64
}

func descHash(d *prometheus.Desc) uint64 {
	descHashes.Lock()
	x, ok := descHashes.m[d]
	descHashes.Unlock()
	if ok {
		return x
	}
	h := fnv.New64a()
	h.Write([]byte(d.String()))
	x = h.Sum64()
	descHashes.Lock()
	if descHashes.m == nil || len(descHashes.m) >= maxDescInfos {
		descHashes.m = make(map[*prometheus.Desc]uint64)
	}
	descHashes.m[d] = x
	descHashes.Unlock()
	return x
}

// setStatus sets the hardware_probe_* series of s, gathered and encoded
// in formats, reusing what is unchanged from last, the status part it
// replaces (nil if none).
func (s *snapshot) setStatus(name string, succeeded bool, interval time.Duration, formats []expfmt.Format, last *part) {
	s.status = s.statusMetrics(name, succeeded, interval)
	s.statusPart = newStatusPart(s.status, formats, last)
}

// statusMetrics builds the hardware_probe_* series of s, and remembers the
// interval they report for SetInterval.
func (s *snapshot) statusMetrics(name string, succeeded bool, interval time.Duration) []prometheus.Metric {
	s.interval = interval
	success, restored := 0.0, 0.0
	if succeeded {
		success = 1
	}
	if s.restored {
		restored = 1
	}
	m := []prometheus.Metric{
		prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, success, name),
		prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, s.duration.Seconds(), name),
		prometheus.MustNewConstMetric(readErrorsDesc, prometheus.GaugeValue, float64(s.skipped), name),
		prometheus.MustNewConstMetric(restoredDesc, prometheus.GaugeValue, restored, name),
	}
	if !s.lastSuccess.IsZero() {
		m = append(m, prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue,
			float64(s.lastSuccess.UnixNano())/1e9, name))
	}
	if interval > 0 {
		m = append(m, prometheus.MustNewConstMetric(intervalDesc, prometheus.GaugeValue, interval.Seconds(), name))
	}
	if !s.inventoryChange.IsZero() {
		m = append(m, prometheus.MustNewConstMetric(inventoryChangeDesc, prometheus.GaugeValue,
			float64(s.inventoryChange.UnixNano())/1e9, name))
	}
	return m
}

// SetInterval makes name's hardware_probe_interval_seconds say interval at
// once, as a config reload that changes it must: the stale-data alert reads
// it, and waiting for the probe's next run could take the old interval. A
// probe without data yet gets it with its first run.
func (c *Cache) SetInterval(name string, interval time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.snapshots[name]
	if !ok || s.interval == interval {
		return
	}
	n := *s // snapshots are immutable: Collect may be sending the old one
	n.setStatus(name, n.err == nil, interval, c.storeFormats(), s.statusPart)
	c.snapshots[name] = &n
	c.generation.Add(1)
}

// Expires reports when name's stored metrics are due for a refresh, and
// whether name has any. A new scheduler (after a config reload) uses it so
// that probes with fresh data do not run again at once.
func (c *Cache) Expires(name string) (time.Time, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.snapshots[name]
	if !ok {
		return time.Time{}, false
	}
	return s.expires, true
}

// mark is what State compares to decide whether a result must be written
// now: when it ran, whether it succeeded, and its inventory change time.
func (c *Cache) mark(name string) writeMark {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.snapshots[name]
	if !ok {
		return writeMark{at: time.Now()}
	}
	return writeMark{at: s.run, success: s.err == nil, inventoryChange: s.inventoryChange}
}

// LastSuccess is when name last succeeded; zero if never.
func (c *Cache) LastSuccess(name string) time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if s, ok := c.snapshots[name]; ok {
		return s.lastSuccess
	}
	return time.Time{}
}

// Ran reports whether every named probe has completed at least one run,
// successful or not.
func (c *Cache) Ran(names ...string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range names {
		if s, ok := c.snapshots[n]; !ok || !s.ran {
			return false
		}
	}
	return true
}

// Ready reports whether every named probe has a completed run of this
// process, successful or not, or a snapshot restored at start: whether
// Collect sends each one's data or its failure. A probe that only fails
// does not hold readiness back; its status series say it failed.
func (c *Cache) Ready(names ...string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range names {
		if _, ok := c.snapshots[n]; !ok {
			return false
		}
	}
	return true
}

// Failures returns the error of every probe whose last run failed.
func (c *Cache) Failures() map[string]error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	f := map[string]error{}
	for n, s := range c.snapshots {
		if s.err != nil {
			f[n] = s.err
		}
	}
	return f
}

// Retain drops the snapshots of every probe not named, so that a probe
// disabled by a config reload stops being exported.
func (c *Cache) Retain(names ...string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	for n := range c.snapshots {
		if !keep[n] {
			delete(c.snapshots, n)
			changed = true
		}
	}
	if changed {
		c.generation.Add(1)
	}
}

// Describe implements prometheus.Collector.
func (c *Cache) Describe(ch chan<- *prometheus.Desc) {
	ch <- successDesc
	ch <- durationDesc
	ch <- lastSuccessDesc
	ch <- readErrorsDesc
	ch <- intervalDesc
	ch <- inventoryChangeDesc
	ch <- restoredDesc
	for _, p := range c.describe {
		p.Describe(ch)
	}
}

// Collect implements prometheus.Collector. It only replays: no probe runs
// and nothing is built here.
func (c *Cache) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, s := range c.snapshots {
		for _, m := range s.metrics {
			ch <- m
		}
		for _, m := range s.status {
			ch <- m
		}
	}
}
