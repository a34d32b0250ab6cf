package statefile

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// exposition renders ms as a registry would serve them, in the given format.
func exposition(t testing.TB, ms []prometheus.Metric, format expfmt.Format) []byte {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metricList(ms))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func probeMetrics() []prometheus.Metric {
	temp := prometheus.NewDesc("hardware_disk_temperature_celsius", "Disk temperature, refreshed on a schedule.",
		[]string{"device", "model"}, nil)
	read := prometheus.NewDesc("hardware_disk_read_bytes_total", "Bytes read.", []string{"device"}, nil)
	// A const label, as a descriptor may carry: restored as a plain label.
	info := prometheus.NewDesc("hardware_system_info", "System identity.", []string{"product"},
		prometheus.Labels{"vendor": "Dell Inc."})
	raw := prometheus.NewDesc("hardware_textfile_value", "Untyped.", nil, nil)
	return []prometheus.Metric{
		prometheus.MustNewConstMetric(temp, prometheus.GaugeValue, 35, "sda", "Samsung SSD 870 EVO 1TB"),
		prometheus.MustNewConstMetric(temp, prometheus.GaugeValue, math.NaN(), "sdb", ""),
		prometheus.MustNewConstMetric(temp, prometheus.GaugeValue, math.Inf(1), "sdc", "Überplatte ™ 磁盘"),
		prometheus.MustNewConstMetric(temp, prometheus.GaugeValue, math.Inf(-1), "nvme0n1", "a\"b\\c\nd"),
		prometheus.MustNewConstMetric(read, prometheus.CounterValue, 1e15, "sda"),
		prometheus.MustNewConstMetric(info, prometheus.GaugeValue, 1, "PowerEdge R750"),
		prometheus.MustNewConstMetric(raw, prometheus.UntypedValue, oddNaN),
	}
}

// What a restart restores renders to the same bytes as what was stored,
// in the text and the protobuf formats.
func TestRestoredMetricsRenderTheSameBytes(t *testing.T) {
	ms := probeMetrics()
	fams, err := FromMetrics(ms)
	if err != nil {
		t.Fatal(err)
	}
	d := openDir(t, testHost)
	if err := d.Write(Snapshot{Probe: "storage", Families: fams}); err != nil {
		t.Fatal(err)
	}
	s, err := d.Load("storage")
	if err != nil {
		t.Fatal(err)
	}
	restored, err := Metrics(s.Families)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []expfmt.Format{
		expfmt.NewFormat(expfmt.TypeTextPlain),
		expfmt.NewFormat(expfmt.TypeOpenMetrics),
		expfmt.NewFormat(expfmt.TypeProtoDelim),
	} {
		want, got := exposition(t, ms, format), exposition(t, restored, format)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: restored renders\n%s\nwant\n%s", format, got, want)
		}
	}
	text := string(exposition(t, restored, expfmt.NewFormat(expfmt.TypeTextPlain)))
	for _, line := range []string{
		`hardware_disk_temperature_celsius{device="sdb",model=""} NaN`,
		`hardware_disk_temperature_celsius{device="sdc",model="Überplatte ™ 磁盘"} +Inf`,
		`hardware_disk_read_bytes_total{device="sda"} 1e+15`,
		`hardware_system_info{product="PowerEdge R750",vendor="Dell Inc."} 1`,
		"# TYPE hardware_textfile_value untyped",
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("restored exposition lacks %s", line)
		}
	}
	// The NaN's payload survives, though the exposition cannot show it.
	for _, f := range s.Families {
		if f.Name == "hardware_textfile_value" && math.Float64bits(f.Samples[0].Value) != math.Float64bits(oddNaN) {
			t.Errorf("NaN payload %#x, want %#x", math.Float64bits(f.Samples[0].Value), math.Float64bits(oddNaN))
		}
	}
}

func TestFromMetricsRefusesWhatItCannotRebuild(t *testing.T) {
	hist := prometheus.MustNewConstHistogram(prometheus.NewDesc("h_seconds", "A histogram.", nil, nil),
		3, 1.5, map[float64]uint64{1: 2})
	if _, err := FromMetrics([]prometheus.Metric{hist}); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("histogram: got %v, want ErrUnsupportedType", err)
	}
	d := prometheus.NewDesc("g", "G.", []string{"a"}, nil)
	dup := []prometheus.Metric{
		prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, "x"),
		prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 2, "x"),
	}
	if _, err := FromMetrics(dup); err == nil {
		t.Error("duplicate series: no error")
	}
	mixed := []prometheus.Metric{
		prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, "x"),
		prometheus.MustNewConstMetric(prometheus.NewDesc("g", "G.", []string{"b"}, nil), prometheus.GaugeValue, 2, "y"),
	}
	if _, err := FromMetrics(mixed); err == nil {
		t.Error("one name with two label sets: no error")
	}
	if ms, err := Metrics([]Family{{Name: "g", Type: Counter + 1}}); err == nil {
		t.Errorf("unknown type rebuilt into %v", ms)
	}
}
