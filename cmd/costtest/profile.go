package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The daemon's CPU profile (/debug/pprof/profile) says where its own CPU
// goes: each sample carries its stack and, for a probe's work, the pprof
// label probe=NAME the scheduler sets on the probe's loop. This file reads
// the profile's protobuf (github.com/google/pprof's profile.proto) with
// protowire, which the module already has through client_model, rather than
// adding google/pprof for the few fields used here.

// profSample is one sample: its CPU, its stack's function names from the
// leaf to the root (inlined frames included), and its labels.
type profSample struct {
	cpu    time.Duration
	funcs  []string
	labels map[string]string
}

// The fields of profile.proto read here.
const (
	profSampleType  = 1 // Profile.sample_type: ValueType
	profSample_     = 2 // Profile.sample: Sample
	profLocation    = 4 // Profile.location: Location
	profFunction    = 5 // Profile.function: Function
	profStringTable = 6 // Profile.string_table: string

	valueTypeType = 1 // ValueType.type: string index

	sampleLocation = 1 // Sample.location_id: uint64, packed or not
	sampleValue    = 2 // Sample.value: int64, packed or not
	sampleLabel    = 3 // Sample.label: Label

	labelKey = 1 // Label.key: string index
	labelStr = 2 // Label.str: string index

	locationID   = 1 // Location.id
	locationLine = 4 // Location.line: Line, leaf first

	lineFunction = 1 // Line.function_id

	functionID   = 1 // Function.id
	functionName = 2 // Function.name: string index
)

type rawSample struct {
	locs   []uint64
	values []int64
	labels [][2]int64 // key, str string indexes
}

// parseProfile decodes a gzip-compressed (or plain) CPU profile. The CPU of
// a sample is its value of sample type "cpu" (nanoseconds), as Go writes.
func parseProfile(b []byte) ([]profSample, error) { return parseProfileOf(b, "cpu") }

// parseProfileOf decodes a profile taking each sample's value of the sample
// type named valueType (into profSample.cpu).
func parseProfileOf(b []byte, valueType string) ([]profSample, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		if b, err = io.ReadAll(io.LimitReader(zr, 256<<20)); err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	var (
		strs       []string
		types      []int64
		samples    []rawSample
		locLines   = map[uint64][]uint64{} // location id → function ids
		funcNames  = map[uint64]int64{}    // function id → name index
		errTrailer = errors.New("profile: truncated or malformed")
	)
	err := eachField(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case profStringTable:
			strs = append(strs, string(v))
		case profSampleType:
			return eachField(v, func(n protowire.Number, _ protowire.Type, _ []byte, x uint64) error {
				if n == valueTypeType {
					types = append(types, int64(x))
				}
				return nil
			})
		case profSample_:
			var s rawSample
			err := eachField(v, func(n protowire.Number, t protowire.Type, sub []byte, x uint64) error {
				switch n {
				case sampleLocation:
					return varints(t, sub, x, func(u uint64) { s.locs = append(s.locs, u) })
				case sampleValue:
					return varints(t, sub, x, func(u uint64) { s.values = append(s.values, int64(u)) })
				case sampleLabel:
					var l [2]int64
					err := eachField(sub, func(n protowire.Number, _ protowire.Type, _ []byte, x uint64) error {
						switch n {
						case labelKey:
							l[0] = int64(x)
						case labelStr:
							l[1] = int64(x)
						}
						return nil
					})
					s.labels = append(s.labels, l)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case profLocation:
			var id uint64
			var fns []uint64
			err := eachField(v, func(n protowire.Number, _ protowire.Type, sub []byte, x uint64) error {
				switch n {
				case locationID:
					id = x
				case locationLine:
					return eachField(sub, func(n protowire.Number, _ protowire.Type, _ []byte, x uint64) error {
						if n == lineFunction {
							fns = append(fns, x)
						}
						return nil
					})
				}
				return nil
			})
			locLines[id] = fns
			return err
		case profFunction:
			var id uint64
			var name int64
			err := eachField(v, func(n protowire.Number, _ protowire.Type, _ []byte, x uint64) error {
				switch n {
				case functionID:
					id = x
				case functionName:
					name = int64(x)
				}
				return nil
			})
			funcNames[id] = name
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	str := func(i int64) (string, error) {
		if i < 0 || i >= int64(len(strs)) {
			return "", errTrailer
		}
		return strs[i], nil
	}
	cpuIndex := -1
	for i, t := range types {
		if s, err := str(t); err == nil && s == valueType {
			cpuIndex = i
		}
	}
	if cpuIndex < 0 {
		return nil, fmt.Errorf("profile: no sample type %q (not a CPU profile?)", valueType)
	}
	out := make([]profSample, 0, len(samples))
	for _, s := range samples {
		if cpuIndex >= len(s.values) {
			return nil, errTrailer
		}
		ps := profSample{cpu: time.Duration(s.values[cpuIndex])}
		for _, loc := range s.locs {
			for _, f := range locLines[loc] {
				name, err := str(funcNames[f])
				if err != nil {
					return nil, err
				}
				ps.funcs = append(ps.funcs, name)
			}
		}
		for _, l := range s.labels {
			k, err := str(l[0])
			if err != nil {
				return nil, err
			}
			v, err := str(l[1])
			if err != nil {
				return nil, err
			}
			if ps.labels == nil {
				ps.labels = map[string]string{}
			}
			ps.labels[k] = v
		}
		out = append(out, ps)
	}
	return out, nil
}

// eachField calls f for each field of the message b: v is a length-delimited
// field's bytes, x a varint field's value (fixed-width fields are skipped).
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("profile: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("profile: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.VarintType && typ != protowire.BytesType {
			continue
		}
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// varints reads a repeated varint field, written packed (one bytes field)
// or one value per field; Go's profile writer does both.
func varints(typ protowire.Type, packed []byte, x uint64, add func(uint64)) error {
	if typ == protowire.VarintType {
		add(x)
		return nil
	}
	for len(packed) > 0 {
		u, n := protowire.ConsumeVarint(packed)
		if n < 0 {
			return fmt.Errorf("profile: %w", protowire.ParseError(n))
		}
		add(u)
		packed = packed[n:]
	}
	return nil
}

// The buckets of the daemon's CPU. Probes get "probe:NAME".
const (
	bucketStateFiles = "state files"
	bucketRender     = "render"
	bucketScrape     = "scrape (HTTP)"
	bucketGC         = "runtime: GC"
	bucketSched      = "runtime: scheduler, timers"
	bucketRuntime    = "runtime: other"
	bucketProfiler   = "profiler (costtest's own)"
	bucketOther      = "other"
	probePrefix      = "probe:"
)

// renderFrames mark the encoding of metric families and the response
// cache's renders, whoever calls them: the render path (respcache) and an
// encoding a probe's store may do. Substrings of function names.
var renderFrames = []string{
	"/internal/daemon/respcache.(*Cache).render",
	"/internal/daemon/respcache.(*Cache).Warm",
	"prometheus/common/expfmt.",
	"prometheus.(*Registry).Gather",
	"compress/flate.",
	"compress/gzip.",
	"klauspost/compress/",
}

// gcFrames and schedFrames sort the runtime's own samples (those no
// goroutine of the daemon's code is on). Exact function names.
var gcFrames = []string{
	"runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.markroot", "runtime.bgsweep", "runtime.sweepone",
	"runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination", "runtime.bgscavenge",
	"runtime.forcegchelper", "runtime._GC", "runtime.gcenable", "runtime.scanobject", "runtime.gcAssistAlloc",
}

var schedFrames = []string{
	"runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.stopm", "runtime.startm",
	"runtime.notesleep", "runtime.futexsleep", "runtime.checkTimers", "runtime.runtimer", "runtime.netpoll",
	"runtime.sysmon", "runtime.usleep", "runtime.mPark", "runtime.wakep", "runtime.goschedImpl",
	"runtime.exitsyscall", "runtime.entersyscall", "runtime.timerproc", "runtime.(*timers).run", "runtime.(*timers).check",
}

// bucketOf says where a sample's CPU went. The order matters: state files
// and renders first, whatever goroutine they run on (a probe's loop writes
// its state file; a render runs on the warmer's or a scrape's goroutine),
// then the probe the label names, then HTTP serving, then the runtime.
func bucketOf(s profSample) string {
	has := func(sub string) bool {
		return slices.ContainsFunc(s.funcs, func(f string) bool { return strings.Contains(f, sub) })
	}
	switch {
	case has("/internal/daemon/statefile."):
		return bucketStateFiles
	case slices.ContainsFunc(renderFrames, has):
		return bucketRender
	case s.labels["probe"] != "":
		return probePrefix + s.labels["probe"]
	case has("runtime/pprof."):
		return bucketProfiler
	case has("net/http.(*conn).serve"):
		return bucketScrape
	}
	for _, f := range s.funcs {
		if !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/runtime/") {
			return bucketOther
		}
	}
	switch {
	case slices.ContainsFunc(gcFrames, func(g string) bool { return slices.Contains(s.funcs, g) }):
		return bucketGC
	case slices.ContainsFunc(schedFrames, func(g string) bool { return slices.Contains(s.funcs, g) }):
		return bucketSched
	}
	return bucketRuntime
}

// profileSums is CPU by bucket, and by probe label whatever the bucket (a
// probe's whole Go-side cost: its run, its store, its state file).
type profileSums struct {
	total    time.Duration
	buckets  map[string]time.Duration
	counts   map[string]int // samples by bucket
	byProbe  map[string]time.Duration
	nByProbe map[string]int // samples by probe label
	profiled time.Duration  // wall time the profiles covered
}

func (p *profileSums) add(samples []profSample) {
	if p.buckets == nil {
		p.buckets, p.byProbe = map[string]time.Duration{}, map[string]time.Duration{}
		p.counts, p.nByProbe = map[string]int{}, map[string]int{}
	}
	for _, s := range samples {
		p.total += s.cpu
		b := bucketOf(s)
		p.buckets[b] += s.cpu
		p.counts[b]++
		if name := s.labels["probe"]; name != "" {
			p.byProbe[name] += s.cpu
			p.nByProbe[name]++
		}
	}
}

// probes is the CPU of the named probes' labels.
func (p *profileSums) probes(names []string) time.Duration {
	var d time.Duration
	for _, n := range names {
		d += p.byProbe[n]
	}
	return d
}

// probeSamples is the number of samples of the named probes' labels.
func (p *profileSums) probeSamples(names []string) int {
	n := 0
	for _, name := range names {
		n += p.nByProbe[name]
	}
	return n
}
