package nvidiasmi

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// capture reads a query's captured output and the properties its
// command line asked for.
func capture(t testing.TB, query string) ([]byte, []string) {
	t.Helper()
	out, err := os.ReadFile(filepath.Join("testdata", query+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	args, err := os.ReadFile(filepath.Join("testdata", query+".args"))
	if err != nil {
		t.Fatal(err)
	}
	q, _, _ := strings.Cut(strings.TrimSpace(string(args)), " ")
	_, list, _ := strings.Cut(q, "=")
	return out, strings.Split(list, ",")
}

func TestQueryArgsMatchCaptures(t *testing.T) {
	for _, query := range []string{"query-gpu", "query-remapped-rows"} {
		_, props := capture(t, query)
		args, err := os.ReadFile(filepath.Join("testdata", query+".args"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(QueryArgs(query, props), " "), strings.TrimSpace(string(args)); got != want {
			t.Errorf("QueryArgs = %s, want %s", got, want)
		}
	}
}

func TestParseCSVCaptures(t *testing.T) {
	out, props := capture(t, "query-gpu")
	rows, errs := ParseCSV(out, props)
	if len(errs) != 0 || len(rows) != 1 {
		t.Fatalf("rows %v errs %v", rows, errs)
	}
	want := Row{
		"index": "0", "uuid": "GPU-3f5a7c2e-9b41-8d06-1e7f-5c2a9d4b8e13", "name": "NVIDIA A100-PCIE-40GB",
		"serial": "1321021034318", "pci.bus_id": "00000000:17:00.0", "driver_version": "535.183.01",
		"vbios_version": "92.00.25.00.08", "temperature.gpu": "31", "power.draw": "34.52", "power.limit": "250.00",
		"memory.total": "40960", "memory.used": "4", "ecc.errors.corrected.aggregate.total": "3",
		"ecc.errors.uncorrected.aggregate.total": "0", "retired_pages.single_bit_ecc.count": "[N/A]",
		"retired_pages.double_bit.count": "[N/A]",
	}
	if !maps.Equal(rows[0], want) {
		t.Errorf("got  %v\nwant %v", rows[0], want)
	}

	out, props = capture(t, "query-remapped-rows")
	rows, errs = ParseCSV(out, props)
	if len(errs) != 0 || len(rows) != 1 {
		t.Fatalf("rows %v errs %v", rows, errs)
	}
	if r := rows[0]; r["gpu_uuid"] != "GPU-3f5a7c2e-9b41-8d06-1e7f-5c2a9d4b8e13" || r["remapped_rows.correctable"] != "0" || r["remapped_rows.failure"] != "No" {
		t.Errorf("remapped rows = %v", r)
	}
}

func TestParseCSVBadLinesCostThemselves(t *testing.T) {
	props := []string{"uuid", "temperature.gpu"}
	out := "GPU-a, 31\r\n" +
		"GPU-b\n" + // too few values
		"GPU-c, 1, 2\n" + // too many: an unquoted comma in a value
		strings.Repeat("x", MaxLineLength+1) + "\n" +
		"\n   \n" +
		"GPU-d, [N/A]" // no final newline
	rows, errs := ParseCSV([]byte(out), props)
	if len(errs) != 3 {
		t.Errorf("errors = %v, want 3", errs)
	}
	if len(rows) != 2 || rows[0]["uuid"] != "GPU-a" || rows[0]["temperature.gpu"] != "31" || rows[1]["uuid"] != "GPU-d" {
		t.Errorf("rows = %v", rows)
	}
}

func TestValues(t *testing.T) {
	for _, v := range []string{"", "N/A", "[N/A]", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]"} {
		if !NoValue(v) {
			t.Errorf("NoValue(%q) = false", v)
		}
	}
	for _, v := range []string{"0", "No", "[", "NVIDIA [beta]x"} {
		if NoValue(v) {
			t.Errorf("NoValue(%q) = true", v)
		}
	}
	for _, tc := range []struct {
		s    string
		flag bool
		want float64
		ok   bool
	}{
		{"34.52", false, 34.52, true}, {"Yes", true, 1, true}, {"no", true, 0, true}, {"1", true, 1, true},
		{"Yes", false, 0, false}, {"Maybe", true, 0, false}, {"3x", false, 0, false},
	} {
		v, err := Number(tc.s, tc.flag)
		if (err == nil) != tc.ok || v != tc.want {
			t.Errorf("Number(%q, %v) = %v, %v", tc.s, tc.flag, v, err)
		}
	}
	for in, want := range map[string]string{
		"00000000:17:00.0": "0000:17:00.0", "00000001:AF:00.0": "0001:af:00.0",
		"0000:17:00.0": "0000:17:00.0", "FFFFFFFF:00:00.0": "FFFFFFFF:00:00.0", "garbage": "garbage",
	} {
		if got := KernelBusID(in); got != want {
			t.Errorf("KernelBusID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, q := range []string{"query-gpu", "query-remapped-rows"} {
		out, _ := capture(f, q)
		f.Add(out)
	}
	f.Add([]byte("GPU-a, 1\nGPU-b\n\r\n"))
	_, props := capture(f, "query-gpu")
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, _ := ParseCSV(b, props)
		for _, r := range rows {
			if len(r) != len(props) {
				t.Fatalf("row with %d values, want %d", len(r), len(props))
			}
			_ = KernelBusID(r["pci.bus_id"])
		}
	})
}
