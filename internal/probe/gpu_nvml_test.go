//go:build nvml && linux

package probe

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/host/nvml/nvmltest"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// loggedNVIDIASMI stands in for nvidia-smi: it logs its first argument,
// then runs the fixture's fake, so a test sees which queries a run forked.
func loggedNVIDIASMI(t testing.TB) (tool, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls")
	tool = filepath.Join(dir, "nvidia-smi")
	script := "#!/bin/sh\necho \"${1%%=*}\" >> " + log + "\nexec " + filepath.Join(testTools, "nvidia-smi") + " \"$@\"\n"
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return tool, log
}

// calls returns the queries the logged nvidia-smi ran, and forgets them.
func calls(t *testing.T, log string) string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	os.Remove(log)
	return strings.Join(strings.Fields(string(b)), " ")
}

type nvmlRun struct {
	p    *gpuProbe
	env  Env
	logs *bytes.Buffer
}

func newNVMLRun(t testing.TB, library, command string, mode GPUNVML) *nvmlRun {
	t.Helper()
	logs := &bytes.Buffer{}
	p := &gpuProbe{nvml: gpuNVML{library: library}}
	t.Cleanup(func() { p.nvml.close(slog.New(slog.DiscardHandler)) })
	return &nvmlRun{p: p, logs: logs, env: Env{
		Paths:   fixturePaths,
		Options: &GPUOptions{Command: confval.Path(command), NVML: mode},
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}}
}

func (r *nvmlRun) run(t testing.TB) collected {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	skips := NewSkips(nil)
	ms, err := r.p.Probe(ctx, r.env, skips)
	if err != nil || skips.Count() != 0 {
		t.Fatalf("probe: err %v, skips %d", err, skips.Count())
	}
	return collected{p: r.p, metrics: ms}
}

// On the fixture, the series read through the fake NVML are the series
// read through the fake nvidia-smi, byte for byte, and an NVML run forks
// no nvidia-smi --query-gpu (the slow series still come from nvidia-smi).
func TestGPUNVMLEquivalence(t *testing.T) {
	tool, log := loggedNVIDIASMI(t)
	smi := newNVMLRun(t, "", tool, GPUNVMLOff)
	want := exposition(t, smi.run(t))
	if got := calls(t, log); got != "--query-gpu --query-gpu --query-remapped-rows nvlink" { // readings, identity, slow counters
		t.Fatalf("nvidia-smi path ran %q", got)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "gpu.golden"))
	if err != nil || !bytes.Equal(want, golden) {
		t.Fatalf("nvidia-smi path differs from testdata/gpu.golden (err %v)", err)
	}

	fake := nvmltest.Build(t)
	r := newNVMLRun(t, fake.Path, tool, GPUNVMLAuto)
	for run := range 2 {
		got := exposition(t, r.run(t))
		if !bytes.Equal(got, want) {
			t.Errorf("run %d through NVML:\n%s\nthrough nvidia-smi:\n%s", run, got, want)
		}
		wantCalls := "--query-remapped-rows nvlink" // first run: the slow series
		if run > 0 {
			wantCalls = ""
		}
		if got := calls(t, log); got != wantCalls {
			t.Errorf("run %d forked nvidia-smi %q, want %q", run, got, wantCalls)
		}
	}
	if fake.Inits() != 1 {
		t.Errorf("nvmlInit_v2 called %d times, want once", fake.Inits())
	}
	if n := strings.Count(r.logs.String(), "level=INFO msg=\"reading GPUs through NVML"); n != 1 {
		t.Errorf("said %d times that NVML is used, want once:\n%s", n, r.logs.String())
	}
}

// What each NVML failure does: the run reads through nvidia-smi with the
// same series, and the next runs use NVML again only when the failure
// was a lost GPU.
func TestGPUNVMLFallback(t *testing.T) {
	tool, log := loggedNVIDIASMI(t)
	want := exposition(t, newNVMLRun(t, "", tool, GPUNVMLOff).run(t))
	calls(t, log)

	tests := []struct {
		name    string
		mode    GPUNVML
		library func(t *testing.T) (path string, f *nvmltest.Fake)
		// then, after the first run, before the second and third
		then     func(f *nvmltest.Fake)
		recover  func(f *nvmltest.Fake)
		forks    [3]bool // whether run 1, 2, 3 ran nvidia-smi --query-gpu
		inits    int
		logHas   string
		reopens  int
		disabled bool
	}{
		{
			name: "off", mode: GPUNVMLOff, library: fakeLib,
			forks: [3]bool{true, true, true}, inits: 0,
		},
		{
			name: "library absent", mode: GPUNVMLAuto,
			library: func(t *testing.T) (string, *nvmltest.Fake) {
				return filepath.Join(t.TempDir(), "libnvidia-ml.so.1"), nil
			},
			forks: [3]bool{true, true, true}, logHas: "level=INFO msg=\"NVML not used; reading GPUs through nvidia-smi\"", disabled: true,
		},
		{
			name: "driver/library mismatch", mode: GPUNVMLAuto,
			library: func(t *testing.T) (string, *nvmltest.Fake) {
				path, f := fakeLib(t)
				f.SetInitReturn(18)
				return path, f
			},
			forks: [3]bool{true, true, true}, inits: 1, logHas: "NVML_ERROR_LIB_RM_VERSION_MISMATCH", disabled: true,
		},
		{
			name: "GPU lost", mode: GPUNVMLAuto, library: fakeLib,
			then:    func(f *nvmltest.Fake) { f.SetDeviceReturn(15) },
			recover: func(f *nvmltest.Fake) { f.SetDeviceReturn(0) },
			forks:   [3]bool{false, true, false}, inits: 2, logHas: "NVML_ERROR_GPU_IS_LOST", reopens: 1,
		},
		{
			name: "GPU added", mode: GPUNVMLAuto, library: fakeLib,
			then:  func(f *nvmltest.Fake) { f.SetCount(2) },
			forks: [3]bool{false, true, false}, inits: 2, logHas: "1 GPUs at Open, 2 now", reopens: 1,
		},
		{
			name: "unexpected code", mode: GPUNVMLAuto, library: fakeLib,
			then:    func(f *nvmltest.Fake) { f.SetTemperatureReturn(999) },
			recover: func(f *nvmltest.Fake) { f.SetTemperatureReturn(0) },
			forks:   [3]bool{false, true, true}, inits: 1, logHas: "NVML_ERROR_UNKNOWN", disabled: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, f := tt.library(t)
			r := newNVMLRun(t, path, tool, tt.mode)
			for run := range 3 {
				if run == 1 && tt.then != nil {
					tt.then(f)
				}
				if run == 2 && tt.recover != nil {
					tt.recover(f)
				}
				got := exposition(t, r.run(t))
				if run == 0 || tt.name != "GPU added" || tt.forks[run] {
					// Two GPUs through NVML are more series than the fixture's one.
					if !bytes.Equal(got, want) {
						t.Errorf("run %d: series differ from nvidia-smi's:\n%s", run, got)
					}
				}
				if forked := strings.Contains(calls(t, log), "--query-gpu"); forked != tt.forks[run] {
					t.Errorf("run %d: forked nvidia-smi --query-gpu: %v, want %v", run, forked, tt.forks[run])
				}
			}
			if f != nil && f.Inits() != tt.inits {
				t.Errorf("nvmlInit_v2 called %d times, want %d", f.Inits(), tt.inits)
			}
			if f != nil && tt.disabled && f.Initialised() != 0 {
				t.Errorf("NVML turned off but still initialised")
			}
			if !strings.Contains(r.logs.String(), tt.logHas) {
				t.Errorf("logs %q do not say %q", r.logs.String(), tt.logHas)
			}
			if n := strings.Count(r.logs.String(), "NVML not used"); tt.disabled && n != 1 {
				t.Errorf("logged %d times that NVML is not used, want once:\n%s", n, r.logs.String())
			}
			if r.p.nvml.reopens != tt.reopens || (r.p.nvml.off != nil) != tt.disabled {
				t.Errorf("reopens %d, off %v; want %d, disabled %v", r.p.nvml.reopens, r.p.nvml.off, tt.reopens, tt.disabled)
			}
		})
	}
}

func fakeLib(t *testing.T) (string, *nvmltest.Fake) {
	f := nvmltest.Build(t)
	return f.Path, f
}

// BenchmarkGPUNVML and BenchmarkGPUTool are one steady-state probe run
// (the slow series already read) through the fake NVML and through the
// fake nvidia-smi (a shell script and cat: a real nvidia-smi costs 7-20 ms
// of CPU with persistence mode). cpu-ns/op is the CPU of the process and
// its children per run.
func BenchmarkGPUNVML(b *testing.B) {
	tool, _ := loggedNVIDIASMI(b)
	benchmarkGPU(b, newNVMLRun(b, nvmltest.Build(b).Path, tool, GPUNVMLAuto))
}

func BenchmarkGPUTool(b *testing.B) {
	benchmarkGPU(b, newNVMLRun(b, "", filepath.Join(testTools, "nvidia-smi"), GPUNVMLOff))
}

func benchmarkGPU(b *testing.B, r *nvmlRun) {
	r.run(b) // reads the slow series, due again in 10 minutes
	b.ReportAllocs()
	before := cpuTime(b)
	for b.Loop() {
		r.run(b)
	}
	b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			b.Fatal(err)
		}
		total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return total
}
