package metriccache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/statefile"
)

// StateStore is where snapshots are kept: a *statefile.Dir, or a fake in
// tests.
type StateStore interface {
	Write(statefile.Snapshot) error
	Load(probe string) (statefile.Snapshot, error)
}

// errNotRestorable marks a snapshot that is well formed but not to be
// served: too old, or of a probe that never succeeded.
var errNotRestorable = errors.New("not restorable")

// snapshotOf returns name's stored data as a state file snapshot, and
// false when there is none or it holds no good metrics. It converts the
// families Store gathered, so it runs once per probe run, never on a
// scrape.
func (c *Cache) snapshotOf(name string) (statefile.Snapshot, bool, error) {
	c.mu.RLock()
	s, ok := c.snapshots[name]
	c.mu.RUnlock()
	// A snapshot is immutable once stored, so it is read unlocked.
	if !ok || s.lastSuccess.IsZero() {
		return statefile.Snapshot{}, false, nil
	}
	var fams []statefile.Family
	var err error
	if s.data != nil && s.data.err == nil {
		fams, err = statefile.FromFamilies(s.data.fams) // gathered when stored
	} else {
		fams, err = statefile.FromMetrics(s.metrics)
	}
	if err != nil {
		return statefile.Snapshot{}, false, err
	}
	return statefile.Snapshot{
		Probe:           name,
		Options:         s.options,
		Run:             s.run,
		Success:         s.err == nil,
		Duration:        s.duration,
		ReadErrors:      s.skipped,
		LastSuccess:     s.lastSuccess,
		Inventory:       s.inventory,
		InventoryChange: s.inventoryChange,
		Families:        fams,
	}, true, nil
}

// restore stores snap as name's data, unless the probe already has data of
// its own (a run beat the restore). The restored data is due for a refresh
// one interval after its last success, as it would have been had the
// process not restarted.
func (c *Cache) restore(snap statefile.Snapshot, interval time.Duration) error {
	ms, err := statefile.Metrics(snap.Families)
	if err != nil {
		return err
	}
	s := &snapshot{
		metrics:         ms,
		lastSuccess:     snap.LastSuccess,
		expires:         snap.LastSuccess.Add(interval),
		inventory:       snap.Inventory,
		inventoryChange: snap.InventoryChange,
		run:             snap.Run,
		duration:        snap.Duration,
		skipped:         snap.ReadErrors,
		options:         snap.Options,
		restored:        true,
	}
	if !snap.Success {
		// The last run before the restart failed: retry at once, as the
		// old process would have soon.
		s.err = errors.New("last run before the restart failed")
		s.expires = time.Time{}
	}
	s.data = newPart(ms, c.storeFormats(), nil)
	s.setStatus(snap.Probe, snap.Success, interval, c.storeFormats(), nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.snapshots[snap.Probe]; ok {
		return fmt.Errorf("%w: the probe has already run", errNotRestorable)
	}
	c.snapshots[snap.Probe] = s
	c.generation.Add(1)
	return nil
}

// State keeps the cache's snapshots in a StateStore: it writes each probe's
// snapshot after the probe's result is stored, and restores them at start.
//
// Writes happen on a goroutine of State's own, so a slow or hung disk
// delays state files, never a probe or a scrape. Save only marks a probe;
// the writer takes the cache's latest snapshot when it gets to it, so
// there is at most one write per probe run, and fewer when runs come faster
// than the disk takes them.
//
// A probe's file is rewritten at most every MinSpacing while its inventory
// and its success stay the same; the result held back is written at Close.
// A sensor probe runs every minute, and writing (two fsyncs) after each run
// was a large part of the daemon's CPU and of the disk's writes, for data
// that a crash restart would not restore anyway once older than twice its
// interval. A graceful restart still restores it: Close writes it.
type State struct {
	store  StateStore
	cache  *Cache
	logger *slog.Logger

	writeErrors *prometheus.CounterVec
	writeTime   prometheus.Histogram

	// MinSpacing is the least time between two writes of a probe whose
	// inventory and success did not change (default 10m; 0 writes every
	// run).
	MinSpacing time.Duration

	mu      sync.Mutex
	pending map[string]bool
	held    map[string]bool      // results held back by MinSpacing, written at Close
	written map[string]writeMark // what the last write of each probe recorded
	failing map[string]bool      // probes whose last write failed, logged once
	kick    chan struct{}        // buffered(1)
	idle    *sync.Cond           // signalled when pending empties and no write runs
	writing bool
	closed  bool
	done    chan struct{}
}

// NewState returns a State writing cache's snapshots to store. Its metrics
// (write errors and times) go to reg when reg is not nil.
func NewState(store StateStore, cache *Cache, logger *slog.Logger, reg prometheus.Registerer) (*State, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st := &State{
		store: store, cache: cache, logger: logger,
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hardware_exporter_state_write_errors_total",
			Help: "State file writes that failed (full disk, read-only or unwritable directory), by probe. The probe's data is still served; only a restart would lose it.",
		}, []string{"probe"}),
		writeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hardware_exporter_state_write_duration_seconds",
			Help:    "Time to convert and durably write one probe's state file.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .1, .5, 2.5},
		}),
		MinSpacing: 10 * time.Minute,
		pending:    map[string]bool{},
		held:       map[string]bool{},
		written:    map[string]writeMark{},
		failing:    map[string]bool{},
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	st.idle = sync.NewCond(&st.mu)
	if reg != nil {
		if err := errors.Join(reg.Register(st.writeErrors), reg.Register(st.writeTime)); err != nil {
			return nil, err
		}
	}
	go st.writer()
	return st, nil
}

// writeMark is what a write recorded, to tell whether the next result
// changed anything that must not wait.
type writeMark struct {
	at              time.Time
	success         bool
	inventoryChange time.Time
}

// Save asks for name's snapshot to be written. It does not wait.
func (st *State) Save(name string) {
	mark := st.cache.mark(name)
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	if last, ok := st.written[name]; ok && mark.at.Sub(last.at) < st.MinSpacing &&
		mark.success == last.success && mark.inventoryChange.Equal(last.inventoryChange) {
		st.held[name] = true
		st.mu.Unlock()
		return
	}
	delete(st.held, name)
	st.written[name] = mark
	st.pending[name] = true
	st.mu.Unlock()
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// Flush waits until every Save so far is written or limit has passed, and
// reports whether it finished.
func (st *State) Flush(limit time.Duration) bool {
	done := make(chan struct{})
	go func() {
		st.mu.Lock()
		for len(st.pending) > 0 || st.writing {
			st.idle.Wait()
		}
		st.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// Close writes what is pending and what MinSpacing held back, waiting at
// most limit, and stops the writer; later Saves are ignored.
func (st *State) Close(limit time.Duration) bool {
	st.mu.Lock()
	for name := range st.held {
		st.pending[name] = true
	}
	clear(st.held)
	st.mu.Unlock()
	select {
	case st.kick <- struct{}{}:
	default:
	}
	ok := st.Flush(limit)
	st.mu.Lock()
	if !st.closed {
		st.closed = true
		close(st.done)
	}
	st.mu.Unlock()
	return ok
}

func (st *State) writer() {
	for {
		select {
		case <-st.kick:
		case <-st.done:
			return
		}
		for {
			st.mu.Lock()
			var name string
			for n := range st.pending {
				name = n
				break
			}
			if name == "" {
				st.writing = false
				st.idle.Broadcast()
				st.mu.Unlock()
				break
			}
			delete(st.pending, name)
			st.writing = true
			st.mu.Unlock()
			st.write(name)
		}
	}
}

func (st *State) write(name string) {
	start := time.Now()
	snap, ok, err := st.cache.snapshotOf(name)
	if err != nil {
		// The textfile probe may pass summaries and histograms through,
		// which state files do not hold. Remove the older file rather
		// than restore data older than what was last served.
		st.fail(name, "probe's metrics cannot be kept in a state file; it starts empty after a restart", err)
		if p, ok := st.store.(interface{ Path(string) string }); ok {
			os.Remove(p.Path(name))
		}
		return
	}
	if !ok {
		return
	}
	if err := st.store.Write(snap); err != nil {
		st.mu.Lock()
		delete(st.written, name) // so the next result is tried at once
		st.mu.Unlock()
		st.writeErrors.WithLabelValues(name).Inc()
		st.fail(name, "cannot write state file; the probe's data is served but a restart will not restore it", err)
		return
	}
	st.writeTime.Observe(time.Since(start).Seconds())
	st.mu.Lock()
	recovered := st.failing[name]
	delete(st.failing, name)
	st.mu.Unlock()
	if recovered {
		st.logger.Info("state file written again", "probe", name)
	}
}

// fail logs err for name once, until a write of name succeeds again: a
// full disk must not add a log line to every run of every probe.
func (st *State) fail(name, msg string, err error) {
	st.mu.Lock()
	first := !st.failing[name]
	st.failing[name] = true
	st.mu.Unlock()
	if first {
		st.logger.Warn(msg, "probe", name, "err", err)
	}
}

// MaxClockSkew is how far in the future a snapshot's times may lie and
// still be restored: a little for clocks that step at boot. A snapshot
// written a year ahead (a host that booted with a wrong clock) would hide
// the probe from the stale-data alert and keep
// hardware_inventory_last_change_timestamp_seconds in the future.
const MaxClockSkew = 5 * time.Minute

// Want is what a snapshot must match to be restored.
type Want struct {
	Interval time.Duration // the probe's schedule: restored data is due one interval after its last success
	MaxAge   time.Duration // older data is not restored
	// Options is the fingerprint of the probe's settings now
	// (probe.Env.Fingerprint); data read with other settings is not
	// restored.
	Options uint64
	// MayExport reports whether the probe may export a family of that
	// name (probe.MayExport); other families are dropped. Nil keeps all.
	MayExport func(name string) bool
}

// Restore loads name's snapshot into the cache when it belongs to this host
// (the store checks), was read with the settings in want, its times are
// not in the future and its last success is younger than want.MaxAge.
// Families the probe may not export and duplicate series are dropped. A
// missing file is silent; a damaged, foreign, stale or mismatched one
// costs one log line and is replaced by the probe's next write. It reports
// whether name now serves restored data.
func (st *State) Restore(name string, want Want, now time.Time) bool {
	snap, err := st.store.Load(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	level := slog.LevelWarn
	if err == nil {
		future := now.Add(MaxClockSkew)
		switch age := now.Sub(snap.LastSuccess); {
		case snap.LastSuccess.IsZero():
			err = fmt.Errorf("%w: the probe never succeeded", errNotRestorable)
			level = slog.LevelInfo
		case snap.Options != want.Options:
			// Expected after a config change or an upgrade from a
			// version that did not record the settings.
			err = fmt.Errorf("%w: written by a run with other settings (options, tool paths or read roots changed)", errNotRestorable)
			level = slog.LevelInfo
		case snap.LastSuccess.After(future) || snap.Run.After(future) || snap.InventoryChange.After(future):
			err = fmt.Errorf("%w: its times lie in the future (last success %s, now %s): the clock was wrong when it was written, or is now",
				errNotRestorable, snap.LastSuccess.Format(time.RFC3339), now.Format(time.RFC3339))
		case age > want.MaxAge:
			err = fmt.Errorf("%w: last success %s ago, more than %s", errNotRestorable, age.Round(time.Second), want.MaxAge)
			level = slog.LevelInfo // expected after a long outage
		default:
			var dropped []string
			snap.Families, dropped = keepFamilies(snap.Families, want.MayExport)
			if len(dropped) > 0 {
				st.logger.Warn("state file holds series its probe does not export, or duplicates; restoring without them",
					"probe", name, "dropped", dropped)
			}
			err = st.cache.restore(snap, want.Interval)
		}
	}
	if err != nil {
		st.logger.Log(context.Background(), level, "state file not restored; the probe starts empty and its next run replaces the file", "probe", name, "err", err)
		return false
	}
	st.logger.Info("restored state file", "probe", name, "last_success", snap.LastSuccess.Format(time.RFC3339), "families", len(snap.Families))
	return true
}

// keepFamilies returns the families of fams that may pass (all when
// mayExport is nil), each name once and each series of it once, the first
// kept, and what it dropped, named. A registry refuses a second family of
// one name with other labels or help and a repeated series, and it would
// log so on every render; a family of another probe or of the daemon's
// status series would collide with the real ones.
func keepFamilies(fams []statefile.Family, mayExport func(string) bool) ([]statefile.Family, []string) {
	var dropped []string
	seen := make(map[string]bool, len(fams))
	out := fams[:0:0]
	for _, f := range fams {
		switch {
		case mayExport != nil && !mayExport(f.Name):
			dropped = append(dropped, f.Name+" (not this probe's)")
			continue
		case seen[f.Name]:
			dropped = append(dropped, f.Name+" (family repeated)")
			continue
		}
		seen[f.Name] = true
		series := make(map[string]bool, len(f.Samples))
		samples := f.Samples[:0:0]
		dups := 0
		for _, smp := range f.Samples {
			k := strings.Join(smp.LabelValues, "\xff")
			if series[k] {
				dups++
				continue
			}
			series[k] = true
			samples = append(samples, smp)
		}
		if dups > 0 {
			dropped = append(dropped, fmt.Sprintf("%s (%d repeated series)", f.Name, dups))
		}
		f.Samples = samples
		out = append(out, f)
	}
	return out, dropped
}
