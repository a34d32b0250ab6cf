package gcpace

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// unsetEnv removes key for the test and puts it back after.
func unsetEnv(t *testing.T, key string) {
	t.Helper()
	if v, ok := os.LookupEnv(key); ok {
		t.Cleanup(func() { os.Setenv(key, v) })
		os.Unsetenv(key)
	}
}

func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

func memoryLimit() int64 { return debug.SetMemoryLimit(-1) }

func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func start(t *testing.T) *pacer {
	t.Helper()
	unsetEnv(t, "GOGC")
	unsetEnv(t, "GOMEMLIMIT")
	stop, ok := Start()
	if !ok {
		t.Fatal("Start did not take over")
	}
	t.Cleanup(stop)
	runningMu.Lock()
	defer runningMu.Unlock()
	return running
}

// Started, the collector has no GOGC (so no forced collection every two
// minutes) and a memory limit that leaves the heap room to grow.
func TestStartTurnsGOGCOffWithALimit(t *testing.T) {
	runtime.GC() // so that the live heap the limit is set from is now's
	start(t)
	if p := gcPercent(); p != -1 {
		t.Errorf("GOGC %d, want off", p)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if l := memoryLimit(); l == math.MaxInt64 || l < int64(ms.HeapAlloc)+MinGrowth/2 {
		t.Errorf("memory limit %d with %d of heap allocated", l, ms.HeapAlloc)
	}
}

// Each collection moves the limit (the finalizer re-arms), and garbage is
// still collected: the heap does not grow without bound.
func TestCollectionsFollowTheHeap(t *testing.T) {
	p := start(t)
	before := p.paced.Load()
	runtime.GC()
	deadline := time.Now().Add(10 * time.Second)
	for p.paced.Load() == before && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if p.paced.Load() == before {
		t.Fatal("the limit did not move after a collection")
	}
	cycles := gcCycles()
	var keep [][]byte
	for i := range 256 {
		b := make([]byte, 1<<20) // 256 MiB of garbage in all
		b[0] = byte(i)
		keep = append(keep[:0], b)
	}
	_ = keep
	if gcCycles() == cycles {
		t.Error("256 MiB of garbage and no collection")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 128<<20 {
		t.Errorf("heap in use %d MiB after the garbage", ms.HeapInuse>>20)
	}
}

// GOGC or GOMEMLIMIT set by the operator: the runtime is left alone.
func TestEnvironmentWins(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		unsetEnv(t, "GOGC")
		unsetEnv(t, "GOMEMLIMIT")
		t.Setenv(env, "200")
		if env == "GOMEMLIMIT" {
			t.Setenv(env, "1GiB")
		}
		before, limit := gcPercent(), memoryLimit()
		stop, ok := Start()
		stop()
		if ok || gcPercent() != before || memoryLimit() != limit {
			t.Errorf("%s set: Start took over (GOGC %d, limit %d)", env, gcPercent(), memoryLimit())
		}
	}
}

// stop puts GOGC=100 back and lifts the limit; a second stop is harmless.
func TestStopRestores(t *testing.T) {
	unsetEnv(t, "GOGC")
	unsetEnv(t, "GOMEMLIMIT")
	stop, ok := Start()
	if !ok {
		t.Fatal("Start did not take over")
	}
	if _, again := Start(); again {
		t.Error("a second Start took over too")
	}
	stop()
	stop()
	if p, l := gcPercent(), memoryLimit(); p != 100 || l != math.MaxInt64 {
		t.Errorf("after stop: GOGC %d, limit %d", p, l)
	}
}

// With a live heap that stays the same, the limit stays where it was
// through many collections: it follows what is live, not the free pages
// the last peak left (a limit on all the runtime held ratcheted up by the
// live heap at every collection).
func TestLimitDoesNotRatchet(t *testing.T) {
	p := start(t)
	live := make([][]byte, 8)
	for i := range live {
		live[i] = make([]byte, 1<<20) // 8 MiB that stay live
	}
	churn := func(rounds int) {
		for range rounds {
			before := p.paced.Load()
			deadline := time.Now().Add(10 * time.Second)
			var sink []byte
			for p.paced.Load() == before && time.Now().Before(deadline) {
				sink = make([]byte, 256<<10) // garbage until the next collection
				sink[0] = 1
			}
			_ = sink
		}
	}
	churn(3)
	first := memoryLimit()
	churn(20)
	last := memoryLimit()
	if last > first+4<<20 {
		t.Errorf("limit %d MiB after 20 more collections, %d MiB before", last>>20, first>>20)
	}
	if last > 64<<20 {
		t.Errorf("limit %d MiB for an 8 MiB live heap", last>>20)
	}
	runtime.KeepAlive(live)
}

func TestLimitFor(t *testing.T) {
	for _, c := range []struct{ nonHeap, live, want uint64 }{
		{10 << 20, 1 << 20, 10<<20 + 1<<20 + MinGrowth},
		{10 << 20, 20 << 20, 10<<20 + 40<<20},
	} {
		if got := limitFor(c.nonHeap, c.live); got != c.want {
			t.Errorf("limitFor(%d, %d) = %d, want %d", c.nonHeap, c.live, got, c.want)
		}
	}
}
