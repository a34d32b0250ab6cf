package procfile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MeminfoMaxSize bounds /proc/meminfo, some 1.5 KiB.
const MeminfoMaxSize = 1 << 20

// ParseMemTotal returns MemTotal of /proc/meminfo, in bytes. Only that line
// is parsed: a line of another field that this kernel spells oddly is none
// of the caller's business.
func ParseMemTotal(b []byte) (uint64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("MemTotal line %.80q, want \"MemTotal: N kB\"", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || kb > (1<<64-1)/1024 {
			return 0, fmt.Errorf("MemTotal %.80q", f[0])
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no MemTotal line")
}
