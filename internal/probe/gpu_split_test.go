package probe

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// gpuCopy copies the fixture's fake nvidia-smi and its captures into a
// directory of the test's, behind a wrapper that logs each run as
// "readings", "identity" or its first argument; a file "fail" beside the
// wrapper makes the readings query fail.
func gpuCopy(t *testing.T) (captures, tool, log string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "fixture"), os.DirFS(testTools)); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "calls")
	tool = filepath.Join(dir, "nvidia-smi")
	script := `#!/bin/sh
case "$1" in
--query-gpu=index,uuid,name,*) echo identity >> ` + log + ` ;;
--query-gpu=*)
	echo readings >> ` + log + `
	if [ -f ` + filepath.Join(dir, "fail") + ` ]; then
		echo "Unable to determine the device handle for GPU0000:17:00.0: Unknown Error"
		exit 255
	fi ;;
*) echo "${1%%=*}" >> ` + log + ` ;;
esac
exec ` + filepath.Join(dir, "fixture", "nvidia-smi") + ` "$@"
`
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "fixture", "nvidia-smi.d"), tool, log
}

// gpuStep runs p once through nvidia-smi and returns its exposition, or
// the run's error. The fixture host has an AMD GPU too, so a failed
// NVIDIA query is a skip, not the run's error.
func gpuStep(t *testing.T, p *gpuProbe, tool string, wantSkips int) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	skips := NewSkips(nil)
	opts := withCommand("gpu", tool).(*GPUOptions)
	opts.NVML = GPUNVMLOff
	ms, err := p.Probe(ctx, Env{Paths: fixturePaths, Options: opts}, skips)
	if err != nil {
		return nil, err
	}
	if skips.Count() != wantSkips {
		t.Errorf("skips = %d, want %d", skips.Count(), wantSkips)
	}
	return exposition(t, collected{p: p, metrics: ms}), nil
}

// Over six simulated hours (a run every 5 minutes), each run
// asks nvidia-smi its readings only; the identity (name, serial, PCI bus,
// driver, VBIOS) is asked on the first run and again at 6h. Every run
// exports the golden file's series. A GPU swapped, a failed query and a
// hot-swap hint each have the identity asked again at once.
func TestGPUIdentityOnTheInventoryInterval(t *testing.T) {
	captures, tool, log := gpuCopy(t)
	want, err := os.ReadFile(filepath.Join("testdata", "gpu.golden"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	hints := new(atomic.Uint64)
	p := &gpuProbe{now: func() time.Time { return now }, hints: hints}
	for m := 0; m <= 360; m += 5 { // the default interval is 1m; 5m steps keep the test short
		now = start.Add(time.Duration(m) * time.Minute)
		got, err := gpuStep(t, p, tool, 0)
		if err != nil {
			t.Fatalf("minute %d: %v", m, err)
		}
		if string(got) != string(want) {
			t.Fatalf("minute %d: series differ from testdata/gpu.golden:\n%s", m, got)
		}
	}
	var readings, identity []int // minutes
	b, _ := os.ReadFile(log)
	m := -5
	for _, c := range strings.Fields(string(b)) {
		switch c {
		case "readings":
			m += 5
			readings = append(readings, m)
		case "identity":
			identity = append(identity, m)
		}
	}
	if len(readings) != 73 || !slices.Equal(identity, []int{0, 360}) {
		t.Errorf("over 6h: %d readings queries (want 73), identity asked at minutes %v (want [0 360])", len(readings), identity)
	}
	os.Remove(log)

	step := func(name string, skips int, wantCalls string) {
		t.Helper()
		now = now.Add(time.Minute)
		if _, err := gpuStep(t, p, tool, skips); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := os.ReadFile(log)
		os.Remove(log)
		if got := strings.Join(strings.Fields(string(b)), " "); got != wantCalls {
			t.Errorf("%s: nvidia-smi runs %q, want %q", name, got, wantCalls)
		}
	}
	step("steady", 0, "readings")
	hints.Add(1)
	step("a hot-swap hint", 0, "readings identity")
	step("after the hint", 0, "readings")

	writeFile(t, filepath.Join(filepath.Dir(tool), "fail"), "")
	step("the query fails", 1, "readings")
	if err := os.Remove(filepath.Join(filepath.Dir(tool), "fail")); err != nil {
		t.Fatal(err)
	}
	step("after a failed query", 0, "readings identity")
	step("steady again", 0, "readings")

	// The GPU swapped for another (another UUID in both queries' output).
	for _, f := range []string{"query-gpu.csv", "query-gpu-identity.csv", "query-remapped-rows.csv"} {
		path := filepath.Join(captures, f)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, strings.ReplaceAll(string(b), "GPU-3f5a7c2e-9b41-8d06-1e7f-5c2a9d4b8e13", "GPU-00000000-1111-2222-3333-444444444444"))
	}
	step("a GPU swapped", 0, "readings identity --query-remapped-rows nvlink")
	step("steady after the swap", 0, "readings")
}
