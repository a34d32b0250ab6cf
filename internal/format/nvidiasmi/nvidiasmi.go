// Package nvidiasmi parses what nvidia-smi prints for a query in the
// --format=csv,noheader,nounits form: a row per GPU of named properties.
// The parser is pure: bytes in, plain values out. It never runs nvidia-smi
// and knows nothing of metrics.
//
// Output from the host is untrusted: a line longer than MaxLineLength or
// with the wrong number of values costs that line only, and no input makes
// the parser panic.
package nvidiasmi

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/lines"
)

// MaxLineLength bounds one line. A GPU's line is a few hundred bytes.
const MaxLineLength = 64 << 10

// Row is one GPU's line: the value of each queried property by its name.
type Row map[string]string

// QueryArgs is the nvidia-smi command line for one query ("query-gpu",
// "query-remapped-rows") of properties, in the format ParseCSV reads.
func QueryArgs(query string, properties []string) []string {
	return []string{"--" + query + "=" + strings.Join(properties, ","), "--format=csv,noheader,nounits"}
}

// ParseCSV parses a query's output: a line per GPU, values in the order of
// properties, separated by ", ". nvidia-smi does not quote values, so a
// line with the wrong number of values cannot be realigned and is returned
// as an error, one per line.
func ParseCSV(out []byte, properties []string) ([]Row, []error) {
	var rows []Row
	var errs []error
	for l := range lines.NonBlank(out, MaxLineLength, &errs) {
		n, line := l.N, l.Text
		values := strings.Split(line, ",")
		if len(values) != len(properties) {
			errs = append(errs, fmt.Errorf("line %d: %d values, want %d: %q", n, len(values), len(properties), line))
			continue
		}
		row := make(Row, len(properties))
		for i, p := range properties {
			row[p] = strings.TrimSpace(values[i])
		}
		rows = append(rows, row)
	}
	return rows, errs
}

// NoValue reports whether v is nvidia-smi's way of saying a property has
// no value on this GPU: "[N/A]", "[Not Supported]", "[Unknown Error]",
// "[Insufficient Permissions]", or a bare "N/A".
func NoValue(v string) bool {
	return v == "" || v == "N/A" || strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]")
}

// Number parses a numeric value, or for a flag Yes/No, Active/Not Active
// (clock event reasons) or Enabled/Disabled (ECC mode); some drivers print
// flags as 0/1, which is accepted too.
func Number(s string, flag bool) (float64, error) {
	if flag {
		switch strings.ToLower(s) {
		case "yes", "active", "enabled":
			return 1, nil
		case "no", "not active", "disabled":
			return 0, nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed value %q", s)
	}
	return v, nil
}

// PState parses a performance state, P0 (fastest) to P15 (slowest), as
// its number.
func PState(s string) (float64, error) {
	n, ok := strings.CutPrefix(s, "P")
	if !ok {
		return 0, fmt.Errorf("malformed performance state %q", s)
	}
	v, err := strconv.ParseUint(n, 10, 8)
	if err != nil || v > 15 {
		return 0, fmt.Errorf("malformed performance state %q", s)
	}
	return float64(v), nil
}

// UnknownField is the property a failed query named that this driver does
// not know: nvidia-smi rejects the whole query for one unknown property,
// printing
//
//	Field "compute_cap" is not a valid field to query.
//
// and exiting 2. ok is false when out says no such thing.
func UnknownField(out []byte) (field string, ok bool) {
	const prefix, suffix = `Field "`, `" is not a valid field to query`
	text := string(out)
	if len(text) > MaxLineLength {
		text = text[:MaxLineLength]
	}
	i := strings.Index(text, prefix)
	if i < 0 {
		return "", false
	}
	rest := text[i+len(prefix):]
	j := strings.Index(rest, suffix)
	if j <= 0 || strings.ContainsAny(rest[:j], "\"\n,") {
		return "", false
	}
	return rest[:j], true
}

// KernelBusID turns nvidia-smi's PCI address (00000000:17:00.0: a 32-bit
// domain, upper-case hex) into the kernel's (0000:17:00.0), as sysfs and
// the pci probe name it. Anything of another shape is kept as it is.
func KernelBusID(s string) string {
	domain, rest, ok := strings.Cut(s, ":")
	if !ok || len(domain) != 8 || !strings.HasPrefix(domain, "0000") {
		return s
	}
	return strings.ToLower(domain[4:] + ":" + rest)
}
