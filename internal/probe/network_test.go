package probe

import "testing"

func TestNetworkGolden(t *testing.T) { checkGolden(t, "network") }
