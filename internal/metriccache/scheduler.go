package metriccache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// Job is one probe and its schedule.
type Job struct {
	Probe    probe.Probe
	Interval time.Duration // between successful runs
	Timeout  time.Duration // for one run
}

// Options configure a Scheduler.
type Options struct {
	// MaxConcurrent bounds how many probes run at once (default 4): the
	// exporter must stay a small guest on the host it watches.
	MaxConcurrent int
	// Jitter is the upper bound of a random delay added to every scheduled
	// run, the first included, so that a fleet restarted together does not
	// probe its BMCs and disks in lockstep.
	Jitter time.Duration
	// RetryMin is the first retry delay after a failure; it doubles on each
	// further failure up to the probe's interval (default 30s).
	RetryMin time.Duration
	// OnStore is called after each stored result, from the goroutine that
	// ran the probe (the server uses it to re-render cached responses).
	OnStore func(name string)
	Clock   Clock
	Logger  *slog.Logger
	// Registerer, if set, receives the scheduler's own metrics (the
	// exporter's registry, not the hardware one).
	Registerer prometheus.Registerer
}

// ErrHung is the failure recorded when a probe's previous run ignored its
// timeout and has still not returned; the scheduler does not stack a second
// run on top of it.
var ErrHung = errors.New("previous run has not returned after its timeout")

// Scheduler runs probes on their schedules and stores their results in a
// Cache. Create with NewScheduler, start with Run.
type Scheduler struct {
	cache *Cache
	jobs  map[string]*job
	opts  Options
	sem   chan struct{}

	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// job is a Job plus the state of its schedule. Only its own loop goroutine
// touches failures; waiters and kick are shared with Refresh.
type job struct {
	Job
	failures int

	kick    chan struct{} // buffered(1): run now
	mu      sync.Mutex
	waiters []chan struct{} // Refresh callers waiting for the next run to end
	busy    chan struct{}   // closed when the probe call in flight returns; nil when none
}

// NewScheduler returns a scheduler for jobs that stores into cache.
func NewScheduler(cache *Cache, jobs []Job, opts Options) *Scheduler {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 4
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		cache: cache,
		jobs:  make(map[string]*job, len(jobs)),
		opts:  opts,
		sem:   make(chan struct{}, opts.MaxConcurrent),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hardware_exporter_probe_runs_total",
			Help: "Probe runs by probe and result (success, failure).",
		}, []string{"probe", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hardware_exporter_probe_run_duration_seconds",
			Help:    "Duration of probe runs.",
			Buckets: []float64{.001, .005, .025, .1, .5, 2.5, 10, 30, 120, 600},
		}, []string{"probe"}),
	}
	for _, j := range jobs {
		s.jobs[j.Probe.Name()] = &job{Job: j, kick: make(chan struct{}, 1)}
	}
	if opts.Registerer != nil {
		s.runs = registerOrReuse(opts.Registerer, s.runs)
		s.duration = registerOrReuse(opts.Registerer, s.duration)
	}
	return s
}

// registerOrReuse registers c, or returns the collector already registered
// under the same descriptors: a scheduler rebuilt on config reload keeps
// counting into the same series.
func registerOrReuse[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// Names lists the scheduled probes.
func (s *Scheduler) Names() []string {
	names := make([]string, 0, len(s.jobs))
	for n := range s.jobs {
		names = append(names, n)
	}
	return names
}

// Run schedules every job until ctx is done, then waits for its loops to
// end. A probe call that ignores its context may outlive Run; it ends when
// the probe returns.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, j := range s.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, j)
		}()
	}
	wg.Wait()
}

// RunOnce runs every job now, at most MaxConcurrent at a time, and returns
// when all have stored their results. It is --once's round. It must not be
// called while Run is running.
func (s *Scheduler) RunOnce(ctx context.Context) {
	var wg sync.WaitGroup
	for _, j := range s.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, j)
		}()
	}
	wg.Wait()
}

// Refresh runs the named probes (all when none are named) as soon as a
// concurrency slot is free and waits until they have stored results.
// Concurrent refreshes of a probe share one run. It fails for an unknown
// name, and returns ctx's error if ctx ends first.
func (s *Scheduler) Refresh(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		names = s.Names()
	}
	dones := make([]chan struct{}, 0, len(names))
	for _, n := range names {
		if _, ok := s.jobs[n]; !ok {
			return fmt.Errorf("no enabled probe named %q", n)
		}
	}
	for _, n := range names {
		j := s.jobs[n]
		done := make(chan struct{})
		j.mu.Lock()
		j.waiters = append(j.waiters, done)
		j.mu.Unlock()
		select {
		case j.kick <- struct{}{}:
		default: // a run is already requested; this caller rides on it
		}
		dones = append(dones, done)
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *Scheduler) loop(ctx context.Context, j *job) {
	next := s.opts.Clock.Now().Add(s.jitter())
	if exp, ok := s.cache.Expires(j.Probe.Name()); ok {
		// Data from before a config reload: run when it is due, or sooner
		// if the new interval is shorter.
		next = minTime(exp, s.opts.Clock.Now().Add(j.Interval)).Add(s.jitter())
	}
	for {
		wait := next.Sub(s.opts.Clock.Now())
		timer, stop := s.opts.Clock.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			stop()
			j.release()
			return
		case <-timer:
		case <-j.kick:
			stop()
		}
		waiters := j.takeWaiters()
		next = s.run(ctx, j)
		for _, w := range waiters {
			close(w)
		}
	}
}

func (j *job) takeWaiters() []chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	w := j.waiters
	j.waiters = nil
	return w
}

// release wakes Refresh callers when the loop ends without running again.
func (j *job) release() {
	for _, w := range j.takeWaiters() {
		close(w)
	}
}

// jitter returns a random delay in [0, Jitter).
func (s *Scheduler) jitter() time.Duration {
	if s.opts.Jitter <= 0 {
		return 0
	}
	return rand.N(s.opts.Jitter)
}

// run runs j once under a concurrency slot and its timeout, stores the
// result and returns when the next run is due.
func (s *Scheduler) run(ctx context.Context, j *job) time.Time {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return s.opts.Clock.Now()
	}
	name := j.Probe.Name()
	start := s.opts.Clock.Now()
	metrics, skipped, err := s.call(ctx, j)
	elapsed := s.opts.Clock.Now().Sub(start)
	<-s.sem // storing and OnStore's re-rendering are not probe work

	var next time.Time
	if err == nil {
		j.failures = 0
		next = start.Add(j.Interval)
		s.runs.WithLabelValues(name, "success").Inc()
	} else {
		j.failures++
		// Count the retry from the end of the run: a run that timed out
		// after minutes must not be retried the moment it gave up.
		next = start.Add(elapsed + s.retryDelay(j))
		s.runs.WithLabelValues(name, "failure").Inc()
		s.opts.Logger.Warn("probe failed; keeping its last good metrics", "probe", name,
			"err", err, "failures", j.failures, "retry_at", next)
	}
	s.duration.WithLabelValues(name).Observe(elapsed.Seconds())
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Shutting down: a run cut short by that is not the probe's fault.
		return next
	}
	s.cache.Store(name, Result{
		Interval: j.Interval,
		Metrics:  metrics, Err: err, Start: start, Duration: elapsed,
		Skipped: skipped, Expires: next,
	})
	if s.opts.OnStore != nil {
		s.opts.OnStore(name)
	}
	return next.Add(s.jitter())
}

// retryDelay backs off exponentially from RetryMin, never beyond the
// probe's interval: a failing probe is retried sooner than a healthy one is
// refreshed, but a permanently failing one costs no more than a healthy one.
func (s *Scheduler) retryDelay(j *job) time.Duration {
	d := s.opts.RetryMin
	for i := 1; i < j.failures && d < j.Interval; i++ {
		d *= 2
	}
	return min(d, j.Interval)
}

type callResult struct {
	metrics []prometheus.Metric
	skipped int
	err     error
}

// call runs the probe in its own goroutine so that a probe ignoring its
// context cannot hold the scheduler past the timeout. Such a call is left to
// finish on its own (it is the goroutine's end); until it does, the probe is
// not started again.
func (s *Scheduler) call(ctx context.Context, j *job) ([]prometheus.Metric, int, error) {
	if j.busy != nil {
		select {
		case <-j.busy:
			j.busy = nil
		default:
			return nil, 0, ErrHung
		}
	}
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	logger := s.opts.Logger.With("probe", j.Probe.Name())
	skips := probe.NewSkips(logger)
	out := make(chan callResult, 1)
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		defer func() {
			if p := recover(); p != nil {
				logger.Error("probe panicked", "panic", p, "stack", string(debug.Stack()))
				out <- callResult{err: fmt.Errorf("probe panicked: %v", p)}
			}
		}()
		m, err := j.Probe.Probe(ctx, skips)
		out <- callResult{metrics: m, skipped: skips.Count(), err: err}
	}()

	timer, stop := s.opts.Clock.NewTimer(timeout)
	defer stop()
	select {
	case r := <-out:
		<-busy
		return r.metrics, r.skipped, r.err
	case <-timer:
	case <-ctx.Done():
	}
	// The probe did not return in time. Give it no more than a moment to
	// notice the cancelled context (its partial output is discarded).
	cancel()
	select {
	case r := <-out:
		<-busy
		if r.err == nil {
			r.err = context.DeadlineExceeded
		}
		return nil, r.skipped, fmt.Errorf("timed out after %s: %w", timeout, r.err)
	default:
		j.busy = busy
		return nil, skips.Count(), fmt.Errorf("timed out after %s: %w", timeout, context.DeadlineExceeded)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
