package daemon

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/statefile"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// Bounds of a graceful shutdown. Scrapes finish while the probes stop and
// the state files are written, so a stop takes at most about 10s, well
// inside the unit's TimeoutStopSec=30s: it never ends in SIGKILL.
const (
	httpShutdownLimit  = 10 * time.Second // in-flight scrapes finish
	schedulerStopLimit = 5 * time.Second  // cancelled probes return
	stateFlushLimit    = 2 * time.Second  // pending state files are written
)

// openState opens the state directory of cfg, and returns the probes'
// state files in it and the directory (for the device baselines), or nils
// (state files off) when it is not configured, this host cannot be identified, or the
// directory cannot be opened. None of that stops the daemon: it only
// starts empty, as it would without state files.
func openState(cfg *config.Config, cache *metriccache.Cache, reg prometheus.Registerer, logger *slog.Logger) (*metriccache.State, *statefile.Dir) {
	if cfg.State.Path == "" {
		return nil, nil
	}
	host := statefile.HostIdentity(cfg.Paths.RootFS, cfg.Paths.SysFS)
	if host == "" {
		// Two hosts that cannot be told apart would match each other; a
		// cloned image must never serve its donor's serials.
		logger.Warn("state files off: neither etc/machine-id nor the DMI product UUID is readable, so this host cannot be identified",
			"rootfs", cfg.Paths.RootFS, "sysfs", cfg.Paths.SysFS)
		return nil, nil
	}
	dir, err := statefile.Open(cfg.State.Path, host)
	if err != nil {
		logger.Warn("state files off", "err", err)
		return nil, nil
	}
	if why := dir.OthersMayWrite(); why != "" {
		logger.Warn("state directory is writable by other users, who can plant data a restart serves or block its writes; make it the service user's, mode 0700",
			"dir", cfg.State.Path, "why", why)
	}
	st, err := metriccache.NewState(dir, cache, logger, reg)
	if err != nil {
		logger.Warn("state files off", "err", err)
		return nil, nil
	}
	return st, dir
}

// restore loads the state file of every enabled probe whose data is younger
// than twice its interval (older data would be flagged stale by the
// shipped HardwareProbeDataStale alert anyway, and sensor readings that old
// are not worth serving) and was read with the probe's current settings,
// keeping only the families the probe may export.
func (d *daemon) restore(cfg *config.Config) {
	now := time.Now()
	var restored []string
	for _, name := range d.sched.Names() {
		j, ok := d.sched.Job(name)
		if !ok {
			continue
		}
		interval := cfg.Probe(name).Interval
		want := metriccache.Want{Interval: interval, MaxAge: 2 * interval,
			Options: j.Env.Fingerprint(), MayExport: probe.MayExport(j.Probe)}
		if d.state.Restore(name, want, now) {
			restored = append(restored, name)
		}
	}
	if len(restored) > 0 {
		d.logger.Info("serving restored data until each probe's next run", "probes", restored)
	}
}

// primeRequests are the scrapes rendered once before the listener opens, so
// that the first real scrape is a response cache hit: Prometheus 3's and
// 2's default Accept headers with gzip, and a plain curl.
var primeRequests = []http.Header{
	{
		"Accept":          {"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"},
		"Accept-Encoding": {"gzip"},
	},
	{
		"Accept":          {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"},
		"Accept-Encoding": {"gzip"},
	},
	{"Accept": {"*/*"}},
}

// primeResponses renders the usual scrapes of path through the response
// cache h (not the instrumented mux: these are not requests). With data
// restored, that is what the first scrapes get; without, it costs a few
// small renders of the status series.
func primeResponses(h http.Handler, path string) {
	for _, hdr := range primeRequests {
		r, err := http.NewRequest(http.MethodGet, path, nil)
		if err != nil {
			return
		}
		r.Header = hdr.Clone()
		r.RemoteAddr = "127.0.0.1:0"
		h.ServeHTTP(&discard{header: http.Header{}}, r)
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
