// Package scheduler runs probes on their own schedules and stores what they
// return in the metric cache, so that no scrape ever waits for hardware.
//
// A Scheduler lives as long as the daemon. A config reload hands it new
// jobs with Update: probes keep their state, a run in flight is not cut
// short, a run that hung past its timeout is still remembered, and a
// refresh that was waiting still gets its answer.
package scheduler

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/defaults"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// Job is one probe, what it runs with, and its schedule.
type Job struct {
	Name     string
	Probe    probe.Probe
	Env      probe.Env
	Interval time.Duration // between successful runs
	Timeout  time.Duration // for one run
	// RefreshSpacing is the least time between the start of a run and a
	// run a refresh causes: a refresh sooner is answered from the run in
	// flight or the last run (Reuse). /-/refresh needs no credentials, so
	// without it any local user could run ipmitool as fast as they can
	// ask. 0 spaces nothing.
	RefreshSpacing time.Duration
}

// Options configure a Scheduler.
type Options struct {
	// MaxConcurrent bounds how many probes run at once (zero means
	// defaults.MaxConcurrent): the exporter must stay a small guest on the
	// host it watches.
	MaxConcurrent int
	// Offset places this host's runs in time. Probes run on a grid: a
	// probe of interval I runs at the times t with (t - Offset) mod I == 0,
	// so the probes of one interval (and those of longer intervals that are
	// multiples of it) run together and their results are rendered once,
	// not once per probe. The daemon draws Offset at random, so the hosts
	// of a fleet spread over each interval; zero aligns runs to the clock.
	Offset time.Duration
	// Jitter is the upper bound of a delay added to each tick of the grid,
	// drawn once per tick and shared by the probes of that tick, so that a
	// fleet's ticks drift apart without splitting one host's batch. A probe
	// with nothing to serve yet (no run, no restored state) runs at once:
	// delaying it would only prolong a partial /metrics.
	Jitter time.Duration
	// RetryMin is the first retry delay after a failure; it doubles on each
	// further failure up to the probe's interval (default 30s).
	RetryMin time.Duration
	Clock    Clock
	Logger   *slog.Logger
	// Registerer, if set, receives the scheduler's own metrics (the
	// exporter's registry, not the hardware one).
	Registerer prometheus.Registerer
}

var (
	// ErrHung is the failure recorded when a probe's previous run ignored
	// its timeout and has still not returned; the scheduler does not stack
	// a second run on top of it.
	ErrHung = errors.New("previous run has not returned after its timeout")
	// ErrDisabled answers a refresh of a probe that a reload turned off
	// before it ran.
	ErrDisabled = errors.New("probe disabled")
	// ErrStopped answers a refresh that the daemon's shutdown cut short.
	ErrStopped = errors.New("scheduler stopped")
	// ErrUnknownProbe answers a refresh naming no enabled probe.
	ErrUnknownProbe = errors.New("no enabled probe of that name")
)

// Store keeps the scheduler's results and says what each probe has to
// serve: a *metriccache.Cache, or a step in front of one that does more
// with each result it stores (the daemon's saves the state file and renders
// the responses ahead).
type Store interface {
	// Store is called once per completed run, from the goroutine that ran
	// the probe.
	Store(name string, r metriccache.Result)
	LastSuccess(name string) time.Time
	Expires(name string) (time.Time, bool)
}

// Scheduler runs probes on their schedules and stores their results in a
// metric cache. Create with New, start with Run, retune with Update.
type Scheduler struct {
	cache Store
	opts  Options
	sem   chan struct{}
	// jitterMax is Options.Jitter, retunable by SetJitter.
	jitterMax atomic.Int64
	seed      uint64 // for jitterAt

	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu     sync.Mutex
	jobs   map[string]*job // every job ever given; disabled ones keep their state
	runCtx context.Context // Run's, nil until Run starts
	loops  sync.WaitGroup
}

// job is a Job plus the state of its schedule. It outlives config reloads.
type job struct {
	name string
	kick chan struct{} // buffered(1): run now
	tune chan struct{} // buffered(1): settings changed, recompute the next run

	mu       sync.Mutex
	settings Job
	enabled  bool

	// shortened is set by an Update that shortens the interval, until the
	// loop has rescheduled for it (due).
	shortened bool

	// nextAt is when the loop will next run the probe (set by the loop).
	nextAt time.Time

	waiters  []chan error       // Refresh callers waiting for the next run to end
	riders   []chan error       // Refresh callers waiting for the run in flight to end
	running  bool               // a run has begun (maybe waiting for a slot) and not ended
	runStart time.Time          // when the run in flight began
	last     time.Time          // when the last run that ended began; zero if none
	lastErr  error              // its error
	stop     context.CancelFunc // ends the running loop; nil when none runs
	loopDone chan struct{}      // closed when the last loop started has ended

	// Touched only by the job's loop (one at a time, see loopDone) or by
	// RunOnce, which never runs beside Run.
	failures int
	busy     chan struct{} // closed when the probe call in flight returns; nil when none
}

// New returns a scheduler for jobs that stores into cache.
func New(cache Store, jobs []Job, opts Options) *Scheduler {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = defaults.MaxConcurrent
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
		jobs:  map[string]*job{},
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
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{s.runs, s.duration} {
			if err := opts.Registerer.Register(c); err != nil {
				panic(err)
			}
		}
	}
	s.seed = rand.Uint64()
	s.SetJitter(opts.Jitter)
	s.Update(jobs)
	return s
}

// SetJitter changes the upper bound of the random delay added to runs; it
// applies from each probe's next scheduled run.
func (s *Scheduler) SetJitter(d time.Duration) { s.jitterMax.Store(int64(d)) }

// Names lists the enabled probes, sorted.
func (s *Scheduler) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n, j := range s.jobs {
		j.mu.Lock()
		if j.enabled {
			names = append(names, n)
		}
		j.mu.Unlock()
	}
	slices.Sort(names)
	return names
}

// Pending reports whether an enabled probe other than name is running or
// due: its run has begun, or its time has come and its loop has not yet
// taken it up. Probes of one interval are due at the same instant, so when
// a result is stored and Pending is false, it was the last of its batch.
func (s *Scheduler) Pending(name string) bool {
	now := s.opts.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, j := range s.jobs {
		if n == name {
			continue
		}
		j.mu.Lock()
		pending := j.enabled && j.stop != nil && (j.running || !j.nextAt.IsZero() && !j.nextAt.After(now))
		j.mu.Unlock()
		if pending {
			return true
		}
	}
	return false
}

// Job returns the settings of the enabled probe name.
func (s *Scheduler) Job(name string) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[name]
	if !ok {
		return Job{}, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.settings, j.enabled
}

// Update makes jobs the enabled set. A probe that stays enabled keeps its
// schedule state and picks up its new settings from its next run on; one
// no longer named is stopped (its run in flight cancelled) and keeps its
// state in case a later reload enables it again.
func (s *Scheduler) Update(jobs []Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	enabled := map[string]bool{}
	for _, nj := range jobs {
		enabled[nj.Name] = true
		j, ok := s.jobs[nj.Name]
		if !ok {
			j = &job{name: nj.Name, kick: make(chan struct{}, 1), tune: make(chan struct{}, 1)}
			s.jobs[nj.Name] = j
		}
		j.mu.Lock()
		if ok && nj.Interval < j.settings.Interval {
			j.shortened = true
		}
		j.settings, j.enabled = nj, true
		j.mu.Unlock()
		select {
		case j.tune <- struct{}{}:
		default:
		}
		if s.runCtx != nil {
			s.startLoop(j)
		}
	}
	for name, j := range s.jobs {
		if enabled[name] {
			continue
		}
		j.mu.Lock()
		j.enabled = false
		if j.stop != nil {
			j.stop()
			j.stop = nil
		}
		waiters := j.waiters
		j.waiters = nil
		j.mu.Unlock()
		answer(waiters, ErrDisabled)
	}
}

// startLoop starts j's loop under Run's context unless one is running.
// Called with s.mu held.
func (s *Scheduler) startLoop(j *job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stop != nil || s.runCtx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	prev, done := j.loopDone, make(chan struct{})
	j.stop, j.loopDone = cancel, done
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		defer close(done)
		defer cancel()
		if prev != nil {
			<-prev // a disabled loop still finishing its run owns the state until it ends
		}
		// The label goes with the loop's goroutine, the probe call's and
		// whatever the probe starts: a CPU profile of the daemon
		// (/debug/pprof/profile, cmd/costtest) attributes each sample to
		// its probe, the store and the state file included.
		pprof.Do(ctx, pprof.Labels("probe", j.name), func(ctx context.Context) { s.loop(ctx, j) })
	}()
}

// Run schedules every enabled job until ctx is done, then waits for the
// loops to end. A probe call that ignores its context may outlive Run; it
// ends when the probe returns. Run is called once.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	s.runCtx = ctx
	for _, j := range s.jobs {
		j.mu.Lock()
		on := j.enabled
		j.mu.Unlock()
		if on {
			s.startLoop(j)
		}
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.loops.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		j.mu.Lock()
		waiters := j.waiters
		j.waiters = nil
		j.mu.Unlock()
		answer(waiters, ErrStopped)
	}
}

// RunOnce runs every enabled job now, at most MaxConcurrent at a time, and
// returns when all have stored their results. It is --once's round. It must
// not be called while Run is running.
func (s *Scheduler) RunOnce(ctx context.Context) {
	s.mu.Lock()
	var jobs []*job
	for _, j := range s.jobs {
		if j.enabled {
			jobs = append(jobs, j)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { s.run(ctx, j) })
	}
	wg.Wait()
}

// Reuse is a refresh of one probe that was answered by a run it did not
// cause, because a run began less than the probe's RefreshSpacing ago.
type Reuse struct {
	Probe    string
	InFlight bool      // the run in flight when the refresh came; otherwise the last run
	Start    time.Time // when that run began
	Spacing  time.Duration
}

// Refresh runs the named probes (all enabled ones when none are named) as
// soon as a concurrency slot is free and waits until they have stored
// results. Concurrent refreshes of a probe share one run, and a probe whose
// last run began less than its RefreshSpacing ago is not run again (see
// RefreshReusing). The error joins every probe's failure, each naming its
// probe; it also reports an unknown or disabled name, and ctx's error if
// ctx ends first.
func (s *Scheduler) Refresh(ctx context.Context, names ...string) error {
	_, err := s.RefreshReusing(ctx, names...)
	return err
}

// RefreshReusing is Refresh, and also says which probes were answered from
// a run they did not cause: the run in flight, or the last run, when it
// began less than the probe's RefreshSpacing ago. Those probes' errors
// are that run's.
func (s *Scheduler) RefreshReusing(ctx context.Context, names ...string) ([]Reuse, error) {
	if len(names) == 0 {
		names = s.Names()
	}
	s.mu.Lock()
	type pending struct {
		name string
		done chan error
	}
	var waits []pending
	for _, n := range names {
		j, ok := s.jobs[n]
		if ok {
			j.mu.Lock()
			ok = j.enabled
			j.mu.Unlock()
		}
		if !ok {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: %q", ErrUnknownProbe, n)
		}
	}
	var reused []Reuse
	now := s.opts.Clock.Now()
	for _, n := range names {
		j := s.jobs[n]
		done := make(chan error, 1)
		j.mu.Lock()
		spacing := j.settings.RefreshSpacing
		switch {
		case spacing > 0 && j.running:
			j.riders = append(j.riders, done)
			reused = append(reused, Reuse{Probe: n, InFlight: true, Start: j.runStart, Spacing: spacing})
		case spacing > 0 && !j.last.IsZero() && now.Sub(j.last) < spacing:
			done <- j.lastErr
			reused = append(reused, Reuse{Probe: n, Start: j.last, Spacing: spacing})
		default:
			j.waiters = append(j.waiters, done)
			select {
			case j.kick <- struct{}{}:
			default: // a run is already requested; this caller rides on it
			}
		}
		j.mu.Unlock()
		waits = append(waits, pending{n, done})
	}
	s.mu.Unlock()
	var errs []error
	for _, w := range waits {
		select {
		case err := <-w.done:
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", w.name, err))
			}
		case <-ctx.Done():
			return reused, ctx.Err()
		}
	}
	return reused, errors.Join(errs...)
}

func answer(waiters []chan error, err error) {
	for _, w := range waiters {
		w <- err // buffered(1), written once
	}
}

func (s *Scheduler) loop(ctx context.Context, j *job) {
	next := s.due(j)
	for {
		j.mu.Lock()
		j.nextAt = next
		j.mu.Unlock()
		wait := next.Sub(s.opts.Clock.Now())
		timer, stop := s.opts.Clock.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			stop()
			return
		case <-j.tune:
			stop()
			next = s.due(j)
			continue
		case <-timer:
		case <-j.kick:
			stop()
		}
		began := s.opts.Clock.Now()
		j.mu.Lock()
		waiters := j.waiters
		j.waiters = nil
		j.running, j.runStart = true, began
		j.mu.Unlock()
		var err error
		next, err = s.run(ctx, j)
		j.mu.Lock()
		riders := j.riders
		j.riders = nil
		j.running = false
		if !errors.Is(err, ErrStopped) {
			// A run cut short by a shutdown or a reload answers no later
			// refresh.
			j.last, j.lastErr = began, err
		}
		j.mu.Unlock()
		answer(waiters, err)
		answer(riders, err)
		if err != nil && !errors.Is(err, ErrStopped) {
			s.logFailure(j, err, next)
		}
	}
}

// logFailure says that j failed, what scrapes get meanwhile, and when it
// is tried again.
func (s *Scheduler) logFailure(j *job, err error, retry time.Time) {
	msg := "probe failed; it has no good metrics to keep, so only its status is exported"
	if !s.cache.LastSuccess(j.name).IsZero() {
		msg = "probe failed; keeping its last good metrics"
	}
	s.opts.Logger.Warn(msg, "probe", j.name, "err", err, "failures", j.failures, "retry_at", retry.Round(time.Second))
}

// due is when j should next run: now if the cache has no data of it;
// otherwise when its stored (or restored) data expires, after jitter, or
// within one interval from now if its interval is now shorter than that.
func (s *Scheduler) due(j *job) time.Time {
	j.mu.Lock()
	interval, shortened := j.settings.Interval, j.shortened
	j.shortened = false
	j.mu.Unlock()
	now := s.opts.Clock.Now()
	exp, ok := s.cache.Expires(j.name)
	if !ok {
		return now
	}
	if limit := now.Add(interval); shortened && exp.After(limit) {
		// A reload shortened the interval: the new one counts from now,
		// never later. The grid's ticks are an interval apart, so the
		// first one from now is within it; its jitter too, unless that
		// would pass the limit.
		tick := s.align(now, interval)
		if at := tick.Add(s.jitterAt(tick)); !at.After(limit) {
			return at
		}
		return tick
	}
	// On the grid if that is less than half an interval away, so this
	// probe joins its interval's batch; otherwise when due (a retry, or
	// restored data), and later successful runs move onto the grid.
	due := minTime(exp, now.Add(interval))
	if tick := s.align(due, interval); tick.Sub(due) <= interval/2 {
		due = tick
	}
	return due.Add(s.jitterAt(due))
}

// align returns the first of this host's run times for interval at or
// after t (see Options.Offset).
func (s *Scheduler) align(t time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return t
	}
	off := int64(s.opts.Offset % interval)
	n := t.UnixNano() - off
	k := n / int64(interval)
	if n%int64(interval) > 0 {
		k++
	}
	return time.Unix(0, k*int64(interval)+off).In(t.Location())
}

// jitterAt is the delay of the tick at t, in [0, Jitter): the same for every
// probe of that tick, different from tick to tick.
func (s *Scheduler) jitterAt(tick time.Time) time.Duration {
	j := time.Duration(s.jitterMax.Load())
	if j <= 0 {
		return 0
	}
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], s.seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(tick.UnixNano()))
	h.Write(b[:])
	return time.Duration(h.Sum64() % uint64(j))
}

// run runs j once under a concurrency slot and its timeout, stores the
// result and returns when the next run is due, and the run's error.
func (s *Scheduler) run(ctx context.Context, j *job) (time.Time, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return s.opts.Clock.Now(), ErrStopped
	}
	j.mu.Lock()
	settings := j.settings
	j.mu.Unlock()
	name := j.name
	start := s.opts.Clock.Now()
	metrics, skipped, err := s.call(ctx, j, settings)
	elapsed := s.opts.Clock.Now().Sub(start)
	<-s.sem // storing, and what the store does after it, are not probe work

	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Shutting down, or the probe was disabled: a run cut short by
		// that is not the probe's fault, and is not recorded.
		return start, ErrStopped
	}
	var next time.Time
	if err == nil {
		j.failures = 0
		// The next tick of the grid: one interval on when this run began on
		// a tick, as scheduled runs do.
		next = s.align(start.Add(settings.Interval/2), settings.Interval)
		s.runs.WithLabelValues(name, "success").Inc()
	} else {
		j.failures++
		// Count the retry from the end of the run: a run that timed out
		// after minutes must not be retried the moment it gave up.
		next = start.Add(elapsed + s.retryDelay(j, settings.Interval))
		s.runs.WithLabelValues(name, "failure").Inc()
	}
	s.duration.WithLabelValues(name).Observe(elapsed.Seconds())
	// The status says the interval in force now: a reload during the run
	// has already shown its new one (metriccache.Cache.SetInterval).
	j.mu.Lock()
	interval := j.settings.Interval
	j.mu.Unlock()
	s.cache.Store(name, metriccache.Result{
		Interval: interval,
		Metrics:  metrics, Err: err, Start: start, Duration: elapsed,
		Skipped: skipped, Expires: next,
		Options: settings.Env.Fingerprint(),
	})
	if err == nil {
		return next.Add(s.jitterAt(next)), nil
	}
	return next, err
}

// retryDelay backs off exponentially from RetryMin, never beyond the
// probe's interval: a failing probe is retried sooner than a healthy one is
// refreshed, but a permanently failing one costs no more than a healthy one.
func (s *Scheduler) retryDelay(j *job, interval time.Duration) time.Duration {
	d := s.opts.RetryMin
	for i := 1; i < j.failures && d < interval; i++ {
		d *= 2
	}
	return min(d, interval)
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
func (s *Scheduler) call(parent context.Context, j *job, settings Job) ([]prometheus.Metric, int, error) {
	if j.busy != nil {
		select {
		case <-j.busy:
			j.busy = nil
		default:
			return nil, 0, ErrHung
		}
	}
	timeout := settings.Timeout
	if timeout <= 0 {
		timeout = defaults.ProbeTimeout
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()

	logger := s.opts.Logger.With("probe", j.name)
	env := settings.Env
	env.Logger = logger
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
		m, err := settings.Probe.Probe(ctx, env, skips)
		out <- callResult{metrics: m, skipped: skips.Count(), err: err}
	}()

	timer, stop := s.opts.Clock.NewTimer(timeout)
	defer stop()
	select {
	case r := <-out:
		<-busy
		if ctx.Err() == nil {
			return r.metrics, r.skipped, r.err
		}
		// Called off or out of time while the probe answered: what it
		// returned may be what it had when it stopped, so the run fails as
		// one that did not answer. This is why a probe need not check ctx
		// before it returns.
		return nil, r.skipped, cutShort(parent, timeout)
	case <-timer:
	case <-ctx.Done():
	}
	// The probe did not return in time, or the run was called off. Give it
	// no more than a moment to notice the cancelled context (its partial
	// output is discarded).
	cancel()
	cause := cutShort(parent, timeout)
	select {
	case r := <-out:
		<-busy
		return nil, r.skipped, cause
	default:
		j.busy = busy
		return nil, skips.Count(), cause
	}
}

// cutShort is the error of a run that parent called off or that ran past
// timeout.
func cutShort(parent context.Context, timeout time.Duration) error {
	if parent.Err() != nil {
		return fmt.Errorf("cancelled: %w", context.Canceled)
	}
	return fmt.Errorf("timed out after %s: %w", timeout, context.DeadlineExceeded)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
