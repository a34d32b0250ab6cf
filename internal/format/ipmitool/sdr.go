package ipmitool

import (
	"fmt"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/lines"
)

// Sensor is one line of `ipmitool sdr elist`:
//
//	Inlet Temp       | 04h | ok  |  7.1 | 23 degrees C
//
// name (at most 16 characters, padded), sensor number, status, entity
// (id.instance in decimal) and the reading: a value and its unit for an
// analog sensor, the asserted events separated by ", " for a discrete one
// (possibly none), or "No Reading", "Disabled", "Event-Only" when the
// status is ns.
type Sensor struct {
	Name, Number, Status, Entity, Reading string
}

// ParseSDR parses sdr elist output. A line that is not five columns with a
// known status and a name, or is longer than MaxLineLength, is returned as
// an error, one per line; the lines after it are read.
func ParseSDR(out []byte) ([]Sensor, []error) {
	var sensors []Sensor
	var errs []error
	for l := range lines.NonBlank(out, MaxLineLength, &errs) {
		n, line := l.N, l.Text
		cols := strings.Split(line, "|")
		if len(cols) != 5 {
			errs = append(errs, fmt.Errorf("line %d: %d columns, want 5: %q", n, len(cols), line))
			continue
		}
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		s := Sensor{Name: cols[0], Number: cols[1], Status: cols[2], Entity: cols[3], Reading: cols[4]}
		if _, ok := SDRStatusLevel(s.Status); !ok && s.Status != "ns" {
			errs = append(errs, fmt.Errorf("line %d: unknown status %q", n, s.Status))
			continue
		}
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("line %d: no sensor name", n))
			continue
		}
		sensors = append(sensors, s)
	}
	return sensors, errs
}

// sdrStatusLevels map the status column to a level. sdr elist prints the
// threshold crossed with its side (lnc, ucr, ...); sdr list prints nc, cr,
// nr.
var sdrStatusLevels = map[string]int{
	"ok": 0,
	"nc": 1, "lnc": 1, "unc": 1,
	"cr": 2, "lcr": 2, "ucr": 2,
	"nr": 3, "lnr": 3, "unr": 3,
}

// SDRStatusLevel is the level a sensor's status column says: 0 ok, 1
// non-critical, 2 critical, 3 non-recoverable. ok is false for ns (no
// reading, scanning disabled, event-only) and for statuses ipmitool does
// not print.
func SDRStatusLevel(status string) (level int, ok bool) {
	level, ok = sdrStatusLevels[status]
	return level, ok
}
