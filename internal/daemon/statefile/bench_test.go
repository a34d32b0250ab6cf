package statefile

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// BenchmarkWrite is one probe run's write of 1500 samples: encode, temp
// file, fsync, rename, fsync of the directory.
func BenchmarkWrite(b *testing.B) {
	d := openDir(b, testHost)
	s := bigSnapshot("smart")
	enc, err := encode(testHost, s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Write(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "file-bytes")
}

// BenchmarkLoad is the restore of one such probe at start-up.
func BenchmarkLoad(b *testing.B) {
	d := openDir(b, testHost)
	if err := d.Write(bigSnapshot("smart")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Load("smart"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode is Write's CPU share, without the disk.
func BenchmarkEncode(b *testing.B) {
	s := bigSnapshot("smart")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode(testHost, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFromMetrics is the conversion the metric cache does before a
// write: gathering 1500 const metrics.
func BenchmarkFromMetrics(b *testing.B) {
	ms, err := Metrics(bigSnapshot("smart").Families)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromMetrics(ms); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSizeAgainstProtobuf backs the package doc's choice of encoding: the
// same 1500 samples as delimited dto.MetricFamily protobuf, which repeats
// every label name in every sample.
func TestSizeAgainstProtobuf(t *testing.T) {
	s := bigSnapshot("smart")
	ours, err := encode(testHost, s)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Metrics(s.Families)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metricList(ms))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var pb bytes.Buffer
	enc := expfmt.NewEncoder(&pb, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("1500 samples: %d bytes here, %d bytes as protobuf (%.2fx)", len(ours), pb.Len(), float64(pb.Len())/float64(len(ours)))
	if len(ours) >= pb.Len() {
		t.Errorf("the format is no smaller than protobuf: %d >= %d bytes", len(ours), pb.Len())
	}
}

// BenchmarkDecode is Load's CPU share, without the disk.
func BenchmarkDecode(b *testing.B) {
	enc, err := encode(testHost, bigSnapshot("smart"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(enc, testHost, "smart"); err != nil {
			b.Fatal(err)
		}
	}
}
