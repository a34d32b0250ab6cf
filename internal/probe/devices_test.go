package probe

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDeviceClassesOnTheFixture runs each probe that sees devices on the
// fixture server and checks the classes the missing-device guard would
// count, one line per class: its count and its first device.
func TestDeviceClassesOnTheFixture(t *testing.T) {
	want := map[string][]string{
		"pci": {
			"gpu_pci_amd 1 0000:09:00.0",
			"gpu_pci_nvidia 1 0000:17:00.0 (GA100 [A100 PCIe 40GB])",
			"gpu_pci_other 1 0000:03:00.0 (Integrated Matrox G200eW3 Graphics Controller)",
		},
		"gpu":     {"gpu_amd 1 0000:09:00.0 (card1 0123456789abcdef)", "gpu_nvidia 1 0000:17:00.0 (NVIDIA A100-PCIE-40GB 1321021034318)"},
		"memory":  {"dimm 16 A1 (HMA84GR7CJR4N-XN 3259A1C4)", "dimm_edac 8 mc0/dimm0 (CPU_SrcID#0_MC#0_Chan#0_DIMM#0)", "memory_kernel 16"},
		"storage": {"disk 13 S5YNNA0R600120 (nvme0n1 SAMSUNG MZWLJ3T8HBLS-00007)", "nvme 8 0000:31:00.0 (nvme0 SAMSUNG MZWLJ3T8HBLS-00007 S5YNNA0R600120)"},
		"network": {"nic 7 0000:04:00.0 eno8303 (b0:7b:25:d4:3e:a0)", "nic_link_10g 1 ens3f1np1", "nic_link_1g 1 eno8303", "nic_link_200g 1 ib0", "nic_link_25g 2 ens1f0np0"},
		"ipmi":    {"psu 2 PS1 (ID 1) (PWR SPLY,1400W,RDNT,LTON CNLOD0012FG37G)", "psu_sensor 3 PS1 PG FAIL"},
		"raid":    {"raid_pd_c0 8 /c0 32:0 (ST600MM0088 W0M1ABCD)", "raid_pd_c1 4 /c1 8:0 (HUS726040ALS210)", "raid_pd_slot0 4 slot=0 2I:1:1 (ATA MTFDDAK960TCB REDACTED)"},
		"cpu":     {"cpu_core 8", "cpu_package 2 package 0 (Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz)", "cpu_thread 16"},
	}
	for name, lines := range want {
		t.Run(name, func(t *testing.T) {
			c, _ := runProbe(t, name, fixturePaths)
			classes := DeviceClasses(c.metrics)
			var got []string
			for class, dc := range classes {
				line := fmt.Sprintf("%s %d", class, dc.Count)
				if len(dc.Devices) > 0 {
					d := dc.Devices[0]
					line += " " + d.Key
					if d.Detail != "" {
						line += " (" + d.Detail + ")"
					}
				}
				got = append(got, line)
			}
			sort.Strings(got)
			if len(got) != len(lines) {
				t.Errorf("%s: %d classes, want %d:\n%s", name, len(got), len(lines), strings.Join(got, "\n"))
			}
			for _, w := range lines {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("%s: want %q among\n%s", name, w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// An AMD GPU that is runtime suspended has no info series; it still counts,
// once, and an awake one is counted once though two series name it.
func TestDeviceClassesAMDGPUAsleep(t *testing.T) {
	awake := []prometheus.Metric{
		constMetric(gpuAMDInfo, prometheus.GaugeValue, 1, "0000:09:00.0", "card1", "chip", "", "vbios", "id1"),
		constMetric(gpuAMDSuspended, prometheus.GaugeValue, 0, "0000:09:00.0"),
		constMetric(gpuAMDSuspended, prometheus.GaugeValue, 1, "0000:0a:00.0"),
	}
	c := DeviceClasses(awake)["gpu_amd"]
	if c.Count != 2 || len(c.Devices) != 2 || c.Devices[0].Detail != "card1 id1" {
		t.Errorf("gpu_amd = %+v, want two GPUs, the awake one with its detail", c)
	}
}
