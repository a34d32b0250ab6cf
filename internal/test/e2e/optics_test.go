//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// injectOpticRxLow is the fixture variant where a receiver goes dark: the
// SFP+ in ens1f0np0 is replaced by a real capture of a module receiving no
// light (internal/format/sff/testdata/sff8472-oem-sfp-10g-lr-no-rx.bin,
// RX power 0 W, low warning 31.6 uW), the optics probe is refreshed, and
// HardwareOpticRxPowerLow must be pending (its for: is 10m) for that lane.
func injectOpticRxLow(t *testing.T, prom, exporterAddr, images string) {
	t.Helper()
	labels := map[string]string{"interface": "ens1f0np0", "lane": "1"}
	if err := alertActive(prom, "HardwareOpticRxPowerLow", labels); err == nil {
		t.Fatal("HardwareOpticRxPowerLow is active before the dark module was injected")
	}
	dark, err := os.ReadFile(filepath.Join(repoRoot, "internal/format/sff/testdata/sff8472-oem-sfp-10g-lr-no-rx.bin"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(images, "ens1f0np0.bin"), string(dark))
	refresh(t, exporterAddr, "optics")
	eventually(t, "injected dark module scraped", func() error {
		return expectValue(prom, `hardware_optics_rx_power_watts{interface="ens1f0np0",lane="1"}`, 0)
	})
	eventually(t, "HardwareOpticRxPowerLow pending", func() error {
		return alertActive(prom, "HardwareOpticRxPowerLow", labels)
	})
}
