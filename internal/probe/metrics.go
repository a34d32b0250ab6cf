package probe

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// labelValue makes a string read from hardware safe as a label value:
// firmware strings are not always UTF-8, and MustNewConstMetric panics on
// invalid UTF-8.
func labelValue(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

// constMetric is how every probe builds a series: label values come from
// the host (DMI strings, cpuinfo, tool output) and are not always UTF-8
// (unprogrammed DMI fields are often 0xFF-filled), and MustNewConstMetric
// panics on invalid UTF-8, which cost the whole probe. So every label value
// passes labelValue here, in the one place all series are built; and a
// series of an Inventory descriptor is marked as such here.
func constMetric(d *prometheus.Desc, vt prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	for i, l := range labels {
		if !utf8.ValidString(l) {
			labels = slices.Clone(labels) // the caller's slice is not ours to change
			for j := i; j < len(labels); j++ {
				labels[j] = labelValue(labels[j])
			}
			break
		}
	}
	m := prometheus.MustNewConstMetric(d, vt, v, labels...)
	if inventoryDescs[d] {
		return InventorySeries(m)
	}
	return m
}

// gauge is the gauge series of d with value v.
func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return constMetric(d, prometheus.GaugeValue, v, labels...)
}

// counter is the counter series of d with value v.
func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return constMetric(d, prometheus.CounterValue, v, labels...)
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
