package probe

import "testing"

func TestMdraidGolden(t *testing.T) { checkGolden(t, "mdraid") }
