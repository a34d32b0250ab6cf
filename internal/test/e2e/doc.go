// Package e2e holds the end-to-end tests (build tag e2e), checked through
// Prometheus's HTTP API. TestEndToEnd (`make e2e`): the exporter on the
// fixture host, scraped by a real Prometheus that loads the repository's
// rules. TestFleet (`make e2e-fleet`): four exporters on variants of the
// fixture host, a site Prometheus with the rules and a global Prometheus
// federating from it, and the same exporters through a Prometheus agent
// remote-writing to VictoriaMetrics with vmalert evaluating the rules, as
// README's "Running at fleet scale" says.
package e2e
