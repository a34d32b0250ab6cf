// Package gcpace paces the Go garbage collector by the growth of the heap
// alone, without the collection the runtime forces every two minutes.
//
// With GOGC on, the runtime starts a collection whenever two minutes have
// passed without one, however little was allocated. This daemon keeps a
// few MB live and allocates well under a MB a minute between probe runs
// and scrapes, so every collection it had in real time was that forced
// one: on the fixture host about 2.5 ms of CPU a minute, a fifth of the
// whole daemon's (docs/benchmarks.md, "GC paced by the heap").
//
// Start turns GOGC off, which also stops the forced collection, and sets a
// soft memory limit (debug.SetMemoryLimit) instead: what the runtime holds
// beside the heap, plus the live heap, plus as much again as the live heap
// and at least MinGrowth. A finalizer on a sentinel object, re-armed each time,
// moves the limit after every collection, so the heap is collected when it
// has grown as it would under GOGC=100, and the limit follows a live heap
// that grows (a large textfile directory) instead of collecting without
// end below it. The runtime caps the collector's CPU under a memory limit
// at half of GOMAXPROCS in any case.
//
// GOGC or GOMEMLIMIT in the environment mean the operator paces the
// collector: Start then leaves the runtime alone.
package gcpace

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// MinGrowth is the least the heap may grow between two collections: with
// a small live heap, GOGC=100's "as much again" would collect after a few
// scrapes' garbage.
const MinGrowth = 4 << 20

// The runtime/metrics samples the limit is computed from. What the runtime
// holds beside the heap (stacks, metadata) is the total less the heap's
// classes; the heap's free and released pages are left out on purpose: a
// limit on "all the runtime holds now" would keep the last peak's free
// pages and ratchet up by the live heap at every collection.
var sampleNames = []string{
	"/gc/heap/live:bytes",                 // live heap marked by the last collection
	"/memory/classes/total:bytes",         // all memory the runtime maps
	"/memory/classes/heap/objects:bytes",  // heap objects, live and not yet swept
	"/memory/classes/heap/unused:bytes",   // heap spans' unused parts
	"/memory/classes/heap/free:bytes",     // free heap pages, not yet returned
	"/memory/classes/heap/released:bytes", // free heap pages returned to the OS
}

// pacer is the running pace: one per process.
type pacer struct {
	mu      sync.Mutex
	samples []metrics.Sample
	stopped atomic.Bool
	// paced counts the limits set, for tests.
	paced atomic.Int64
}

var (
	runningMu sync.Mutex
	running   *pacer
)

// Start takes over the collector's pacing, unless the environment sets
// GOGC or GOMEMLIMIT or it is already running, and returns what undoes
// it (GOGC back to 100, no memory limit). It reports whether it took over.
func Start() (stop func(), started bool) {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return func() {}, false
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return func() {}, false
	}
	runningMu.Lock()
	defer runningMu.Unlock()
	if running != nil {
		return func() {}, false
	}
	p := &pacer{samples: make([]metrics.Sample, len(sampleNames))}
	for i, n := range sampleNames {
		p.samples[i].Name = n
	}
	running = p
	// The limit first: between the two calls the heap must not be left
	// with neither GOGC nor a limit.
	p.setLimit()
	debug.SetGCPercent(-1)
	p.arm()
	return p.stop, true
}

func (p *pacer) stop() {
	runningMu.Lock()
	defer runningMu.Unlock()
	if p.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	running = nil
}

// setLimit sets the memory limit to what the runtime holds now plus the
// growth allowed before the next collection.
func (p *pacer) setLimit() {
	p.mu.Lock()
	defer p.mu.Unlock()
	metrics.Read(p.samples)
	live, total := p.value(0), p.value(1)
	heap := p.value(2) + p.value(3) + p.value(4) + p.value(5)
	nonHeap := total - min(heap, total)
	debug.SetMemoryLimit(int64(min(limitFor(nonHeap, live), math.MaxInt64/2)))
	p.paced.Add(1)
}

// limitFor is the memory limit for a runtime holding nonHeap beside a heap
// of live bytes: room for the live heap and as much again, at least
// MinGrowth, as GOGC=100 would give it.
func limitFor(nonHeap, live uint64) uint64 {
	return nonHeap + live + max(live, MinGrowth)
}

func (p *pacer) value(i int) uint64 {
	if p.samples[i].Value.Kind() != metrics.KindUint64 {
		return 0 // a metric this Go does not have: the limit leans on the rest
	}
	return p.samples[i].Value.Uint64()
}

// sentinel is an object only its finalizer refers to: it becomes garbage
// at once, so its finalizer runs after the next collection. It holds a
// pointer so that it is never a tiny allocation, whose finalizer may not
// run.
type sentinel struct{ p *pacer }

// arm makes the next collection call setLimit.
func (p *pacer) arm() {
	runtime.SetFinalizer(&sentinel{p: p}, func(s *sentinel) {
		if s.p.stopped.Load() {
			return
		}
		s.p.setLimit()
		s.p.arm()
	})
}
