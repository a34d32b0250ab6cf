package kmsg

import (
	"context"
	"path/filepath"
	"testing"
)

// mixedRecords is a few thousand kernel records as a busy host logs them:
// mostly ordinary lines (the /dev/kmsg dumps), some hardware errors (every
// line of the dmesg captures), repeated.
func mixedRecords(b *testing.B) []Record {
	var base []Record
	paths, _ := filepath.Glob(filepath.Join("testdata", "captures", "*.kmsg"))
	for _, p := range paths {
		_, _, err := Read(context.Background(), p, Cursor{}, 0, func(r Record) { base = append(base, r) })
		if err != nil {
			b.Fatal(err)
		}
	}
	paths, _ = filepath.Glob(filepath.Join("testdata", "captures", "*.log"))
	for _, p := range paths {
		for _, line := range captureLines(b, filepath.Base(p)) {
			base = append(base, Record{Message: dmesgMessage(line)})
		}
	}
	var recs []Record
	for len(recs) < 4000 {
		recs = append(recs, base...)
	}
	return recs
}

func BenchmarkClassify(b *testing.B) {
	recs := mixedRecords(b)
	events := 0
	b.ResetTimer()
	for b.Loop() {
		events = 0
		for _, r := range recs {
			if _, ok := Classify(r); ok {
				events++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/line")
	b.ReportMetric(float64(len(recs)), "lines")
	b.ReportMetric(float64(events), "events")
}

// BenchmarkReadSkip is a run that finds nothing new: every record in the ring
// is read and skipped, which is what each interval costs on a quiet host.
func BenchmarkReadSkip(b *testing.B) {
	p := filepath.Join(b.TempDir(), "kmsg")
	writeBenchFile(b, p, 10000)
	for b.Loop() {
		_, st, err := Read(context.Background(), p, Cursor{Next: 10000}, 0, nil)
		if err != nil || st.Skipped != 10000 {
			b.Fatal(err, st)
		}
	}
}
