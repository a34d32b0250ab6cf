package scheduler

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when a test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	cond   *sync.Cond
}

type fakeTimer struct {
	at      time.Time
	ch      chan time.Time
	stopped bool
}

func newFakeClock() *fakeClock {
	c := &fakeClock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		t.stopped = true
	} else {
		c.timers = append(c.timers, t)
	}
	c.cond.Broadcast()
	return t.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.stopped = true
		c.cond.Broadcast()
	}
}

// pending counts timers that are armed and not yet fired.
func (c *fakeClock) pendingLocked() int {
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// waitTimers blocks until at least n timers are armed: the goroutines under
// test have reached their waits. It fails the test after a real-time bound.
func (c *fakeClock) waitTimers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	done := make(chan struct{})
	go func() { // wakes the wait below when the deadline passes
		select {
		case <-time.After(time.Until(deadline)):
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		case <-done:
		}
	}()
	defer close(done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.pendingLocked() < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d armed timers (have %d)", n, c.pendingLocked())
		}
		c.cond.Wait()
	}
}

// advance moves the clock by d and fires every timer that falls due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.ch <- c.now
			t.stopped = true
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

// nextTimer reports when the earliest armed timer fires.
func (c *fakeClock) nextTimer() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first time.Time
	for _, t := range c.timers {
		if !t.stopped && (first.IsZero() || t.at.Before(first)) {
			first = t.at
		}
	}
	return first, !first.IsZero()
}
