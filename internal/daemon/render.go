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
type batchWarmer struct {
	kick  chan struct{}
	warm  func()
	quiet time.Duration // warm once no result has landed for this long
	most  time.Duration // and never later than this after the first
}

func newBatchWarmer(warm func()) *batchWarmer {
	return &batchWarmer{kick: make(chan struct{}, 1), warm: warm, quiet: 250 * time.Millisecond, most: 2 * time.Second}
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		}
		quiet := time.NewTimer(b.quiet)
		most := time.NewTimer(b.most)
	batch:
		for {
			select {
			case <-ctx.Done():
				quiet.Stop()
				most.Stop()
				return
			case <-b.kick:
				quiet.Reset(b.quiet)
			case <-quiet.C:
				break batch
			case <-most.C:
				break batch
			}
		}
		quiet.Stop()
		most.Stop()
		b.warm()
	}
}
