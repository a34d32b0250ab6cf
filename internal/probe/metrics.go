package probe

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// labelValue makes a string read from hardware safe as a label value:
// firmware strings are not always UTF-8, and MustNewConstMetric panics on
// invalid UTF-8.
func labelValue(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

// gauge is the gauge series of d with value v. Label values must already be
// valid UTF-8 (labelValue): MustNewConstMetric panics otherwise, and the
// panic is the test's way of saying a probe forgot one.
func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// counter is the counter series of d with value v.
func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

// stateSet is a series of d per state in known, its last label the state,
// valued 1 for current and 0 for the others, so that an alert on one state
// has a series to test whatever the state is. A current state outside known
// (a newer kernel's) gets a series of its own rather than none.
func stateSet(d *prometheus.Desc, known []string, current string, labels ...string) []prometheus.Metric {
	if !slices.Contains(known, current) {
		known = append(slices.Clip(known), labelValue(current))
	}
	ms := make([]prometheus.Metric, 0, len(known))
	for _, s := range known {
		v := 0.0
		if s == current {
			v = 1
		}
		ms = append(ms, gauge(d, v, append(slices.Clip(labels), s)...))
	}
	return ms
}
