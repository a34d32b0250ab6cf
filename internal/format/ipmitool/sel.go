package ipmitool

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// Direction is whether the event's condition began or ended.
type Direction string

const (
	Asserted   Direction = "asserted"
	Deasserted Direction = "deasserted"
	// DirectionUnknown is a line without a direction column (OEM and
	// kernel-panic records).
	DirectionUnknown Direction = ""
)

// Event is one SEL record as `ipmitool sel elist`, `sel list` or their
// CSV form (`ipmitool -c sel elist`) print it:
//
//	  3a | 12/14/22 | 23:09:44 CET | Memory #0x88 | Correctable ECC (CPU0_G1) | Asserted
//	1b5b | 05/27/2022 | 06:12:15 PM CST | Temperature PSU1_Inlet_Temp | Upper Non-critical going high | Deasserted | Reading 52 > Threshold 53 degrees C
//	   5 |  Pre-Init  |0000000123| System Event #0x01 | Timestamp Clock Sync | Asserted
//	1,09/07/2021,12:12:35,Drive Slot / Bay #0x42,Drive Present,Deasserted
type Event struct {
	// ID is the SEL record ID (printed in hex). IDs are reused after a
	// clear and are not unique in every BMC's output.
	ID uint32
	// Time is zero when the record was logged before the BMC knew the
	// time (PreInit) or the date could not be read.
	Time    time.Time
	PreInit bool
	// SensorType is the IPMI sensor type as ipmitool names it
	// ("Memory", "Power Supply", "Drive Slot / Bay"), one of SensorTypes,
	// or "" when the column starts with none of them (OEM types, OEM
	// records). It is bounded, so it can be a label.
	SensorType string
	// Sensor is the rest of the sensor column: the SDR name with elist
	// ("PS1 Status"), "#0x53" with list, or the whole column when
	// SensorType is "". Not bounded.
	Sensor string
	// Description is the event text, with the vendor's detail:
	// "Correctable ECC (Correctable ECC | Bank 2DIMM A)".
	Description string
	Direction   Direction
	// Detail is what follows the direction: elist's threshold reading
	// ("Reading 52 > Threshold 53 degrees C") or "CPU 1 DIMM 2".
	Detail   string
	Kind     Kind
	Severity Severity
}

// SELStats counts what ScanSEL read.
type SELStats struct {
	Lines     int // non-blank lines
	Events    int // lines that were events, passed to fn
	Malformed int // lines that were not, including overlong ones
	Overlong  int // lines longer than MaxLineLength, skipped unread
}

// ScanSEL reads a SEL listing line by line and calls fn with each event,
// so that a full log is never held in memory. Lines of either format may
// be mixed. A malformed or overlong line is counted and skipped; the
// only error is one from reading r. Times without a zone are read in loc
// (nil is UTC).
func ScanSEL(r io.Reader, loc *time.Location, fn func(Event)) (SELStats, error) {
	var stats SELStats
	br := bufio.NewReaderSize(r, MaxLineLength)
	var cols [maxColumns]string
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			stats.Lines++
			stats.Malformed++
			stats.Overlong++
			if err = skipLine(br); err != nil {
				return stats, readError(err)
			}
			continue
		}
		if len(line) > 0 {
			s := strings.TrimSpace(string(line))
			if s != "" && s != "SEL has no entries" {
				stats.Lines++
				if ev, ok := parseEventLine(s, loc, cols[:0]); ok {
					stats.Events++
					fn(ev)
				} else {
					stats.Malformed++
				}
			}
		}
		if err != nil {
			return stats, readError(err)
		}
	}
}

func readError(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// skipLine discards the rest of an overlong line.
func skipLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// ParseEvent parses one SEL line, as ScanSEL does.
func ParseEvent(line string, loc *time.Location) (Event, bool) {
	if len(line) > MaxLineLength {
		return Event{}, false
	}
	var cols [maxColumns]string
	return parseEventLine(strings.TrimSpace(line), loc, cols[:0])
}

// maxColumns bounds the columns of a line; a real one has at most 8.
const maxColumns = 16

// parseEventLine parses a trimmed line; cols is scratch space.
func parseEventLine(line string, loc *time.Location, cols []string) (Event, bool) {
	// The record ID is followed by the separator that tells the format:
	// "  3a | ..." or "3a,...". Descriptions may contain either character.
	idEnd := 0
	for idEnd < len(line) && isHex(line[idEnd]) {
		idEnd++
	}
	if idEnd == 0 || idEnd > 8 {
		return Event{}, false
	}
	id, err := strconv.ParseUint(line[:idEnd], 16, 32)
	if err != nil {
		return Event{}, false
	}
	rest := strings.TrimLeft(line[idEnd:], " ")
	if rest == "" {
		return Event{}, false
	}
	sep := rest[0]
	if sep != '|' && sep != ',' {
		return Event{}, false
	}
	cols = splitColumns(rest[1:], sep, cols)
	if cols == nil {
		return Event{}, false
	}
	ev := Event{ID: uint32(id)}

	// Records without a timestamp: "9 | Linux kernel panic: ..." and
	// "1b | OEM record e0 | ..." (CSV: "9,,,Linux kernel panic: ...").
	first := 0
	if sep == ',' && len(cols) >= 3 && cols[0] == "" && cols[1] == "" {
		first = 2
	}
	if len(cols) > first && (strings.HasPrefix(cols[first], "Linux kernel panic") || strings.HasPrefix(cols[first], "OEM record")) {
		return finishOEM(ev, sep, cols[first:]), true
	}
	if len(cols) < 3 {
		return Event{}, false
	}
	if cols[0] == "Pre-Init" {
		ev.PreInit = true
		if _, err := strconv.ParseUint(cols[1], 10, 32); err != nil {
			return Event{}, false
		}
	} else {
		t, ok := parseTime(cols[0], cols[1], loc)
		if !ok {
			// A line whose date is not a date is not a SEL line; dates
			// before 1987 (1.8.18's Pre-Init times) and 1.8.19's
			// "Unspecified" are unknown times.
			if !isPreInitDate(cols[0]) && cols[0] != "Unspecified" {
				return Event{}, false
			}
		}
		ev.Time = t
	}
	cols = cols[2:]
	if strings.HasPrefix(cols[0], "OEM record") {
		return finishOEM(ev, sep, cols), true
	}
	ev.SensorType, ev.Sensor = splitSensor(cols[0])
	cols = cols[1:]
	// The direction is the last column that is one; what lies between
	// the sensor and it is the description, whatever separators it holds.
	dir := -1
	for i := len(cols) - 1; i >= 0; i-- {
		if cols[i] == "Asserted" || cols[i] == "Deasserted" {
			dir = i
			break
		}
	}
	joiner := joinerFor(sep)
	if dir < 0 {
		ev.Description = strings.Join(cols, joiner)
	} else {
		ev.Description = strings.Join(cols[:dir], joiner)
		ev.Direction = Asserted
		if cols[dir] == "Deasserted" {
			ev.Direction = Deasserted
		}
		ev.Detail = strings.Join(cols[dir+1:], joiner)
	}
	ev.Kind, ev.Severity = Classify(ev.SensorType, ev.Description, ev.Direction != Deasserted)
	return ev, true
}

// finishOEM fills an OEM or kernel-panic record: no sensor type, the
// record name as the sensor, the data as the description.
func finishOEM(ev Event, sep byte, cols []string) Event {
	ev.Sensor = cols[0]
	ev.Description = strings.Join(cols[1:], joinerFor(sep))
	if strings.HasPrefix(cols[0], "Linux kernel panic") {
		ev.Sensor, ev.Description = "Linux kernel panic", strings.TrimSpace(strings.TrimPrefix(cols[0], "Linux kernel panic:"))
		ev.Kind, ev.Severity = KindOther, SeverityCritical
		return ev
	}
	ev.Kind, ev.Severity = KindOther, SeverityInfo
	return ev
}

// joinerFor rebuilds text that held the separator: ipmitool's own texts
// put a space after a comma ("AC out-of-range, but present") and spaces
// around a bar.
func joinerFor(sep byte) string {
	if sep == ',' {
		return ", "
	}
	return " | "
}

// splitColumns splits s at sep into trimmed columns appended to dst; nil
// when there are more than maxColumns.
func splitColumns(s string, sep byte, dst []string) []string {
	for {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			break
		}
		if len(dst) == maxColumns-1 {
			return nil
		}
		dst = append(dst, strings.TrimSpace(s[:i]))
		s = s[i+1:]
	}
	return append(dst, strings.TrimSpace(s))
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isPreInitDate is a real date before 1987, which older ipmitool prints
// for times counted from the BMC's start.
func isPreInitDate(s string) bool {
	for _, layout := range []string{"01/02/2006", "01/02/06"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Before(preInitLimit)
		}
	}
	return false
}

// SensorTypes are the sensor type names ipmitool prints (IPMI 2.0 table
// 42-3, lib/ipmi_strings.c), plus the differing names of releases up to
// 1.8.12 (include/ipmitool/ipmi_sel.h there), which OpenPOWER's and
// other vendors' older builds still print.
var SensorTypes = []string{
	"reserved", "Temperature", "Voltage", "Current", "Fan",
	"Physical Security", "Platform Security", "Processor",
	"Power Supply", "Power Unit", "Cooling Device", "Other",
	"Memory", "Drive Slot / Bay", "POST Memory Resize",
	"System Firmwares", "Event Logging Disabled", "Watchdog1",
	"System Event", "Critical Interrupt", "Button",
	"Module / Board", "Microcontroller", "Add-in Card",
	"Chassis", "Chip Set", "Other FRU", "Cable / Interconnect",
	"Terminator", "System Boot Initiated", "Boot Error",
	"OS Boot", "OS Critical Stop", "Slot / Connector",
	"System ACPI Power State", "Watchdog2", "Platform Alert",
	"Entity Presence", "Monitor ASIC", "LAN",
	"Management Subsys Health", "Battery", "Session Audit",
	"Version Change", "FRU State", "Unknown",
	// ipmitool 1.8.12 and older.
	"Reserved", "Drive Slot", "System Firmware Progress", "System Firmware Error",
	"System Firmware Hang", "Watchdog 1", "Watchdog 2", "Module/Board",
	"Microcontroller/Coprocessor", "Cable/Interconnect", "Slot/Connector",
	"OS Stop/Shutdown", "Monitor ASIC/IC", "Management Subsystem Health",
}

// sensorTypesLongestFirst lets "Power Supply" win over a shorter type
// that is its prefix, should one be added.
var sensorTypesLongestFirst = func() []string {
	s := append([]string(nil), SensorTypes...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && len(s[j]) > len(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}()

// splitSensor splits "Power Supply PS1 Status" into the type and the
// rest. ipmitool prints them separated only by a space, so the type is
// the longest known name the column starts with.
func splitSensor(col string) (sensorType, name string) {
	for _, t := range sensorTypesLongestFirst {
		rest, ok := strings.CutPrefix(col, t)
		if !ok {
			continue
		}
		if rest == "" {
			return t, ""
		}
		if rest[0] == ' ' {
			return t, strings.TrimSpace(rest)
		}
	}
	return "", col
}

// SELSummary aggregates events into counts whose label values are all
// bounded (sensor type, kind, severity, direction), plus the newest event
// time per sensor type: what an exporter needs, never one item per entry.
type SELSummary struct {
	Counts map[SELCount]int
	// Newest is the time of the newest dated event per sensor type.
	Newest map[string]time.Time
	Events int
}

// SELCount is the key of SELSummary.Counts.
type SELCount struct {
	SensorType string
	Kind       Kind
	Severity   Severity
	Direction  Direction
}

// Add counts one event; the zero SELSummary is ready to use.
func (s *SELSummary) Add(e Event) {
	if s.Counts == nil {
		s.Counts = map[SELCount]int{}
		s.Newest = map[string]time.Time{}
	}
	s.Events++
	s.Counts[SELCount{e.SensorType, e.Kind, e.Severity, e.Direction}]++
	if !e.Time.IsZero() && e.Time.After(s.Newest[e.SensorType]) {
		s.Newest[e.SensorType] = e.Time
	}
}
