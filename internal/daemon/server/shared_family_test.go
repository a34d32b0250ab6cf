package server

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
)

// oneDesc is a probe's Describe that sends d.
type oneDesc struct{ d *prometheus.Desc }

func (o oneDesc) Describe(ch chan<- *prometheus.Desc) { ch <- o.d }

// hardware_firmware_info is fed by several probes (system's BIOS, ipmi's
// BMC, storage's disks, ...). /metrics must carry it as one family with
// every probe's series: a render that encodes each probe's families on
// its own and stitches the blocks together would print the family twice,
// which Prometheus rejects for the whole scrape.
func TestMetricsMergesOneFamilyFromSeveralProbes(t *testing.T) {
	d := prometheus.NewDesc("hardware_firmware_info", "Firmware versions.", []string{"component", "version"}, nil)
	cache := metriccache.New(oneDesc{d}, oneDesc{d}, oneDesc{d})
	hardware := prometheus.NewRegistry()
	if err := hardware.Register(cache); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Hardware: hardware, Exporter: prometheus.NewRegistry(), Generation: cache})
	if err != nil {
		t.Fatal(err)
	}
	for probe, component := range map[string]string{"system": "bios", "ipmi": "bmc", "storage": "disk"} {
		cache.Store(probe, metriccache.Result{Start: time.Unix(1, 0), Metrics: []prometheus.Metric{
			prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, component, "1.0")}})
	}
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Accept", "text/plain; version=0.0.4")
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	body := string(b)
	if w.Code != 200 {
		t.Fatalf("status %d:\n%s", w.Code, body)
	}
	if n := strings.Count(body, "# TYPE hardware_firmware_info "); n != 1 {
		t.Errorf("the family's TYPE line appears %d times, want 1:\n%s", n, body)
	}
	for _, c := range []string{"bios", "bmc", "disk"} {
		if want := `hardware_firmware_info{component="` + c + `",version="1.0"} 1`; !strings.Contains(body, want) {
			t.Errorf("no %s in:\n%s", want, body)
		}
	}
	// One block: every series of the family follows its TYPE line.
	family := body[strings.Index(body, "# TYPE hardware_firmware_info "):]
	if rest := family[strings.Index(family, "\n")+1:]; strings.Count(strings.SplitN(rest, "# ", 2)[0], "hardware_firmware_info{") != 3 {
		t.Errorf("the family's series are not together under its TYPE line:\n%s", body)
	}
}
