package daemon

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// Only the last result of a batch renders: a result stored while another
// probe is still running or due leaves the render to that probe's.
func TestBatchWarmerRendersAfterTheLastResult(t *testing.T) {
	var warms atomic.Int64
	var toCome atomic.Int64 // results of the batch still to be stored
	b := newBatchWarmer(func() { warms.Add(1) }, func(string) bool { return toCome.Load() > 0 })
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
	toCome.Store(8) // one interval's batch
	for i := range 8 {
		toCome.Add(-1)
		b.Stored(fmt.Sprint("probe", i))
	}
	wait(1)
	b.Stored("alone") // a result of its own, nothing else due
	wait(2)
	toCome.Store(1) // a probe of the batch hangs: the others wait for it
	for i := range 3 {
		b.Stored(fmt.Sprint("probe", i))
	}
	wait(2)
	toCome.Store(0) // its timeout ends its run, and its result warms
	b.Stored("hung")
	wait(3)
}

// Without a scheduler to ask (RunOnce, tests), every result warms; results
// that land while a render runs share the next one.
func TestBatchWarmerWithoutPendingWarmsEachResult(t *testing.T) {
	var warms atomic.Int64
	b := newBatchWarmer(func() { warms.Add(1) }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for range 3 {
		before := warms.Load()
		b.Stored("p")
		deadline := time.Now().Add(5 * time.Second)
		for warms.Load() == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if got := warms.Load(); got != 3 {
		t.Errorf("warms = %d for 3 results apart, want 3", got)
	}
}
