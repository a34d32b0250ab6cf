// Package ipmitool parses the text that ipmitool prints (run with
// LC_ALL=C) for the BMC's System Event Log, its SEL information, the DCMI
// power reading, the chassis status, the management controller's
// identity, the sensor list (sdr elist) and the FRU inventory (fru
// print). The parsers are pure: bytes in, plain structs out. They never
// run ipmitool and know nothing of metrics.
//
// Output from the host is untrusted: inputs are bounded (see MaxOutput
// and MaxLineLength), a malformed line costs that line only, and no input
// makes a parser panic.
package ipmitool

import (
	"errors"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/lines"
)

// MaxOutput bounds how much of a key/value command's output (sel info,
// dcmi, chassis status, mc info) is read; their real output is under 2 KiB.
const MaxOutput = 64 << 10

// MaxLineLength bounds one line of any output. A SEL line is about 120
// bytes; a longer line is hostile or broken and is skipped (and counted
// by ScanSEL).
const MaxLineLength = 4 << 10

// ErrUnsupported means the BMC answered that it does not have the
// capability asked for (no DCMI power meter, an unknown command), as
// opposed to a run that failed or printed something unreadable.
var ErrUnsupported = errors.New("not supported by this BMC")

// keyValues reads "Key : value" lines, as sel info, chassis status and mc
// info print them. Keys are trimmed; a line without a colon is passed to
// other (with its leading spaces intact), so that callers can read
// indented continuation lines. A line longer than MaxLineLength is
// skipped, the lines after it are read.
func keyValues(out []byte, each func(key, value string), other func(line string)) {
	if len(out) > MaxOutput {
		out = out[:MaxOutput]
	}
	for l := range lines.All(out, MaxLineLength, nil) {
		line := strings.TrimRight(l.Text, " \t\r")
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			if other != nil {
				other(line)
			}
			continue
		}
		each(strings.TrimSpace(key), strings.TrimSpace(value))
	}
}
