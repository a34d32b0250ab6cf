package devguard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/statefile"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

func devs(keys ...string) probe.DeviceClass {
	c := probe.DeviceClass{Count: len(keys)}
	for _, k := range keys {
		c.Devices = append(c.Devices, probe.Device{Key: k, Detail: "model " + k})
	}
	return c
}

// exported returns the guard's series in the text format, sorted.
func exported(t *testing.T, g *Guard) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(g)
	var b strings.Builder
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			b.WriteString(f.GetName() + "{")
			for i, l := range m.GetLabel() {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(l.GetName() + "=" + l.GetValue())
			}
			b.WriteString("} ")
			b.WriteString(strings.TrimSuffix(strings.TrimSuffix(
				strings.TrimPrefix(m.GetGauge().String(), "value:"), " "), " "))
			b.WriteString("\n")
		}
	}
	return b.String()
}

func wantSeries(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("want series %q in\n%s", w, got)
		}
	}
}

func noSeries(t *testing.T, got string, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		if strings.Contains(got, p) {
			t.Errorf("want no series %q in\n%s", p, got)
		}
	}
}

func openDir(t *testing.T, path string) *statefile.Dir {
	t.Helper()
	d, err := statefile.Open(path, "host-a")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBaselineRisesAndFallsOnlyByAccept(t *testing.T) {
	var log bytes.Buffer
	g := New(nil, slog.New(slog.NewTextHandler(&log, nil)))
	g.update("storage", map[string]probe.DeviceClass{"disk": devs("S1", "S2")}, nil)
	wantSeries(t, exported(t, g), "hardware_device_expected{class=disk} 2", "hardware_device_present{class=disk} 2")

	// A disk added: the baseline rises at once.
	g.update("storage", map[string]probe.DeviceClass{"disk": devs("S1", "S2", "S3")}, nil)
	wantSeries(t, exported(t, g), "hardware_device_expected{class=disk} 3", "hardware_device_present{class=disk} 3")

	// One removed: it stays expected and is named.
	g.update("storage", map[string]probe.DeviceClass{"disk": devs("S1", "S3")}, nil)
	got := exported(t, g)
	wantSeries(t, got, "hardware_device_expected{class=disk} 3", "hardware_device_present{class=disk} 2",
		"hardware_device_missing_info{class=disk,detail=model S2,device=S2,reason=absent} 1")

	// All gone: the probe reports no class, which is 0, not "unknown".
	g.update("storage", nil, nil)
	wantSeries(t, exported(t, g), "hardware_device_present{class=disk} 0")

	if _, err := g.Accept("nope", "test"); err == nil {
		t.Error("accepting an unknown class: want an error")
	}
	accepted, err := g.Accept("disk", "127.0.0.1:5000")
	if err != nil || len(accepted) != 1 {
		t.Fatalf("Accept = %v, %v", accepted, err)
	}
	got = exported(t, g)
	wantSeries(t, got, "hardware_device_expected{class=disk} 0")
	noSeries(t, got, "missing_info")
	if !strings.Contains(log.String(), `msg="device baseline accepted" class=disk from=3 to=0`) ||
		!strings.Contains(log.String(), "by=127.0.0.1:5000") {
		t.Errorf("accept not logged with who asked:\n%s", log.String())
	}
}

// A failed run is not "present 0": the class keeps what the last good run
// saw.
func TestFailedRunCountsNothing(t *testing.T) {
	g := New(nil, nil)
	g.update("storage", map[string]probe.DeviceClass{"disk": devs("S1", "S2")}, nil)
	before := g.Generation()
	g.update("storage", nil, errors.New("boom"))
	if g.Generation() != before {
		t.Error("a failed run changed the guard")
	}
	wantSeries(t, exported(t, g), "hardware_device_present{class=disk} 2")
}

// A restart restores baselines and present counts: nothing fires by itself
// before the probes run, and a missing device is still missing after.
func TestRestartKeepsBaselines(t *testing.T) {
	path := t.TempDir()
	g := New(openDir(t, path), nil)
	g.update("storage", map[string]probe.DeviceClass{"disk": devs("S1", "S2", "S3")}, nil)
	g.update("memory", map[string]probe.DeviceClass{"dimm": devs("A1", "A2")}, nil)
	g.update("memory", map[string]probe.DeviceClass{"dimm": devs("A1")}, nil)

	g2 := New(openDir(t, path), nil) // the restart
	got := exported(t, g2)
	wantSeries(t, got,
		"hardware_device_expected{class=disk} 3", "hardware_device_present{class=disk} 3",
		"hardware_device_expected{class=dimm} 2", "hardware_device_present{class=dimm} 1",
		"hardware_device_missing_info{class=dimm,detail=model A2,device=A2,reason=absent} 1")
	noSeries(t, got, "class=disk,detail")

	// The next run sees the disks as before: nothing changes.
	gen := g2.Generation()
	g2.update("storage", map[string]probe.DeviceClass{"disk": devs("S1", "S2", "S3")}, nil)
	if g2.Generation() != gen {
		t.Error("a run that saw what was restored changed the guard")
	}
	// A disk removed while the exporter was down shows on the first run.
	g2.update("storage", map[string]probe.DeviceClass{"disk": devs("S1", "S3")}, nil)
	wantSeries(t, exported(t, g2), "hardware_device_missing_info{class=disk,detail=model S2,device=S2,reason=absent} 1")

	// A state file of another host is refused, and the guard starts empty.
	other, err := statefile.Open(path, "host-b")
	if err != nil {
		t.Fatal(err)
	}
	if got := exported(t, New(other, nil)); got != "" {
		t.Errorf("another host's baselines were restored:\n%s", got)
	}
}

// With no state file, no class exists until its probe has run: "not run
// yet" is no series at all, never present 0.
func TestNothingBeforeTheFirstRun(t *testing.T) {
	g := New(openDir(t, t.TempDir()), nil)
	if got := exported(t, g); got != "" {
		t.Errorf("series before any run:\n%s", got)
	}
	g.update("gpu", nil, errors.New("nvidia-smi: exit status 15"))
	if got := exported(t, g); got != "" {
		t.Errorf("series after only a failed run:\n%s", got)
	}
}

func TestNVIDIACrossCheck(t *testing.T) {
	pci := map[string]probe.DeviceClass{probe.ClassNVIDIAGPUPCI: devs("0000:17:00.0", "0000:65:00.0")}
	g := New(nil, nil)
	g.update("pci", pci, nil)
	// Before the gpu probe has run there is nothing to compare.
	noSeries(t, exported(t, g), "gpu_nvidia_driver")

	g.update("gpu", map[string]probe.DeviceClass{probe.ClassNVIDIAGPU: devs("0000:17:00.0")}, nil)
	got := exported(t, g)
	wantSeries(t, got, "hardware_device_expected{class=gpu_nvidia_driver} 2", "hardware_device_present{class=gpu_nvidia_driver} 1",
		"hardware_device_missing_info{class=gpu_nvidia_driver,detail=model 0000:65:00.0,device=0000:65:00.0,reason=not_in_driver} 1")

	// nvidia-smi fails: every GPU on PCI is missing from the driver.
	g.update("gpu", nil, errors.New("nvidia-smi: exit status 15"))
	got = exported(t, g)
	wantSeries(t, got, "hardware_device_present{class=gpu_nvidia_driver} 0",
		"hardware_device_missing_info{class=gpu_nvidia_driver,detail=model 0000:17:00.0,device=0000:17:00.0,reason=driver_failed} 1")
	// ...but the gpu_nvidia class itself keeps its last good count.
	wantSeries(t, got, "hardware_device_present{class=gpu_nvidia} 1")

	// Both listed again: it clears.
	g.update("gpu", map[string]probe.DeviceClass{probe.ClassNVIDIAGPU: devs("0000:17:00.0", "0000:65:00.0")}, nil)
	got = exported(t, g)
	wantSeries(t, got, "hardware_device_present{class=gpu_nvidia_driver} 2")
	noSeries(t, got, "missing_info")
}

func TestRetainDropsClassesOfProbesTurnedOff(t *testing.T) {
	var log bytes.Buffer
	g := New(nil, slog.New(slog.NewTextHandler(&log, nil)))
	g.update("storage", map[string]probe.DeviceClass{"disk": devs("S1")}, nil)
	g.update("network", map[string]probe.DeviceClass{"nic": devs("eth0")}, nil)
	g.Retain("network")
	got := exported(t, g)
	noSeries(t, got, "class=disk")
	wantSeries(t, got, "hardware_device_expected{class=nic} 1")
	if !strings.Contains(log.String(), `msg="device baseline dropped: its probe is off" class=disk`) {
		t.Errorf("drop not logged:\n%s", log.String())
	}
}

// Item 5 of issue 21: an inventory change is logged once, one line per
// device, and a run that sees the same is silent.
func TestInventoryChangesLoggedOnce(t *testing.T) {
	var log bytes.Buffer
	g := New(nil, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo})))
	g.update("storage", map[string]probe.DeviceClass{"disk": devs("S1", "S2")}, nil)
	log.Reset()
	swapped := devs("S1", "S3")
	swapped.Devices[0].Detail = "model S1 firmware 2"
	for range 3 {
		g.update("storage", map[string]probe.DeviceClass{"disk": swapped}, nil)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if strings.Contains(l, "inventory change") {
			_, msg, _ := strings.Cut(l, "msg=")
			lines = append(lines, msg)
		}
	}
	want := []string{
		`"inventory change: device changed" probe=storage class=disk device=S1 from="model S1" to="model S1 firmware 2"`,
		`"inventory change: device added" probe=storage class=disk device=S3 detail="model S3"`,
		`"inventory change: device removed" probe=storage class=disk device=S2 detail="model S2"`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// A run called off (shutdown) counts for nothing, even for the gpu probe,
// whose failures count in the NVIDIA cross-check: a restart must not find
// the cross-check failed by its own shutdown.
func TestCancelledRunCountsForNothing(t *testing.T) {
	g := New(nil, nil)
	g.update("pci", map[string]probe.DeviceClass{probe.ClassNVIDIAGPUPCI: devs("0000:17:00.0")}, nil)
	g.Observe("gpu", nil, fmt.Errorf("nvidia-smi: %w", context.Canceled))
	noSeries(t, exported(t, g), "gpu_nvidia_driver")
	g.Observe("gpu", nil, fmt.Errorf("nvidia-smi: %w", context.DeadlineExceeded)) // hung: counts
	wantSeries(t, exported(t, g), "hardware_device_present{class=gpu_nvidia_driver} 0")
}
