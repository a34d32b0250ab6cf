package ipmitool

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PowerReading is what `ipmitool dcmi power reading` says, in watts.
type PowerReading struct {
	Instantaneous, Minimum, Maximum, Average float64
	// SamplingPeriod is the window of Minimum, Maximum and Average.
	SamplingPeriod time.Duration
	// Active is "Power reading state is: activated". Some BMCs report
	// valid readings while deactivated (OpenBMC), others zeros; the
	// caller decides what to trust.
	Active bool
}

// unsupportedMarkers are the answers of a BMC without a DCMI power
// meter: ipmitool prints "DCMI request failed because: <completion code>"
// and these completion codes mean the command or its parameters are not
// implemented, not that the attempt failed.
var unsupportedMarkers = []string{
	"Invalid command",
	"Invalid data field in request",
	"Command not supported in present state",
	"not supported",
	"Requested sensor, data, or record not found",
	"Parameter out of range",
	"A valid DCMI command was not returned",
}

// absentMarkers are ipmitool's words (lib/ipmi_strings.c,
// completion_code_vals) for the completion codes a BMC gives a command it
// does not implement: c1 "Invalid command" (c2 "Invalid command on LUN"),
// d5 "Command not supported in present state", d6 "Cannot execute
// command, command disabled", and the "not supported" ipmitool itself
// prints.
var absentMarkers = []string{
	"Invalid command",
	"Command not supported in present state",
	"Cannot execute command, command disabled",
	"not supported",
}

// Unsupported reads the output (stdout and stderr together) of an optional
// command that failed, such as chassis status or mc info: it returns an
// error wrapping ErrUnsupported, naming ipmitool's failure line, when the
// BMC said it does not implement the command, and nil otherwise (a real
// failure, to be counted as one).
func Unsupported(out []byte) error {
	if len(out) > MaxOutput {
		out = out[:MaxOutput]
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		// ipmitool's failure lines: "Error sending Chassis Status command:
		// <code>", "Get Device ID command failed: [0xNN ]<code>", "DCMI
		// request failed because: <code> (c1)". A value that happens to
		// hold the words is not one.
		if !strings.Contains(line, "failed") && !strings.HasPrefix(line, "Error sending") {
			continue
		}
		for _, m := range absentMarkers {
			if strings.Contains(line, m) {
				if len(line) > 200 {
					line = line[:200]
				}
				return fmt.Errorf("%s: %w", strings.ToValidUTF8(line, "\uFFFD"), ErrUnsupported)
			}
		}
	}
	return nil
}

// ParseDCMIPowerReading parses `ipmitool dcmi power reading` (stdout and
// stderr together: ipmitool prints failures on stderr). A BMC that lacks
// the capability yields an error wrapping ErrUnsupported; other failures
// ("Unspecified error (ff)", a timeout) and unreadable output are plain
// errors.
func ParseDCMIPowerReading(out []byte) (PowerReading, error) {
	if len(out) > MaxOutput {
		out = out[:MaxOutput]
	}
	text := string(out)
	var pr PowerReading
	inst, ok, err := wattsAfter(text, "Instantaneous power reading")
	if !ok {
		if failure := failureLine(text); failure != "" {
			for _, m := range unsupportedMarkers {
				if strings.Contains(failure, m) {
					return pr, fmt.Errorf("dcmi power reading: %s: %w", failure, ErrUnsupported)
				}
			}
			return pr, errors.New("dcmi power reading: " + failure)
		}
		if err == nil {
			err = errors.New("no Instantaneous power reading")
		}
		return pr, fmt.Errorf("dcmi power reading: %w", err)
	}
	if err != nil {
		return pr, fmt.Errorf("dcmi power reading: %w", err)
	}
	pr.Instantaneous = inst
	var errs []error
	for _, f := range []struct {
		label string
		dst   *float64
	}{
		{"Minimum during sampling period", &pr.Minimum},
		{"Maximum during sampling period", &pr.Maximum},
		{"Average power reading over sample period", &pr.Average},
	} {
		if v, ok, err := wattsAfter(text, f.label); ok && err == nil {
			*f.dst = v
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	if v, ok := valueAfter(text, "Sampling period"); ok {
		pr.SamplingPeriod, _ = parsePeriod(v)
	}
	if v, ok := valueAfter(text, "Power reading state is"); ok {
		pr.Active = strings.HasPrefix(v, "activated")
	}
	if len(errs) > 0 {
		return pr, fmt.Errorf("dcmi power reading: %w", errors.Join(errs...))
	}
	return pr, nil
}

// valueAfter returns what follows label and its colon, up to the end of
// the line or a run of spaces: ipmitool 1.8.19 forgets the newline after
// the timestamp, so "IPMI timestamp: ... UTC    Sampling period: ..."
// share a line.
func valueAfter(text, label string) (string, bool) {
	i := strings.Index(text, label)
	if i < 0 {
		return "", false
	}
	rest := text[i+len(label):]
	if end := strings.IndexByte(rest, '\n'); end >= 0 {
		rest = rest[:end]
	}
	rest = strings.TrimLeft(rest, " \t")
	rest, ok := strings.CutPrefix(rest, ":")
	if !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, " \t")
	if end := strings.Index(rest, "    "); end >= 0 {
		rest = rest[:end]
	}
	return strings.TrimSpace(rest), true
}

// wattsAfter reads "<label>: 215 Watts". ok is false when the label is
// absent; err is set when it is present with no number of watts.
func wattsAfter(text, label string) (float64, bool, error) {
	v, ok := valueAfter(text, label)
	if !ok {
		return 0, false, nil
	}
	fields := strings.Fields(v)
	if len(fields) != 2 || fields[1] != "Watts" {
		return 0, true, fmt.Errorf("%s: want \"N Watts\", got %q", label, v)
	}
	w, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || w < 0 {
		return 0, true, fmt.Errorf("%s: malformed watts %q", label, fields[0])
	}
	return w, true, nil
}

// parsePeriod reads "01131466 Seconds." (Mode Power Status) or the
// enhanced statistics' "5 sec", "1000 Milliseconds", "1 min", "1 hour",
// "1 day".
func parsePeriod(v string) (time.Duration, bool) {
	fields := strings.Fields(v)
	if len(fields) < 2 {
		return 0, false
	}
	n, err := strconv.ParseUint(fields[0], 10, 32)
	if err != nil {
		return 0, false
	}
	unit := strings.ToLower(strings.TrimSuffix(fields[1], "."))
	var d time.Duration
	switch {
	case strings.HasPrefix(unit, "milli"), unit == "ms":
		d = time.Millisecond
	case strings.HasPrefix(unit, "sec"), unit == "s":
		d = time.Second
	case strings.HasPrefix(unit, "min"):
		d = time.Minute
	case strings.HasPrefix(unit, "hour"):
		d = time.Hour
	case strings.HasPrefix(unit, "day"):
		d = 24 * time.Hour
	default:
		return 0, false
	}
	return time.Duration(n) * d, true
}

// failureLine is the first line that reports a failed request.
func failureLine(text string) string {
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.Contains(line, "failed") || strings.Contains(line, "Unable to") ||
			strings.Contains(line, "not supported") || strings.Contains(line, "Invalid command") ||
			strings.Contains(line, "valid DCMI command") {
			if len(line) > 200 {
				line = line[:200]
			}
			return line
		}
	}
	return ""
}
