package main

import (
	"bytes"
	"compress/gzip"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// profileBuilder writes a profile.proto message by hand: the fields
// parseProfile reads, in the two encodings Go's writer uses for repeated
// varints (packed for more than two values, one field each otherwise).
type profileBuilder struct {
	strs  []string
	funcs map[string]uint64
	body  []byte
}

func newProfileBuilder() *profileBuilder {
	b := &profileBuilder{strs: []string{""}, funcs: map[string]uint64{}}
	// sample_type: samples/count, then cpu/nanoseconds (Go's order).
	for _, vt := range [][2]string{{"samples", "count"}, {"cpu", "nanoseconds"}} {
		var m []byte
		m = protowire.AppendTag(m, valueTypeType, protowire.VarintType)
		m = protowire.AppendVarint(m, b.str(vt[0]))
		m = protowire.AppendTag(m, 2, protowire.VarintType)
		m = protowire.AppendVarint(m, b.str(vt[1]))
		b.body = protowire.AppendTag(b.body, profSampleType, protowire.BytesType)
		b.body = protowire.AppendBytes(b.body, m)
	}
	return b
}

func (b *profileBuilder) str(s string) uint64 {
	if i := slices.Index(b.strs, s); i >= 0 {
		return uint64(i)
	}
	b.strs = append(b.strs, s)
	return uint64(len(b.strs) - 1)
}

// location adds a location holding frames (leaf first: inlined calls, then
// their caller) and returns its id.
func (b *profileBuilder) location(frames ...string) uint64 {
	var loc []byte
	id := uint64(len(b.funcs) + 100)
	loc = protowire.AppendTag(loc, locationID, protowire.VarintType)
	loc = protowire.AppendVarint(loc, id)
	for _, f := range frames {
		fid, ok := b.funcs[f]
		if !ok {
			fid = uint64(len(b.funcs) + 1)
			b.funcs[f] = fid
			var fn []byte
			fn = protowire.AppendTag(fn, functionID, protowire.VarintType)
			fn = protowire.AppendVarint(fn, fid)
			fn = protowire.AppendTag(fn, functionName, protowire.VarintType)
			fn = protowire.AppendVarint(fn, b.str(f))
			b.body = protowire.AppendTag(b.body, profFunction, protowire.BytesType)
			b.body = protowire.AppendBytes(b.body, fn)
		}
		var line []byte
		line = protowire.AppendTag(line, lineFunction, protowire.VarintType)
		line = protowire.AppendVarint(line, fid)
		loc = protowire.AppendTag(loc, locationLine, protowire.BytesType)
		loc = protowire.AppendBytes(loc, line)
	}
	b.body = protowire.AppendTag(b.body, profLocation, protowire.BytesType)
	b.body = protowire.AppendBytes(b.body, loc)
	return id
}

// sample adds a sample of cpu on the stack of locations (leaf first), with
// labels as key, value pairs.
func (b *profileBuilder) sample(cpu time.Duration, locs []uint64, labels ...string) {
	var s []byte
	if len(locs) > 2 {
		var packed []byte
		for _, l := range locs {
			packed = protowire.AppendVarint(packed, l)
		}
		s = protowire.AppendTag(s, sampleLocation, protowire.BytesType)
		s = protowire.AppendBytes(s, packed)
	} else {
		for _, l := range locs {
			s = protowire.AppendTag(s, sampleLocation, protowire.VarintType)
			s = protowire.AppendVarint(s, l)
		}
	}
	var values []byte
	values = protowire.AppendVarint(values, uint64(cpu/(10*time.Millisecond)))
	values = protowire.AppendVarint(values, uint64(cpu))
	s = protowire.AppendTag(s, sampleValue, protowire.BytesType)
	s = protowire.AppendBytes(s, values)
	for i := 0; i+1 < len(labels); i += 2 {
		var l []byte
		l = protowire.AppendTag(l, labelKey, protowire.VarintType)
		l = protowire.AppendVarint(l, b.str(labels[i]))
		l = protowire.AppendTag(l, labelStr, protowire.VarintType)
		l = protowire.AppendVarint(l, b.str(labels[i+1]))
		s = protowire.AppendTag(s, sampleLabel, protowire.BytesType)
		s = protowire.AppendBytes(s, l)
	}
	b.body = protowire.AppendTag(b.body, profSample_, protowire.BytesType)
	b.body = protowire.AppendBytes(b.body, s)
}

// bytes is the gzip-compressed profile, the string table last (Go's writer
// puts it last too: indexes are resolved after the whole message is read).
func (b *profileBuilder) bytes(t *testing.T) []byte {
	t.Helper()
	body := b.body
	for _, s := range b.strs {
		body = protowire.AppendTag(body, profStringTable, protowire.BytesType)
		body = protowire.AppendString(body, s)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

const modPath = "github.com/hardware-exporter/hardware_exporter"

func TestParseProfileAndBuckets(t *testing.T) {
	b := newProfileBuilder()
	goexit := b.location("runtime.goexit")
	hwmonRead := b.location("syscall.Syscall6", modPath+"/internal/host/hostfs.(*Root).ReadAttr")
	hwmonProbe := b.location(modPath + "/internal/probe.(*hwmon).Probe")
	statefile := b.location(modPath+"/internal/daemon/statefile.Write", "prometheus/common/expfmt.MetricFamilyToText")
	warm := b.location("compress/flate.(*compressor).deflate", modPath+"/internal/daemon/respcache.(*Cache).Warm")
	serve := b.location("net/http.(*conn).serve")
	markWorker := b.location("runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker")
	findRunnable := b.location("runtime.futex", "runtime.futexsleep", "runtime.notesleep", "runtime.stopm", "runtime.findRunnable", "runtime.schedule", "runtime.mstart")
	sysmon := b.location("runtime.usleep", "runtime.sysmon", "runtime.mstart")
	morestack := b.location("runtime.morestack")
	profWriter := b.location("runtime/pprof.profileWriter")
	daemonLoop := b.location(modPath + "/internal/daemon.(*batchWarmer).Run")

	b.sample(30*time.Millisecond, []uint64{hwmonRead, hwmonProbe, goexit}, "probe", "hwmon")
	b.sample(10*time.Millisecond, []uint64{hwmonProbe, goexit}, "probe", "hwmon")
	b.sample(20*time.Millisecond, []uint64{statefile, goexit}, "probe", "hwmon")
	b.sample(40*time.Millisecond, []uint64{warm, goexit})
	b.sample(10*time.Millisecond, []uint64{serve, goexit})
	b.sample(10*time.Millisecond, []uint64{markWorker, goexit})
	b.sample(20*time.Millisecond, []uint64{findRunnable})
	b.sample(10*time.Millisecond, []uint64{sysmon})
	b.sample(10*time.Millisecond, []uint64{morestack})
	b.sample(10*time.Millisecond, []uint64{profWriter, goexit})
	b.sample(10*time.Millisecond, []uint64{daemonLoop, goexit})
	b.sample(10*time.Millisecond, []uint64{hwmonProbe, goexit}, "probe", "gpu")

	samples, err := parseProfile(b.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 12 {
		t.Fatalf("%d samples, want 12", len(samples))
	}
	first := samples[0]
	if want := []string{"syscall.Syscall6", modPath + "/internal/host/hostfs.(*Root).ReadAttr", modPath + "/internal/probe.(*hwmon).Probe", "runtime.goexit"}; !slices.Equal(first.funcs, want) {
		t.Errorf("first sample's stack %q, want %q (leaf first, inlined frames kept)", first.funcs, want)
	}
	if first.cpu != 30*time.Millisecond || first.labels["probe"] != "hwmon" {
		t.Errorf("first sample: cpu %v labels %v, want 30ms and probe=hwmon", first.cpu, first.labels)
	}

	var sums profileSums
	sums.add(samples)
	sums.add(samples[:1]) // a second piece of the window adds up
	want := map[string]time.Duration{
		"probe:hwmon":    70 * time.Millisecond,
		"probe:gpu":      10 * time.Millisecond,
		bucketStateFiles: 20 * time.Millisecond,
		bucketRender:     40 * time.Millisecond,
		bucketScrape:     10 * time.Millisecond,
		bucketGC:         10 * time.Millisecond,
		bucketSched:      30 * time.Millisecond,
		bucketRuntime:    10 * time.Millisecond,
		bucketProfiler:   10 * time.Millisecond,
		bucketOther:      10 * time.Millisecond,
	}
	if len(sums.buckets) != len(want) {
		t.Errorf("buckets %v, want %v", sums.buckets, want)
	}
	for k, v := range want {
		if sums.buckets[k] != v {
			t.Errorf("bucket %q = %v, want %v", k, sums.buckets[k], v)
		}
	}
	if sums.total != 220*time.Millisecond {
		t.Errorf("total %v, want 220ms", sums.total)
	}
	// By label, a probe's state file write counts as its own.
	if got := sums.byProbe["hwmon"]; got != 90*time.Millisecond {
		t.Errorf("hwmon by label %v, want 90ms (run and state file)", got)
	}
	if got := sums.probes([]string{"gpu", "ipmi"}); got != 10*time.Millisecond {
		t.Errorf("gpu+ipmi by label %v, want 10ms", got)
	}
	if got := sortedBuckets(sums.buckets)[:2]; !slices.Equal(got, []string{"probe:hwmon", bucketRender}) {
		t.Errorf("largest buckets %v, want probe:hwmon then render", got)
	}
}

func TestParseProfileRejectsBadInput(t *testing.T) {
	for name, in := range map[string][]byte{
		"not gzip":            {0x1f, 0x8b, 0, 1},
		"truncated message":   {0x12, 0x05, 0x08},
		"no cpu sample type":  protowire.AppendString(protowire.AppendTag(nil, profStringTable, protowire.BytesType), "x"),
		"string out of range": protowire.AppendVarint(protowire.AppendTag(nil, profSampleType, protowire.BytesType), 2),
	} {
		if _, err := parseProfile(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

//go:noinline
func allocForProfileTest() []byte { return make([]byte, 1<<16) }

var profileTestSink [][]byte

// A profile Go's runtime/pprof writes itself (a heap profile: a CPU one
// would depend on timing) decodes, with this function on a stack.
func TestParseProfileReadsGoOutput(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	for range 8 {
		profileTestSink = append(profileTestSink, allocForProfileTest())
	}
	runtime.GC()
	runtime.GC() // a heap profile shows the allocations of the last completed cycle
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		t.Fatal(err)
	}
	samples, err := parseProfileOf(buf.Bytes(), "alloc_space")
	if err != nil {
		t.Fatal(err)
	}
	var found time.Duration // bytes, in the cpu field
	for _, s := range samples {
		if slices.ContainsFunc(s.funcs, func(f string) bool { return strings.HasSuffix(f, ".allocForProfileTest") }) {
			found += s.cpu
		}
	}
	if found < 8<<16 {
		t.Errorf("allocForProfileTest allocated %d bytes by the profile, want at least %d", found, 8<<16)
	}
	if _, err := parseProfile(buf.Bytes()); err == nil || !strings.Contains(err.Error(), `"cpu"`) {
		t.Errorf("a heap profile read as a CPU profile: %v, want an error naming the missing type", err)
	}
}
