package probe

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

func TestCPUGolden(t *testing.T) {
	checkGolden(t, "cpu")
	if _, skips := runProbe(t, "cpu", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

func TestCPUDegraded(t *testing.T) {
	cpufreq := func(p Paths, cpu, file string) string {
		return filepath.Join(p.SysFS, "devices", "system", "cpu", cpu, "cpufreq", file)
	}
	// dropCPUInfoTopology removes physical and core ids from cpuinfo, as
	// some VMs and architectures leave them out.
	dropCPUInfoTopology := func(t *testing.T, p Paths) {
		path := filepath.Join(p.ProcFS, "cpuinfo")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := regexp.MustCompile(`(?m)^(physical id|core id)\t+: \d+\n`).ReplaceAllString(string(b), "")
		writeFile(t, path, s)
	}
	runDegraded(t, "cpu", []degradedCase{
		{
			name: "garbage in one cpufreq file",
			break_: func(t *testing.T, p Paths) {
				writeFile(t, cpufreq(p, "cpu3", "scaling_max_freq"), "garbage\n")
			},
			skips: 1,
			want: []string{
				`hardware_cpu_scaling_frequency_max_hertz{cpus="0-2,8-11",package="0"} 3.2e+09`,
				`hardware_cpu_frequency_max_hertz{cpus="0-3,8-11",package="0"} 3.2e+09`,
			},
		},
		{
			name: "unreadable governor",
			break_: func(t *testing.T, p Paths) {
				replaceWithDir(t, cpufreq(p, "cpu12", "scaling_governor"))
			},
			skips: 1,
			want: []string{
				`hardware_cpu_scaling_info{cpus="4-7,13-15",driver="intel_pstate",governor="performance",package="1"} 1`,
				`hardware_cpu_scaling_info{cpus="12",driver="intel_pstate",governor="",package="1"} 1`,
			},
		},
		{
			name: "no cpufreq (acpi-cpufreq not loaded, or a VM)",
			break_: func(t *testing.T, p Paths) {
				for i := range 16 {
					if err := os.RemoveAll(filepath.Dir(cpufreq(p, "cpu"+strconv.Itoa(i), "x"))); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{`hardware_cpu_threads 16`, `hardware_cpu_vulnerability_info{mitigation="",name="meltdown",state="not affected"} 1`},
			absent: []string{
				"hardware_cpu_frequency_min_hertz", "hardware_cpu_frequency_max_hertz", "hardware_cpu_frequency_base_hertz",
				"hardware_cpu_scaling_frequency_min_hertz", "hardware_cpu_scaling_frequency_max_hertz", "hardware_cpu_scaling_info",
			},
		},
		{
			name: "offline cpu",
			break_: func(t *testing.T, p Paths) {
				writeFile(t, filepath.Join(p.SysFS, "devices", "system", "cpu", "cpu15", "online"), "0\n")
			},
			want: []string{`hardware_cpu_frequency_min_hertz{cpus="4-7,12-14",package="1"} 8e+08`},
		},
		{
			// Each file is read on its own, so the others stay.
			name: "unreadable vulnerability costs its own series",
			break_: func(t *testing.T, p Paths) {
				replaceWithDir(t, filepath.Join(p.SysFS, "devices", "system", "cpu", "vulnerabilities", "mds"))
			},
			skips: 1,
			want: []string{`hardware_cpu_sockets 2`,
				`hardware_cpu_vulnerability_info{mitigation="",name="meltdown",state="not affected"} 1`},
		},
		{
			name: "topology from sysfs when cpuinfo has none",
			break_: func(t *testing.T, p Paths) {
				dropCPUInfoTopology(t, p)
			},
			want: []string{`hardware_cpu_sockets 2`, `hardware_cpu_cores 8`, `hardware_cpu_threads 16`,
				`hardware_cpu_info{family="6",microcode="0xd000363",model="106",model_name="Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",package="1",stepping="6",vendor="GenuineIntel"} 1`},
		},
		{
			name: "no topology anywhere: no guessed counts",
			break_: func(t *testing.T, p Paths) {
				dropCPUInfoTopology(t, p)
				for i := range 16 {
					if err := os.RemoveAll(filepath.Join(p.SysFS, "devices", "system", "cpu", "cpu"+strconv.Itoa(i), "topology")); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{`hardware_cpu_threads 16`,
				`hardware_cpu_info{family="6",microcode="0xd000363",model="106",model_name="Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",package="",stepping="6",vendor="GenuineIntel"} 1`,
				`hardware_cpu_frequency_max_hertz{cpus="0-15",package=""} 3.2e+09`},
			absent: []string{"hardware_cpu_sockets", "hardware_cpu_cores"},
		},
		{
			name: "malformed cpuinfo keeps sysfs series",
			break_: func(t *testing.T, p Paths) {
				writeFile(t, filepath.Join(p.ProcFS, "cpuinfo"), "garbage\n")
			},
			skips: 1,
			want: []string{
				`hardware_cpu_scaling_info{cpus="0-3,8-11",driver="intel_pstate",governor="performance",package="0"} 1`,
				`hardware_cpu_vulnerability_info{mitigation="No microcode",name="gather_data_sampling",state="vulnerable"} 1`,
			},
			absent: []string{"hardware_cpu_info", "hardware_cpu_threads"},
		},
	})
}

func TestCPUMissingCPUInfo(t *testing.T) {
	dir := t.TempDir()
	for _, paths := range []Paths{
		{ProcFS: filepath.Join(dir, "absent"), SysFS: dir, RootFS: dir},
		{ProcFS: dir, SysFS: dir, RootFS: dir},
	} {
		env := Env{Paths: paths}
		p, err := New("cpu")
		if err != nil {
			t.Fatal(err)
		}
		if ms, err := p.Probe(context.Background(), env, NewSkips(nil)); err == nil {
			t.Errorf("Probe with procfs %s = %d metrics, nil error; want an error", paths.ProcFS, len(ms))
		}
	}
}

func TestCPUList(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1}, "0-1"},
		{[]int{3, 1, 2, 0, 8, 9, 10, 11}, "0-3,8-11"},
		{[]int{4, 6, 7, 12, 14, 15}, "4,6-7,12,14-15"},
		{[]int{5, 5, 13}, "5,13"},
	}
	for _, tt := range tests {
		if got := cpuList(tt.in); got != tt.want {
			t.Errorf("cpuList(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Thermal throttle counters are kept once per package and once per core,
// from the lowest-numbered thread /proc/cpuinfo lists (online CPUs only): a
// sibling thread (cpu8 is core 0 of package 0, as cpu0 is; cpu13 core 1 of
// package 1, as cpu5) that disagrees is not read, and a garbled count costs
// its series and one skip.
func TestCPUThermalThrottleDedupe(t *testing.T) {
	paths := copyServerFixture(t)
	sys := paths.SysFS + "/devices/system/cpu/"
	writeFile(t, sys+"cpu8/thermal_throttle/core_throttle_count", "99\n")
	writeFile(t, sys+"cpu8/thermal_throttle/package_throttle_count", "99\n")
	writeFile(t, sys+"cpu13/thermal_throttle/core_throttle_count", "11\n")
	writeFile(t, sys+"cpu2/thermal_throttle/core_throttle_count", "lots\n") // core 0.2; cpu10 is not asked
	c, skips := runProbe(t, "cpu", paths)
	got := gatherSeries(t, c)
	assertSeries(t, got, "hardware_cpu_package_throttles_total", map[string]float64{
		`hardware_cpu_package_throttles_total{package="0"}`: 30,
		`hardware_cpu_package_throttles_total{package="1"}`: 6,
	})
	assertSeries(t, got, "hardware_cpu_core_throttles_total", map[string]float64{
		`hardware_cpu_core_throttles_total{core="0",package="0"}`: 5,
		`hardware_cpu_core_throttles_total{core="1",package="0"}`: 0,
		`hardware_cpu_core_throttles_total{core="3",package="0"}`: 0,
		`hardware_cpu_core_throttles_total{core="0",package="1"}`: 0,
		`hardware_cpu_core_throttles_total{core="1",package="1"}`: 9,
		`hardware_cpu_core_throttles_total{core="2",package="1"}`: 0,
		`hardware_cpu_core_throttles_total{core="3",package="1"}`: 0,
	})
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1 (cpu2's core_throttle_count)", skips.Count())
	}
}

// The throttle counters are re-read every run from the kept layout; the
// rest (here a frequency limit) waits for the layout, within layoutEvery
// runs.
func TestCPUThrottleReadEveryRunLimitsWithTheLayout(t *testing.T) {
	paths := copyServerFixture(t)
	sys := paths.SysFS + "/devices/system/cpu/"
	p := newLayoutProbe(t, "cpu")
	defer p.Close()
	runText(t, p, paths, nil)
	if p.kept() == 0 {
		t.Fatal("the cpu probe keeps no descriptor")
	}
	writeFile(t, sys+"cpu0/thermal_throttle/package_throttle_count", "31\n")
	writeFile(t, sys+"cpu0/thermal_throttle/core_throttle_total_time_ms", "12345\n")
	writeFile(t, sys+"cpu0/cpufreq/cpuinfo_max_freq", "1000000\n")
	out, _ := runText(t, p, paths, nil)
	checkSeries(t, out, []string{
		`hardware_cpu_package_throttles_total{package="0"} 31`,
		`hardware_cpu_core_throttled_seconds_total{core="0",package="0"} 12.345`,
	}, []string{`hardware_cpu_frequency_max_hertz{cpus="0",package="0"} 1e+09`})
	for range layoutEvery - 1 {
		out, _ = runText(t, p, paths, nil)
	}
	checkSeries(t, out, []string{`hardware_cpu_frequency_max_hertz{cpus="0",package="0"} 1e+09`}, nil)
}

// BenchmarkCPU is one run of the cpu probe on the fixture server.
func BenchmarkCPU(b *testing.B) { benchmarkProbes(b, "cpu") }
