// Package defaults holds the built-in values of the daemon's own settings,
// written here once: config.Default builds the configuration that runs with
// no file from them, and scheduler and respcache fall back to them for a
// zero Options field, so a test or tool that leaves a field out runs as the
// daemon does. A leaf, so that respcache needs nothing of the config.
package defaults

import "time"

const (
	// CacheTTL bounds how long an encoded response is replayed without a
	// new probe result: the longest default probe interval.
	CacheTTL = 6 * time.Hour
	// CacheEntries is how many distinct responses the cache keeps.
	CacheEntries = 32
	// MaxConcurrent bounds how many probes run at once: the exporter stays
	// a small guest on the host it watches.
	MaxConcurrent = 4
	// Jitter is the most each tick of the probe grid is delayed (config
	// only: the scheduler's zero means no delay).
	Jitter = 10 * time.Second
	// ProbeInterval and ProbeTimeout are the built-in probes.defaults; the
	// scheduler also bounds a job that has no timeout by ProbeTimeout.
	ProbeInterval = 6 * time.Hour
	ProbeTimeout  = time.Minute
)
