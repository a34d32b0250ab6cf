package probe

import (
	"context"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestMemoryGolden(t *testing.T) { checkGolden(t, "memory") }

const testMeminfo = "MemTotal:        4026748 kB\nMemFree:         3210000 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n"

// A VM: meminfo but no EDAC and no huge page pools.
func TestMemoryVM(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, map[string]string{"proc/meminfo": testMeminfo})
	c, skips := runProbe(t, "memory", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_memory_", map[string]float64{
		"hardware_memory_total_bytes{}": 4026748 * 1024,
	})
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

func TestMemoryWithoutMeminfoFails(t *testing.T) {
	env := Env{Paths: treePaths(t.TempDir())}
	p, err := New("memory")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Probe(context.Background(), env, NewSkips(nil)); err == nil {
		t.Fatal("probe without meminfo succeeded")
	}
}

// One bad input costs the series it feeds and nothing else.
func TestMemoryBadInputs(t *testing.T) {
	base := map[string]string{
		"proc/meminfo": testMeminfo,
		"sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages":   "16\n",
		"sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages": "16\n",
		"sys/devices/system/edac/mc/mc0/mc_name":                  "Skylake Socket#0 IMC#0\n",
		"sys/devices/system/edac/mc/mc0/ce_count":                 "4\n",
		"sys/devices/system/edac/mc/mc0/ue_count":                 "0\n",
		"sys/devices/system/edac/mc/mc0/dimm0/dimm_label":         "CPU_SrcID#0_MC#0_Chan#0_DIMM#0\n",
		"sys/devices/system/edac/mc/mc0/dimm0/size":               "16384\n",
		"sys/devices/system/edac/mc/mc0/dimm0/dimm_ce_count":      "4\n",
		"sys/devices/system/edac/mc/mc0/dimm0/dimm_ue_count":      "0\n",
	}
	full := map[string]float64{
		`hardware_memory_total_bytes{}`:                                                                                                                    4026748 * 1024,
		`hardware_memory_hugepages_pool_pages{size_bytes="2097152"}`:                                                                                       16,
		`hardware_memory_hugepages_free_pages{size_bytes="2097152"}`:                                                                                       16,
		`hardware_memory_edac_controller_info{controller="mc0",name="Skylake Socket#0 IMC#0"}`:                                                             1,
		`hardware_memory_edac_correctable_errors_total{controller="mc0"}`:                                                                                  4,
		`hardware_memory_edac_uncorrectable_errors_total{controller="mc0"}`:                                                                                0,
		`hardware_memory_dimm_info{controller="mc0",dev_type="",dimm="dimm0",edac_mode="",label="CPU_SrcID#0_MC#0_Chan#0_DIMM#0",location="",mem_type=""}`: 1,
		`hardware_memory_dimm_size_bytes{controller="mc0",dimm="dimm0"}`:                                                                                   16384 << 20,
		`hardware_memory_dimm_correctable_errors_total{controller="mc0",dimm="dimm0"}`:                                                                     4,
		`hardware_memory_dimm_uncorrectable_errors_total{controller="mc0",dimm="dimm0"}`:                                                                   0,
	}
	for _, tc := range []struct {
		name  string
		file  string
		value string
		lost  []string
	}{
		{"garbage DIMM count", "sys/devices/system/edac/mc/mc0/dimm0/dimm_ce_count", "garbage\n",
			[]string{`hardware_memory_dimm_correctable_errors_total{controller="mc0",dimm="dimm0"}`}},
		{"negative controller count", "sys/devices/system/edac/mc/mc0/ce_count", "-1\n",
			[]string{`hardware_memory_edac_correctable_errors_total{controller="mc0"}`}},
		{"garbage huge page count", "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "lots\n",
			[]string{`hardware_memory_hugepages_free_pages{size_bytes="2097152"}`}},
		{"malformed meminfo", "proc/meminfo", "MemTotal: lots kB\n",
			[]string{`hardware_memory_total_bytes{}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range base {
				files[k] = v
			}
			files[tc.file] = tc.value
			root := t.TempDir()
			plantTree(t, root, files)
			c, skips := runProbe(t, "memory", treePaths(root))
			want := map[string]float64{}
			for k, v := range full {
				want[k] = v
			}
			for _, k := range tc.lost {
				delete(want, k)
			}
			assertSeries(t, gatherSeries(t, c), "hardware_memory_", want)
			if skips.Count() != 1 {
				t.Errorf("skips = %d, want 1", skips.Count())
			}
		})
	}
}

// Kernels before per-DIMM EDAC directories: csrowN with per-channel counts.
// A csrowN next to dimmN directories (legacy sysfs kept for compatibility)
// must not be read, or errors would be counted twice.
func TestMemoryEDACCsrow(t *testing.T) {
	mc := "sys/devices/system/edac/mc/"
	root := t.TempDir()
	plantTree(t, root, map[string]string{
		"proc/meminfo":                   testMeminfo,
		mc + "mc0/mc_name":               "i5000\n",
		mc + "mc0/size_mb":               "8192\n",
		mc + "mc0/ce_count":              "7\n",
		mc + "mc0/ue_count":              "1\n",
		mc + "mc0/ce_noinfo_count":       "0\n",
		mc + "mc0/ue_noinfo_count":       "0\n",
		mc + "mc0/csrow0/ce_count":       "7\n",
		mc + "mc0/csrow0/ue_count":       "1\n",
		mc + "mc0/csrow0/size_mb":        "4096\n",
		mc + "mc0/csrow0/mem_type":       "FB-DDR2\n",
		mc + "mc0/csrow0/dev_type":       "x8\n",
		mc + "mc0/csrow0/edac_mode":      "S8ECD8ED\n",
		mc + "mc0/csrow0/ch0_ce_count":   "5\n",
		mc + "mc0/csrow0/ch0_dimm_label": "DIMM_A1\n",
		mc + "mc0/csrow0/ch1_ce_count":   "2\n",
		mc + "mc0/csrow0/ch1_dimm_label": "DIMM_B1\n",
		mc + "mc0/csrow1/ce_count":       "0\n",
		mc + "mc0/csrow1/ue_count":       "0\n",
		mc + "mc0/csrow1/ch0_ce_count":   "0\n",
		mc + "mc0/csrow1/ch0_dimm_label": "\n",
		// A modern controller keeping the legacy csrow beside its DIMMs.
		mc + "mc1/mc_name":             "Skylake Socket#1 IMC#0\n",
		mc + "mc1/ce_count":            "3\n",
		mc + "mc1/ue_count":            "0\n",
		mc + "mc1/dimm0/dimm_label":    "CPU_SrcID#1_MC#0_Chan#0_DIMM#0\n",
		mc + "mc1/dimm0/dimm_ce_count": "3\n",
		mc + "mc1/dimm0/dimm_ue_count": "0\n",
		mc + "mc1/csrow0/ce_count":     "3\n",
		mc + "mc1/csrow0/ue_count":     "0\n",
		mc + "mc1/csrow0/ch0_ce_count": "3\n",
	})
	c, skips := runProbe(t, "memory", treePaths(root))
	assertSeries(t, gatherSeries(t, c), "hardware_memory_", map[string]float64{
		`hardware_memory_total_bytes{}`:                                                                                                                                    4026748 * 1024,
		`hardware_memory_edac_controller_info{controller="mc0",name="i5000"}`:                                                                                              1,
		`hardware_memory_edac_controller_size_bytes{controller="mc0"}`:                                                                                                     8192 << 20,
		`hardware_memory_edac_correctable_errors_total{controller="mc0"}`:                                                                                                  7,
		`hardware_memory_edac_uncorrectable_errors_total{controller="mc0"}`:                                                                                                1,
		`hardware_memory_edac_unattributed_correctable_errors_total{controller="mc0"}`:                                                                                     0,
		`hardware_memory_edac_unattributed_uncorrectable_errors_total{controller="mc0"}`:                                                                                   0,
		`hardware_memory_edac_csrow_correctable_errors_total{controller="mc0",csrow="csrow0"}`:                                                                             7,
		`hardware_memory_edac_csrow_uncorrectable_errors_total{controller="mc0",csrow="csrow0"}`:                                                                           1,
		`hardware_memory_edac_csrow_correctable_errors_total{controller="mc0",csrow="csrow1"}`:                                                                             0,
		`hardware_memory_edac_csrow_uncorrectable_errors_total{controller="mc0",csrow="csrow1"}`:                                                                           0,
		`hardware_memory_dimm_info{controller="mc0",dev_type="x8",dimm="csrow0_ch0",edac_mode="S8ECD8ED",label="DIMM_A1",location="csrow 0 channel 0",mem_type="FB-DDR2"}`: 1,
		`hardware_memory_dimm_info{controller="mc0",dev_type="x8",dimm="csrow0_ch1",edac_mode="S8ECD8ED",label="DIMM_B1",location="csrow 0 channel 1",mem_type="FB-DDR2"}`: 1,
		`hardware_memory_dimm_info{controller="mc0",dev_type="",dimm="csrow1_ch0",edac_mode="",label="",location="csrow 1 channel 0",mem_type=""}`:                         1,
		`hardware_memory_dimm_correctable_errors_total{controller="mc0",dimm="csrow0_ch0"}`:                                                                                5,
		`hardware_memory_dimm_correctable_errors_total{controller="mc0",dimm="csrow0_ch1"}`:                                                                                2,
		`hardware_memory_dimm_correctable_errors_total{controller="mc0",dimm="csrow1_ch0"}`:                                                                                0,

		`hardware_memory_edac_controller_info{controller="mc1",name="Skylake Socket#1 IMC#0"}`:                                                             1,
		`hardware_memory_edac_correctable_errors_total{controller="mc1"}`:                                                                                  3,
		`hardware_memory_edac_uncorrectable_errors_total{controller="mc1"}`:                                                                                0,
		`hardware_memory_dimm_info{controller="mc1",dev_type="",dimm="dimm0",edac_mode="",label="CPU_SrcID#1_MC#0_Chan#0_DIMM#0",location="",mem_type=""}`: 1,
		`hardware_memory_dimm_correctable_errors_total{controller="mc1",dimm="dimm0"}`:                                                                     3,
		`hardware_memory_dimm_uncorrectable_errors_total{controller="mc1",dimm="dimm0"}`:                                                                   0,
	})
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
}

// Controllers and DIMMs are ordered by number, and rankN directories count
// as DIMMs.
func TestMemoryEDACRanksAndOrder(t *testing.T) {
	mc := "sys/devices/system/edac/mc/"
	root := t.TempDir()
	files := map[string]string{"proc/meminfo": testMeminfo}
	for _, d := range []string{"mc2", "mc10", "mc1"} {
		files[mc+d+"/ce_count"] = "0\n"
		files[mc+d+"/rank1/dimm_ce_count"] = "0\n"
		files[mc+d+"/rank0/dimm_ce_count"] = "0\n"
		files[mc+d+"/rank_bogus/dimm_ce_count"] = "9\n"
	}
	plantTree(t, root, files)
	env := Env{Paths: treePaths(root)}
	p, err := New("memory")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := p.Probe(context.Background(), env, NewSkips(nil))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, m := range ms {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		if m.Desc() != memoryDIMMCorrectable {
			continue
		}
		var ls []string
		for _, l := range pb.GetLabel() {
			ls = append(ls, l.GetValue())
		}
		order = append(order, strings.Join(ls, "/"))
	}
	want := "mc1/rank0 mc1/rank1 mc2/rank0 mc2/rank1 mc10/rank0 mc10/rank1"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("DIMM order = %s, want %s", got, want)
	}
}

func TestMemorySwapDevices(t *testing.T) {
	for _, tc := range []struct {
		name      string
		swaps     *string
		want      map[string]float64
		wantSkips int
	}{
		{name: "no /proc/swaps", want: map[string]float64{}},
		{name: "header only: swap off", swaps: ptr("Filename\tType\tSize\tUsed\tPriority\n"), want: map[string]float64{}},
		{
			name:  "two devices",
			swaps: ptr("Filename\tType\tSize\tUsed\tPriority\n/swap.img  file  2097148  512  -2\n/dev/sda2  partition  1048572  0  -3\n"),
			want: map[string]float64{
				`hardware_memory_swap_device_size_bytes{device="/swap.img"}`: 2097148 * 1024,
				`hardware_memory_swap_device_size_bytes{device="/dev/sda2"}`: 1048572 * 1024,
			},
		},
		{name: "garbage header costs the swap series", swaps: ptr("what is this\n"), want: map[string]float64{}, wantSkips: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{"proc/meminfo": testMeminfo}
			if tc.swaps != nil {
				files["proc/swaps"] = *tc.swaps
			}
			plantTree(t, root, files)
			c, skips := runProbe(t, "memory", treePaths(root))
			assertSeries(t, gatherSeries(t, c), "hardware_memory_swap_", tc.want)
			if skips.Count() != tc.wantSkips {
				t.Errorf("skips = %d, want %d", skips.Count(), tc.wantSkips)
			}
		})
	}
}
