package procfile

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMemTotalCaptures(t *testing.T) {
	for file, want := range map[string]uint64{
		"procfs-meminfo":        15666184 * 1024,
		"node_exporter-meminfo": 3742148 * 1024,
	} {
		got, err := ParseMemTotal(readTestdata(t, file))
		if err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", file, got, err, want)
		}
	}
}

func TestParseMemTotalMalformed(t *testing.T) {
	for _, in := range []string{
		"MemFree: 1 kB\n",                // none
		"MemTotal: 1 MB\n",               // another unit
		"MemTotal: lots kB\n",            // no number
		"MemTotal: 18014398509481984 kB", // bytes past uint64
	} {
		if v, err := ParseMemTotal([]byte(in)); err == nil {
			t.Errorf("%q: %d, want an error", in, v)
		}
	}
}

func TestParseSwapsCaptures(t *testing.T) {
	for file, want := range map[string][]Swap{
		"procfs-swaps":        {{Filename: "/dev/dm-2", Type: "partition", SizeBytes: 131068 * 1024, UsedBytes: 176 * 1024, Priority: -2}},
		"node_exporter-swaps": {{Filename: "/dev/zram0", Type: "partition", SizeBytes: 8388604 * 1024, UsedBytes: 76 * 1024, Priority: 100}},
	} {
		got, err := ParseSwaps(readTestdata(t, file))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, %v; want %+v", file, got, err, want)
		}
	}
}

// A malformed device line costs that device; a header of other columns
// costs the file.
func TestParseSwapsMalformed(t *testing.T) {
	const header = "Filename\tType\tSize\tUsed\tPriority\n"
	got, err := ParseSwaps([]byte(header + "/a partition 10 1 -2\n/b partition ten 1 -2\n/c\n/d file 5 9 -3\n/e file 20 0 -4\n"))
	if err == nil || !strings.Contains(err.Error(), "3 malformed") {
		t.Errorf("err = %v, want 3 malformed lines", err)
	}
	if len(got) != 2 || got[0].Filename != "/a" || got[1].Filename != "/e" || got[1].SizeBytes != 20*1024 {
		t.Errorf("got %+v, want /a and /e", got)
	}
	if got, err := ParseSwaps([]byte("Filename Size Type Used Priority\n/a 10 partition 1 -2\n")); err == nil {
		t.Errorf("other columns: %+v, want an error", got)
	}
}

func TestParseBootTimeCaptures(t *testing.T) {
	for _, file := range []string{"procfs-stat", "node_exporter-stat"} {
		got, err := ParseBootTime(context.Background(), readTestdata(t, file))
		if err != nil || got != 1418183276 {
			t.Errorf("%s: %d, %v; want 1418183276", file, got, err)
		}
	}
}

func TestParseBootTimeMalformed(t *testing.T) {
	for _, in := range []string{"cpu 1 2 3\n", "btime 0\n", "btime soon\n", "btime -1\n"} {
		if v, err := ParseBootTime(context.Background(), []byte(in)); err == nil {
			t.Errorf("%q: %d, want an error", in, v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ParseBootTime(ctx, []byte(strings.Repeat("intr 0\n", 1000)+"btime 1\n")); err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// Every vulnerability file both projects captured, by name.
func TestParseVulnerabilityCaptures(t *testing.T) {
	want := map[string]Vulnerability{
		"procfs-itlb_multihit":        {"unknown", "KVM: Mitigation: VMX unsupported"},
		"procfs-mds":                  {"vulnerable", ""},
		"procfs-mmio_stale_data":      {"vulnerable", "Clear CPU buffers attempted, no microcode"},
		"procfs-retbleed":             {"mitigation", "untrained return thunk; SMT enabled with STIBP protection"},
		"procfs-spec_store_bypass":    {"mitigation", "Speculative Store Bypass disabled via prctl"},
		"procfs-spectre_v1":           {"mitigation", "usercopy/swapgs barriers and __user pointer sanitization"},
		"procfs-spectre_v2":           {"mitigation", "Retpolines, IBPB: conditional, STIBP: always-on, RSB filling, PBRSB-eIBRS: Not affected"},
		"procfs-srbds":                {"unknown", "Dependent on hypervisor status"},
		"procfs-tsx_async_abort":      {"not affected", ""},
		"node_exporter-itlb_multihit": {"not affected", ""},
		"node_exporter-mds":           {"vulnerable", ""},
		"node_exporter-retbleed":      {"mitigation", "untrained return thunk; SMT enabled with STIBP protection"},
		"node_exporter-spectre_v1":    {"mitigation", "usercopy/swapgs barriers and __user pointer sanitization"},
		"node_exporter-spectre_v2":    {"mitigation", "Retpolines, IBPB: conditional, STIBP: always-on, RSB filling, PBRSB-eIBRS: Not affected"},
	}
	files, _ := filepath.Glob("testdata/vulnerabilities/*")
	if len(files) != len(want) {
		t.Errorf("%d captures, want %d", len(files), len(want))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := ParseVulnerability(b); got != want[filepath.Base(f)] {
			t.Errorf("%s: %+v, want %+v", filepath.Base(f), got, want[filepath.Base(f)])
		}
	}
}

func FuzzParseMemTotal(f *testing.F) {
	f.Add(readTestdata(f, "procfs-meminfo"))
	f.Add(readTestdata(f, "node_exporter-meminfo"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := ParseMemTotal(b); err == nil && v%1024 != 0 {
			t.Errorf("%d bytes is no whole KiB", v)
		}
	})
}

func FuzzParseSwaps(f *testing.F) {
	f.Add(readTestdata(f, "procfs-swaps"))
	f.Add(readTestdata(f, "node_exporter-swaps"))
	f.Fuzz(func(t *testing.T, b []byte) {
		swaps, _ := ParseSwaps(b)
		for _, s := range swaps {
			if s.UsedBytes > s.SizeBytes {
				t.Errorf("%+v uses more than its size", s)
			}
		}
	})
}

func FuzzParseBootTime(f *testing.F) {
	f.Add(readTestdata(f, "node_exporter-stat"))
	f.Add([]byte("btime 1418183276\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := ParseBootTime(context.Background(), b); err == nil && v == 0 {
			t.Error("boot time 0 and no error")
		}
	})
}

func FuzzParseVulnerability(f *testing.F) {
	files, _ := filepath.Glob("testdata/vulnerabilities/*")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		switch v := ParseVulnerability(b); v.State {
		case "not affected", "vulnerable", "mitigation", "unknown":
		default:
			t.Errorf("state %q", v.State)
		}
	})
}

// readTestdata returns a capture of testdata/.
func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
