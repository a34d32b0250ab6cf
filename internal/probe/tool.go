package probe

import "github.com/hardware-exporter/hardware_exporter/internal/toolrun"

// maxToolOutput is the cap textfile.go borrows for its files; it stays
// here until the textfile merger moves into a package of its own.
const maxToolOutput = toolrun.MaxOutput
