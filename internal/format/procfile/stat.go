package procfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
)

// StatMaxSize bounds /proc/stat: a line per CPU, some 150 bytes each, and
// interrupt counts, some 10 bytes per IRQ.
const StatMaxSize = 16 << 20

// ParseBootTime returns the btime line of /proc/stat: when the host booted,
// in seconds since the Unix epoch. The loop stops when ctx ends.
func ParseBootTime(ctx context.Context, b []byte) (uint64, error) {
	lc := lineCounter{ctx: ctx}
	for line := range bytes.Lines(b) {
		if err := lc.done(); err != nil {
			return 0, err
		}
		rest, ok := bytes.CutPrefix(line, []byte("btime "))
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
		if err != nil || v == 0 {
			return 0, fmt.Errorf("btime line %.80q", bytes.TrimSpace(line))
		}
		return v, nil
	}
	return 0, errors.New("no btime line")
}
