package daemon

import (
	"context"
	"time"
)

// batchWarmer re-renders the cached /metrics responses once per batch of
// probe results rather than once per result. Probes of one interval run
// together on this host's grid (scheduler.Options.Offset), and each render
// re-encodes and re-compresses the whole body: warming after every store
// was most of the daemon's CPU (docs/benchmarks.md). A scrape that arrives
// inside the batch renders on demand, as any miss does.
//
// A batch is the results that land within window of its first one. One
// timer, started afresh for each batch and never moved: the Go runtime
// keeps a timer reset to a later time (or stopped) at its old time until
// that time comes, and the process wakes then for nothing. The earlier
// quiet/most pair of timers left such a wake two seconds after every batch.
type batchWarmer struct {
	kick   chan struct{}
	warm   func()
	window time.Duration
}

func newBatchWarmer(warm func()) *batchWarmer {
	return &batchWarmer{kick: make(chan struct{}, 1), warm: warm, window: 250 * time.Millisecond}
}

// Stored notes that a result landed; it never blocks.
func (b *batchWarmer) Stored() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Run warms after each batch until ctx ends.
func (b *batchWarmer) Run(ctx context.Context) {
	timer := time.NewTimer(b.window)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		}
		// Since Go 1.23 a stopped or fired timer has nothing to drain: this
		// Reset starts the batch's window on an idle timer.
		timer.Reset(b.window)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		// Results that landed in the window are in this render; one that
		// lands while it runs starts the next batch.
		select {
		case <-b.kick:
		default:
		}
		b.warm()
	}
}
