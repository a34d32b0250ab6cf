package nvidiasmi

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
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

func TestUnknownField(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "unknown_field_inference_snaps.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := UnknownField(out); !ok || f != "compute_cap" {
		t.Errorf("capture: UnknownField = %q, %v; want compute_cap", f, ok)
	}
	for _, s := range []string{"", "No devices were found", `Field "" is not a valid field to query.`, `Field "a,b" is not a valid field to query.`} {
		if f, ok := UnknownField([]byte(s)); ok {
			t.Errorf("%q: UnknownField = %q, want none", s, f)
		}
	}
}

// The capture has a header and units (--format=csv): the parser reads the
// lines after the header with the header's property names.
func TestParseCSVHeaderCapture(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "query_header_units_nvidia_gpu_exporter.csv"))
	if err != nil {
		t.Fatal(err)
	}
	header, body, _ := strings.Cut(string(out), "\n")
	var props []string
	for _, h := range strings.Split(header, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(h), " [")
		props = append(props, name)
	}
	rows, errs := ParseCSV([]byte(body), props)
	if len(errs) != 0 || len(rows) != 2 {
		t.Fatalf("rows %v errs %v", rows, errs)
	}
	r := rows[0]
	if r["uuid"] != "GPU-df6e7a7c-7314-46f8-abc4-b88b36dcf3aa" || r["name"] != "NVIDIA GeForce RTX 2080 SUPER" ||
		r["fan.speed"] != "38 %" || r["memory.used"] != "575 MiB" || r["pci.bus_id"] != "00000000:01:00.0" ||
		!NoValue(r["serial"]) || r["compute_cap"] != "7.5" || r["index"] != "0" {
		t.Errorf("row 0 = %v", r)
	}
	if KernelBusID(rows[1]["pci.bus_id"]) != "0000:02:00.0" || rows[1]["driver_version"] != "123.45" {
		t.Errorf("row 1 = %v", rows[1])
	}
}

func TestPState(t *testing.T) {
	for in, want := range map[string]float64{"P0": 0, "P8": 8, "P12": 12} {
		if got, err := PState(in); err != nil || got != want {
			t.Errorf("PState(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "P", "P16", "8", "Px"} {
		if _, err := PState(in); err == nil {
			t.Errorf("PState(%q) = nil error", in)
		}
	}
}

func TestParseNVLinkErrorsCapture(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "nvlink_e_gb300_srt_slurm.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, errs := ParseNVLinkErrors(out)
	want := []NVLinkCounter{{0, "", 0, "replay", 0}, {0, "", 0, "recovery", 0}, {0, "", 0, "crc", 0}}
	if len(errs) != 0 || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, errs, want)
	}
}

// Written here: nvidia-smi's form with the UUID, an inactive link, a
// counter line before any GPU and malformed lines.
func TestParseNVLinkErrorsForms(t *testing.T) {
	out := "\t Link 0: Replay Errors: 9\n" + // before any GPU: no owner
		"GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-aa)\n" +
		"\t Link 3: Replay Errors: 7\n" +
		"\t Link 3: CRC Flit Errors: 2\n" +
		"\t Link 4: Recovery Errors: N/A\n" +
		"\t Link x: CRC Errors: 1\n" +
		"\t Link 5: Bad\"Name: 1\n" +
		"GPU z: broken\n" +
		"\t Link 6: CRC Errors: 1\n" // after a broken GPU line: no owner
	got, errs := ParseNVLinkErrors([]byte(out))
	want := []NVLinkCounter{{1, "GPU-aa", 3, "replay", 7}, {1, "GPU-aa", 3, "crc_flit", 2}}
	if !slices.Equal(got, want) || len(errs) != 3 {
		t.Errorf("got %v, errs %v", got, errs)
	}
}

func FuzzParseNVLinkErrors(f *testing.F) {
	out, err := os.ReadFile(filepath.Join("testdata", "nvlink_e_gb300_srt_slurm.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(out)
	f.Add([]byte("GPU 1: x (UUID: GPU-a)\n Link 1: A B Errors: 3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, _ := ParseNVLinkErrors(b)
		for _, c := range cs {
			if c.GPU < 0 || c.Link < 0 || c.Counter == "" {
				t.Fatalf("bad counter %+v", c)
			}
		}
		_, _ = UnknownField(b)
	})
}
