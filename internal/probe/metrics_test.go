package probe

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestStateSet(t *testing.T) {
	d := prometheus.NewDesc("test_state", "test", []string{"device", "state"}, nil)
	known := []string{"live", "dead"}
	labels := make([]string, 1, 4) // room to append into: stateSet must not share it
	labels[0] = "nvme0"
	read := func(ms []prometheus.Metric) map[string]float64 {
		got := map[string]float64{}
		for _, m := range ms {
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				t.Fatal(err)
			}
			lp := pb.GetLabel()
			got[lp[0].GetValue()+"/"+lp[1].GetValue()] = pb.GetGauge().GetValue()
		}
		return got
	}
	got := read(stateSet(d, known, "live", labels...))
	want := map[string]float64{"nvme0/live": 1, "nvme0/dead": 0}
	if len(got) != len(want) || got["nvme0/live"] != 1 || got["nvme0/dead"] != 0 {
		t.Errorf("known state: %v, want %v", got, want)
	}
	// A state the table lacks gets its own series; the table is unchanged.
	got = read(stateSet(d, known, "unknown state\xff", labels...))
	if len(got) != 3 || got["nvme0/unknown state\uFFFD"] != 0 || got["nvme0/live"] != 0 {
		t.Errorf("unknown state: %v", got)
	}
	if len(known) != 2 || cap(known) != 2 {
		t.Errorf("stateSet changed the table: %v", known)
	}
}

// A series of a descriptor declared with Inventory carries the mark in the
// probe's result, where the metric cache reads it; the others do not.
func TestInventoryTravelsWithSeries(t *testing.T) {
	c, _ := runProbe(t, "storage", fixturePaths)
	var marked, unmarked int
	for _, m := range c.metrics {
		want := m.Desc() == storageDeviceInfo || m.Desc() == storageDeviceSize ||
			m.Desc() == storageNVMeControllerInfo || m.Desc() == storageNVMeNamespaceCapacity ||
			m.Desc() == firmwareInfoDesc
		if got := IsInventory(m); got != want {
			t.Errorf("IsInventory(%s) = %v, want %v", m.Desc(), got, want)
		}
		if want {
			marked++
		} else {
			unmarked++
		}
	}
	if marked == 0 || unmarked == 0 {
		t.Errorf("%d marked and %d unmarked series: the fixture should have both", marked, unmarked)
	}
}
