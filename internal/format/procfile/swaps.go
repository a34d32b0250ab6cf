package procfile

import (
	"fmt"
	"strconv"
	"strings"
)

// SwapsMaxSize bounds /proc/swaps: a line per swap device, and
// MAX_SWAPFILES is 32.
const SwapsMaxSize = 1 << 20

// Swap is one line of /proc/swaps.
type Swap struct {
	Filename  string // the device or file; the kernel escapes spaces as \040
	Type      string // partition or file
	SizeBytes uint64
	UsedBytes uint64
	Priority  int64
}

// ParseSwaps parses /proc/swaps: a header naming the columns, then
// "Filename Type Size Used Priority" per device, sizes in KiB. A header
// that is not that one fails the whole file, since the columns would mean
// something else; a malformed device line costs that device, and the error
// counts such lines.
func ParseSwaps(b []byte) ([]Swap, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if h := strings.Fields(lines[0]); len(h) != 5 || h[0] != "Filename" || h[1] != "Type" ||
		h[2] != "Size" || h[3] != "Used" || h[4] != "Priority" {
		return nil, fmt.Errorf("header %.80q, want \"Filename Type Size Used Priority\"", lines[0])
	}
	var (
		swaps []Swap
		bad   int
	)
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 5 {
			bad++
			continue
		}
		size, err1 := strconv.ParseUint(f[2], 10, 64)
		used, err2 := strconv.ParseUint(f[3], 10, 64)
		prio, err3 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || size > (1<<64-1)/1024 || used > size {
			bad++
			continue
		}
		swaps = append(swaps, Swap{Filename: f[0], Type: f[1], SizeBytes: size * 1024, UsedBytes: used * 1024, Priority: prio})
	}
	if bad > 0 {
		return swaps, fmt.Errorf("%d malformed device lines", bad)
	}
	return swaps, nil
}
