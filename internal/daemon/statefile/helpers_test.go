package statefile

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const testHost = "0123456789abcdef0123456789abcdef"

// oddNaN is a NaN with a payload other than math.NaN()'s, to show that
// values are kept bit for bit, not merely as "some NaN".
var oddNaN = math.Float64frombits(0x7ff8_dead_beef_0001)

// edgeSnapshot holds the values most likely to be mangled by an encoding.
func edgeSnapshot(probe string) Snapshot {
	return Snapshot{
		Probe:           probe,
		Run:             time.Unix(1767225600, 123456789),
		Success:         false,
		Duration:        1650 * time.Millisecond,
		ReadErrors:      3,
		LastSuccess:     time.Unix(1767222000, 1),
		Inventory:       0xfedc_ba98_7654_3211,
		InventoryChange: time.Unix(1700000000, 0),
		Families: []Family{
			{
				Name: "hardware_disk_temperature_celsius", Help: "Disk temperature.\nSecond line with \"quotes\" and \\.",
				Type: Gauge, LabelNames: []string{"device", "model"},
				Samples: []Sample{
					{LabelValues: []string{"sda", "Samsung SSD 870 EVO 1TB"}, Value: 34},
					{LabelValues: []string{"sdb", ""}, Value: math.NaN()},
					{LabelValues: []string{"sdc", "Überplatte ™ 磁盘 🚀"}, Value: oddNaN},
					{LabelValues: []string{"sdd", "x"}, Value: math.Inf(1)},
					{LabelValues: []string{"sde", "y"}, Value: math.Inf(-1)},
					{LabelValues: []string{"sdf", "z"}, Value: math.Copysign(0, -1)},
					{LabelValues: []string{"sdg", "w"}, Value: math.SmallestNonzeroFloat64},
				},
			},
			{
				Name: "hardware_disk_read_bytes_total", Help: "Bytes read.", Type: Counter,
				LabelNames: []string{"device"},
				Samples:    []Sample{{LabelValues: []string{"sda"}, Value: 1 << 60}},
			},
			{
				Name: "hardware_textfile_thing", Help: "", Type: Untyped,
				Samples: []Sample{{Value: -1.5e-300}},
			},
			{Name: "hardware_empty_family", Help: "No samples.", Type: Gauge, LabelNames: []string{"a"}},
		},
	}
}

// bigSnapshot is about the size of a SMART probe on a full chassis:
// 1500 samples in 30 families with four labels each.
func bigSnapshot(probe string) Snapshot {
	s := Snapshot{Probe: probe, Run: time.Unix(1767225600, 0), Success: true, Duration: 40 * time.Second,
		LastSuccess: time.Unix(1767225600, 0), Inventory: 42, InventoryChange: time.Unix(1767000000, 0)}
	for f := range 30 {
		fam := Family{
			Name:       fmt.Sprintf("hardware_smart_attribute_%02d_value", f),
			Help:       "A SMART attribute's normalized value, refreshed on a schedule, not per scrape.",
			Type:       Gauge,
			LabelNames: []string{"device", "model", "serial", "attribute"},
		}
		for d := range 50 {
			fam.Samples = append(fam.Samples, Sample{
				LabelValues: []string{fmt.Sprintf("sd%c%c", 'a'+d/26, 'a'+d%26), "ST16000NM001G-2KK103",
					fmt.Sprintf("ZL2%05d", d), fmt.Sprintf("Attribute_%d", f)},
				Value: float64(f*100 + d),
			})
		}
		s.Families = append(s.Families, fam)
	}
	return s
}

// diffSnapshots describes the first difference between a and b, or "".
// Values compare by their bits and times by Equal.
func diffSnapshots(a, b Snapshot) string {
	switch {
	case a.Probe != b.Probe:
		return fmt.Sprintf("probe %q != %q", a.Probe, b.Probe)
	case a.Options != b.Options:
		return fmt.Sprintf("options %#x != %#x", a.Options, b.Options)
	case !a.Run.Equal(b.Run):
		return fmt.Sprintf("run %v != %v", a.Run, b.Run)
	case a.Success != b.Success || a.Duration != b.Duration || a.ReadErrors != b.ReadErrors:
		return fmt.Sprintf("status %v/%v/%d != %v/%v/%d", a.Success, a.Duration, a.ReadErrors, b.Success, b.Duration, b.ReadErrors)
	case !a.LastSuccess.Equal(b.LastSuccess):
		return fmt.Sprintf("last success %v != %v", a.LastSuccess, b.LastSuccess)
	case a.Inventory != b.Inventory || !a.InventoryChange.Equal(b.InventoryChange):
		return fmt.Sprintf("inventory %x@%v != %x@%v", a.Inventory, a.InventoryChange, b.Inventory, b.InventoryChange)
	case len(a.Families) != len(b.Families):
		return fmt.Sprintf("%d families != %d", len(a.Families), len(b.Families))
	}
	for i, fa := range a.Families {
		fb := b.Families[i]
		if fa.Name != fb.Name || fa.Help != fb.Help || fa.Type != fb.Type ||
			fmt.Sprintf("%q", fa.LabelNames) != fmt.Sprintf("%q", fb.LabelNames) || len(fa.Samples) != len(fb.Samples) {
			return fmt.Sprintf("family %d: %q %q %v %q (%d samples) != %q %q %v %q (%d samples)", i,
				fa.Name, fa.Help, fa.Type, fa.LabelNames, len(fa.Samples), fb.Name, fb.Help, fb.Type, fb.LabelNames, len(fb.Samples))
		}
		for j, sa := range fa.Samples {
			sb := fb.Samples[j]
			if fmt.Sprintf("%q", sa.LabelValues) != fmt.Sprintf("%q", sb.LabelValues) ||
				math.Float64bits(sa.Value) != math.Float64bits(sb.Value) {
				return fmt.Sprintf("%s sample %d: %q=%#x != %q=%#x", fa.Name, j,
					sa.LabelValues, math.Float64bits(sa.Value), sb.LabelValues, math.Float64bits(sb.Value))
			}
		}
	}
	return ""
}

func openDir(t testing.TB, host string) *Dir {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "state"), host)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tempFiles lists what a write may leave behind in d.
func tempFiles(t testing.TB, d *Dir) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(d.path, ".*"+tmpSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
