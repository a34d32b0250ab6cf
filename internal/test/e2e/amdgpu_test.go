//go:build e2e

package e2e

import (
	"path/filepath"
	"testing"
)

// injectAMDGPUFaults raises the AMD GPU faults the fixture's Vega does not
// hold: an uncorrectable UMC error, a VRAM page waiting to be retired and
// one that could not be, then refreshes the gpu probe and waits for the
// three AMD GPU alerts (pending is enough: their for: is 1m and 5m).
func injectAMDGPUFaults(t *testing.T, prom, exporterAddr, tree string) {
	t.Helper()
	labels := map[string]string{"address": "0000:09:00.0"}
	if err := alertActive(prom, "HardwareAMDGPUUncorrectableErrors", labels); err == nil {
		t.Fatal("HardwareAMDGPUUncorrectableErrors is active before the error was injected")
	}
	ras := filepath.Join(tree, "sys/devices/pci0000:00/0000:00:01.0/0000:09:00.0/ras")
	writeFile(t, filepath.Join(ras, "umc_err_count"), "ue: 1\nce: 2\n")
	writeFile(t, filepath.Join(ras, "gpu_vram_bad_pages"),
		"0x00012c4a : 0x00001000 : R\n0x00012c4b : 0x00001000 : P\n0x00012c4c : 0x00001000 : F\n")
	refresh(t, exporterAddr, "gpu")
	eventually(t, "injected AMD RAS counts scraped", func() error {
		return expectValue(prom, `hardware_gpu_amd_ras_errors_total{block="umc",type="uncorrectable"}`, 1)
	})
	for _, alert := range []string{"HardwareAMDGPUUncorrectableErrors", "HardwareAMDGPUBadPagePending", "HardwareAMDGPUBadPageRetirementFailed"} {
		eventually(t, alert+" pending", func() error { return alertActive(prom, alert, labels) })
	}
}
