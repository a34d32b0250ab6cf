package daemon

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// --once gives back every descriptor the probes kept (the one-minute
// sysfs probes' layouts) before it returns.
func TestOnceClosesProbes(t *testing.T) {
	cfg := loadConfig(t, nil)
	before := hostfs.Kept()
	if _, _, err := Once(context.Background(), cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	// At most before: descriptors of probes other tests left to the
	// garbage collector may be closed meanwhile, never opened.
	if got := hostfs.Kept(); got > before {
		t.Errorf("%d descriptors kept after --once, want at most %d", got, before)
	}
}

type closerProbe struct{ closed int }

func (*closerProbe) Describe(chan<- *prometheus.Desc) {}
func (*closerProbe) Probe(context.Context, probe.Env, *probe.Skips) ([]prometheus.Metric, error) {
	return nil, nil
}
func (p *closerProbe) Close() { p.closed++ }

// closeProbes closes the probes that are not running: all of them at
// exit, those a reload turned off otherwise.
func TestCloseProbes(t *testing.T) {
	on, off := &closerProbe{}, &closerProbe{}
	all := map[string]probe.Probe{"on": on, "off": off}
	closeProbes(all, []string{"on"})
	if on.closed != 0 || off.closed != 1 {
		t.Errorf("reload: closed on %d, off %d times; want 0, 1", on.closed, off.closed)
	}
	closeProbes(all, nil)
	if on.closed != 1 || off.closed != 2 {
		t.Errorf("exit: closed on %d, off %d times; want 1, 2", on.closed, off.closed)
	}
}
