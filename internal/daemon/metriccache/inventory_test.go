package metriccache

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

var (
	testDiskInfo = prometheus.NewDesc("hardware_test_disk_info", "Disk.", []string{"disk", "serial"}, nil)
	testDiskSize = prometheus.NewDesc("hardware_test_disk_size_bytes", "Size.", []string{"disk"}, nil)
	testDiskTemp = prometheus.NewDesc("hardware_test_disk_temperature_celsius", "Temperature.", []string{"disk"}, nil)
)

// disks is one probe run's output: two disks with serials and sizes, marked
// as inventory, and a temperature that is health, not inventory.
func disks(serialB string, sizeB, temp float64) []prometheus.Metric {
	inv := probe.InventorySeries
	return []prometheus.Metric{
		prometheus.MustNewConstMetric(testDiskTemp, prometheus.GaugeValue, temp, "sda"),
		inv(prometheus.MustNewConstMetric(testDiskInfo, prometheus.GaugeValue, 1, "sda", "S1")),
		inv(prometheus.MustNewConstMetric(testDiskInfo, prometheus.GaugeValue, 1, "sdb", serialB)),
		inv(prometheus.MustNewConstMetric(testDiskSize, prometheus.GaugeValue, 1e12, "sda")),
		inv(prometheus.MustNewConstMetric(testDiskSize, prometheus.GaugeValue, sizeB, "sdb")),
	}
}

func TestInventoryLastChange(t *testing.T) {
	c := New()
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	changed := func() float64 {
		t.Helper()
		return value(t, c, "hardware_inventory_last_change_timestamp_seconds", "storage")
	}

	c.Store("storage", Result{Metrics: disks("S2", 2e12, 30), Start: at(100)})
	if got := changed(); got != 100 {
		t.Fatalf("after the first run: %v, want its start 100", got)
	}
	c.Store("storage", Result{Metrics: disks("S2", 2e12, 45), Start: at(200)})
	if got := changed(); got != 100 {
		t.Errorf("a temperature change moved it to %v", got)
	}
	ms := disks("S2", 2e12, 30)
	ms[1], ms[4] = ms[4], ms[1] // a probe reading devices in parallel returns them in any order
	c.Store("storage", Result{Metrics: ms, Start: at(300)})
	if got := changed(); got != 100 {
		t.Errorf("reordered series moved it to %v", got)
	}
	c.Store("storage", Result{Err: errors.New("boom"), Start: at(400)})
	if got := changed(); got != 100 {
		t.Errorf("a failed run moved it to %v", got)
	}
	c.Store("storage", Result{Metrics: disks("S9", 2e12, 30), Start: at(500)})
	if got := changed(); got != 500 {
		t.Errorf("a swapped disk (new serial): %v, want 500", got)
	}
	c.Store("storage", Result{Metrics: disks("S9", 4e12, 30), Start: at(600)})
	if got := changed(); got != 600 {
		t.Errorf("a resized disk: %v, want 600", got)
	}
	c.Store("storage", Result{Metrics: disks("S9", 4e12, 30)[:4], Start: at(700)})
	if got := changed(); got != 700 {
		t.Errorf("a vanished series: %v, want 700", got)
	}

	// A probe that reports no inventory exports no change time.
	c.Store("hwmon", Result{Metrics: disks("S2", 1, 1)[:1], Start: at(100), Interval: time.Minute})
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		if m.Desc() == inventoryChangeDesc && pb.GetLabel()[0].GetValue() == "hwmon" {
			t.Error("hwmon has an inventory change time")
		}
	}
	if got := value(t, c, "hardware_probe_interval_seconds", "hwmon"); got != 60 {
		t.Errorf("interval = %v, want 60", got)
	}
}

// The fingerprint tells apart what an inventory change is (a serial, a
// size, a series gone or added, a family's HELP, where one label value
// ends and the next begins) and nothing else (order, non-inventory
// series), and costs no string a series: at most the allocations of the
// series' own Write.
func TestInventoryFingerprint(t *testing.T) {
	inv := probe.InventorySeries
	helpB := prometheus.NewDesc("hardware_test_disk_info", "Disk, worded anew.", []string{"disk", "serial"}, nil)
	base := inventoryFingerprint(disks("S2", 2e12, 30))
	same := disks("S2", 2e12, 99)
	same[1], same[4] = same[4], same[1]
	if got := inventoryFingerprint(same); got != base {
		t.Errorf("order and a temperature changed it: %x, want %x", got, base)
	}
	for name, ms := range map[string][]prometheus.Metric{
		"serial":   disks("S3", 2e12, 30),
		"size":     disks("S2", 3e12, 30),
		"gone":     disks("S2", 2e12, 30)[:4],
		"added":    append(disks("S2", 2e12, 30), inv(prometheus.MustNewConstMetric(testDiskInfo, prometheus.GaugeValue, 1, "sdc", "S4"))),
		"help":     append(disks("S2", 2e12, 30)[:2], inv(prometheus.MustNewConstMetric(helpB, prometheus.GaugeValue, 1, "sdb", "S2")), disks("S2", 2e12, 30)[3], disks("S2", 2e12, 30)[4]),
		"boundary": append(disks("S2", 2e12, 30)[:2], inv(prometheus.MustNewConstMetric(testDiskInfo, prometheus.GaugeValue, 1, "sdbS", "2")), disks("S2", 2e12, 30)[3], disks("S2", 2e12, 30)[4]),
	} {
		if got := inventoryFingerprint(ms); got == base || got == 0 {
			t.Errorf("%s: fingerprint %x, want one that differs from %x", name, got, base)
		}
	}
	if got := inventoryFingerprint(disks("S2", 2e12, 30)[:1]); got != 0 {
		t.Errorf("no inventory: %x, want 0", got)
	}

	ms := disks("S2", 2e12, 30)
	var writes float64
	for _, m := range ms {
		if probe.IsInventory(m) {
			writes += testing.AllocsPerRun(10, func() { _ = m.Write(&dto.Metric{}) })
		}
	}
	if got := testing.AllocsPerRun(10, func() { inventoryFingerprint(ms) }); got > writes+2 {
		t.Errorf("%v allocations a fingerprint of 4 series, want at most their writes' %v and 2", got, writes)
	}
}
