package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// guardHost is a private copy of the fixture server and a state
// directory, on which a test starts the daemon, runs every probe once and
// starts it again, as a host is rebooted with a part missing.
type guardHost struct {
	t        *testing.T
	root     string
	state    string
	testdata string
	tools    map[string]map[string]string // a variant's tool options
	off      []string                     // probes the config turns off
}

func newGuardHost(t *testing.T) *guardHost {
	t.Helper()
	testdata, err := filepath.Abs("../probe/testdata")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "server")
	if err := fixture.Materialize(filepath.Join(testdata, "server"), root); err != nil {
		t.Fatal(err)
	}
	return &guardHost{t: t, root: root, state: filepath.Join(t.TempDir(), "state"), testdata: testdata}
}

func (h *guardHost) config() *config.Config {
	h.t.Helper()
	sections := fixture.ToolConfig(h.testdata)
	for probe, keys := range h.tools {
		section := sections[probe].(map[string]any)
		for k, v := range keys {
			section[k] = v
		}
	}
	for _, p := range h.off {
		section, _ := sections[p].(map[string]any)
		if section == nil {
			section = map[string]any{}
		}
		section["enabled"] = false
		sections[p] = section
	}
	b, err := yaml.Marshal(map[string]any{
		"paths": map[string]any{
			"procfs": filepath.Join(h.root, "proc"),
			"sysfs":  filepath.Join(h.root, "sys"),
			"rootfs": filepath.Join(h.root, "root"),
		},
		"state":  map[string]any{"path": h.state},
		"probes": sections,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	path := filepath.Join(h.t.TempDir(), "config.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		h.t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

// start builds the daemon (restoring the state directory) without running
// a probe; log collects its log.
// lockedBuffer is a log the daemon's goroutines (the state file writer
// among them) write while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (h *guardHost) start(log *lockedBuffer) *daemon {
	h.t.Helper()
	d, err := start(h.config(), Options{MetricsPath: "/metrics", Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { d.state.Close(5 * time.Second) })
	return d
}

func runAll(t *testing.T, d *daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d.sched.RunOnce(ctx)
}

// deviceSeries returns the hardware_device_ lines of a scrape, sorted.
func deviceSeries(t *testing.T, d *daemon) []string {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.RemoteAddr = "127.0.0.1:4000"
	d.srv.Handler().ServeHTTP(w, r)
	var lines []string
	for _, l := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(l, "hardware_device_") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}

// short lists the classes whose present is below expected, and the
// missing_info series.
func short(lines []string) []string {
	values := map[string]map[string]string{}
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "hardware_device_missing_info") {
			out = append(out, l)
			continue
		}
		name, rest, _ := strings.Cut(l, "{class=\"")
		class, value, _ := strings.Cut(rest, "\"} ")
		if values[class] == nil {
			values[class] = map[string]string{}
		}
		values[class][name] = value
	}
	for class, v := range values {
		if v["hardware_device_present"] != v["hardware_device_expected"] {
			out = append(out, class+" "+v["hardware_device_present"]+"<"+v["hardware_device_expected"])
		}
	}
	sort.Strings(out)
	return out
}

// The fixture host whole, then each variant of it after a restart: the
// whole host never fires, a restart alone changes nothing, and each
// variant falls short in its class, naming the part; accepting clears it.
func TestDeviceGuardOnFixtureVariants(t *testing.T) {
	want := map[string][]string{
		"gpu_nvidia_driver": {
			`hardware_device_missing_info{class="gpu_nvidia",detail="NVIDIA A100-PCIE-40GB 1321021034318",device="0000:17:00.0",reason="absent"} 1`,
			`hardware_device_missing_info{class="gpu_nvidia_driver",detail="GA100 [A100 PCIe 40GB]",device="0000:17:00.0",reason="not_in_driver"} 1`,
			"gpu_nvidia 0<1",
			"gpu_nvidia_driver 0<1",
		},
		"dimm": {
			`hardware_device_missing_info{class="dimm",detail="HMA84GR7CJR4N-XN 32C0F492",device="B8",reason="absent"} 1`,
			`hardware_device_missing_info{class="dimm_edac",detail="CPU_SrcID#1_MC#1_Chan#1_DIMM#0",device="mc3/dimm2",reason="absent"} 1`,
			"dimm 15<16",
			"dimm_edac 7<8",
			"memory_kernel 15<16",
		},
		"disk": {
			`hardware_device_missing_info{class="disk",detail="sdb SAMSUNG MZ7L3480HCHQ-00B7C",device="S6JNNG0R412346",reason="absent"} 1`,
			"disk 12<13",
		},
	}
	for _, w := range want {
		sort.Strings(w)
	}
	for _, v := range fixture.Variants {
		t.Run(v.Name, func(t *testing.T) {
			h := newGuardHost(t)
			var log lockedBuffer
			d := h.start(&log)
			if got := deviceSeries(t, d); len(got) != 0 {
				t.Fatalf("device series before any run on a new host:\n%s", strings.Join(got, "\n"))
			}
			runAll(t, d)
			whole := deviceSeries(t, d)
			t.Logf("%d hardware_device_ series on the whole fixture host", len(whole))
			if len(whole) < 20 || len(short(whole)) != 0 {
				t.Fatalf("the whole host: %d series, short: %v\n%s", len(whole), short(whole), strings.Join(whole, "\n"))
			}
			d.state.Close(5 * time.Second)

			// The restart, on the whole host: the same series before any run.
			d = h.start(&log)
			if got := deviceSeries(t, d); strings.Join(got, "\n") != strings.Join(whole, "\n") {
				t.Fatalf("after a restart, before any run:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(whole, "\n"))
			}
			d.state.Close(5 * time.Second)

			// The part goes; the exporter starts again and runs.
			tools, err := v.Apply(h.root, h.testdata)
			if err != nil {
				t.Fatal(err)
			}
			h.tools = tools
			log.Reset()
			d = h.start(&log)
			if got := short(deviceSeries(t, d)); len(got) != 0 {
				t.Errorf("fires after the restart before any run: %v", got)
			}
			runAll(t, d)
			if got := short(deviceSeries(t, d)); strings.Join(got, "\n") != strings.Join(want[v.Name], "\n") {
				t.Errorf("%s (%s):\n%s\nwant:\n%s", v.Name, v.What, strings.Join(got, "\n"), strings.Join(want[v.Name], "\n"))
			}
			if !strings.Contains(log.String(), "inventory change: device removed") {
				t.Errorf("no removal logged:\n%s", log.String())
			}

			// Accepted from the host itself: cleared, except the GPU
			// cross-check, which is no baseline.
			r := httptest.NewRequest("POST", "/-/baseline/accept", nil)
			r.RemoteAddr = "127.0.0.1:5000"
			w := httptest.NewRecorder()
			d.srv.Handler().ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("accept: %d %s", w.Code, w.Body.String())
			}
			got := short(deviceSeries(t, d))
			if v.Name == "gpu_nvidia_driver" {
				want := []string{"gpu_nvidia_driver 0<1", want[v.Name][3]}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("after accept: %v, want only the cross-check %v", got, want)
				}
			} else if len(got) != 0 {
				t.Errorf("after accept: %v", got)
			}
			if !strings.Contains(log.String(), "device baseline accepted") || !strings.Contains(log.String(), "by=127.0.0.1:5000") {
				t.Errorf("accept not logged:\n%s", log.String())
			}
		})
	}
}

// A config that turns a probe off drops its classes' baselines (the other
// way a baseline falls), and they are gone after a restart too.
func TestDeviceBaselineDroppedWhenItsProbeIsTurnedOff(t *testing.T) {
	h := newGuardHost(t)
	var log lockedBuffer
	d := h.start(&log)
	runAll(t, d)
	if !strings.Contains(strings.Join(deviceSeries(t, d), "\n"), `class="disk"`) {
		t.Fatal("no disk class after a run")
	}
	h.off = []string{"storage"}
	d.apply(h.config()) // as a reload does
	if got := strings.Join(deviceSeries(t, d), "\n"); strings.Contains(got, `class="disk"`) || strings.Contains(got, `class="nvme"`) {
		t.Errorf("storage off, its classes remain:\n%s", got)
	}
	if !strings.Contains(log.String(), "device baseline dropped: its probe is off") {
		t.Errorf("drop not logged:\n%s", log.String())
	}
	// On again and restarted: before storage runs, no disk baseline, as on
	// a first start.
	d.state.Close(5 * time.Second)
	h.off = nil
	if got := strings.Join(deviceSeries(t, h.start(&log)), "\n"); strings.Contains(got, `class="disk"`) {
		t.Errorf("after a restart the dropped baseline is back:\n%s", got)
	}
}
