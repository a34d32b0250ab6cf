package probe

import "testing"

func TestStorageGolden(t *testing.T) { checkGolden(t, "storage") }
