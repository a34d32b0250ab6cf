package scheduler

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

var testValueDesc = prometheus.NewDesc("hardware_test_value", "A test value.", []string{"probe"}, nil)

// fakeProbe returns whatever its behave function says, counting calls.
type fakeProbe struct {
	name   string
	calls  atomic.Int64
	behave func(ctx context.Context, call int64) (float64, error)
}

func (p *fakeProbe) Describe(ch chan<- *prometheus.Desc) { ch <- testValueDesc }
func (p *fakeProbe) Probe(ctx context.Context, _ probe.Env, _ *probe.Skips) ([]prometheus.Metric, error) {
	v, err := p.behave(ctx, p.calls.Add(1))
	if err != nil {
		return nil, err
	}
	return []prometheus.Metric{prometheus.MustNewConstMetric(testValueDesc, prometheus.GaugeValue, v, p.name)}, nil
}

// harness runs one scheduler on a fake clock and reports every store.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	cache  *metriccache.Cache
	sched  *Scheduler
	stored chan string
	stop   func()
}

// telling is the harness's store: the metric cache, and the name of each
// stored result on a channel.
type telling struct {
	*metriccache.Cache
	stored chan<- string
}

func (t telling) Store(name string, r metriccache.Result) {
	t.Cache.Store(name, r)
	t.stored <- name
}

func newHarness(t *testing.T, opts Options, jobs ...Job) *harness {
	t.Helper()
	return newHarnessWith(t, newFakeClock(), nil, opts, jobs...)
}

// newHarnessWith is newHarness on a given clock, whose cache is filled by
// prefill (as a restore at start does) before the scheduler starts.
func newHarnessWith(t *testing.T, clock *fakeClock, prefill func(*metriccache.Cache), opts Options, jobs ...Job) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock, stored: make(chan string, 100)}
	probes := make([]metriccache.Describer, len(jobs))
	for i, j := range jobs {
		probes[i] = j.Probe
	}
	h.cache = metriccache.New(probes...)
	if prefill != nil {
		prefill(h.cache)
	}
	opts.Clock = h.clock
	h.sched = New(telling{h.cache, h.stored}, jobs, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.sched.Run(ctx)
	}()
	h.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("scheduler did not stop within 5s")
		}
	}
	t.Cleanup(h.stop)
	return h
}

// waitStored waits (in real time, bounded) for the next stored result.
func (h *harness) waitStored() string {
	h.t.Helper()
	select {
	case n := <-h.stored:
		return n
	case <-time.After(5 * time.Second):
		h.t.Fatal("no probe result stored within 5s")
		return ""
	}
}

// value returns the sample of metric name for probe p from the cache, and
// fails the test if there is none: an absent series must not pass for 0.
func value(t *testing.T, c *metriccache.Cache, name, p string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	for m := range ch {
		if !strings.Contains(m.Desc().String(), `"`+name+`"`) {
			continue
		}
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		for _, l := range pb.GetLabel() {
			if l.GetName() == "probe" && l.GetValue() == p {
				return pb.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s series for probe %q", name, p)
	return 0
}

func TestSchedulerCutsHungProbeAtTimeout(t *testing.T) {
	p := &fakeProbe{name: "hung", behave: func(ctx context.Context, _ int64) (float64, error) {
		<-ctx.Done() // honours cancellation, but only that
		return 0, ctx.Err()
	}}
	h := newHarness(t, Options{}, Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: 2 * time.Minute})
	h.clock.waitTimers(t, 1) // the run's timeout timer
	h.clock.advance(2 * time.Minute)
	h.waitStored()
	if v := value(t, h.cache, "hardware_probe_success", "hung"); v != 0 {
		t.Errorf("success = %v, want 0", v)
	}
	if v := value(t, h.cache, "hardware_probe_duration_seconds", "hung"); v != 120 {
		t.Errorf("duration = %v, want 120 (the timeout)", v)
	}
}

func TestSchedulerDoesNotStackRunsOnAProbeIgnoringItsContext(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	p := &fakeProbe{name: "stuck", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 1 {
			close(entered)
			<-release // ignores ctx entirely
		}
		return float64(call), nil
	}}
	h := newHarness(t, Options{RetryMin: time.Minute}, Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: time.Minute})
	defer close(release)

	h.clock.waitTimers(t, 1)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("probe not called within 5s")
	}
	h.clock.advance(time.Minute) // timeout: the call is abandoned, still running
	h.waitStored()
	if v := value(t, h.cache, "hardware_probe_success", "stuck"); v != 0 {
		t.Fatalf("success after timeout = %v, want 0", v)
	}
	h.clock.waitTimers(t, 1)
	h.clock.advance(time.Minute) // retry while the first call still hangs
	h.waitStored()
	if got := p.calls.Load(); got != 1 {
		t.Errorf("probe called %d times while its first call hung, want 1", got)
	}
	release <- struct{}{}
	// The hung call has returned; the next retry (backed off to 2m) runs it.
	h.clock.waitTimers(t, 1)
	deadline := time.Now().Add(5 * time.Second)
	for p.calls.Load() < 2 && time.Now().Before(deadline) {
		h.clock.advance(time.Minute)
		select {
		case <-h.stored:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if v := value(t, h.cache, "hardware_test_value", "stuck"); v != 2 {
		t.Errorf("value after recovery = %v, want 2 (from the second call)", v)
	}
}

func TestSchedulerRecoversPanic(t *testing.T) {
	p := &fakeProbe{name: "panicky", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 1 {
			panic("index out of range in a parser")
		}
		return 7, nil
	}}
	h := newHarness(t, Options{RetryMin: time.Minute}, Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: time.Minute})
	h.waitStored()
	if v := value(t, h.cache, "hardware_probe_success", "panicky"); v != 0 {
		t.Fatalf("success after panic = %v, want 0", v)
	}
	h.clock.waitTimers(t, 1)
	h.clock.advance(time.Minute)
	h.waitStored()
	if v := value(t, h.cache, "hardware_test_value", "panicky"); v != 7 {
		t.Errorf("value after recovery = %v, want 7", v)
	}
}

func TestSchedulerKeepsLastGoodMetricsOnFailure(t *testing.T) {
	p := &fakeProbe{name: "flaky", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 2 {
			return 0, errors.New("smartctl: device busy")
		}
		return float64(call * 10), nil
	}}
	h := newHarness(t, Options{RetryMin: time.Minute}, Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: time.Minute})
	h.waitStored()
	first := value(t, h.cache, "hardware_probe_last_success_timestamp_seconds", "flaky")
	gen := h.cache.Generation()

	h.clock.waitTimers(t, 1)
	h.clock.advance(time.Hour)
	h.waitStored()
	if v := value(t, h.cache, "hardware_test_value", "flaky"); v != 10 {
		t.Errorf("value after failure = %v, want the last good 10", v)
	}
	if v := value(t, h.cache, "hardware_probe_success", "flaky"); v != 0 {
		t.Errorf("success = %v, want 0", v)
	}
	if v := value(t, h.cache, "hardware_probe_last_success_timestamp_seconds", "flaky"); v != first {
		t.Errorf("last success moved on failure: %v, want %v", v, first)
	}
	if h.cache.Generation() == gen {
		t.Error("a stored failure did not change the generation")
	}

	h.clock.waitTimers(t, 1)
	h.clock.advance(time.Minute) // backoff retry, not a full interval
	h.waitStored()
	if v := value(t, h.cache, "hardware_test_value", "flaky"); v != 30 {
		t.Errorf("value after retry = %v, want 30", v)
	}
	if v := value(t, h.cache, "hardware_probe_last_success_timestamp_seconds", "flaky"); v != first+3600+60 {
		t.Errorf("last success = %v, want %v", v, first+3660)
	}
}

func TestSchedulerHonoursIntervalAndBackoff(t *testing.T) {
	fail := atomic.Bool{}
	p := &fakeProbe{name: "p", behave: func(context.Context, int64) (float64, error) {
		if fail.Load() {
			return 0, errors.New("fail")
		}
		return 1, nil
	}}
	h := newHarness(t, Options{RetryMin: 30 * time.Second}, Job{Name: p.name, Probe: p, Interval: 6 * time.Hour, Timeout: time.Minute})
	start := h.clock.Now()
	h.waitStored()
	h.clock.waitTimers(t, 1)
	if at, _ := h.clock.nextTimer(); at != start.Add(6*time.Hour) {
		t.Fatalf("next run at %v, want interval later %v", at, start.Add(6*time.Hour))
	}
	fail.Store(true)
	// Failures retry after 30s, 1m, 2m, ... doubling, capped at the interval.
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute}
	h.clock.advance(6 * time.Hour)
	for i, d := range want {
		h.waitStored()
		h.clock.waitTimers(t, 1)
		now := h.clock.Now()
		at, _ := h.clock.nextTimer()
		if got := at.Sub(now); got != d {
			t.Errorf("retry %d after %v, want %v", i+1, got, d)
		}
		h.clock.advance(d)
	}
	h.waitStored()
	if got := p.calls.Load(); got != int64(len(want))+2 {
		t.Errorf("probe ran %d times, want %d", got, len(want)+2)
	}
}

func TestRetryDelayIsCappedAtInterval(t *testing.T) {
	s := New(metriccache.New(), nil, Options{RetryMin: 30 * time.Second})
	j := &job{}
	for failures, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 4: 4 * time.Minute, 5: 5 * time.Minute, 60: 5 * time.Minute} {
		j.failures = failures
		if got := s.retryDelay(j, 5*time.Minute); got != want {
			t.Errorf("retryDelay after %d failures = %v, want %v", failures, got, want)
		}
	}
}

// Runs are on this host's grid (Offset 0: the clock's hours here), each
// tick delayed by a jitter in [0, Jitter) that differs from tick to tick.
func TestSchedulerJitterStaysInBounds(t *testing.T) {
	p := &fakeProbe{name: "p", behave: func(context.Context, int64) (float64, error) { return 1, nil }}
	const jitter = 10 * time.Minute
	h := newHarness(t, Options{Jitter: jitter}, Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: time.Minute})
	// The first run, with nothing to serve yet, is not delayed: it
	// happens without the clock moving.
	start := h.clock.Now()
	h.waitStored()
	if got := h.cache.LastSuccess(p.name); !got.Equal(start) {
		t.Fatalf("first run at %v, want at once (%v)", got, start)
	}
	h.clock.waitTimers(t, 1)
	at, _ := h.clock.nextTimer()
	tick := start
	delays := map[time.Duration]bool{}
	for i := 0; i < 5; i++ {
		tick = tick.Add(time.Hour)
		d := at.Sub(tick)
		if d < 0 || d >= jitter {
			t.Fatalf("run %d at %v: %v after its tick %v, want within [0, %v)", i, at, d, tick, jitter)
		}
		delays[d] = true
		h.clock.advance(at.Sub(h.clock.Now()))
		h.waitStored()
		h.clock.waitTimers(t, 1)
		at, _ = h.clock.nextTimer()
	}
	if len(delays) < 2 {
		t.Errorf("jitter gave the same delay every time: %v", delays)
	}
}

// Probes of one interval, and of intervals that are multiples of it, run
// at the same ticks, so that one render serves the batch; Offset moves the
// grid.
func TestProbesOfAnIntervalRunTogether(t *testing.T) {
	var mu sync.Mutex
	runs := map[string][]time.Time{}
	var clock *fakeClock
	mk := func(name string) *fakeProbe {
		return &fakeProbe{name: name, behave: func(context.Context, int64) (float64, error) {
			mu.Lock()
			runs[name] = append(runs[name], clock.Now())
			mu.Unlock()
			return 1, nil
		}}
	}
	clock = newFakeClock()
	a, b, c := mk("a"), mk("b"), mk("c")
	const offset = 17 * time.Second
	h := newHarnessWith(t, clock, nil, Options{Offset: offset},
		Job{Name: "a", Probe: a, Interval: time.Minute, Timeout: time.Second},
		Job{Name: "b", Probe: b, Interval: time.Minute, Timeout: time.Second},
		Job{Name: "c", Probe: c, Interval: 5 * time.Minute, Timeout: time.Second})
	for range 3 {
		h.waitStored()
	}
	for range 6 { // six ticks of the 1m grid
		h.clock.waitTimers(t, 3)
		at, _ := h.clock.nextTimer()
		h.clock.advance(at.Sub(h.clock.Now()))
		n := 2
		if at.Sub(time.Unix(0, 0).Add(offset))%(5*time.Minute) == 0 {
			n = 3
		}
		for range n {
			h.waitStored()
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(runs["a"]) != 7 || len(runs["b"]) != 7 {
		t.Fatalf("runs: a %d, b %d; want 7 each", len(runs["a"]), len(runs["b"]))
	}
	for i := 1; i < 7; i++ {
		if !runs["a"][i].Equal(runs["b"][i]) {
			t.Errorf("tick %d: a ran at %v, b at %v; want together", i, runs["a"][i], runs["b"][i])
		}
		if off := runs["a"][i].Sub(time.Unix(0, 0)) % time.Minute; off != offset {
			t.Errorf("tick %d at %v: %v past the minute, want the offset %v", i, runs["a"][i], off, offset)
		}
	}
	if len(runs["c"]) != 2 || !slices.ContainsFunc(runs["a"], runs["c"][1].Equal) {
		t.Errorf("c (5m) ran at %v; want its second run on one of a's ticks %v", runs["c"], runs["a"])
	}
}

// A probe whose data was restored at start waits until that data is due,
// plus jitter, instead of running at once.
func TestRestoredDataWaitsUntilDue(t *testing.T) {
	p := &fakeProbe{name: "p", behave: func(context.Context, int64) (float64, error) { return 1, nil }}
	const jitter = time.Minute
	clock := newFakeClock()
	due := clock.Now().Add(20 * time.Minute)
	h := newHarnessWith(t, clock, func(c *metriccache.Cache) {
		c.Store(p.name, metriccache.Result{Start: clock.Now().Add(-40 * time.Minute), Expires: due})
	}, Options{Jitter: jitter}, Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: time.Minute})
	h.clock.waitTimers(t, 1)
	at, _ := h.clock.nextTimer()
	if d := at.Sub(due); d < 0 || d >= jitter {
		t.Fatalf("first run at due%+v, want within [0, %v) after the restored data's expiry", d, jitter)
	}
	h.clock.advance(at.Sub(h.clock.Now()) - time.Second)
	select {
	case n := <-h.stored:
		t.Fatalf("%s ran before its restored data was due", n)
	case <-time.After(50 * time.Millisecond):
	}
	h.clock.advance(time.Second)
	h.waitStored()
}

func TestRefreshRunsNowAndCoalesces(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan struct{})
	p := &fakeProbe{name: "p", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 2 {
			close(started)
			<-gate
		}
		return float64(call), nil
	}}
	h := newHarness(t, Options{}, Job{Name: p.name, Probe: p, Interval: 6 * time.Hour, Timeout: 24 * time.Hour})
	h.waitStored()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// The scheduled second run starts and blocks; two refreshes arrive
	// during it. They must not be answered by the run already under way
	// (it may have read the hardware before they asked), and must share
	// the one run after it.
	h.clock.waitTimers(t, 1)
	h.clock.advance(6 * time.Hour)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("scheduled run did not start within 5s")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.sched.Refresh(ctx, "p")
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		j := h.sched.jobs["p"]
		j.mu.Lock()
		n := len(j.waiters)
		j.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh callers did not register within 5s (have %d)", n)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := p.calls.Load(); got != 3 {
		t.Errorf("probe ran %d times, want 3 (first, scheduled, one shared refresh)", got)
	}
	if v := value(t, h.cache, "hardware_test_value", "p"); v != 3 {
		t.Errorf("value after refresh = %v, want 3", v)
	}
	if err := h.sched.Refresh(ctx, "nonexistent"); err == nil {
		t.Error("refresh of an unknown probe succeeded")
	}
}

// A reload (Update with the same probes) must not forget a run that hung
// past its timeout: stacking a second run on a stuck driver leaked a thread
// per reload until the process died.
func TestUpdateRemembersHungRun(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	p := &fakeProbe{name: "stuck", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 1 {
			close(entered)
			<-release // ignores ctx entirely
		}
		return float64(call), nil
	}}
	job := Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: time.Minute}
	h := newHarness(t, Options{RetryMin: time.Minute}, job)
	defer close(release)
	h.clock.waitTimers(t, 1)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("probe not called within 5s")
	}
	h.clock.advance(time.Minute) // timeout: the call is abandoned, still running
	h.waitStored()

	for range 3 {
		h.sched.Update([]Job{job})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.sched.Refresh(ctx, "stuck")
	if !errors.Is(err, ErrHung) || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("refresh after reloads = %v, want ErrHung naming the probe", err)
	}
	if got := p.calls.Load(); got != 1 {
		t.Errorf("probe called %d times while its first call hung, want 1", got)
	}
}

// A refresh waiting when a reload lands is answered by the run it waited
// for; one whose probe the reload turned off is told so at once.
func TestRefreshAcrossUpdate(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan struct{}, 10)
	p := &fakeProbe{name: "p", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 2 {
			started <- struct{}{}
			<-gate
		}
		return float64(call), nil
	}}
	job := Job{Name: p.name, Probe: p, Interval: 6 * time.Hour, Timeout: 24 * time.Hour}
	h := newHarness(t, Options{}, job)
	h.waitStored()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	done := make(chan error, 1)
	go func() { done <- h.sched.Refresh(ctx, "p") }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("refresh did not start a run within 5s")
	}
	job.Interval = time.Hour
	h.sched.Update([]Job{job}) // a reload while the refreshed run is under way
	close(gate)
	if err := <-done; err != nil {
		t.Errorf("refresh across a reload = %v, want nil", err)
	}

	// A refresh queued behind a slow run, then the probe is disabled.
	slow := make(chan struct{})
	q := &fakeProbe{name: "q", behave: func(ctx context.Context, call int64) (float64, error) {
		if call == 1 {
			<-slow
		}
		return 1, nil
	}}
	h2 := newHarness(t, Options{}, Job{Name: q.name, Probe: q, Interval: time.Hour, Timeout: 24 * time.Hour})
	defer close(slow)
	// The refresh is asked once the slow first run is under way, so it
	// queues behind it; q is disabled only once the refresh is queued
	// (before that, the refresh would rightly find no probe of that name).
	deadline := time.Now().Add(5 * time.Second)
	for q.calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("q's first run did not start within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	go func() { done <- h2.sched.Refresh(ctx, "q") }()
	for {
		h2.sched.mu.Lock()
		j := h2.sched.jobs["q"]
		j.mu.Lock()
		n := len(j.waiters)
		j.mu.Unlock()
		h2.sched.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh not waiting within 5s (waiters %d, calls %d)", n, q.calls.Load())
		}
		time.Sleep(time.Millisecond)
	}
	h2.sched.Update(nil)
	select {
	case err := <-done:
		if !errors.Is(err, ErrDisabled) && !errors.Is(err, ErrStopped) {
			t.Errorf("refresh of a probe disabled meanwhile = %v, want ErrDisabled or ErrStopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("refresh of a disabled probe was not answered within 5s")
	}
	if names := h2.sched.Names(); len(names) != 0 {
		t.Errorf("enabled after Update(nil): %v", names)
	}
}

// Refresh says which probes failed in its run, and why.
func TestRefreshNamesFailedProbes(t *testing.T) {
	good := &fakeProbe{name: "good", behave: func(context.Context, int64) (float64, error) { return 1, nil }}
	bad := &fakeProbe{name: "bad", behave: func(context.Context, int64) (float64, error) {
		return 0, errors.New("ipmitool: no BMC")
	}}
	h := newHarness(t, Options{RetryMin: time.Hour},
		Job{Name: good.name, Probe: good, Interval: time.Hour, Timeout: time.Minute},
		Job{Name: bad.name, Probe: bad, Interval: time.Hour, Timeout: time.Minute})
	h.waitStored()
	h.waitStored()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.sched.Refresh(ctx)
	if err == nil || !strings.Contains(err.Error(), "bad: ipmitool: no BMC") || strings.Contains(err.Error(), "good") {
		t.Errorf("refresh = %v, want only bad's failure, named", err)
	}
	if err := h.sched.Refresh(ctx, "good"); err != nil {
		t.Errorf("refresh of the good probe = %v", err)
	}
	if err := h.sched.Refresh(ctx, "nosuch"); !errors.Is(err, ErrUnknownProbe) {
		t.Errorf("refresh of an unknown probe = %v, want ErrUnknownProbe", err)
	}
}

// A reload that shortens a probe's interval (1h to 1m) takes effect from
// the reload: the next run comes no later than one new interval after it,
// jitter and the grid included.
func TestShorterIntervalCountsFromTheReload(t *testing.T) {
	p := &fakeProbe{name: "p", behave: func(context.Context, int64) (float64, error) { return 1, nil }}
	job := Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: time.Minute}
	// The grid's ticks are at :30 past each minute and the reload comes at
	// 12:07:05: the old code ran at the tick after reload+1m, 12:08:30,
	// plus up to 10s of jitter.
	h := newHarness(t, Options{Offset: 30 * time.Second, Jitter: 10 * time.Second}, job)
	h.waitStored()
	h.clock.waitTimers(t, 1)
	h.clock.advance(7*time.Minute + 5*time.Second)
	reload := h.clock.Now()
	job.Interval = time.Minute
	h.sched.Update([]Job{job})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if at, ok := h.clock.nextTimer(); ok && at.Before(reload.Add(30*time.Minute)) {
			if limit := reload.Add(time.Minute); at.After(limit) {
				t.Fatalf("next run at reload+%v, want no later than reload+1m", at.Sub(reload))
			}
			h.clock.advance(at.Sub(h.clock.Now()))
			h.waitStored()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the reload did not reschedule the probe within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A run under way during a reload stores the status with the interval in
// force when it ends, not the one it started with: the reload has already
// shown the new interval, and the run must not put the old one back.
func TestRunAcrossUpdateStoresTheNewInterval(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	p := &fakeProbe{name: "p", behave: func(context.Context, int64) (float64, error) {
		started <- struct{}{}
		<-gate
		return 1, nil
	}}
	job := Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: 24 * time.Hour}
	h := newHarness(t, Options{}, job)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the first run did not start within 5s")
	}
	job.Interval = 2 * time.Hour
	h.sched.Update([]Job{job})
	close(gate)
	h.waitStored()
	if got := value(t, h.cache, "hardware_probe_interval_seconds", p.name); got != 7200 {
		t.Errorf("interval stored by a run across a reload = %v, want 7200", got)
	}
}

// waitLastRun waits (in real time, bounded) until name's loop has recorded
// a run that ended, which it does just after the store.
func (h *harness) waitLastRun(name string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		j := h.sched.jobs[name]
		j.mu.Lock()
		done := !j.last.IsZero() && !j.running
		j.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: no run ended within 5s", name)
		}
		time.Sleep(time.Millisecond)
	}
}

// /-/refresh needs no credentials: a client looping refreshes of a probe
// must not run its tool as fast as it asks. Within RefreshSpacing of a
// run's start, refreshes are answered from that run, and say so.
func TestRefreshSpacing(t *testing.T) {
	p := &fakeProbe{name: "sel", behave: func(_ context.Context, call int64) (float64, error) { return float64(call), nil }}
	h := newHarness(t, Options{}, Job{Name: "sel", Probe: p, Interval: time.Hour, Timeout: time.Minute, RefreshSpacing: 30 * time.Second})
	h.waitStored() // the first run, at start
	h.waitLastRun("sel")
	ctx := context.Background()
	const n = 40 // with the first run, fewer stores than the harness buffers, so a regression fails rather than hangs
	loop := func() (reused int) {
		t.Helper()
		for range n {
			r, err := h.sched.RefreshReusing(ctx, "sel")
			if err != nil {
				t.Fatal(err)
			}
			reused += len(r)
			for _, u := range r {
				if u.Probe != "sel" || u.InFlight || u.Spacing != 30*time.Second {
					t.Fatalf("reuse %+v", u)
				}
			}
		}
		return reused
	}
	if reused := loop(); reused != n || p.calls.Load() != 1 {
		t.Errorf("%d refreshes within the spacing of the first run: %d runs, %d answered from it; want 1 run, all answered from it",
			n, p.calls.Load(), reused)
	}

	// Past the spacing, the first refresh runs the probe and the rest of
	// the loop is answered from that run.
	h.clock.advance(31 * time.Second)
	if reused := loop(); reused != n-1 || p.calls.Load() != 2 {
		t.Errorf("loop of %d refreshes after the spacing: %d runs in all, %d reused; want 2 and %d", n, p.calls.Load(), reused, n-1)
	}
	if v := value(t, h.cache, "hardware_test_value", "sel"); v != 2 {
		t.Errorf("value = %v, want the second run's 2", v)
	}
}

// A refresh during a run, within the spacing, is answered when that run
// ends, with its error, and starts no run of its own.
func TestRefreshSpacingRidesTheRunInFlight(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan struct{}, 10)
	p := &fakeProbe{name: "sel", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 2 {
			started <- struct{}{}
			<-gate
			return 0, errors.New("BMC busy")
		}
		return 1, nil
	}}
	h := newHarness(t, Options{}, Job{Name: "sel", Probe: p, Interval: time.Hour, Timeout: time.Minute, RefreshSpacing: 30 * time.Second})
	h.waitStored()
	h.waitLastRun("sel")
	h.clock.advance(time.Minute) // past the spacing: the next refresh runs
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- h.sched.Refresh(ctx, "sel") }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the refresh's run did not start within 5s")
	}
	second := make(chan []Reuse, 1)
	secondErr := make(chan error, 1)
	go func() {
		r, err := h.sched.RefreshReusing(ctx, "sel")
		second <- r
		secondErr <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		j := h.sched.jobs["sel"]
		j.mu.Lock()
		n := len(j.riders)
		j.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second refresh did not wait on the run in flight within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	if err := <-first; err == nil || !strings.Contains(err.Error(), "BMC busy") {
		t.Errorf("first refresh: %v", err)
	}
	r := <-second
	if err := <-secondErr; err == nil || !strings.Contains(err.Error(), "BMC busy") {
		t.Errorf("second refresh: %v, want the run in flight's error", err)
	}
	if len(r) != 1 || !r[0].InFlight {
		t.Errorf("second refresh reuse %+v, want the run in flight", r)
	}
	if got := p.calls.Load(); got != 2 {
		t.Errorf("probe ran %d times, want 2", got)
	}
}

// lateClock is a fake clock whose NewTimer returns only once the probe has
// answered, and a moment after: the run's answer and its cancellation are
// then both waiting when call looks, as when a probe answers on its way out
// of a cancelled run.
type lateClock struct {
	*fakeClock
	answered chan struct{}
}

func (c lateClock) NewTimer(d time.Duration) (<-chan time.Time, func()) {
	<-c.answered
	time.Sleep(5 * time.Millisecond) // the probe's goroutine sends its answer
	return c.fakeClock.NewTimer(d)
}

// TestCallFailsRunCalledOffWhileItAnswered: a probe that answers after its
// run was called off (it did not look at ctx again) does not get that answer
// stored, whichever of the two the scheduler sees first: the run fails with
// the cancellation, so no probe has to end with a ctx check of its own.
func TestCallFailsRunCalledOffWhileItAnswered(t *testing.T) {
	for i := range 20 {
		parent, cancel := context.WithCancel(context.Background())
		clock := lateClock{newFakeClock(), make(chan struct{})}
		p := &fakeProbe{name: "late", behave: func(context.Context, int64) (float64, error) {
			cancel() // called off while it runs...
			close(clock.answered)
			return 1, nil // ...and it answers anyway
		}}
		job := Job{Name: p.name, Probe: p, Interval: time.Hour, Timeout: time.Minute}
		s := New(metriccache.New(p), []Job{job}, Options{Clock: clock})
		ms, _, err := s.call(parent, s.jobs[p.name], job)
		if !errors.Is(err, context.Canceled) || ms != nil {
			t.Fatalf("run %d: call = %d series, err %v; want none and context.Canceled", i, len(ms), err)
		}
	}
}

// A probe's run carries the pprof label probe=NAME, on its context and so on
// its goroutine and those it starts: a CPU profile of the daemon then says
// what each probe costs (cmd/costtest reads it that way).
func TestProbeRunsCarryTheirPprofLabel(t *testing.T) {
	got := make(chan string, 4)
	mk := func(name string) *fakeProbe {
		return &fakeProbe{name: name, behave: func(ctx context.Context, _ int64) (float64, error) {
			v, _ := pprof.Label(ctx, "probe")
			got <- name + "=" + v
			return 1, nil
		}}
	}
	a, b := mk("alpha"), mk("beta")
	h := newHarness(t, Options{},
		Job{Name: a.name, Probe: a, Interval: time.Hour, Timeout: time.Minute},
		Job{Name: b.name, Probe: b, Interval: time.Hour, Timeout: time.Minute})
	h.waitStored()
	h.waitStored()
	var seen []string
	for range 2 {
		seen = append(seen, <-got)
	}
	slices.Sort(seen)
	if want := []string{"alpha=alpha", "beta=beta"}; !slices.Equal(seen, want) {
		t.Errorf("pprof labels seen by the probes: %v, want %v", seen, want)
	}
}

// pendingAtStore records, for each stored result, whether the scheduler
// said another probe was still running or due (what the daemon's render
// ahead asks).
type pendingAtStore struct {
	*metriccache.Cache
	sched **Scheduler
	got   chan string
}

func (p pendingAtStore) Store(name string, r metriccache.Result) {
	p.Cache.Store(name, r)
	p.got <- fmt.Sprintf("%s pending=%v", name, (*p.sched).Pending(name))
}

// A result stored while another probe of its batch runs says so; the last
// one of the batch, and one of a later tick alone, find nothing pending.
func TestPendingUntilTheLastOfTheBatch(t *testing.T) {
	gate := make(chan struct{})
	slowBegan := make(chan struct{})
	fast := &fakeProbe{name: "fast", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 1 {
			<-slowBegan // both run at start; fast's result lands while slow's run is open
		}
		return 1, nil
	}}
	slow := &fakeProbe{name: "slow", behave: func(_ context.Context, call int64) (float64, error) {
		if call == 1 {
			close(slowBegan)
			<-gate
		}
		return 2, nil
	}}
	clock := newFakeClock()
	cache := metriccache.New(fast, slow)
	var sched *Scheduler
	store := pendingAtStore{Cache: cache, sched: &sched, got: make(chan string, 10)}
	sched = New(store, []Job{
		{Name: "fast", Probe: fast, Interval: time.Minute, Timeout: 30 * time.Second},
		{Name: "slow", Probe: slow, Interval: 5 * time.Minute, Timeout: 30 * time.Second},
	}, Options{Clock: clock})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(ctx) }()
	defer func() {
		close(gate)
		cancel()
		<-done
	}()
	next := func() string {
		t.Helper()
		select {
		case s := <-store.got:
			return s
		case <-time.After(5 * time.Second):
			t.Fatal("no result stored within 5s")
			return ""
		}
	}
	// Both have no data and run at once; slow holds its run open.
	if got, want := next(), "fast pending=true"; got != want {
		t.Errorf("first store: %q, want %q (slow is still running)", got, want)
	}
	gate <- struct{}{}
	if got, want := next(), "slow pending=false"; got != want {
		t.Errorf("second store: %q, want %q (the last of the batch)", got, want)
	}
	// A minute on, fast runs alone: slow is due in four more.
	clock.waitTimers(t, 2)
	clock.advance(time.Minute)
	if got, want := next(), "fast pending=false"; got != want {
		t.Errorf("next tick: %q, want %q", got, want)
	}
}
