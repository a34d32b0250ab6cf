// Package e2e holds the end-to-end test (build tag e2e, run by `make e2e`):
// the exporter on the fixture host, scraped by a real Prometheus that loads
// the repository's rules, checked through Prometheus's HTTP API.
package e2e
