// Package ssacli decodes the text HPE's ssacli (and its predecessors
// hpssacli and hpacucli) prints for
//
//	ssacli ctrl all show config detail
//
// into plain structs: every controller, its logical drives and its physical
// drives. The output is an indented outline; this parser follows the
// indentation, so an unknown line or block is skipped and a malformed line
// costs that line only.
//
// Sizes: ssacli prints a logical drive's size in binary units named GB and TB
// (a RAID 1 of two 600 GB disks is "558.9 GB", 558.9 GiB), and a physical
// drive's size in the maker's decimal units ("600 GB" is 600e9 bytes).
package ssacli

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// MaxInputBytes bounds what Parse accepts; a controller with 100 drives
// prints about 300 KiB.
const MaxInputBytes = 16 << 20

// Controller is one "Smart Array ... in Slot N" block.
type Controller struct {
	Model    string // "Smart Array P440ar", "HPE Smart Array P408i-a SR Gen10"
	Slot     string // "0"
	Embedded bool
	Serial   string
	Firmware string
	// The three statuses as printed: "OK", "Failed (Replace Batteries)",
	// "Temporarily Disabled", "Not Configured"; empty when not printed.
	Status                  string
	CacheStatus             string
	BatteryStatus           string // "Battery/Capacitor Status"
	BackupPowerSource       string // "Batteries", "Capacitors"
	TemperatureCelsius      *float64
	CacheTemperatureCelsius *float64
	DriverName              string
	DriverVersion           string

	LogicalDrives  []LogicalDrive
	PhysicalDrives []PhysicalDrive
}

// LogicalDrive is one "Logical Drive: N" block.
type LogicalDrive struct {
	ID        int
	Array     string // "A"
	RAIDLevel string // from Fault Tolerance: "raid0", "raid1", "raid10", "raid5", "raid6", "raid50", "raid60", "raid1adm"
	SizeBytes uint64
	// Status is normalized: ok, failed, interim_recovery (degraded, running
	// without redundancy), recovering (rebuilding), ready_for_rebuild, or the
	// printed words lowercase with underscores.
	Status    string
	RawStatus string
	// ProgressPercent is the rebuild's progress where the status carries one
	// ("Recovering, 45% complete").
	ProgressPercent *float64
}

// PhysicalDrive is one "physicaldrive P:B:B" detail block.
type PhysicalDrive struct {
	ID    string // "1I:1:1" (port:box:bay)
	Port  string
	Box   string
	Bay   string
	Array string // empty for unassigned drives and spares outside an array
	// Status is normalized: ok, failed, predictive_failure, rebuilding, or the
	// printed words lowercase with underscores.
	Status             string
	RawStatus          string
	DriveType          string // "Data Drive", "Unassigned Drive", "Spare Drive", "HBA Mode Drive"
	Interface          string // "SAS", "Solid State SATA"
	Model              string
	Serial             string
	Firmware           string
	WWID               string
	SizeBytes          uint64
	TemperatureCelsius *float64
}

var (
	ctrlHeader  = regexp.MustCompile(`^(.+?) in Slot (\S+)(.*)$`)
	arrayHeader = regexp.MustCompile(`^(?i:array):?\s+([A-Za-z]{1,4})(?:\s|$)`)
	ldHeader    = regexp.MustCompile(`^Logical Drive:\s*(\d+)\s*$`)
	pdHeader    = regexp.MustCompile(`^physicaldrive\s+(\S+)$`)
	progress    = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?)\s*%\s*complete`)
)

// Parse decodes `ssacli ctrl all show config detail`. It fails only for
// oversized input; text with no controller gives none.
func Parse(b []byte) ([]Controller, error) {
	if len(b) > MaxInputBytes {
		return nil, fmt.Errorf("ssacli: output of %d bytes exceeds the %d-byte limit", len(b), MaxInputBytes)
	}
	var (
		out   []Controller
		ctrl  *Controller
		array string
		ld    *LogicalDrive
		pd    *PhysicalDrive
		// blockIndent is the indentation of the heading that opened the
		// current block; lines indented deeper belong to it.
		blockIndent = -1
		inOther     bool // inside a block this parser does not read (cages, ports)
	)
	closeBlock := func() {
		if ctrl != nil {
			if ld != nil {
				ctrl.LogicalDrives = append(ctrl.LogicalDrives, *ld)
			}
			if pd != nil {
				ctrl.PhysicalDrives = append(ctrl.PhysicalDrives, *pd)
			}
		}
		ld, pd, inOther, blockIndent = nil, nil, false, -1
	}
	closeController := func() {
		closeBlock()
		if ctrl != nil {
			out = append(out, *ctrl)
		}
		ctrl, array = nil, ""
	}

	for _, raw := range bytes.Split(b, []byte("\n")) {
		line := strings.TrimRight(string(raw), " \t\r")
		text := strings.TrimLeft(line, " \t")
		if text == "" {
			continue
		}
		indent := len(line) - len(text)

		if indent == 0 {
			// A colon marks a warning that happens to name a slot.
			if m := ctrlHeader.FindStringSubmatch(text); m != nil && !strings.Contains(m[1], ":") {
				closeController()
				ctrl = &Controller{Model: strings.TrimSpace(m[1]), Slot: m[2]}
				ctrl.Embedded = strings.Contains(m[3], "(Embedded)")
			}
			// Other unindented lines are warnings ("CACHE STATUS PROBLEM
			// DETECTED", "Warning: Unrecoverable Media Errors ..."): skipped.
			continue
		}
		if ctrl == nil {
			continue
		}
		if blockIndent >= 0 && indent > blockIndent {
			if inOther {
				continue
			}
			key, value, ok := keyValue(text)
			if !ok {
				continue // summary lines such as "physicaldrive 1I:1:1 (port 1I:box 1:bay 1, ...)"
			}
			switch {
			case ld != nil:
				setLogical(ld, key, value)
			case pd != nil:
				setPhysical(pd, key, value)
			}
			continue
		}
		// A line at or left of the open block's heading ends the block.
		closeBlock()
		switch {
		case ldHeader.MatchString(text):
			id, _ := strconv.Atoi(ldHeader.FindStringSubmatch(text)[1])
			ld = &LogicalDrive{ID: id, Array: array}
			blockIndent = indent
		case pdHeader.MatchString(text):
			id := pdHeader.FindStringSubmatch(text)[1]
			pd = &PhysicalDrive{ID: id, Array: array}
			if parts := strings.Split(id, ":"); len(parts) == 3 {
				pd.Port, pd.Box, pd.Bay = parts[0], parts[1], parts[2]
			}
			blockIndent = indent
		case arrayHeader.MatchString(text):
			// The array's own lines (its Status, Interface Type) sit one
			// level in, beside its logical and physical drives; they are not
			// read, and the drive headings open their own blocks.
			array = arrayHeader.FindStringSubmatch(text)[1]
		case isUnassigned(text):
			array = ""
		default:
			key, value, ok := keyValue(text)
			if ok && indent <= 4 && value != "" {
				setController(ctrl, key, value)
				continue
			}
			// A heading of a block this parser does not read: drive cages,
			// ports, expanders, enclosures.
			inOther, blockIndent = true, indent
		}
	}
	closeController()
	for i := range out {
		out[i].normalize()
	}
	return out, nil
}

func isUnassigned(text string) bool {
	switch strings.ToLower(text) {
	case "unassigned", "hba drives", "unassigned drives":
		return true
	}
	return false
}

func keyValue(text string) (string, string, bool) {
	i := strings.Index(text, ":")
	if i <= 0 {
		return "", "", false
	}
	return strings.TrimSpace(text[:i]), strings.TrimSpace(text[i+1:]), true
}

func setController(c *Controller, key, value string) {
	switch key {
	case "Serial Number":
		c.Serial = value
	case "Firmware Version":
		c.Firmware = value
	case "Controller Status":
		c.Status = value
	case "Cache Status":
		c.CacheStatus = value
	case "Battery/Capacitor Status":
		c.BatteryStatus = value
	case "Cache Backup Power Source":
		c.BackupPowerSource = value
	case "Controller Temperature (C)":
		c.TemperatureCelsius = number(value)
	case "Cache Module Temperature (C)":
		c.CacheTemperatureCelsius = number(value)
	case "Driver Name":
		c.DriverName = value
	case "Driver Version":
		c.DriverVersion = value
	}
}

func setLogical(ld *LogicalDrive, key, value string) {
	switch key {
	case "Size":
		ld.SizeBytes, _ = ParseSize(value, 1024)
	case "Fault Tolerance":
		ld.RAIDLevel = raidLevel(value)
	case "Status":
		ld.RawStatus = value
	}
}

func setPhysical(pd *PhysicalDrive, key, value string) {
	switch key {
	case "Port":
		pd.Port = value
	case "Box":
		pd.Box = value
	case "Bay":
		pd.Bay = value
	case "Status":
		pd.RawStatus = value
	case "Drive Type":
		pd.DriveType = value
	case "Interface Type":
		pd.Interface = value
	case "Size":
		pd.SizeBytes, _ = ParseSize(value, 1000)
	case "Firmware Revision":
		// "HPD5 (FW update is recommended to minimum version: HPDA)"
		pd.Firmware, _, _ = strings.Cut(value, " (")
	case "Serial Number":
		pd.Serial = value
	case "Model":
		// Vendor and product come padded from the SCSI inquiry
		// ("HP      EF0600FARNA").
		pd.Model = strings.Join(strings.Fields(value), " ")
	case "WWID":
		pd.WWID = value
	case "Current Temperature (C)":
		pd.TemperatureCelsius = number(value)
	}
}

func (c *Controller) normalize() {
	for i := range c.LogicalDrives {
		ld := &c.LogicalDrives[i]
		ld.Status = NormalizeLogicalDriveStatus(ld.RawStatus)
		if m := progress.FindStringSubmatch(ld.RawStatus); m != nil {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil {
				ld.ProgressPercent = &v
			}
		}
	}
	for i := range c.PhysicalDrives {
		pd := &c.PhysicalDrives[i]
		pd.Status = NormalizePhysicalDriveStatus(pd.RawStatus)
	}
}

// NormalizeLogicalDriveStatus maps ssacli's logical drive statuses; see
// LogicalDrive.Status.
func NormalizeLogicalDriveStatus(s string) string {
	l := strings.ToLower(strings.TrimSpace(s))
	switch {
	case l == "ok":
		return "ok"
	case strings.HasPrefix(l, "interim recovery"):
		return "interim_recovery"
	case strings.HasPrefix(l, "recovering") || strings.HasPrefix(l, "rebuilding"):
		return "recovering"
	case strings.HasPrefix(l, "ready for rebuild"):
		return "ready_for_rebuild"
	case strings.HasPrefix(l, "failed"):
		return "failed"
	}
	return word(s)
}

// NormalizePhysicalDriveStatus maps ssacli's physical drive statuses; see
// PhysicalDrive.Status.
func NormalizePhysicalDriveStatus(s string) string {
	l := strings.ToLower(strings.TrimSpace(s))
	switch {
	case l == "ok":
		return "ok"
	case strings.HasPrefix(l, "predictive failure"):
		return "predictive_failure"
	case strings.HasPrefix(l, "failed"):
		return "failed"
	case strings.HasPrefix(l, "rebuilding"):
		return "rebuilding"
	}
	return word(s)
}

// word keeps the words before any comma or parenthesis ("unknown" when
// there are none) ("Erase Complete.
// Reenable Before Using." stays whole), lowercase with underscores.
func word(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, ",("); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(strings.TrimSpace(s), ".")
	if w := strings.Join(strings.Fields(strings.ToLower(s)), "_"); w != "" {
		return w
	}
	return "unknown"
}

func raidLevel(ft string) string {
	r := strings.NewReplacer("+", "", " ", "", "(", "", ")", "")
	level := strings.ToLower(r.Replace(ft))
	if level == "" {
		return ""
	}
	return "raid" + level
}

var sizeRE = regexp.MustCompile(`(?i)^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)i?B\s*$`)

// ParseSize converts "558.9 GB" or "600 GB" to bytes in the given base (1024
// for logical drives, 1000 for physical drives; see the package comment).
// A bare number with no unit ("0.2", seen as a P212's cache size) is refused.
func ParseSize(s string, base float64) (uint64, bool) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	exp := 0
	if m[2] != "" {
		exp = strings.Index("KMGTP", strings.ToUpper(m[2])) + 1
	}
	n := v * math.Pow(base, float64(exp))
	if n >= math.MaxUint64 {
		return 0, false
	}
	return uint64(math.Round(n)), true
}

func number(s string) *float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
