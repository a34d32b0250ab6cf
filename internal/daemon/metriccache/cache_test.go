package metriccache

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestCacheRetainDropsDisabledProbes(t *testing.T) {
	c := New()
	c.Store("a", Result{Start: time.Unix(1, 0)})
	c.Store("b", Result{Start: time.Unix(1, 0)})
	gen := c.Generation()
	c.Retain("a")
	if !c.Ran("a") || c.Ran("b") {
		t.Errorf("after Retain(a): ran a %v, ran b %v; want only a kept", c.Ran("a"), c.Ran("b"))
	}
	if c.Generation() == gen {
		t.Error("retain did not change the generation")
	}
	if !c.Ran("a") || c.Ran("a", "b") {
		t.Error("Ran does not reflect stored probes")
	}
}

// value returns the sample of metric name for probe p from the cache, and
// fails the test if there is none: an absent series must not pass for 0.
func value(t *testing.T, c *Cache, name, p string) float64 {
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

// A reload's new interval shows in hardware_probe_interval_seconds at once,
// with a new generation so that no cached response keeps the old value;
// the rest of the status is kept as it was.
func TestSetIntervalUpdatesTheStatusAtOnce(t *testing.T) {
	c := New()
	c.Store("hwmon", Result{Start: time.Unix(100, 0), Interval: time.Minute, Skipped: 2})
	c.Store("cpu", Result{Start: time.Unix(100, 0), Interval: time.Hour, Err: errTest})
	gen := c.Generation()
	c.SetInterval("hwmon", 2*time.Minute)
	if got := value(t, c, "hardware_probe_interval_seconds", "hwmon"); got != 120 {
		t.Errorf("interval after SetInterval = %v, want 120", got)
	}
	if c.Generation() == gen {
		t.Error("SetInterval did not change the generation")
	}
	if got := value(t, c, "hardware_probe_read_errors", "hwmon"); got != 2 {
		t.Errorf("read errors = %v after SetInterval, want 2 kept", got)
	}
	c.SetInterval("cpu", time.Minute)
	if got := value(t, c, "hardware_probe_success", "cpu"); got != 0 {
		t.Errorf("a failed probe's success = %v after SetInterval, want 0 kept", got)
	}
	gen = c.Generation()
	c.SetInterval("hwmon", 2*time.Minute)
	c.SetInterval("never-ran", time.Minute)
	if c.Generation() != gen {
		t.Error("SetInterval to the same interval, or of a probe without data, changed the generation")
	}
}

var errTest = errors.New("test failure")
