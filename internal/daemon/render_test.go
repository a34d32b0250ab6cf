package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A burst of stores is one render; stores apart are one each; a stream of
// stores still renders within the bound.
func TestBatchWarmerCoalesces(t *testing.T) {
	var warms atomic.Int64
	b := newBatchWarmer(func() { warms.Add(1) })
	b.quiet, b.most = 50*time.Millisecond, 300*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	defer func() { cancel(); <-done }()

	wait := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for warms.Load() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // and no more than that
		if got := warms.Load(); got != want {
			t.Fatalf("warms = %d, want %d", got, want)
		}
	}
	for range 8 { // one interval's batch of results
		b.Stored()
	}
	wait(1)
	b.Stored()
	wait(2)
	// Results landing every 20ms for 600ms: quiet never comes, most does.
	stop := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(stop) {
		b.Stored()
		time.Sleep(20 * time.Millisecond)
	}
	if got := warms.Load(); got < 3 {
		t.Errorf("a steady stream of results rendered %d times in 600ms, want at least one more within the 300ms bound", got-2)
	}
}
