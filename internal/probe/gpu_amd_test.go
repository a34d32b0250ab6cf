package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// amdCard plants an amdgpu card below root/sys: class/drm/card links to the
// device's drm/card directory, the device's driver link to amdgpu, and the
// given attributes (relative to the device).
func amdCard(t *testing.T, root, card, address string, attrs map[string]string) {
	t.Helper()
	dev := "sys/devices/pci0000:00/0000:00:01.0/" + address
	files := map[string]string{
		"sys/class/drm/" + card:          "-> ../../devices/pci0000:00/0000:00:01.0/" + address + "/drm/" + card,
		dev + "/drm/" + card + "/device": "-> ../../../" + address,
		dev + "/driver":                  "-> ../../../../bus/pci/drivers/amdgpu",
	}
	for name, content := range attrs {
		files[dev+"/"+name] = content
	}
	plantTree(t, root, files)
}

// gpuAMDOnly runs the gpu probe with an nvidia-smi that does not exist.
func gpuAMDOnly(t *testing.T, paths Paths) (map[string]float64, *Skips, error) {
	t.Helper()
	p := &gpuProbe{}
	env := Env{Paths: paths, Options: withCommand("gpu", filepath.Join(t.TempDir(), "nvidia-smi"))}
	if err := p.Available(env); err != nil {
		t.Fatalf("Available with AMD GPUs and no nvidia-smi: %v, want nil", err)
	}
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), env, skips)
	return gatherSeries(t, collected{p: p, metrics: ms}), skips, err
}

// A host with an AMD GPU and no nvidia-smi: the probe is available, and
// exports the AMD GPU without an error for the missing tool. The card is
// the procfs capture's Vega with a RAS directory written from the
// kernel's format.
func TestGPUAMDWithoutNvidiaSMI(t *testing.T) {
	root := t.TempDir()
	amdCard(t, root, "card0", "0000:0a:00.0", map[string]string{
		"power/runtime_status":     "active\n",
		"gpu_busy_percent":         "4\n",
		"mem_busy_percent":         "25\n",
		"mem_info_vram_total":      "8573157376\n",
		"mem_info_vram_used":       "1490378752\n",
		"vbios_version":            "115-D050PIL-100\n",
		"ras/umc_err_count":        "ue: 1\nce: 7\n",
		"ras/sdma_err_count":       "ue: 0\nce: 0\nde: 3\n",
		"ras/gfx_err_count":        "Query currently inaccessible\n", // a skip, not zeros
		"ras/features":             "feature mask: 0x3fbb\n",
		"ras/gpu_vram_bad_pages":   "0x00000001 : 0x00001000 : R\n0x00000002 : 0x00001000 : R\n0x00000003 : 0x00001000 : P\n",
		"hwmon/hwmon3/name":        "amdgpu\n",
		"hwmon/hwmon3/device":      "-> ../../../0000:0a:00.0",
		"hwmon/hwmon3/temp1_input": "41000\n",
	})
	// Another driver's card and a connector are not AMD GPUs.
	plantTree(t, root, map[string]string{
		"sys/class/drm/card1": "-> ../../devices/pci0000:00/0000:00:1c.5/0000:03:00.0/drm/card1",
		"sys/devices/pci0000:00/0000:00:1c.5/0000:03:00.0/drm/card1/device": "-> ../../../0000:03:00.0",
		"sys/devices/pci0000:00/0000:00:1c.5/0000:03:00.0/driver":           "-> ../../../../bus/pci/drivers/mgag200",
		"sys/class/drm/card0-DP-1/status":                                   "connected\n",
	})
	got, skips, err := gpuAMDOnly(t, treePaths(root))
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1 (gfx_err_count)", skips.Count())
	}
	const a = `address="0000:0a:00.0"`
	assertSeries(t, got, "hardware_gpu_", map[string]float64{
		`hardware_gpu_amd_info{` + a + `,card="card0",chip="0000:00:01_0_0000:0a:00_0",product_name="",unique_id="",vbios_version="115-D050PIL-100"}`: 1,
		`hardware_gpu_amd_runtime_suspended{` + a + `}`:                                  0,
		`hardware_gpu_amd_utilization_ratio{` + a + `,resource="gpu"}`:                   0.04,
		`hardware_gpu_amd_utilization_ratio{` + a + `,resource="memory"}`:                0.25,
		`hardware_gpu_amd_memory_total_bytes{` + a + `,pool="vram"}`:                     8573157376,
		`hardware_gpu_amd_memory_used_bytes{` + a + `,pool="vram"}`:                      1490378752,
		`hardware_gpu_amd_ras_errors_total{` + a + `,block="umc",type="correctable"}`:    7,
		`hardware_gpu_amd_ras_errors_total{` + a + `,block="umc",type="uncorrectable"}`:  1,
		`hardware_gpu_amd_ras_errors_total{` + a + `,block="sdma",type="correctable"}`:   0,
		`hardware_gpu_amd_ras_errors_total{` + a + `,block="sdma",type="uncorrectable"}`: 0,
		`hardware_gpu_amd_ras_errors_total{` + a + `,block="sdma",type="deferred"}`:      3,
		`hardware_gpu_amd_vram_bad_pages{` + a + `,state="reserved"}`:                    2,
		`hardware_gpu_amd_vram_bad_pages{` + a + `,state="pending"}`:                     1,
		`hardware_gpu_amd_vram_bad_pages{` + a + `,state="failed"}`:                      0,
	})
}

// A runtime-suspended GPU is not woken: only runtime_status is read. Its
// other attributes are FIFOs here, which a read would block on (hostfs
// refuses them, and the refusal would be a skip), so a read of any of
// them shows as a skip.
func TestGPUAMDSuspendedNotWoken(t *testing.T) {
	root := t.TempDir()
	amdCard(t, root, "card0", "0000:0a:00.0", map[string]string{
		"power/runtime_status": "suspended\n",
	})
	dev := filepath.Join(root, "sys/devices/pci0000:00/0000:00:01.0/0000:0a:00.0")
	for _, name := range []string{"gpu_busy_percent", "mem_busy_percent", "mem_info_vram_total", "vbios_version", "ras/umc_err_count", "ras/gpu_vram_bad_pages"} {
		p := filepath.Join(dev, name)
		writeFile(t, p, "")
		if err := syscall.Unlink(p); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, skips, err := gpuAMDOnly(t, treePaths(root))
	if err != nil || skips.Count() != 0 {
		t.Fatalf("Probe: err %v, %d skips; want neither (no attribute but runtime_status read)", err, skips.Count())
	}
	assertSeries(t, got, "hardware_gpu_", map[string]float64{
		`hardware_gpu_amd_runtime_suspended{address="0000:0a:00.0"}`: 1,
	})
}

// A host with neither an AMD GPU nor nvidia-smi leaves the probe off, as
// before AMD GPUs were read.
func TestGPUUnavailableWithoutEither(t *testing.T) {
	root := t.TempDir()
	plantTree(t, root, map[string]string{"sys/class/drm/card0-DP-1/status": "connected\n"})
	env := Env{Paths: treePaths(root), Options: withCommand("gpu", filepath.Join(root, "nvidia-smi"))}
	err := (&gpuProbe{}).Available(env)
	if err == nil || !strings.Contains(err.Error(), "nvidia-smi") {
		t.Errorf("Available = %v, want the missing nvidia-smi named", err)
	}
}

// amdFleetTree plants n AMD GPUs as an Instinct host has them: every
// attribute the reader reads, eleven RAS blocks and a few retired pages,
// and a hwmon chip each. It returns the tree's Paths.
func amdFleetTree(tb testing.TB, n int) Paths {
	tb.Helper()
	root := tb.TempDir()
	put := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	for i := range n {
		card, address := fmt.Sprintf("card%d", i), fmt.Sprintf("0000:%02x:00.0", 0x11+i)
		dev := "sys/devices/pci0000:00/0000:00:01.0/" + address
		put("sys/class/drm/"+card, "-> ../../devices/pci0000:00/0000:00:01.0/"+address+"/drm/"+card)
		put(dev+"/drm/"+card+"/device", "-> ../../../"+address)
		put(dev+"/driver", "-> ../../../../bus/pci/drivers/amdgpu")
		put(dev+"/power/runtime_status", "active\n")
		put(dev+"/gpu_busy_percent", "97\n")
		put(dev+"/mem_busy_percent", "41\n")
		for _, pool := range []string{"vram", "vis_vram", "gtt"} {
			put(dev+"/mem_info_"+pool+"_total", "68702699520\n")
			put(dev+"/mem_info_"+pool+"_used", "1048576\n")
		}
		put(dev+"/vbios_version", "113-D67301-063\n")
		put(dev+"/product_name", "AMD Instinct MI210\n")
		put(dev+"/unique_id", fmt.Sprintf("%016x", 0x1e5a3c7b00+i))
		for _, block := range []string{"umc", "sdma", "gfx", "mmhub", "athub", "pcie_bif", "hdp", "xgmi_wafl", "mp0", "mp1", "fuse"} {
			put(dev+"/ras/"+block+"_err_count", "ue: 0\nce: 3\n")
		}
		put(dev+"/ras/gpu_vram_bad_pages", "0x00000001 : 0x00001000 : R\n0x00000002 : 0x00001000 : R\n0x00000003 : 0x00001000 : P\n")
		put(dev+"/hwmon/hwmon"+strconv.Itoa(i)+"/name", "amdgpu\n")
		put(dev+"/hwmon/hwmon"+strconv.Itoa(i)+"/device", "-> ../../../"+address)
	}
	return treePaths(root)
}

// The AMD half's series on a 4-GPU Instinct host: a fixed number per GPU.
func TestGPUAMDFleetSeries(t *testing.T) {
	got, skips, err := gpuAMDOnly(t, amdFleetTree(t, 4))
	if err != nil || skips.Count() != 0 {
		t.Fatalf("err %v, %d skips", err, skips.Count())
	}
	// Per GPU: info, suspended, 2 utilization, 3+3 memory, 11 blocks x 2
	// RAS counts, 3 bad-page states, the VBIOS's firmware_info.
	if want := 4 * (1 + 1 + 2 + 6 + 22 + 3 + 1); len(got) != want {
		t.Errorf("%d series, want %d", len(got), want)
	}
}

// benchmarkGPUAMD runs the gpu probe on paths with no nvidia-smi: the
// AMD half alone.
func benchmarkGPUAMD(b *testing.B, paths Paths) {
	p := &gpuProbe{}
	env := Env{Paths: paths, Options: withCommand("gpu", filepath.Join(b.TempDir(), "nvidia-smi"))}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Probe(context.Background(), env, NewSkips(nil)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGPUAMD is a run on the fixture host (one Vega, NVIDIA left out).
func BenchmarkGPUAMD(b *testing.B) { benchmarkGPUAMD(b, fixturePaths) }

// BenchmarkGPUAMD4 is a run on four Instinct GPUs with RAS.
func BenchmarkGPUAMD4(b *testing.B) { benchmarkGPUAMD(b, amdFleetTree(b, 4)) }

// On a host with both vendors' GPUs, an nvidia-smi that fails costs the
// NVIDIA series (a skip), not the AMD ones or the run; a run called off
// still fails.
func TestGPUNVIDIAFailureKeepsAMD(t *testing.T) {
	tool := fakeTool(t, "nvidia-smi", `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."; exit 9
`)
	p := &gpuProbe{}
	env := Env{Paths: fixturePaths, Options: withCommand("gpu", tool)}
	skips := NewSkips(nil)
	ms, err := p.Probe(context.Background(), env, skips)
	if err != nil {
		t.Fatalf("Probe: %v, want the NVIDIA failure as a skip", err)
	}
	if skips.Count() != 1 {
		t.Errorf("skips = %d, want 1", skips.Count())
	}
	checkSeries(t, "\n"+string(exposition(t, collected{p: p, metrics: ms})),
		[]string{`hardware_gpu_amd_runtime_suspended{address="0000:09:00.0"} 0`},
		[]string{"hardware_gpu_info"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Probe(ctx, env, NewSkips(nil)); err == nil {
		t.Error("a cancelled run succeeded")
	}
}
