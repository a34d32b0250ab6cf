package ipmitool

import (
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/lines"
)

// FRU is one "FRU Device Description" block of `ipmitool fru print`.
type FRU struct {
	Name string
	// Fields are the block's "Key : value" lines; of a key repeated
	// ("Board Extra") the first non-empty value.
	Fields map[string]string
}

// ParseFRU parses fru print output: a block per FRU, opened by
//
//	FRU Device Description : Builtin FRU Device (ID 0)
//
// and followed by indented "Key : value" lines. A FRU that could not be
// read has a block with a message line instead (" Device not present
// (...)"), and so no fields. Lines longer than MaxLineLength are skipped.
func ParseFRU(out []byte) []FRU {
	var frus []FRU
	for l := range lines.All(out, MaxLineLength, nil) {
		line := l.Text
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if key == "FRU Device Description" {
			frus = append(frus, FRU{Name: value, Fields: map[string]string{}})
			continue
		}
		if len(frus) == 0 || !strings.HasPrefix(line, " ") {
			continue
		}
		if f := frus[len(frus)-1].Fields; f[key] == "" {
			f[key] = value
		}
	}
	return frus
}
