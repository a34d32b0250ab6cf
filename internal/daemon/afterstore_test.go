package daemon

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/statefile"
)

// memStore keeps the snapshots written to it.
type memStore struct {
	mu      sync.Mutex
	written map[string]statefile.Snapshot
}

func (m *memStore) Write(s statefile.Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.written[s.Probe] = s
	return nil
}

func (m *memStore) Load(string) (statefile.Snapshot, error) {
	return statefile.Snapshot{}, errors.New("none")
}

// After each store, the step has put the result in the metric cache (a new
// generation), marked the probe's state file for writing and asked for a
// render ahead of the next scrape; with state files off it still renders.
func TestAfterStoreSavesStateAndRendersAhead(t *testing.T) {
	cache := metriccache.New()
	files := &memStore{written: map[string]statefile.Snapshot{}}
	state, err := metriccache.NewState(files, cache, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := &afterStore{Cache: cache, state: state, warmer: newBatchWarmer(func() {}, nil)}
	start := time.Now()
	after.Store("cpu", metriccache.Result{Interval: time.Hour, Start: start, Expires: start.Add(time.Hour)})
	if cache.Generation() == 0 || !cache.LastSuccess("cpu").Equal(start) {
		t.Errorf("not stored: generation %d, last success %v", cache.Generation(), cache.LastSuccess("cpu"))
	}
	select {
	case <-after.warmer.kick:
	default:
		t.Error("no render asked for")
	}
	if !state.Close(5 * time.Second) {
		t.Fatal("state files not written within 5s")
	}
	if s, ok := files.written["cpu"]; !ok || !s.LastSuccess.Equal(start) {
		t.Errorf("state file of cpu: %+v, written %t; want the stored run", s, ok)
	}

	off := &afterStore{Cache: cache, warmer: newBatchWarmer(func() {}, nil)}
	off.Store("cpu", metriccache.Result{Interval: time.Hour, Start: start.Add(time.Second)})
	select {
	case <-off.warmer.kick:
	default:
		t.Error("state files off: no render asked for")
	}
}
