package metriccache

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// describer sends one descriptor.
type describer struct{ d *prometheus.Desc }

func (p describer) Describe(ch chan<- *prometheus.Desc) { ch <- p.d }

// hardware_firmware_info is one family that several probes feed (system's
// BIOS, ipmi's BMC, storage's disks): each sends the one descriptor, and a
// render must give one family holding every probe's series, not a clash or
// a family per probe. Whoever changes how /metrics is rendered (per-probe
// blocks stitched together) must keep this.
func TestOneFamilyFromSeveralProbes(t *testing.T) {
	d := prometheus.NewDesc("hardware_firmware_info", "Firmware.", []string{"component", "version"}, nil)
	c := New(describer{d}, describer{d})
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("two probes describing one family: %v", err)
	}
	c.Store("system", Result{Start: time.Unix(1, 0), Metrics: []prometheus.Metric{
		prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, "bios", "1.13.2")}})
	c.Store("ipmi", Result{Start: time.Unix(1, 0), Metrics: []prometheus.Metric{
		prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, "bmc", "7.00")}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "hardware_firmware_info" {
			continue
		}
		n++
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("%d hardware_firmware_info families, want 1", n)
	}
	text := b.String()
	for _, want := range []string{
		`hardware_firmware_info{component="bios",version="1.13.2"} 1`,
		`hardware_firmware_info{component="bmc",version="7.00"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("render lacks %s:\n%s", want, text)
		}
	}
	if strings.Count(text, "# TYPE hardware_firmware_info") != 1 {
		t.Errorf("the family's TYPE line is not once:\n%s", text)
	}
}
