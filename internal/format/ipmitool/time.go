package ipmitool

import (
	"strings"
	"time"
)

// preInitLimit is IPMI's boundary between a real date and a count of
// seconds since the BMC started (IPMI 2.0 section 37.1): a time below it
// is not a date.
var preInitLimit = time.Unix(0x20000000, 0)

// parseTime reads a date and a clock as ipmitool prints them:
//
//	04/17/2020  18:57:07              ipmitool 1.8.18 and older
//	12/14/22    23:09:44 CET          1.8.19 in the C locale (%x %X %Z)
//	12/06/2024  10:06:50 PM EST       an en_US locale
//
// A time without a zone is read in loc (ipmitool prints local time), a
// zone abbreviation is resolved against loc as time.ParseInLocation does
// (UTC always; an abbreviation loc does not know counts as UTC). Times
// before 1987-01-05 are counts since the BMC started, not dates: ok is
// false for them, as for anything unreadable.
func parseTime(date, clock string, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	date = strings.TrimSpace(date)
	var dateLayout string
	switch len(date) {
	case len("01/02/2006"):
		dateLayout = "01/02/2006"
	case len("01/02/06"):
		dateLayout = "01/02/06"
	default:
		return time.Time{}, false
	}
	fields := strings.Fields(clock)
	if len(fields) == 0 || len(fields) > 3 {
		return time.Time{}, false
	}
	layout := dateLayout + " 15:04:05"
	value := date + " " + fields[0]
	rest := fields[1:]
	if len(rest) > 0 && (rest[0] == "AM" || rest[0] == "PM") {
		layout = dateLayout + " 03:04:05 PM"
		value += " " + rest[0]
		rest = rest[1:]
	}
	if len(rest) > 1 {
		return time.Time{}, false
	}
	if len(rest) == 1 {
		t, err := time.ParseInLocation(layout+" MST", value+" "+rest[0], loc)
		if err == nil {
			return checkDate(t)
		}
		// An abbreviation Go cannot read ("+03", lower case): the wall
		// clock in loc is the best left.
	}
	t, err := time.ParseInLocation(layout, value, loc)
	if err != nil {
		return time.Time{}, false
	}
	return checkDate(t)
}

func checkDate(t time.Time) (time.Time, bool) {
	if t.Before(preInitLimit) {
		return time.Time{}, false
	}
	return t, true
}

// parseDateTime reads sel info's "Last Add Time" value: a date and a
// clock in one string, or "Not Available", "Unspecified", "S+ 00:01:37"
// (seconds since the BMC started), all of which are unknown.
func parseDateTime(s string, loc *time.Location) (time.Time, bool) {
	date, clock, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return time.Time{}, false
	}
	return parseTime(date, clock, loc)
}
