// Package smartctl parses what smartctl --json prints: the device list of
// --scan-open and one device's health, identity and counters. The parsers
// are pure: bytes in, plain structs out. They never run smartctl and know
// nothing of metrics.
//
// Output from the host is untrusted: input over MaxOutput is refused, and
// no input makes a parser panic.
package smartctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxOutput bounds what a parser reads. Pretty-printed JSON for one device
// is a few KiB, smartctl -x on a SAS disk tens of KiB.
const MaxOutput = 4 << 20

// ExitBitNames name smartctl's exit status bits, bit 0 first (man smartctl,
// EXIT STATUS).
var ExitBitNames = [8]string{
	"command_line_parse",       // 0: command line did not parse
	"device_open_failed",       // 1: device open failed, or device in low-power mode (-n)
	"command_failed",           // 2: a SMART or other ATA command failed, or a checksum error
	"disk_failing",             // 3: SMART status check returned "DISK FAILING"
	"prefail_below_threshold",  // 4: prefail attributes <= threshold
	"usage_below_threshold",    // 5: usage or prefail attributes <= threshold in the past
	"error_log_has_errors",     // 6: the device error log contains records of errors
	"self_test_log_has_errors", // 7: the self-test log contains records of errors
}

// ExitNoData are the exit status bits (0 and 1) that say smartctl read
// nothing: it did not understand its command line, or could not open the
// device. Its JSON then holds no SMART data.
const ExitNoData = 0b11

// ScanDevice is one entry of smartctl --scan-open --json.
type ScanDevice struct {
	Name     string `json:"name"`
	InfoName string `json:"info_name"`
	Type     string `json:"type"`
	Protocol string `json:"protocol"`
	// OpenError is set by --scan-open for a device it listed but could
	// not open; the per-device run then reports why.
	OpenError string `json:"open_error"`
}

// Message is one of smartctl's messages (smartctl.messages in its JSON).
type Message struct {
	String   string `json:"string"`
	Severity string `json:"severity"`
}

// Scan is what smartctl --scan-open --json lists.
type Scan struct {
	Devices  []ScanDevice
	Messages []Message
}

// ParseScan parses smartctl --scan-open --json. No "devices" member means
// smartctl found none.
func ParseScan(b []byte) (Scan, error) {
	var v struct {
		jsonHeader
		Devices []ScanDevice `json:"devices"`
	}
	if err := unmarshal(b, &v); err != nil {
		return Scan{}, err
	}
	for _, d := range v.Devices {
		if d.Name == "" {
			return Scan{}, errors.New("scan lists a device without a name")
		}
	}
	return Scan{Devices: v.Devices, Messages: v.Smartctl.Messages}, nil
}

// Identity is what a device is.
type Identity struct {
	Type, Model, Serial, Firmware string
}

// Device is what one device's smartctl --json output says. A nil pointer
// is a value smartctl did not report.
type Device struct {
	Identity Identity
	// Standby is set when smartctl left the device asleep (--nocheck):
	// it then reports nothing but the device's name.
	Standby  bool
	Messages []Message

	Passed                  *bool
	Temperature             *float64 // °C
	PowerOnSeconds          *float64
	PowerCycles             *float64
	Reallocated             *float64 // ATA attribute 5, or the SCSI grown defect list
	Pending                 *float64 // ATA attribute 197
	OfflineUncorrectable    *float64 // ATA attribute 198
	CriticalWarning         *float64 // NVMe bitmask
	AvailableSpare          *float64 // NVMe, ratio 0..1
	AvailableSpareThreshold *float64 // NVMe, ratio 0..1
	PercentageUsed          *float64 // NVMe, ratio; may exceed 1
	MediaErrors             *float64 // NVMe media errors, or SCSI uncorrected errors summed
}

// deviceJSON is the part of smartctl's per-device JSON that Device holds.
// Numbers are float64: NVMe counters are 128-bit and smartctl prints them
// in full, which would fail a uint64 field and with it the whole device.
type deviceJSON struct {
	jsonHeader
	Device struct {
		Type     string `json:"type"`
		Protocol string `json:"protocol"`
	} `json:"device"`
	ModelName       string `json:"model_name"`
	SerialNumber    string `json:"serial_number"`
	FirmwareVersion string `json:"firmware_version"`
	// smartctl 7.3 names SCSI devices by vendor and product, and their
	// firmware "revision", rather than model_name and firmware_version.
	SCSIModelName string `json:"scsi_model_name"`
	SCSIRevision  string `json:"scsi_revision"`

	SmartStatus *struct {
		Passed *bool `json:"passed"`
	} `json:"smart_status"`
	Temperature struct {
		Current *float64 `json:"current"`
	} `json:"temperature"`
	PowerOnTime struct {
		Hours   *float64 `json:"hours"`
		Minutes *float64 `json:"minutes"`
	} `json:"power_on_time"`
	PowerCycleCount *float64 `json:"power_cycle_count"`

	ATASmartAttributes struct {
		Table []struct {
			ID  int `json:"id"`
			Raw struct {
				Value  float64 `json:"value"`
				String string  `json:"string"`
			} `json:"raw"`
		} `json:"table"`
	} `json:"ata_smart_attributes"`

	NVMeLog *struct {
		CriticalWarning         *float64 `json:"critical_warning"`
		Temperature             *float64 `json:"temperature"`
		AvailableSpare          *float64 `json:"available_spare"`
		AvailableSpareThreshold *float64 `json:"available_spare_threshold"`
		PercentageUsed          *float64 `json:"percentage_used"`
		PowerCycles             *float64 `json:"power_cycles"`
		PowerOnHours            *float64 `json:"power_on_hours"`
		MediaErrors             *float64 `json:"media_errors"`
	} `json:"nvme_smart_health_information_log"`

	SCSIGrownDefectList *float64 `json:"scsi_grown_defect_list"`
	SCSIErrorCounterLog map[string]struct {
		TotalUncorrectedErrors *float64 `json:"total_uncorrected_errors"`
	} `json:"scsi_error_counter_log"`
}

// standbyMessage is how smartctl says it left a device asleep (--nocheck):
// "Device is in STANDBY mode, exit(2)", "Device is in SLEEP mode, exit(2)",
// or "Device is in STANDBY (OS) mode, exit(2)" when the kernel already knew.
var standbyMessage = regexp.MustCompile(`^Device is in [A-Z_ ()]+ mode, exit\(\d+\)$`)

// ParseDevice parses smartctl --json output for one device.
func ParseDevice(b []byte) (Device, error) {
	var v deviceJSON
	if err := unmarshal(b, &v); err != nil {
		return Device{}, err
	}
	d := Device{
		Identity: Identity{
			Type:     strings.ToLower(v.Device.Type),
			Model:    firstNonEmpty(v.ModelName, v.SCSIModelName),
			Serial:   v.SerialNumber,
			Firmware: firstNonEmpty(v.FirmwareVersion, v.SCSIRevision),
		},
		Messages:    v.Smartctl.Messages,
		Temperature: v.Temperature.Current,
		PowerCycles: v.PowerCycleCount,
	}
	for _, m := range v.Smartctl.Messages {
		if m.Severity == "information" && standbyMessage.MatchString(m.String) {
			d.Standby = true
		}
	}
	if v.SmartStatus != nil {
		d.Passed = v.SmartStatus.Passed
	}
	if h := v.PowerOnTime.Hours; h != nil {
		s := *h * 3600
		if m := v.PowerOnTime.Minutes; m != nil {
			s += *m * 60
		}
		d.PowerOnSeconds = &s
	}

	// ATA: the attributes whose raw value is a sector count. The count is
	// the first number of raw.string, as smartctl prints it: attribute 5 is
	// raw16(raw16) by default, whose raw.value also holds two vendor words.
	for _, a := range v.ATASmartAttributes.Table {
		var dst **float64
		switch a.ID {
		case 5:
			dst = &d.Reallocated
		case 197:
			dst = &d.Pending
		case 198:
			dst = &d.OfflineUncorrectable
		default:
			continue
		}
		n := a.Raw.Value
		if f, _, _ := strings.Cut(a.Raw.String, " "); f != "" {
			if u, err := strconv.ParseUint(f, 10, 64); err == nil {
				n = float64(u)
			}
		}
		*dst = &n
	}

	if l := v.NVMeLog; l != nil {
		d.CriticalWarning = l.CriticalWarning
		d.AvailableSpare = ratio(l.AvailableSpare)
		d.AvailableSpareThreshold = ratio(l.AvailableSpareThreshold)
		d.PercentageUsed = ratio(l.PercentageUsed)
		d.MediaErrors = l.MediaErrors
		// smartctl copies these to the top level only while they fit 64 bits.
		if d.Temperature == nil {
			d.Temperature = l.Temperature
		}
		if d.PowerCycles == nil {
			d.PowerCycles = l.PowerCycles
		}
		if d.PowerOnSeconds == nil && l.PowerOnHours != nil {
			s := *l.PowerOnHours * 3600
			d.PowerOnSeconds = &s
		}
	}

	// SCSI: the grown defect list counts blocks the drive has reassigned,
	// which is what ATA attribute 5 counts. The error counter log's
	// uncorrected errors are read, write and verify operations whose data
	// ECC could not recover: events over the drive's life, like NVMe's media
	// errors, not a count of sectors unreadable now, so they are
	// MediaErrors and not OfflineUncorrectable. SCSI has no pending-sector
	// count, and its start-stop cycles are spin-ups, not power cycles:
	// those stay nil for SCSI devices.
	if v.SCSIGrownDefectList != nil {
		d.Reallocated = v.SCSIGrownDefectList
	}
	if len(v.SCSIErrorCounterLog) > 0 && d.MediaErrors == nil {
		var sum float64
		var any bool
		for _, op := range []string{"read", "write", "verify"} {
			if n := v.SCSIErrorCounterLog[op].TotalUncorrectedErrors; n != nil {
				sum += *n
				any = true
			}
		}
		if any {
			d.MediaErrors = &sum
		}
	}
	return d, nil
}

// jsonHeader is what every smartctl JSON output starts with.
type jsonHeader struct {
	JSONFormatVersion []int `json:"json_format_version"`
	Smartctl          struct {
		Messages []Message `json:"messages"`
	} `json:"smartctl"`
}

func (h jsonHeader) header() jsonHeader { return h }

// unmarshal decodes smartctl JSON into v. Output that is not a JSON object
// from smartctl (an old smartctl without --json prints text) is an error.
func unmarshal(b []byte, v interface{ header() jsonHeader }) error {
	if len(b) > MaxOutput {
		return fmt.Errorf("output of %d bytes, more than %d", len(b), MaxOutput)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("no output")
	}
	if b[0] != '{' {
		return fmt.Errorf("not JSON: %q", firstLine(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parsing smartctl JSON: %w", err)
	}
	if len(v.header().JSONFormatVersion) == 0 {
		return errors.New("not smartctl JSON: no json_format_version")
	}
	return nil
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 80 {
		line = line[:80]
	}
	return string(line)
}

func ratio(p *float64) *float64 {
	if p == nil {
		return nil
	}
	r := *p / 100
	return &r
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
