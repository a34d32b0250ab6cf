package ipmitool

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// SELInfo is what `ipmitool sel info` says about the System Event Log.
type SELInfo struct {
	Version string // "1.5"
	Entries int
	// FreeBytes is the free space; ipmitool prints "65535 bytes or more"
	// when the BMC reports at least that much, which reads as 65535.
	FreeBytes int
	// PercentUsed is meaningful only when PercentUsedKnown: ipmitool
	// prints "unknown" when the free space is 64 KiB or more.
	PercentUsed      float64
	PercentUsedKnown bool
	// LastAdd and LastErase are zero when unknown: "Not Available" (the
	// BMC's 0 or 0xffffffff), "Unspecified", or a time counted from the
	// BMC's start ("S+ 00:01:37", or 1970 dates from older ipmitool).
	LastAdd, LastErase time.Time
	// LastAddText and LastEraseText are the values as printed. They tell
	// a change even when the time is unknown: compare them to decide
	// whether the log must be read again.
	LastAddText, LastEraseText string
	Overflow                   bool
	// SupportedCommands are the optional SEL commands the BMC supports:
	// "Delete", "Partial Add", "Reserve", "Get Alloc Info".
	SupportedCommands []string
}

// ParseSELInfo parses `ipmitool sel info`. Times without a zone are read
// in loc (nil is UTC); see parseTime. It fails only when the output has no
// "Entries" line, which every ipmitool version prints.
func ParseSELInfo(out []byte, loc *time.Location) (SELInfo, error) {
	var info SELInfo
	var errs []error
	sawEntries := false
	keyValues(out, func(key, value string) {
		switch key {
		case "Version":
			info.Version, _, _ = strings.Cut(value, " ")
		case "Entries":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				errs = append(errs, errors.New("sel info: malformed Entries "+strconv.Quote(value)))
				return
			}
			info.Entries, sawEntries = n, true
		case "Free Space":
			num, _, _ := strings.Cut(value, " ")
			if n, err := strconv.Atoi(num); err == nil && n >= 0 {
				info.FreeBytes = n
			}
		case "Percent Used":
			num, isPercent := strings.CutSuffix(value, "%")
			if p, err := strconv.ParseFloat(num, 64); isPercent && err == nil && p >= 0 && p <= 100 {
				info.PercentUsed, info.PercentUsedKnown = p, true
			}
		case "Last Add Time":
			info.LastAddText = value
			info.LastAdd, _ = parseDateTime(value, loc)
		case "Last Del Time", "Last Erase Time":
			info.LastEraseText = value
			info.LastErase, _ = parseDateTime(value, loc)
		case "Overflow":
			info.Overflow = value == "true"
		case "Supported Cmds":
			info.SupportedCommands = quotedWords(value)
		}
	}, nil)
	if !sawEntries {
		return info, errors.Join(append(errs, errors.New("sel info: no Entries line"))...)
	}
	return info, nil
}

// quotedWords splits "'Delete' 'Partial Add' 'Reserve'" into its words;
// "None" is none.
func quotedWords(s string) []string {
	var words []string
	for {
		_, rest, ok := strings.Cut(s, "'")
		if !ok {
			return words
		}
		word, after, ok := strings.Cut(rest, "'")
		if !ok {
			return words
		}
		if word != "" {
			words = append(words, word)
		}
		s = after
	}
}
