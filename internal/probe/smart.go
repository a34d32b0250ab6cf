package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/confval"
	"github.com/hardware-exporter/hardware_exporter/internal/toolrun"

	"github.com/prometheus/client_golang/prometheus"
)

// The smart probe runs smartctl: once to list the devices
// (--scan-open --json), then once per device, a few at a time, each under its
// own timeout, so that one hung disk costs its own series and not the run.
//
// Per device it asks for exactly what it exports:
//
//	smartctl --json --info --health --attributes --log=error --nocheck=standby --device=TYPE /dev/X
//
// --info gives model, serial and firmware; --health the overall verdict (and
// for NVMe the critical warning); --attributes the ATA attribute table, the
// NVMe SMART/Health log and the SCSI temperature, power-on time and grown
// defect list; --log=error the ATA error log summary (without it smartctl
// never sets exit status bit 6) and the SCSI error counter log.
// --nocheck=standby leaves a spun-down disk asleep: smartctl then exits 2
// and says "Device is in STANDBY mode" in its JSON messages, which the probe
// reports as hardware_smart_device_standby, not as a failure. --device
// repeats the type the scan found, so smartctl does not probe for it again.
// Pretty-printed (not --json=c) JSON is a few KiB a device: the captured
// output in testdata stays readable, and the size does not matter.

var (
	smartDeviceInfo = Inventory(newDesc("smart", "device_info",
		"Device smartctl reads, value 1; type is smartctl's device type (sat, ata, nvme, scsi, ...).",
		"device", "type", "model", "serial", "firmware"))
	smartReadSuccess = newDesc("smart", "device_read_success",
		"1 if smartctl returned SMART data for the device (or found it asleep), 0 if it hung, failed to open it or printed nothing usable.",
		"device")
	smartStandby = newDesc("smart", "device_standby",
		"1 if the device was in a low-power mode and was left asleep (smartctl --nocheck=standby), so no SMART data was read.",
		"device")
	smartHealthPassed = newDesc("smart", "health_passed",
		"1 if the device's overall SMART health self-assessment passed (smart_status.passed).",
		"device")
	smartTemperature = newDesc("smart", "temperature_celsius",
		"Current device temperature as smartctl reports it.",
		"device")
	smartPowerOnSeconds = newDesc("smart", "power_on_seconds_total",
		"Time the device has been powered on over its life (power_on_time; hour resolution on ATA and NVMe).",
		"device")
	smartPowerCycles = newDesc("smart", "power_cycles_total",
		"Power cycles over the device's life (ATA attribute 12, NVMe power_cycles).",
		"device")
	smartReallocated = newDesc("smart", "reallocated_sectors",
		"Sectors remapped to spares: ATA attribute 5 Reallocated_Sector_Ct, or the number of elements in a SCSI grown defect list.",
		"device")
	smartPending = newDesc("smart", "pending_sectors",
		"Unstable sectors waiting to be remapped (ATA attribute 197 Current_Pending_Sector).",
		"device")
	smartOfflineUncorrectable = newDesc("smart", "offline_uncorrectable_sectors",
		"Sectors the offline scan could not read (ATA attribute 198 Offline_Uncorrectable).",
		"device")
	smartNVMeCriticalWarning = newDesc("smart", "nvme_critical_warning",
		"NVMe SMART/Health critical warning bitmask: 0x01 spare below threshold, 0x02 temperature, 0x04 reliability degraded, 0x08 read-only, 0x10 volatile memory backup failed, 0x20 persistent memory region unreliable.",
		"device")
	smartNVMeAvailableSpare = newDesc("smart", "nvme_available_spare_ratio",
		"NVMe spare capacity left, 0..1 (available_spare / 100).",
		"device")
	smartNVMeAvailableSpareThreshold = newDesc("smart", "nvme_available_spare_threshold_ratio",
		"NVMe spare capacity below which the controller raises a critical warning, 0..1.",
		"device")
	smartNVMePercentageUsed = newDesc("smart", "nvme_percentage_used_ratio",
		"NVMe vendor estimate of the endurance used (percentage_used / 100); may exceed 1.",
		"device")
	smartMediaErrors = newDesc("smart", "media_errors_total",
		"Errors the device could not recover data from: NVMe media and data integrity errors, or the SCSI error counter log's uncorrected read, write and verify errors summed.",
		"device")
	smartExitStatusFlag = newDesc("smart", "exit_status_flag",
		"One bit of smartctl's exit status for the device, 0 or 1 (see man smartctl, EXIT STATUS). Not exported for a device left asleep, whose exit status only says so.",
		"device", "flag")
)

// smartExitFlags name smartctl's exit status bits, bit 0 first.
var smartExitFlags = [8]string{
	"command_line_parse",       // 0: command line did not parse
	"device_open_failed",       // 1: device open failed, or device in low-power mode (-n)
	"command_failed",           // 2: a SMART or other ATA command failed, or a checksum error
	"disk_failing",             // 3: SMART status check returned "DISK FAILING"
	"prefail_below_threshold",  // 4: prefail attributes <= threshold
	"usage_below_threshold",    // 5: usage or prefail attributes <= threshold in the past
	"error_log_has_errors",     // 6: the device error log contains records of errors
	"self_test_log_has_errors", // 7: the self-test log contains records of errors
}

const (
	// smartParallel is how many smartctl processes run at once. Each spends
	// most of its ~1.6 s waiting on the device; a few at a time shortens a
	// 24-disk run without flooding an HBA with passthrough commands.
	smartParallel = 4
)

// SmartOptions are the smart probe's own settings (probes.smart.*).
type SmartOptions struct {
	Command confval.Path `yaml:"command" help:"Absolute path of smartctl."`
	// Include and Exclude match device paths as smartctl --scan-open
	// names them ("/dev/sda", "/dev/nvme0").
	Include confval.Regexp `yaml:"include" help:"Regular expression on device paths, e.g. \"^/dev/nvme\": read only the devices that match. Empty: all."`
	Exclude confval.Regexp `yaml:"exclude" help:"Regular expression on device paths: skip the devices that match. Empty: none."`
	// DeviceTimeout bounds one device's smartctl run, so a hung disk costs
	// its own series and not the run.
	DeviceTimeout confval.Duration `yaml:"device_timeout" check:"positive" help:"Bounds one device's smartctl run; a hung device costs its own series only."`
}

func newSmartOptions() *SmartOptions {
	return &SmartOptions{Command: "/usr/sbin/smartctl", DeviceTimeout: confval.Duration(30 * time.Second)}
}

func init() {
	Register(Spec{
		Name:      "smart",
		Summary:   "SMART health through smartctl --json, one device at a time per device_timeout, several devices at once. Sleeping disks are not woken.",
		Reads:     "`smartctl --scan-open --json`, then `smartctl --json … --nocheck=standby` per device, several at once, each with `device_timeout`: health, temperature, power-on time, power cycles, reallocated/pending/uncorrectable sectors, NVMe critical warning, spare, wear, media errors, the exit-status bits. Sleeping disks are not woken.",
		Privilege: "root, or `CAP_SYS_RAWIO` (ATA/SCSI) and `CAP_SYS_ADMIN` (NVMe)",
		Timeout:   2 * time.Minute,
		Options:   func() any { return newSmartOptions() },
		New:       func() Probe { return &smartProbe{known: map[string]smartIdentity{}} },
	})
}

// smartProbe reports SMART health through smartctl.
type smartProbe struct {
	// known is the identity each device had when last read. A disk asleep
	// reports nothing but its name, and dropping its info series on every
	// spin-down would count as an inventory change; its last known identity
	// stands in until it is read again.
	mu    sync.Mutex
	known map[string]smartIdentity
}

func (*smartProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		smartDeviceInfo, smartReadSuccess, smartStandby, smartHealthPassed,
		smartTemperature, smartPowerOnSeconds, smartPowerCycles,
		smartReallocated, smartPending, smartOfflineUncorrectable,
		smartNVMeCriticalWarning, smartNVMeAvailableSpare, smartNVMeAvailableSpareThreshold,
		smartNVMePercentageUsed, smartMediaErrors, smartExitStatusFlag,
	} {
		ch <- d
	}
}

// Available reports why smartctl cannot run here, or nil.
func (p *smartProbe) Available(env Env) error {
	return toolrun.Available(string(optionsOf(env, newSmartOptions).Command))
}

func (p *smartProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := optionsOf(env, newSmartOptions)
	if err := toolrun.Available(string(o.Command)); err != nil {
		return nil, err
	}
	devices, err := p.scan(ctx, o, skips)
	if err != nil {
		return nil, err
	}

	results := make([]smartResult, len(devices))
	sem := make(chan struct{}, smartParallel)
	var wg sync.WaitGroup
	for i, d := range devices {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			results[i] = p.readDevice(ctx, o, d)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// The run as a whole was cut short: its timeouts are not the devices'.
		return nil, err
	}

	var ms []prometheus.Metric
	for i, d := range devices {
		ms = append(ms, p.deviceMetrics(d, results[i], skips)...)
	}
	return ms, nil
}

// scan lists the devices smartctl can open, filtered by Include/Exclude.
func (p *smartProbe) scan(ctx context.Context, o *SmartOptions, skips *Skips) ([]smartScanDevice, error) {
	out, err := toolrun.Run(ctx, string(o.Command), "--scan-open", "--json")
	if err != nil {
		return nil, fmt.Errorf("smartctl --scan-open: %w", err)
	}
	scan, err := smartParseScan(out.Stdout)
	switch {
	case err != nil && out.ExitCode != 0:
		return nil, fmt.Errorf("smartctl --scan-open exited %d: %w: %s", out.ExitCode, err, out.Message())
	case err != nil:
		return nil, fmt.Errorf("smartctl --scan-open: %w", err)
	case out.ExitCode&0b11 != 0:
		// Bit 0 or 1: the scan itself did not run; an empty list would
		// wrongly say the host has no disks.
		return nil, fmt.Errorf("smartctl --scan-open exited %d%s", out.ExitCode, smartMessages(scan.messages))
	}

	var devices []smartScanDevice
	seen := map[[2]string]bool{} // name and type: one device, however listed
	names := map[string]int{}
	for _, d := range scan.devices {
		if !strings.HasPrefix(d.Name, "/") {
			// It would be smartctl's last argument: never an option.
			skips.Add(d.Name, errors.New("smartctl --scan-open listed a device name that is not a path"))
			continue
		}
		key := [2]string{d.Name, d.Type}
		if seen[key] || !o.Include.MatchOr(d.Name, true) || o.Exclude.MatchOr(d.Name, false) {
			continue
		}
		seen[key] = true
		names[d.Name]++
		devices = append(devices, d)
	}
	for i, d := range devices {
		devices[i].label = strings.TrimPrefix(d.Name, "/dev/")
		if names[d.Name] > 1 {
			// Disks behind a RAID controller share one path and differ by
			// type ("/dev/bus/0" with -d megaraid,0 and megaraid,1).
			devices[i].label += ":" + d.Type
		}
		devices[i].label = labelValue(devices[i].label)
	}
	return devices, nil
}

// smartResult is what one device's smartctl run produced.
type smartResult struct {
	ran  bool // smartctl ran to its exit: exit is meaningful
	exit int
	data smartData
	err  error // no usable data: why
}

// readDevice runs smartctl on one device under the device timeout.
func (p *smartProbe) readDevice(ctx context.Context, o *SmartOptions, d smartScanDevice) smartResult {
	dctx, cancel := context.WithTimeoutCause(ctx, time.Duration(o.DeviceTimeout),
		fmt.Errorf("no answer from %s within %v", d.Name, time.Duration(o.DeviceTimeout)))
	defer cancel()
	args := []string{"--json", "--info", "--health", "--attributes", "--log=error", "--nocheck=standby"}
	if d.Type != "" {
		args = append(args, "--device="+d.Type)
	}
	out, err := toolrun.Run(dctx, string(o.Command), append(args, d.Name)...)
	if err != nil {
		return smartResult{err: err}
	}
	r := smartResult{ran: true, exit: out.ExitCode}
	r.data, err = smartParseDevice(out.Stdout)
	switch {
	case err != nil:
		r.err = fmt.Errorf("exit status %d: %w: %s", out.ExitCode, err, out.Message())
	case !r.data.standby && out.ExitCode&0b11 != 0:
		// Bit 0: smartctl did not understand us; bit 1: it could not open
		// the device. Either way the JSON holds no SMART data.
		r.err = fmt.Errorf("exit status %d%s", out.ExitCode, smartMessages(r.data.messages))
	}
	return r
}

// deviceMetrics turns one device's result into series.
func (p *smartProbe) deviceMetrics(d smartScanDevice, r smartResult, skips *Skips) []prometheus.Metric {
	dev := d.label
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
		return prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, append([]string{dev}, labels...)...)
	}
	counter := func(desc *prometheus.Desc, v float64) prometheus.Metric {
		return prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, dev)
	}

	var ms []prometheus.Metric
	if r.ran && !(r.err == nil && r.data.standby) {
		for bit, flag := range smartExitFlags {
			ms = append(ms, gauge(smartExitStatusFlag, float64(r.exit>>bit&1), flag))
		}
	}
	if r.err != nil {
		skips.Add(d.Name, r.err)
		return append(ms, gauge(smartReadSuccess, 0))
	}
	data := r.data
	ms = append(ms, gauge(smartReadSuccess, 1), gauge(smartStandby, boolValue(data.standby)))

	id := data.identity
	if id.typ == "" {
		id.typ = d.Type
	}
	p.mu.Lock()
	if data.standby {
		id = p.known[dev]
	} else {
		p.known[dev] = id
	}
	p.mu.Unlock()
	if id.model != "" || id.serial != "" {
		ms = append(ms, gauge(smartDeviceInfo, 1, id.typ, labelValue(id.model), labelValue(id.serial), labelValue(id.firmware)))
	}

	if data.passed != nil {
		ms = append(ms, gauge(smartHealthPassed, boolValue(*data.passed)))
	}
	for _, v := range []struct {
		desc    *prometheus.Desc
		value   *float64
		counter bool
	}{
		{smartTemperature, data.temperature, false},
		{smartPowerOnSeconds, data.powerOnSeconds, true},
		{smartPowerCycles, data.powerCycles, true},
		{smartReallocated, data.reallocated, false},
		{smartPending, data.pending, false},
		{smartOfflineUncorrectable, data.offlineUncorrectable, false},
		{smartNVMeCriticalWarning, data.criticalWarning, false},
		{smartNVMeAvailableSpare, data.availableSpare, false},
		{smartNVMeAvailableSpareThreshold, data.availableSpareThreshold, false},
		{smartNVMePercentageUsed, data.percentageUsed, false},
		{smartMediaErrors, data.mediaErrors, true},
	} {
		switch {
		case v.value == nil:
		case v.counter:
			ms = append(ms, counter(v.desc, *v.value))
		default:
			ms = append(ms, gauge(v.desc, *v.value))
		}
	}
	return ms
}

// smartMessages formats smartctl's JSON messages for an error message.
func smartMessages(msgs []smartMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(": ")
		b.WriteString(m.String)
	}
	return b.String()
}

// --- Parsing: pure functions of smartctl's JSON output ---

// smartScanDevice is one entry of smartctl --scan-open --json.
type smartScanDevice struct {
	Name     string `json:"name"`
	InfoName string `json:"info_name"`
	Type     string `json:"type"`
	Protocol string `json:"protocol"`
	// OpenError is set by --scan-open for a device it listed but could
	// not open; the per-device run then reports why.
	OpenError string `json:"open_error"`

	label string // the device label, set by scan
}

type smartMessage struct {
	String   string `json:"string"`
	Severity string `json:"severity"`
}

type smartScan struct {
	devices  []smartScanDevice
	messages []smartMessage
}

// smartParseScan parses smartctl --scan-open --json. No "devices" member
// means smartctl found none.
func smartParseScan(b []byte) (smartScan, error) {
	var v struct {
		smartJSONHeader
		Devices []smartScanDevice `json:"devices"`
	}
	if err := smartUnmarshal(b, &v); err != nil {
		return smartScan{}, err
	}
	for _, d := range v.Devices {
		if d.Name == "" {
			return smartScan{}, errors.New("scan lists a device without a name")
		}
	}
	return smartScan{devices: v.Devices, messages: v.Smartctl.Messages}, nil
}

// smartIdentity is what a device is, for hardware_smart_device_info.
type smartIdentity struct {
	typ, model, serial, firmware string
}

// smartData is what the probe exports of one device's smartctl output.
// A nil pointer is a value smartctl did not report.
type smartData struct {
	identity smartIdentity
	standby  bool
	messages []smartMessage

	passed                  *bool
	temperature             *float64
	powerOnSeconds          *float64
	powerCycles             *float64
	reallocated             *float64
	pending                 *float64
	offlineUncorrectable    *float64
	criticalWarning         *float64
	availableSpare          *float64
	availableSpareThreshold *float64
	percentageUsed          *float64
	mediaErrors             *float64
}

// smartDeviceJSON is the part of smartctl's per-device JSON the probe reads.
// Numbers are float64: NVMe counters are 128-bit and smartctl prints them
// in full, which would fail a uint64 field and with it the whole device.
type smartDeviceJSON struct {
	smartJSONHeader
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

// smartStandbyMessage is how smartctl says it left a device asleep
// (--nocheck): "Device is in STANDBY mode, exit(2)", "Device is in SLEEP
// mode, exit(2)", or "Device is in STANDBY (OS) mode, exit(2)" when the
// kernel already knew.
var smartStandbyMessage = regexp.MustCompile(`^Device is in [A-Z_ ()]+ mode, exit\(\d+\)$`)

// smartParseDevice parses smartctl --json output for one device.
func smartParseDevice(b []byte) (smartData, error) {
	var v smartDeviceJSON
	if err := smartUnmarshal(b, &v); err != nil {
		return smartData{}, err
	}
	d := smartData{
		identity: smartIdentity{
			typ:      strings.ToLower(v.Device.Type),
			model:    smartFirstNonEmpty(v.ModelName, v.SCSIModelName),
			serial:   v.SerialNumber,
			firmware: smartFirstNonEmpty(v.FirmwareVersion, v.SCSIRevision),
		},
		messages:    v.Smartctl.Messages,
		temperature: v.Temperature.Current,
		powerCycles: v.PowerCycleCount,
	}
	for _, m := range v.Smartctl.Messages {
		if m.Severity == "information" && smartStandbyMessage.MatchString(m.String) {
			d.standby = true
		}
	}
	if v.SmartStatus != nil {
		d.passed = v.SmartStatus.Passed
	}
	if h := v.PowerOnTime.Hours; h != nil {
		s := *h * 3600
		if m := v.PowerOnTime.Minutes; m != nil {
			s += *m * 60
		}
		d.powerOnSeconds = &s
	}

	// ATA: the attributes whose raw value is a sector count. The count is
	// the first number of raw.string, as smartctl prints it: attribute 5 is
	// raw16(raw16) by default, whose raw.value also holds two vendor words.
	for _, a := range v.ATASmartAttributes.Table {
		var dst **float64
		switch a.ID {
		case 5:
			dst = &d.reallocated
		case 197:
			dst = &d.pending
		case 198:
			dst = &d.offlineUncorrectable
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
		d.criticalWarning = l.CriticalWarning
		d.availableSpare = smartRatio(l.AvailableSpare)
		d.availableSpareThreshold = smartRatio(l.AvailableSpareThreshold)
		d.percentageUsed = smartRatio(l.PercentageUsed)
		d.mediaErrors = l.MediaErrors
		// smartctl copies these to the top level only while they fit 64 bits.
		if d.temperature == nil {
			d.temperature = l.Temperature
		}
		if d.powerCycles == nil {
			d.powerCycles = l.PowerCycles
		}
		if d.powerOnSeconds == nil && l.PowerOnHours != nil {
			s := *l.PowerOnHours * 3600
			d.powerOnSeconds = &s
		}
	}

	// SCSI: the grown defect list counts blocks the drive has reassigned,
	// which is what ATA attribute 5 counts. The error counter log's
	// uncorrected errors are read, write and verify operations whose data
	// ECC could not recover: events over the drive's life, like NVMe's media
	// errors, not a count of sectors unreadable now, so they go to
	// media_errors_total and not to offline_uncorrectable_sectors. SCSI has
	// no pending-sector count, and its start-stop cycles are spin-ups, not
	// power cycles: those series are absent for SCSI devices.
	if v.SCSIGrownDefectList != nil {
		d.reallocated = v.SCSIGrownDefectList
	}
	if len(v.SCSIErrorCounterLog) > 0 && d.mediaErrors == nil {
		var sum float64
		var any bool
		for _, op := range []string{"read", "write", "verify"} {
			if n := v.SCSIErrorCounterLog[op].TotalUncorrectedErrors; n != nil {
				sum += *n
				any = true
			}
		}
		if any {
			d.mediaErrors = &sum
		}
	}
	return d, nil
}

// smartJSONHeader is what every smartctl JSON output starts with.
type smartJSONHeader struct {
	JSONFormatVersion []int `json:"json_format_version"`
	Smartctl          struct {
		Messages []smartMessage `json:"messages"`
	} `json:"smartctl"`
}

func (h smartJSONHeader) header() smartJSONHeader { return h }

// smartUnmarshal decodes smartctl JSON into v. Output that is not a JSON
// object from smartctl (an old smartctl without --json prints text) is an
// error.
func smartUnmarshal(b []byte, v interface{ header() smartJSONHeader }) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("no output")
	}
	if b[0] != '{' {
		return fmt.Errorf("not JSON: %q", smartFirstLine(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parsing smartctl JSON: %w", err)
	}
	if len(v.header().JSONFormatVersion) == 0 {
		return errors.New("not smartctl JSON: no json_format_version")
	}
	return nil
}

func smartFirstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 80 {
		line = line[:80]
	}
	return string(line)
}

func smartRatio(p *float64) *float64 {
	if p == nil {
		return nil
	}
	r := *p / 100
	return &r
}

func smartFirstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
