package respcache

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cache's own. They exist, unregistered, even without a
// Registerer, so that the request path needs no nil checks.
type metrics struct {
	hit, miss, notModified, bypass prometheus.Counter
	renders, evictions, declined   prometheus.Counter
	rejectStatus, rejectMismatch   prometheus.Counter
	collectors                     []prometheus.Collector
}

func newMetrics(c *Cache) metrics {
	const ns = "hardware_exporter_response_cache_"
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: ns + "requests_total",
		Help: "Requests for cached /metrics responses by result: hit (served from a stored response), miss (rendered, or waited for a render), not_modified (answered 304 to If-None-Match), bypass (a method the cache does not handle).",
	}, []string{"result"})
	renders := prometheus.NewCounter(prometheus.CounterOpts{
		Name: ns + "renders_total",
		Help: "Responses rendered from the metric cache because no fresh stored response existed. Concurrent misses on one response share a render.",
	})
	declined := prometheus.NewCounter(prometheus.CounterOpts{
		Name: ns + "renders_declined_total",
		Help: "Renders the metric cache's renderer left to promhttp, because the stored data has an error a registry would report (promhttp logs it) or a coding it does not write.",
	})
	notStored := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: ns + "renders_not_stored_total",
		Help: "Rendered responses not stored, by reason: status (not a 200), negotiation (the content type or coding differed from what the cache predicted, meaning its options disagree with the wrapped handler's).",
	}, []string{"reason"})
	evictions := prometheus.NewCounter(prometheus.CounterOpts{
		Name: ns + "evictions_total",
		Help: "Stored responses dropped to stay within the entry limit, least recently used first.",
	})
	entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: ns + "entries",
		Help: "Responses currently stored, fresh or stale.",
	}, func() float64 { return float64(c.Len()) })
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: ns + "bytes",
		Help: "Body bytes of the responses currently stored, as sent (after compression).",
	}, func() float64 { return float64(c.bytes.Load()) })

	return metrics{
		hit:            requests.WithLabelValues("hit"),
		miss:           requests.WithLabelValues("miss"),
		notModified:    requests.WithLabelValues("not_modified"),
		bypass:         requests.WithLabelValues("bypass"),
		renders:        renders,
		evictions:      evictions,
		declined:       declined,
		rejectStatus:   notStored.WithLabelValues("status"),
		rejectMismatch: notStored.WithLabelValues("negotiation"),
		collectors:     []prometheus.Collector{requests, renders, declined, notStored, evictions, entries, size},
	}
}

func (m metrics) register(r prometheus.Registerer) {
	for _, col := range m.collectors {
		r.MustRegister(col)
	}
}
