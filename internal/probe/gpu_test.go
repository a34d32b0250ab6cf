package probe

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/nvidiasmi"

	"gopkg.in/yaml.v3"
)

func init() {
	fixtureOptions["gpu"] = withCommand("gpu", filepath.Join(testTools, "nvidia-smi"))
	// No test loads the host's libnvidia-ml: a test that means NVML names
	// the fake library (gpu_nvml_test.go); every other one, whatever its
	// probes.gpu.nvml, finds no library here and reads through nvidia-smi.
	gpuNVMLLibrary = filepath.Join(testTools, "no-libnvidia-ml.so.1")
}

func TestGPUGolden(t *testing.T) {
	checkGolden(t, "gpu")
	if _, skips := runProbe(t, "gpu", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

// The fake nvidia-smi answers only the exact command lines it has captured
// output for; this names the file to update when the field lists change.
func TestGPUArgsMatchCapturedOutput(t *testing.T) {
	for file, q := range map[string]struct {
		query  string
		fields []gpuField
	}{
		"query-gpu":           {"query-gpu", gpuReadingFields},
		"query-gpu-identity":  {"query-gpu", gpuIdentityFields},
		"query-remapped-rows": {"query-remapped-rows", gpuRemapFields},
	} {
		query, fields := q.query, q.fields
		b, err := os.ReadFile(filepath.Join(testTools, "nvidia-smi.d", file+".args"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(gpuArgs(query, fields), " "), strings.TrimSpace(string(b)); got != want {
			t.Errorf("probe runs nvidia-smi %s\ncaptured output is for %s", got, want)
		}
	}
}

// gpuSeries runs the export half of the probe on one query's output.
func gpuSeries(t *testing.T, out string, fields []gpuField, key string) (map[string]float64, *Skips) {
	t.Helper()
	skips := NewSkips(nil)
	rows, errs := nvidiasmi.ParseCSV([]byte(out), gpuFieldNames(fields))
	for _, err := range errs {
		skips.Add("nvidia-smi", err)
	}
	ms := gpuMetrics(rows, fields, key, "nvidia-smi", skips)
	return gatherSeries(t, collected{p: &gpuProbe{}, metrics: ms}), skips
}

// gpuFields535 are the properties these tests' rows hold: a subset, as the
// probe asks of a driver that rejected the others.
var gpuFields535 = []string{
	"index", "uuid", "name", "serial", "pci.bus_id", "driver_version", "vbios_version", "temperature.gpu",
	"power.draw", "power.limit", "memory.total", "memory.used", "ecc.errors.corrected.aggregate.total",
	"ecc.errors.uncorrected.aggregate.total", "retired_pages.single_bit_ecc.count", "retired_pages.double_bit.count",
}

// gpuFieldsNamed are the fields of names, in their order in fields.
func gpuFieldsNamed(t *testing.T, fields []gpuField, names ...string) []gpuField {
	t.Helper()
	var out []gpuField
	for _, f := range fields {
		if slices.Contains(names, f.name) {
			out = append(out, f)
		}
	}
	if len(out) != len(names) {
		t.Fatalf("fields %v: only %d known", names, len(out))
	}
	return out
}

func TestGPUParseQuery(t *testing.T) {
	const v100 = "GPU-8a3e6f0b-2c71-4d9e-b5a4-07f1c3e92d58"
	tests := []struct {
		name  string
		out   string
		skips int
		want  map[string]float64
	}{
		{
			// Pre-Ampere: pages are retired rather than rows remapped, and
			// this board does not report its power draw.
			name: "V100 with retired pages and unsupported power draw",
			out:  "1, " + v100 + ", Tesla V100-SXM2-32GB, 0323918011234, 00000000:1A:00.0, 535.183.01, 88.00.80.00.01, 38, [Not Supported], 300.00, 32768, 0, 12, 0, 2, 0\n",
			want: map[string]float64{
				`hardware_gpu_info{driver_version="535.183.01",index="1",name="Tesla V100-SXM2-32GB",pci_bus_id="0000:1a:00.0",serial="0323918011234",uuid="` + v100 + `",vbios_version="88.00.80.00.01"}`: 1,
				`hardware_gpu_temperature_celsius{uuid="` + v100 + `"}`:                 38,
				`hardware_gpu_power_limit_watts{uuid="` + v100 + `"}`:                   300,
				`hardware_gpu_memory_total_bytes{uuid="` + v100 + `"}`:                  32768 << 20,
				`hardware_gpu_memory_used_bytes{uuid="` + v100 + `"}`:                   0,
				`hardware_gpu_ecc_errors_total{type="corrected",uuid="` + v100 + `"}`:   12,
				`hardware_gpu_ecc_errors_total{type="uncorrected",uuid="` + v100 + `"}`: 0,
				`hardware_gpu_retired_pages{cause="single_bit",uuid="` + v100 + `"}`:    2,
				`hardware_gpu_retired_pages{cause="double_bit",uuid="` + v100 + `"}`:    0,
			},
		},
		{
			// A GeForce board: no serial, no ECC, and a sensor read error.
			name: "sentinels are no sample, not a skip",
			out:  "0, GPU-11111111-2222-3333-4444-555555555555, NVIDIA GeForce RTX 3090, [N/A], 00000000:65:00.0, 535.183.01, 94.02.42.00.0A, [Unknown Error], 21.07, 350.00, 24576, 1, [N/A], N/A, [N/A], [N/A]\n",
			want: map[string]float64{
				`hardware_gpu_info{driver_version="535.183.01",index="0",name="NVIDIA GeForce RTX 3090",pci_bus_id="0000:65:00.0",serial="",uuid="GPU-11111111-2222-3333-4444-555555555555",vbios_version="94.02.42.00.0A"}`: 1,
				`hardware_gpu_power_draw_watts{uuid="GPU-11111111-2222-3333-4444-555555555555"}`:   21.07,
				`hardware_gpu_power_limit_watts{uuid="GPU-11111111-2222-3333-4444-555555555555"}`:  350,
				`hardware_gpu_memory_total_bytes{uuid="GPU-11111111-2222-3333-4444-555555555555"}`: 24576 << 20,
				`hardware_gpu_memory_used_bytes{uuid="GPU-11111111-2222-3333-4444-555555555555"}`:  1 << 20,
			},
		},
		{
			name: "malformed values and lines cost their series",
			out: "" +
				"1, " + v100 + ", Tesla V100-SXM2-32GB, 0323918011234, 00000000:1A:00.0, 535.183.01, 88.00.80.00.01, 3x, 41.10, 300.00, 32768, 0, 12, 0, 2, 0\n" +
				"2, GPU-22222222-2222-3333-4444-555555555555, Tesla V100-SXM2-32GB, 0323918011299, 00000000:1B:00.0, 535.183.01, 88.00.80.00.01, 37, 40.02\n" + // too few values
				"3, [N/A], Tesla V100-SXM2-32GB, 0323918011300, 00000000:1C:00.0, 535.183.01, 88.00.80.00.01, 36, 40.00, 300.00, 32768, 0, 0, 0, 0, 0\n" + // no UUID
				"\n",
			skips: 3,
			want: map[string]float64{
				`hardware_gpu_info{driver_version="535.183.01",index="1",name="Tesla V100-SXM2-32GB",pci_bus_id="0000:1a:00.0",serial="0323918011234",uuid="` + v100 + `",vbios_version="88.00.80.00.01"}`: 1,
				`hardware_gpu_power_draw_watts{uuid="` + v100 + `"}`:                    41.1,
				`hardware_gpu_power_limit_watts{uuid="` + v100 + `"}`:                   300,
				`hardware_gpu_memory_total_bytes{uuid="` + v100 + `"}`:                  32768 << 20,
				`hardware_gpu_memory_used_bytes{uuid="` + v100 + `"}`:                   0,
				`hardware_gpu_ecc_errors_total{type="corrected",uuid="` + v100 + `"}`:   12,
				`hardware_gpu_ecc_errors_total{type="uncorrected",uuid="` + v100 + `"}`: 0,
				`hardware_gpu_retired_pages{cause="single_bit",uuid="` + v100 + `"}`:    2,
				`hardware_gpu_retired_pages{cause="double_bit",uuid="` + v100 + `"}`:    0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skips := gpuSeries(t, tt.out, gpuFieldsNamed(t, gpuQueryFields, gpuFields535...), "uuid")
			if skips.Count() != tt.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tt.skips)
			}
			assertSeries(t, got, "hardware_gpu_", tt.want)
		})
	}
}

func TestGPUParseRemappedRows(t *testing.T) {
	out := "" +
		"GPU-a1, 0, 1, Yes, No\n" +
		"GPU-b2, [N/A], [N/A], [N/A], [N/A]\n" +
		"GPU-c3, 4, 0, Maybe, No\n"
	got, skips := gpuSeries(t, out, gpuRemapFields, "gpu_uuid")
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1", skips.Count())
	}
	assertSeries(t, got, "hardware_gpu_", map[string]float64{
		`hardware_gpu_remapped_rows{kind="correctable",uuid="GPU-a1"}`:   0,
		`hardware_gpu_remapped_rows{kind="uncorrectable",uuid="GPU-a1"}`: 1,
		`hardware_gpu_remapped_rows{kind="pending",uuid="GPU-a1"}`:       1,
		`hardware_gpu_remapped_rows{kind="failure",uuid="GPU-a1"}`:       0,
		`hardware_gpu_remapped_rows{kind="correctable",uuid="GPU-c3"}`:   4,
		`hardware_gpu_remapped_rows{kind="uncorrectable",uuid="GPU-c3"}`: 0,
		`hardware_gpu_remapped_rows{kind="failure",uuid="GPU-c3"}`:       0,
	})
}

func TestGPUToolFailures(t *testing.T) {
	gpuCSV := filepath.Join(testTools, "nvidia-smi.d", "query-gpu.csv")
	const info = `hardware_gpu_info{driver_version="535.183.01",index="0",name="NVIDIA A100-PCIE-40GB",pci_bus_id="0000:17:00.0",serial="1321021034318",uuid="GPU-3f5a7c2e-9b41-8d06-1e7f-5c2a9d4b8e13",vbios_version="92.00.25.00.08"} 1`
	tests := []struct {
		name       string
		gpu, remap string
		errHas     string
		skips      int
		want       []string
		absent     []string
	}{
		{
			name:   "no driver",
			gpu:    `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."; exit 9`,
			errHas: "NVIDIA-SMI has failed",
		},
		{name: "no GPU", gpu: `echo "No devices were found"; exit 6`, errHas: "exit status 6"},
		{name: "garbage with exit 0", gpu: `echo '<html>oops</html>'`, errHas: "no GPU lines"},
		{
			name: "remapped rows query fails", gpu: "cat " + gpuCSV, remap: `echo 'Field "gpu_uuid" is not a valid field to query.' >&2; exit 2`,
			skips: 1, want: []string{info}, absent: []string{"hardware_gpu_remapped_rows"},
		},
		{
			name: "remapped rows not supported", gpu: "cat " + gpuCSV, remap: `echo "Remapped rows: Not Supported"; exit 3`,
			want: []string{info}, absent: []string{"hardware_gpu_remapped_rows"},
		},
		{name: "no GPUs, exit 0", gpu: "true", absent: []string{"hardware_gpu_info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tool := fakeTool(t, "nvidia-smi", `case "$1" in
--query-gpu=index,uuid,name,*) cat `+filepath.Join(testTools, "nvidia-smi.d", "query-gpu-identity.csv")+` ;;
--query-gpu=*) `+tt.gpu+` ;;
--query-remapped-rows=*) `+tt.remap+` ;;
esac
`)
			c, skips, err := toolProbeRun(t, "gpu", tool, 10*time.Second)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if skips.Count() != tt.skips {
				t.Errorf("skips = %d, want %d", skips.Count(), tt.skips)
			}
			checkSeries(t, "\n"+string(exposition(t, c)), tt.want, tt.absent)
		})
	}
}

// nvidia-smi installed on a host with no NVIDIA GPU bound to the driver
// leaves the probe off rather than failing every run.
func TestGPUAvailableNeedsABoundDevice(t *testing.T) {
	p, err := New("gpu")
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Paths: fixturePaths, Options: fixtureOptions["gpu"]}
	if err := p.(Conditional).Available(env); err != nil {
		t.Errorf("fixture with an A100 bound to nvidia: Available() = %v", err)
	}
	root := t.TempDir()
	plantTree(t, root, map[string]string{
		"sys/bus/pci/drivers/nvme/0000:5e:00.0": "-> ../../../../devices/pci0000:5d/0000:5e:00.0",
		"sys/bus/pci/drivers/nvidia/bind":       "",
		"sys/bus/pci/drivers/nvidia/module":     "-> ../../../../module/nvidia",
	})
	env.Paths = treePaths(root)
	if err := p.(Conditional).Available(env); err == nil || !strings.Contains(err.Error(), "no NVIDIA GPU") {
		t.Errorf("driver loaded, no device bound: Available() = %v, want no NVIDIA GPU", err)
	}
	env.Paths = treePaths(t.TempDir())
	if err := p.(Conditional).Available(env); err == nil {
		t.Error("no nvidia driver at all: Available() = nil")
	}
}

// Drivers 580 and later print power.draw as [N/A] and the reading in
// power.draw.instant; older drivers print the reverse. Clock event
// reasons fall back the same way to clocks_throttle_reasons.
func TestGPUAlternativesFirstWithAValueWins(t *testing.T) {
	fields := gpuFieldsNamed(t, gpuQueryFields, "uuid", "power.draw", "power.draw.instant", "power.draw.average",
		"clocks_event_reasons.hw_slowdown", "clocks_throttle_reasons.hw_slowdown", "pstate", "ecc.mode.current")
	// Columns in the order of gpuQueryFields: uuid, power.draw{,.instant,.average},
	// pstate, ecc.mode.current, clocks_event_reasons, clocks_throttle_reasons.
	out := "GPU-b200, [N/A], 612.40, 598.00, P2, Enabled, Active, [N/A]\n" +
		"GPU-old, 41.10, [N/A], [N/A], P8, Disabled, [N/A], Not Active\n" +
		"GPU-avg, [N/A], [N/A], 77.00, Px, Enabled, [Not Supported], [Not Supported]\n"
	got, skips := gpuSeries(t, out, fields, "uuid")
	if skips.Count() != 1 { // Px
		t.Errorf("skips = %d, want 1", skips.Count())
	}
	assertSeries(t, got, "hardware_gpu_", map[string]float64{
		`hardware_gpu_power_draw_watts{uuid="GPU-b200"}`:                        612.4,
		`hardware_gpu_power_draw_watts{uuid="GPU-old"}`:                         41.1,
		`hardware_gpu_power_draw_watts{uuid="GPU-avg"}`:                         77,
		`hardware_gpu_clock_event_reason{reason="hw_slowdown",uuid="GPU-b200"}`: 1,
		`hardware_gpu_clock_event_reason{reason="hw_slowdown",uuid="GPU-old"}`:  0,
		`hardware_gpu_performance_state{uuid="GPU-b200"}`:                       2,
		`hardware_gpu_performance_state{uuid="GPU-old"}`:                        8,
		`hardware_gpu_ecc_mode{mode="current",uuid="GPU-b200"}`:                 1,
		`hardware_gpu_ecc_mode{mode="current",uuid="GPU-old"}`:                  0,
		`hardware_gpu_ecc_mode{mode="current",uuid="GPU-avg"}`:                  1,
	})
}

// A driver that does not know a property rejects the whole query; the
// probe asks again without it and does not ask for it on later runs.
func TestGPUUnknownFieldsAreAskedOnce(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	// Knows neither power.draw.instant nor power.draw.average nor any
	// clocks_event_reasons property (a driver before 535), and has no NVLink.
	tool := fakeTool(t, "nvidia-smi", `echo "$*" >> `+log+`
case "$1" in
--query-gpu=*)
	for f in power.draw.instant power.draw.average clocks_event_reasons.gpu_idle clocks_event_reasons.hw_slowdown; do
		case "$1" in *"$f,"*|*"$f") echo "Field \"$f\" is not a valid field to query."; exit 2 ;; esac
	done
	echo "$1" | tr ',' '\n' | wc -l > `+filepath.Join(dir, "n")+`
	n=$(cat `+filepath.Join(dir, "n")+`)
	line="0, GPU-x"; i=2; while [ $i -lt $n ]; do line="$line, [N/A]"; i=$((i+1)); done
	echo "$line" ;;
--query-remapped-rows=*) echo "GPU-x, 0, 0, No, No" ;;
nvlink) echo "NVLink is not supported"; exit 3 ;;
esac
`)
	p := &gpuProbe{}
	env := Env{Options: withCommand("gpu", tool)}
	for run := 0; run < 2; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		skips := NewSkips(nil)
		ms, err := p.Probe(ctx, env, skips)
		cancel()
		if err != nil || skips.Count() != 0 {
			t.Fatalf("run %d: err %v, skips %d", run, err, skips.Count())
		}
		if len(ms) == 0 {
			t.Fatalf("run %d: no series", run)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	var queries, identity, nvlink int
	for _, c := range calls {
		switch {
		case strings.HasPrefix(c, "--query-gpu=index,uuid,name,"):
			identity++ // the identity, on the first run only
		case strings.HasPrefix(c, "--query-gpu="):
			queries++
		case strings.HasPrefix(c, "nvlink"):
			nvlink++
		}
	}
	// Run 1: rejected by each of the 4 properties the query names (the
	// two clocks_event_reasons named here; the others it accepts), then
	// answered; run 2: answered at once.
	if queries != 5+1 || identity != 1 || nvlink != 1 {
		t.Errorf("--query-gpu asked %d times, its identity %d, nvlink -e %d times; want 6, 1 and 1\n%s", queries, identity, nvlink, strings.Join(calls, "\n"))
	}
	var last string
	for _, c := range calls {
		if strings.HasPrefix(c, "--query-gpu=") && !strings.HasPrefix(c, "--query-gpu=index,uuid,name,") {
			last = c
		}
	}
	if strings.Contains(last, "power.draw.instant") || !strings.Contains(last, "clocks_throttle_reasons.hw_slowdown") {
		t.Errorf("last query still names a rejected property, or lost an accepted one: %s", last)
	}
}

// The counters that move rarely (remapped rows, NVLink errors) cost an
// nvidia-smi run each: they are read on the first run, then at most every
// gpuSlowEvery, and at once when the set of GPUs changes; between reads
// the last values are served.
func TestGPUSlowCountersAreReadEveryTenMinutes(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	uuid := filepath.Join(dir, "uuid")
	writeFile(t, uuid, "GPU-a")
	tool := fakeTool(t, "nvidia-smi", `echo "$1" >> `+log+`
case "$1" in
--query-gpu=*) n=$(echo "$1" | tr ',' '\n' | wc -l); line="0, $(cat `+uuid+`)"; i=2; while [ $i -lt $n ]; do line="$line, [N/A]"; i=$((i+1)); done; echo "$line" ;;
--query-remapped-rows=*) echo "$(cat `+uuid+`), 0, 0, No, No" ;;
nvlink) echo "GPU 0: NVIDIA A100 (UUID: $(cat `+uuid+`))"; echo "	 Link 0: Replay Errors: 0" ;;
esac
`)
	clock := time.Unix(1_800_000_000, 0)
	p := &gpuProbe{now: func() time.Time { return clock }}
	env := Env{Options: withCommand("gpu", tool)}
	runs := func(minutes ...int) (remaps int) {
		t.Helper()
		for _, m := range minutes {
			clock = time.Unix(1_800_000_000, 0).Add(time.Duration(m) * time.Minute)
			ms, err := p.Probe(context.Background(), env, NewSkips(nil))
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, m := range ms {
				found = found || m.Desc() == gpuRemappedRows
			}
			if !found {
				t.Fatalf("minute %d: no remapped-rows series served", m)
			}
		}
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "--query-remapped-rows")
	}
	if n := runs(0, 1, 2, 9); n != 1 {
		t.Errorf("four runs within ten minutes read remapped rows %d times, want 1", n)
	}
	if n := runs(10); n != 2 {
		t.Errorf("ten minutes on: %d reads, want 2", n)
	}
	writeFile(t, uuid, "GPU-b") // a GPU swapped
	if n := runs(11); n != 3 {
		t.Errorf("after the GPU changed: %d reads, want 3 (at once)", n)
	}
}

// probes.gpu.nvml takes auto or off, auto by default.
func TestGPUNVMLOption(t *testing.T) {
	if got := newGPUOptions().NVML; got != GPUNVMLAuto {
		t.Errorf("default %q, want auto", got)
	}
	for in, want := range map[string]GPUNVML{"nvml: off": GPUNVMLOff, "nvml: auto": GPUNVMLAuto, "nvml: on": "", "nvml: [off]": "", "nvml: ''": ""} {
		o := newGPUOptions()
		err := yaml.Unmarshal([]byte(in), o)
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "want auto or off") {
				t.Errorf("%s: err %v, want one saying auto or off", in, err)
			}
			continue
		}
		if err != nil || o.NVML != want {
			t.Errorf("%s: %q, %v; want %q", in, o.NVML, err, want)
		}
	}
}
