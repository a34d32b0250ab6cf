package probe

import (
	"sort"
	"strconv"
	"strings"
)

// indexedEntries lists the entries of dir named prefix followed by a decimal
// index (mc0, dimm12, hwmon3), ordered by index so that mc10 follows mc9. A
// missing dir has no entries.
func indexedEntries(dir, prefix string, skips *Skips) []string {
	found := numberedEntries(dir, prefix, "", skips)
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

// numberedEntries lists the entries of dir named prefix, a decimal number,
// suffix (hugepages-2048kB, ch1_ce_count), ordered by that number. Names of
// any other shape are not what the caller looks for and are passed over.
func numberedEntries(dir, prefix, suffix string, skips *Skips) []numbered {
	var found []numbered
	for _, e := range readDir(dir, skips) {
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
