package probe

import (
	"path/filepath"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/confval"
)

func init() {
	fixtureOptions["raid"] = &RAIDOptions{
		Storcli: confval.Path(filepath.Join(testTools, "storcli64")),
		Ssacli:  confval.Path(filepath.Join(testTools, "ssacli")),
	}
}

func TestRAIDGolden(t *testing.T) {
	checkGolden(t, "raid")
	if _, skips := runProbe(t, "raid", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}
