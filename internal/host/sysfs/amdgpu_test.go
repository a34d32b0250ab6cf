package sysfs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// The ras/BLOCK_err_count formats amdgpu_ras_sysfs_read prints: "ue, ce"
// and, from Linux 6.10, "ue, ce, de". While the driver recovers it prints
// a sentence, which is no count at all.
func TestParseAMDGPUErrCount(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[string]uint64
	}{
		{"ue: 0\nce: 1\n", map[string]uint64{"ue": 0, "ce": 1}},
		{"ue: 2\nce: 18446744073709551615\nde: 3\n", map[string]uint64{"ue": 2, "ce": 18446744073709551615, "de": 3}},
		{"Query currently inaccessible\n", nil},
		{"ue: 1\n", nil},
		{"ue: -1\nce: 0\n", nil},
		{"", nil},
	} {
		got, err := ParseAMDGPUErrCount([]byte(tt.in))
		if !reflect.DeepEqual(got, tt.want) || (err == nil) != (tt.want != nil) {
			t.Errorf("ParseAMDGPUErrCount(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// gpu_vram_bad_pages lines are "PFN : SIZE : FLAG" (amdgpu_ras_sysfs_badpages_read,
// "0x%08x : 0x%08x : %1s\n", flags R, P, F); empty is none.
func TestParseAMDGPUBadPages(t *testing.T) {
	got, err := ParseAMDGPUBadPages([]byte("0x00000001 : 0x00001000 : R\n0x00000002 : 0x00001000 : R\n0x0000a000 : 0x00001000 : P\n0x0000a001 : 0x00001000 : F\n"))
	if want := (AMDGPUBadPages{Reserved: 2, Pending: 1, Failed: 1}); got != want || err != nil {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if got, err := ParseAMDGPUBadPages(nil); got != (AMDGPUBadPages{}) || err != nil {
		t.Errorf("empty: got %+v, %v; want none", got, err)
	}
	for _, bad := range []string{"0x00000001 : 0x00001000 : X\n", "garbage\n"} {
		if _, err := ParseAMDGPUBadPages([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// A bad-pages file past the bound is an error, not a count cut short; a
// missing one is no bad-page series; a card bound to another driver, a
// connector and a card with no device are not AMD GPUs.
func TestReadAMDGPU(t *testing.T) {
	root := t.TempDir()
	dev := "devices/pci0000:00/0000:00:01.0/0000:0a:00.0"
	plant(t, root, map[string]string{
		dev + "/power/runtime_status":   "active\n",
		dev + "/gpu_busy_percent":       "100\n",
		dev + "/mem_info_gtt_total":     "8573157376\n",
		dev + "/ras/umc_err_count":      "ue: 0\nce: 1\n",
		dev + "/ras/gpu_vram_bad_pages": string(make([]byte, MaxBadPagesSize+1)),
		"class/drm/card2-DP-1/status":   "connected\n",
	})
	link(t, root, "class/drm/card0", "../../"+dev+"/drm/card0")
	link(t, root, dev+"/drm/card0/device", "../../../0000:0a:00.0")
	link(t, root, dev+"/driver", "../../../../bus/pci/drivers/amdgpu")
	link(t, root, "class/drm/card1", "../../devices/virtual/drm/card1")
	fsys := hostfs.New(root)
	cards, errs := AMDGPUCards(fsys)
	if want := []string{"card0"}; !reflect.DeepEqual(cards, want) || errs != nil {
		t.Fatalf("AMDGPUCards = %v, %v; want %v", cards, errs, want)
	}
	g, errs := ReadAMDGPU(fsys, "card0")
	if len(errs) != 1 || filepath.Base(errs[0].Path) != "gpu_vram_bad_pages" {
		t.Errorf("errors %v, want gpu_vram_bad_pages too large", errs)
	}
	want := AMDGPU{
		Card: "card0", Address: "0000:0a:00.0", RuntimeStatus: "active",
		BusyPercent: 100, HasBusy: true,
		Memory: []AMDGPUMemory{{Pool: "gtt", Total: 8573157376, HasTotal: true}},
		RAS:    []AMDGPURASBlock{{Block: "umc", Counts: map[string]uint64{"ue": 0, "ce": 1}}},
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("ReadAMDGPU =\n%+v\nwant\n%+v", g, want)
	}
}

// link makes the symbolic link name (slash path below root) to target.
func link(t *testing.T, root, name, target string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}
