package metriccache

import (
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
