package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A burst of stores is one render; stores apart are one each; a stream of
// stores renders once per window, not once per store nor never.
func TestBatchWarmerCoalesces(t *testing.T) {
	var warms atomic.Int64
	b := newBatchWarmer(func() { warms.Add(1) })
	b.window = 50 * time.Millisecond
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
	// Results landing every 20ms for 600ms: a render each 50ms window
	// (12), fewer where the machine is slow, never one per result (30).
	stop := time.Now().Add(600 * time.Millisecond)
	stores := 0
	for time.Now().Before(stop) {
		b.Stored()
		stores++
		time.Sleep(20 * time.Millisecond)
	}
	until := time.Now().Add(time.Second)
	for warms.Load() < 3 && time.Now().Before(until) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := warms.Load() - 2; got < 1 || got >= int64(stores) {
		t.Errorf("a steady stream of %d results rendered %d times, want at least once and fewer than once per result", stores, got)
	}
}
