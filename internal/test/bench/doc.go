// Package bench holds the benchmarks behind docs/benchmarks.md: the evidence
// that serving /metrics from the response cache costs the same whatever the
// number of series, measured against the designs it replaces.
//
// It has no code of its own, only bench_test.go. Every benchmark serves the
// same synthetic host (hwmon chips, EDAC DIMMs, disks with SMART attributes,
// DMI strings) at 1k and 10k series, in four stages of the original problem:
//
//  1. probe on every scrape: Collect parses sysfs-like text and builds const
//     metrics, then promhttp encodes them;
//  2. a cached JSON blob, decoded into const metrics on every scrape, then
//     encoded;
//  3. the metric cache (const metrics built once) encoded on every scrape;
//  4. the response cache in front of stage 3, replaying stored bytes.
//
// Run them with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./internal/test/bench
//
// and compare runs with benchstat.
package bench
