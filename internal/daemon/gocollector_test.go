package daemon

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// /exporter/metrics says what the Go runtime itself costs (GC CPU, GC
// cycles), beside client_golang's default go_ series: cmd/costtest reports
// the runtime's idle cost from them.
func TestGoCollectorExportsRuntimeCPUClasses(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(goCollector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{
		"go_goroutines", "go_gc_duration_seconds", // the defaults stay
		"go_cpu_classes_gc_total_cpu_seconds_total",
		"go_cpu_classes_total_cpu_seconds_total",
		"go_gc_cycles_total_gc_cycles_total",
	} {
		if !have[name] {
			t.Errorf("%s missing from the Go collector", name)
		}
	}
}
