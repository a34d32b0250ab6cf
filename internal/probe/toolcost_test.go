package probe

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchmarkToolReadings measures a tool probe's steady-state run on the
// fixture host's fake tools, after the first run (which reads the
// inventory too): the tool processes a run starts (counted through a
// logging copy of the fake tool, before the timed loop) and the CPU the
// run costs, the probe's own (Go side) and its children's (the tools), per
// run. The fake tools are shell scripts that cat captures, so the children's
// CPU is mostly sh's start-up: what a run saves by starting fewer.
func benchmarkToolReadings(b *testing.B, name string) {
	run := func(p Probe, env Env) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := p.Probe(ctx, env, NewSkips(nil)); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
	}
	env := Env{Paths: fixturePaths, Options: fixtureOptions[name]}

	// Count: the same probe on logging copies of its tools.
	counted, log := countingOptions(b, fixtureOptions[name])
	p, err := New(name)
	if err != nil {
		b.Fatal(err)
	}
	run(p, Env{Paths: fixturePaths, Options: counted})
	first := toolCalls(b, log)
	const n = 5
	for range n {
		run(p, Env{Paths: fixturePaths, Options: counted})
	}
	steady := toolCalls(b, log)

	p, err = New(name)
	if err != nil {
		b.Fatal(err)
	}
	run(p, env)
	var self0, kids0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids0)
	runs := 0
	for b.Loop() {
		run(p, env)
		runs++
	}
	var self1, kids1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids1)
	cpu := func(a, z syscall.Rusage) float64 {
		d := time.Duration(z.Utime.Nano()-a.Utime.Nano()) + time.Duration(z.Stime.Nano()-a.Stime.Nano())
		return float64(d) / float64(time.Millisecond) / float64(runs)
	}
	b.ReportMetric(float64(len(first)), "first-run-tools")
	b.ReportMetric(float64(len(steady))/n, "tools/op")
	b.ReportMetric(cpu(self0, self1), "go-cpu-ms/op")
	b.ReportMetric(cpu(kids0, kids1), "child-cpu-ms/op")
	short := func(calls []string) []string {
		out := make([]string, len(calls))
		for i, c := range calls {
			out[i] = c[:min(len(c), 60)]
		}
		return out
	}
	b.Logf("%s: first run %q; steady run %q", name, short(first), short(steady[:len(steady)/n]))
}

// countingOptions copies opts with every tool path (a string field whose
// value is below testTools) replaced by a wrapper that logs its arguments
// and runs the tool.
func countingOptions(b *testing.B, opts any) (any, string) {
	dir := b.TempDir()
	log := filepath.Join(dir, "calls")
	v := reflect.New(reflect.TypeOf(opts).Elem())
	v.Elem().Set(reflect.ValueOf(opts).Elem())
	for i := range v.Elem().NumField() {
		f := v.Elem().Field(i)
		if f.Kind() != reflect.String || !strings.HasPrefix(f.String(), testTools) {
			continue
		}
		wrapper := filepath.Join(dir, filepath.Base(f.String()))
		script := "#!/bin/sh\necho \"" + filepath.Base(f.String()) + " $*\" >> " + log + "\nexec " + f.String() + " \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			b.Fatal(err)
		}
		f.SetString(wrapper)
	}
	return v.Interface(), log
}

// toolCalls returns the logged invocations and forgets them.
func toolCalls(b *testing.B, log string) []string {
	data, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		b.Fatal(err)
	}
	_ = os.Remove(log)
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" {
			calls = append(calls, l)
		}
	}
	return calls
}

// BenchmarkIPMIReadings is one steady-state 5-minute run of the ipmi probe.
func BenchmarkIPMIReadings(b *testing.B) { benchmarkToolReadings(b, "ipmi") }

// BenchmarkGPUReadings is one steady-state run of the gpu probe through
// nvidia-smi (the fixture host's GPU; NVML finds no library in tests).
func BenchmarkGPUReadings(b *testing.B) { benchmarkToolReadings(b, "gpu") }
