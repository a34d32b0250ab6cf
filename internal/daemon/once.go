package daemon

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/scheduler"
)

// Once runs every enabled probe of cfg once, as --once does, and returns
// what they stored (with the build info) and, by probe, why those that
// failed did. It writes no state file and serves nothing.
func Once(ctx context.Context, cfg *config.Config, logger *slog.Logger) (prometheus.Gatherer, map[string]error, error) {
	all := BuildProbes()
	cache := metriccache.New(describers(all)...)
	reg := prometheus.NewRegistry()
	if err := errors.Join(reg.Register(cache), reg.Register(versioncollector.NewCollector(Name))); err != nil {
		return nil, nil, err
	}
	sched := scheduler.New(cache, jobs(cfg, all, logger), scheduler.Options{Logger: logger, MaxConcurrent: cfg.Scheduler.MaxConcurrent})
	sched.RunOnce(ctx)
	closeProbes(all, nil)
	return reg, cache.Failures(), nil
}
