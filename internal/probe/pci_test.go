package probe

import "testing"

func TestPCIGolden(t *testing.T) { checkGolden(t, "pci") }
