package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/confval"
	"github.com/hardware-exporter/hardware_exporter/internal/smartctl"
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
		New:       func() Probe { return &smartProbe{known: map[string]smartctl.Identity{}} },
	})
}

// smartProbe reports SMART health through smartctl.
type smartProbe struct {
	// known is the identity each device had when last read. A disk asleep
	// reports nothing but its name, and dropping its info series on every
	// spin-down would count as an inventory change; its last known identity
	// stands in until it is read again.
	mu    sync.Mutex
	known map[string]smartctl.Identity
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
func (p *smartProbe) scan(ctx context.Context, o *SmartOptions, skips *Skips) ([]smartDevice, error) {
	out, err := toolrun.Run(ctx, string(o.Command), "--scan-open", "--json")
	if err != nil {
		return nil, fmt.Errorf("smartctl --scan-open: %w", err)
	}
	scan, err := smartctl.ParseScan(out.Stdout)
	switch {
	case err != nil && out.ExitCode != 0:
		return nil, fmt.Errorf("smartctl --scan-open exited %d: %w: %s", out.ExitCode, err, out.Message())
	case err != nil:
		return nil, fmt.Errorf("smartctl --scan-open: %w", err)
	case out.ExitCode&smartctl.ExitNoData != 0:
		// Bit 0 or 1: the scan itself did not run; an empty list would
		// wrongly say the host has no disks.
		return nil, fmt.Errorf("smartctl --scan-open exited %d%s", out.ExitCode, smartMessages(scan.Messages))
	}

	var devices []smartDevice
	seen := map[[2]string]bool{} // name and type: one device, however listed
	names := map[string]int{}
	for _, sd := range scan.Devices {
		d := smartDevice{ScanDevice: sd}
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
	data smartctl.Device
	err  error // no usable data: why
}

// readDevice runs smartctl on one device under the device timeout.
func (p *smartProbe) readDevice(ctx context.Context, o *SmartOptions, d smartDevice) smartResult {
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
	r.data, err = smartctl.ParseDevice(out.Stdout)
	switch {
	case err != nil:
		r.err = fmt.Errorf("exit status %d: %w: %s", out.ExitCode, err, out.Message())
	case !r.data.Standby && out.ExitCode&smartctl.ExitNoData != 0:
		// Bit 0: smartctl did not understand us; bit 1: it could not open
		// the device. Either way the JSON holds no SMART data.
		r.err = fmt.Errorf("exit status %d%s", out.ExitCode, smartMessages(r.data.Messages))
	}
	return r
}

// deviceMetrics turns one device's result into series.
func (p *smartProbe) deviceMetrics(d smartDevice, r smartResult, skips *Skips) []prometheus.Metric {
	dev := d.label
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
		return constMetric(desc, prometheus.GaugeValue, v, append([]string{dev}, labels...)...)
	}
	counter := func(desc *prometheus.Desc, v float64) prometheus.Metric {
		return constMetric(desc, prometheus.CounterValue, v, dev)
	}

	var ms []prometheus.Metric
	if r.ran && !(r.err == nil && r.data.Standby) {
		for bit, flag := range smartctl.ExitBitNames {
			ms = append(ms, gauge(smartExitStatusFlag, float64(r.exit>>bit&1), flag))
		}
	}
	if r.err != nil {
		skips.Add(d.Name, r.err)
		return append(ms, gauge(smartReadSuccess, 0))
	}
	data := r.data
	ms = append(ms, gauge(smartReadSuccess, 1), gauge(smartStandby, boolValue(data.Standby)))

	id := data.Identity
	if id.Type == "" {
		id.Type = d.Type
	}
	p.mu.Lock()
	if data.Standby {
		id = p.known[dev]
	} else {
		p.known[dev] = id
	}
	p.mu.Unlock()
	if id.Model != "" || id.Serial != "" {
		ms = append(ms, gauge(smartDeviceInfo, 1, id.Type, labelValue(id.Model), labelValue(id.Serial), labelValue(id.Firmware)))
	}

	if data.Passed != nil {
		ms = append(ms, gauge(smartHealthPassed, boolValue(*data.Passed)))
	}
	for _, v := range []struct {
		desc    *prometheus.Desc
		value   *float64
		counter bool
	}{
		{smartTemperature, data.Temperature, false},
		{smartPowerOnSeconds, data.PowerOnSeconds, true},
		{smartPowerCycles, data.PowerCycles, true},
		{smartReallocated, data.Reallocated, false},
		{smartPending, data.Pending, false},
		{smartOfflineUncorrectable, data.OfflineUncorrectable, false},
		{smartNVMeCriticalWarning, data.CriticalWarning, false},
		{smartNVMeAvailableSpare, data.AvailableSpare, false},
		{smartNVMeAvailableSpareThreshold, data.AvailableSpareThreshold, false},
		{smartNVMePercentageUsed, data.PercentageUsed, false},
		{smartMediaErrors, data.MediaErrors, true},
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
func smartMessages(msgs []smartctl.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(": ")
		b.WriteString(m.String)
	}
	return b.String()
}

// smartDevice is a device the scan listed, with its label.
type smartDevice struct {
	smartctl.ScanDevice
	label string // the device label, set by scan
}
