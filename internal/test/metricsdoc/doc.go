// Package metricsdoc holds the test that generates docs/metrics.md from the
// probes' own descriptors and checks it, so the list of metrics cannot drift
// from the code:
//
//	go test ./internal/test/metricsdoc -update
//
// It has no non-test code.
package metricsdoc
