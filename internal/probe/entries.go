package probe

import (
	"sort"
	"strconv"
	"strings"
)

// indexed lists the entries of a's directory named prefix followed by a
// decimal index (mc0, dimm12, hwmon3), ordered by index so that mc10 follows
// mc9. A missing directory has no entries.
func (a attrs) indexed(prefix string) []string {
	found := a.numbered(prefix, "")
	names := make([]string, len(found))
	for i, f := range found {
		names[i] = f.name
	}
	return names
}

// numbered is a directory entry whose name carries a number.
type numbered struct {
	name string
	n    uint64
}

// numbered lists the entries of a's directory named prefix, a decimal
// number, suffix (hugepages-2048kB, ch1_ce_count), ordered by that number.
// Names of any other shape are not what the caller looks for and are passed
// over.
func (a attrs) numbered(prefix, suffix string) []numbered {
	var found []numbered
	for _, e := range a.entries() {
		s, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		if s, ok = strings.CutSuffix(s, suffix); !ok || s == "" || strings.TrimLeft(s, "0123456789") != "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			continue
		}
		found = append(found, numbered{e.Name(), n})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].n < found[j].n })
	return found
}
