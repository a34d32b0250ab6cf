package probe

import (
	"context"
	"testing"
)

// sysfsProbes are the probes that read only the host's trees, no tool.
var sysfsProbes = []string{"cpu", "enclosure", "hwmon", "mdraid", "memory", "network", "pci", "power", "storage", "system", "thermal"}

func benchmarkProbes(b *testing.B, names ...string) {
	benchmarkProbesOn(b, fixturePaths, func(name string) any { return fixtureOptions[name] }, names...)
}

// benchmarkProbesOn is one run of each probe called names on paths, with
// options(name) as its options.
func benchmarkProbesOn(b *testing.B, paths Paths, options func(string) any, names ...string) {
	probes := make([]Probe, len(names))
	envs := make([]Env, len(names))
	for i, name := range names {
		p, err := New(name)
		if err != nil {
			b.Fatal(err)
		}
		if c, ok := p.(Closer); ok {
			defer c.Close()
		}
		probes[i] = p
		envs[i] = Env{Paths: paths, Options: options(name)}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, p := range probes {
			if _, err := p.Probe(context.Background(), envs[i], NewSkips(nil)); err != nil {
				b.Fatalf("%s: %v", names[i], err)
			}
		}
	}
}

// BenchmarkHwmon is one run of the probe that reads the most attributes per
// minute, so what a read costs shows here first.
func BenchmarkHwmon(b *testing.B) { benchmarkProbes(b, "hwmon") }

// BenchmarkSysfsProbes is one run of every probe that reads sysfs and procfs
// on the fixture server.
func BenchmarkSysfsProbes(b *testing.B) { benchmarkProbes(b, sysfsProbes...) }

// BenchmarkThermal is one run of the thermal probe (BenchmarkNetwork is
// in network_test.go).
func BenchmarkThermal(b *testing.B) { benchmarkProbes(b, "thermal") }

// BenchmarkPower is one run of the power probe.
func BenchmarkPower(b *testing.B) { benchmarkProbes(b, "power") }

// BenchmarkMinuteProbes is one minute's run of the sysfs probes on a
// one-minute interval, in one go, as the scheduler batches them.
func BenchmarkMinuteProbes(b *testing.B) { benchmarkProbes(b, "hwmon", "network", "thermal") }

// BenchmarkMDRAID is one run of the mdraid probe: /proc/mdstat and the
// arrays' md/ attributes on the fixture server.
func BenchmarkMDRAID(b *testing.B) { benchmarkProbes(b, "mdraid") }
