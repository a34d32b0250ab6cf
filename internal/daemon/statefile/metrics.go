package statefile

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// ErrUnsupportedType is wrapped by FromMetrics for a summary or histogram
// (the textfile probe passes them through): the format stores one value a
// sample.
var ErrUnsupportedType = errors.New("metric type not stored in state files")

// FromMetrics converts a probe's metrics into families, sorted by name and
// their samples by label values, as a registry gathers them. It is meant
// for once per probe run, not for a scrape: it gathers ms through a private
// registry, which also checks them for duplicates and inconsistent help.
func FromMetrics(ms []prometheus.Metric) ([]Family, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(metricList(ms)); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	return FromFamilies(mfs)
}

// FromFamilies is FromMetrics for metrics already gathered (the metric
// cache gathers each result once when it is stored).
func FromFamilies(mfs []*dto.MetricFamily) ([]Family, error) {
	fams := make([]Family, 0, len(mfs))
	for _, mf := range mfs {
		f := Family{Name: mf.GetName(), Help: mf.GetHelp()}
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			f.Type = Gauge
		case dto.MetricType_COUNTER:
			f.Type = Counter
		case dto.MetricType_UNTYPED:
			f.Type = Untyped
		default:
			return nil, fmt.Errorf("%s: %w: %v", f.Name, ErrUnsupportedType, mf.GetType())
		}
		f.Samples = make([]Sample, 0, len(mf.GetMetric()))
		for i, m := range mf.GetMetric() {
			labels := m.GetLabel()
			if i == 0 {
				for _, l := range labels {
					f.LabelNames = append(f.LabelNames, l.GetName())
				}
			}
			// A family's samples share label names only when they share a
			// descriptor; two descriptors of one name but other labels
			// would not rebuild into one family.
			if len(labels) != len(f.LabelNames) {
				return nil, fmt.Errorf("%s: samples with different label names", f.Name)
			}
			s := Sample{LabelValues: make([]string, len(labels))}
			for j, l := range labels {
				if l.GetName() != f.LabelNames[j] {
					return nil, fmt.Errorf("%s: samples with different label names", f.Name)
				}
				s.LabelValues[j] = l.GetValue()
			}
			switch f.Type {
			case Gauge:
				s.Value = m.GetGauge().GetValue()
			case Counter:
				s.Value = m.GetCounter().GetValue()
			default:
				s.Value = m.GetUntyped().GetValue()
			}
			f.Samples = append(f.Samples, s)
		}
		fams = append(fams, f)
	}
	return fams, nil
}

// metricList is an unchecked collector (its Describe sends nothing) that
// sends fixed metrics.
type metricList []prometheus.Metric

func (metricList) Describe(chan<- *prometheus.Desc) {}

func (l metricList) Collect(ch chan<- prometheus.Metric) {
	for _, m := range l {
		ch <- m
	}
}

// Metrics rebuilds const metrics from families: one descriptor a family,
// all labels variable. A gathered restore gives the same exposition as the
// metrics FromMetrics was given, including label values that were const
// labels of the original descriptors.
func Metrics(fams []Family) ([]prometheus.Metric, error) {
	n := 0
	for _, f := range fams {
		n += len(f.Samples)
	}
	ms := make([]prometheus.Metric, 0, n)
	for _, f := range fams {
		var vt prometheus.ValueType
		switch f.Type {
		case Gauge:
			vt = prometheus.GaugeValue
		case Counter:
			vt = prometheus.CounterValue
		case Untyped:
			vt = prometheus.UntypedValue
		default:
			return nil, fmt.Errorf("%s: %w: %v", f.Name, ErrUnsupportedType, f.Type)
		}
		desc := prometheus.NewDesc(f.Name, f.Help, f.LabelNames, nil)
		for _, s := range f.Samples {
			m, err := prometheus.NewConstMetric(desc, vt, s.Value, s.LabelValues...)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			ms = append(ms, m)
		}
	}
	return ms, nil
}
