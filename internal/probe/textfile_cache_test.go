package probe_test

// This test is in the external test package because metriccache imports
// probe: an in-package test importing metriccache would be an import cycle.

import (
	"context"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// The daemon's path: every probe described by the metric cache, which is
// registered with a plain (non-pedantic) registry. The textfile metrics are
// not described, which such a registry accepts; and fans.prom redefining
// hardware_hwmon_fan_rpm with its own help must not break the gather that
// the hwmon probe's own hardware_hwmon_fan_rpm is in.
func TestTextfileThroughMetricCache(t *testing.T) {
	paths, dir := probe.TextfileTestFixture(t)
	all := map[string]probe.Probe{}
	var describers []metriccache.Describer
	for _, n := range probe.Names() {
		p, err := probe.New(n)
		if err != nil {
			t.Fatal(err)
		}
		all[n] = p
		describers = append(describers, p)
	}
	cache := metriccache.New(describers...)
	reg := prometheus.NewRegistry()
	if err := reg.Register(cache); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"textfile", "hwmon"} {
		env := probe.Env{Paths: paths}
		if name == "textfile" {
			env.Options = &probe.TextfileOptions{Directory: confval.Path(dir)}
		}
		ms, err := all[name].Probe(context.Background(), env, probe.NewSkips(nil))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cache.Store(name, metriccache.Result{Metrics: ms, Start: time.Unix(1717988400, 0)})
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hardware_textfile_scrape_error 1 if a *.prom file, or a family or series in one, was rejected (the log names the file and why), 0 otherwise. Refreshed on the probe's schedule, not per scrape.
# TYPE hardware_textfile_scrape_error gauge
hardware_textfile_scrape_error 1
# HELP megaraid_virtual_drive_state State of the virtual drive: 1 optimal, 0 degraded, partially degraded or offline
# TYPE megaraid_virtual_drive_state gauge
megaraid_virtual_drive_state{controller="0",vd="0"} 1
megaraid_virtual_drive_state{controller="0",vd="1"} 0
`), "hardware_textfile_scrape_error", "megaraid_virtual_drive_state")
	if err != nil {
		t.Error(err)
	}
	// The hwmon probe's fan series are there, fans.prom's are not.
	mfs, _ := reg.Gather()
	fans := 0
	for _, mf := range mfs {
		if mf.GetName() != "hardware_hwmon_fan_rpm" {
			continue
		}
		fans = len(mf.GetMetric())
		if strings.Contains(mf.GetHelp(), "ipmitool") {
			t.Errorf("hardware_hwmon_fan_rpm has fans.prom's help: %q", mf.GetHelp())
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "chip" && l.GetValue() == "ipmi" {
					t.Errorf("fans.prom's series was exported: %v", m)
				}
			}
		}
	}
	if fans == 0 {
		t.Error("no hardware_hwmon_fan_rpm series from the hwmon probe: the clash is not exercised")
	}
}

// The check the textfile probe does matters: a metric under another
// probe's name with other help, were it let through, makes Gather fail (the
// server then serves what remains, less whichever series came second).
func TestTextfileClashWouldBreakGather(t *testing.T) {
	hwmon, err := probe.New("hwmon")
	if err != nil {
		t.Fatal(err)
	}
	cache := metriccache.New(hwmon)
	reg := prometheus.NewRegistry()
	reg.MustRegister(cache)
	fan := prometheus.NewDesc("hardware_hwmon_fan_rpm", "Fan speed from ipmitool sdr.", []string{"chip"}, nil)
	cache.Store("hwmon", metriccache.Result{Metrics: []prometheus.Metric{
		prometheus.MustNewConstMetric(fan, prometheus.GaugeValue, 7440, "ipmi"),
	}})
	other := prometheus.NewDesc("hardware_hwmon_fan_rpm", "Fan speed the sensor reads.", []string{"chip"}, nil)
	cache.Store("textfile", metriccache.Result{Metrics: []prometheus.Metric{
		prometheus.MustNewConstMetric(other, prometheus.GaugeValue, 7080, "coretemp"),
	}})
	if _, err := reg.Gather(); err == nil {
		t.Error("gather accepted one name with two helps")
	}
}
