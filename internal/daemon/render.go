package daemon

import "context"

// batchWarmer re-renders the cached /metrics responses once per batch of
// probe results rather than once per result. Probes of one interval run
// together on this host's grid (scheduler.Options.Offset), and each render
// re-encodes and re-compresses the whole body: warming after every store
// was most of the daemon's CPU (docs/benchmarks.md). A scrape that arrives
// inside the batch renders on demand, as any miss does.
//
// The last result of a batch warms, at once: pending says whether another
// probe is running or due (scheduler.Pending), and while one is, a result
// leaves the render to it. A probe that hangs holds the render back until
// its timeout ends its run. No timer: an earlier version waited 250ms of
// quiet and at most 2s, and each batch cost the daemon two more wakes (the
// quiet timer's, and the stopped 2s timer's, which the Go runtime keeps at
// its old time until that time comes) with sysmon's spin and cold caches
// in each.
type batchWarmer struct {
	kick    chan struct{}
	warm    func()
	pending func(name string) bool // nil: every result warms
}

func newBatchWarmer(warm func(), pending func(name string) bool) *batchWarmer {
	return &batchWarmer{kick: make(chan struct{}, 1), warm: warm, pending: pending}
}

// Stored notes that name's result landed; it never blocks.
func (b *batchWarmer) Stored(name string) {
	if b.pending != nil && b.pending(name) {
		return
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Run warms after each batch until ctx ends.
func (b *batchWarmer) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		}
		b.warm()
	}
}
