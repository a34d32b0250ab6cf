//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// injectMissingDevices turns the running fixture host into each of
// fixture.Variants (a GPU off the bus, a DIMM mapped out, a disk gone),
// refreshes the probes and waits for HardwareDeviceMissing (pending is
// enough: its for: is 10m) naming each part. The baselines were set by the
// runs on the whole host, on which it must not be active.
func injectMissingDevices(t *testing.T, prom, exporterAddr, tree, work string) {
	t.Helper()
	if err := alertActive(prom, "HardwareDeviceMissing", nil); err == nil {
		t.Fatal("HardwareDeviceMissing is active on the whole fixture host")
	}
	// The GPU variant wraps nvidia-smi: the wrapper calls a whole copy of
	// the fake tools and takes the place of the one the exporter runs.
	whole := filepath.Join(work, "whole-testdata")
	if err := fixture.Materialize(filepath.Join(repoRoot, "internal/probe/testdata/tools"), filepath.Join(whole, "tools")); err != nil {
		t.Fatal(err)
	}
	for _, v := range fixture.Variants {
		tools, err := v.Apply(tree, whole)
		if err != nil {
			t.Fatalf("variant %s: %v", v.Name, err)
		}
		for probe, keys := range tools {
			for key, path := range keys {
				rel := fixture.ToolPaths[probe][key]
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(work, "testdata", rel), b, 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, p := range []string{"gpu", "memory", "storage"} {
		refresh(t, exporterAddr, p)
	}
	for _, labels := range []map[string]string{
		{"class": "gpu_nvidia_driver", "device": "0000:17:00.0", "reason": "not_in_driver"},
		{"class": "gpu_nvidia", "device": "0000:17:00.0", "reason": "absent"},
		{"class": "dimm", "device": "B8", "reason": "absent"},
		{"class": "dimm_edac", "device": "mc3/dimm2", "reason": "absent"},
		{"class": "memory_kernel"},
		{"class": "disk", "device": "S6JNNG0R412346", "reason": "absent"},
	} {
		eventually(t, "HardwareDeviceMissing pending for "+labels["class"], func() error {
			return alertActive(prom, "HardwareDeviceMissing", labels)
		})
	}
}
