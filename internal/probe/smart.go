package probe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/smartctl"
	"github.com/hardware-exporter/hardware_exporter/internal/host/toolrun"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"

	"github.com/prometheus/client_golang/prometheus"
)

// The smart probe runs smartctl: once to list the devices
// (--scan-open --json), then once per device, a few at a time, each under its
// own timeout, so that one hung disk costs its own series and not the run.
//
// Per device it asks for exactly what it exports:
//
//	smartctl --json --info --health --attributes --log=error --log=selftest --nocheck=standby --device=TYPE /dev/X
//
// --info gives model, serial and firmware; --health the overall verdict (and
// for NVMe the critical warning); --attributes the ATA attribute table, the
// NVMe SMART/Health log and the SCSI temperature, power-on time and grown
// defect list; --log=error the ATA error log summary (without it smartctl
// never sets exit status bit 6) and the SCSI error counter log;
// --log=selftest the self-test log (and exit status bit 7).
// --nocheck=standby leaves a spun-down disk asleep: smartctl then exits 2
// and says "Device is in STANDBY mode" in its JSON messages, which the probe
// reports as hardware_smart_device_standby, not as a failure. --device
// repeats the type the scan found, so smartctl does not probe for it again.
// Pretty-printed (not --json=c) JSON is a few KiB a device: the captured
// output in testdata stays readable, and the size does not matter.
//
// Disks behind RAID controllers: --scan-open lists MegaRAID disks as one
// path with a type each ("/dev/bus/0" -d megaraid,N) and Adaptec ones as
// -d aacraid,H,L,ID where it finds them; those are read like any other.
// It never lists disks behind an HPE Smart Array, so where the hpsa or
// smartpqi driver holds a controller (under the sysfs root) the probe asks
// for -d cciss,N on the controller's node for N = 0, 1, ... until smartctl
// cannot open one, at most smartCCISSMax. A disk behind a controller is
// labelled by its serial (its WWN if two disks share a serial), not by the
// controller path and slot, which change when a disk moves; controller and
// slot are labels of its info series.

var (
	smartDeviceInfo = Inventory(withNote(newDesc("smart", "device_info",
		"Device smartctl reads, value 1; type is smartctl's device type (sat, ata, nvme, scsi, ...), controller and slot place a disk behind a RAID controller.", "device", "type", "model", "serial", "firmware", "controller", "slot"),
		"For a disk behind a RAID controller, device is its serial (or WWN), controller the controller family and smartctl's path for it (megaraid:bus/0, cciss:sda, aacraid:sdb) and slot its address there (the N of -d megaraid,N); both are empty for other disks."))
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
	smartNVMeCriticalWarning = withNote(newDesc("smart", "nvme_critical_warning",
		"NVMe SMART/Health critical warning bitmask, 0 for none: 0x01 spare, 0x02 temperature, 0x04 reliability, 0x08 read-only, 0x10 volatile memory backup, 0x20 persistent memory.", "device"),
		"0x01 spare below threshold, 0x02 temperature, 0x04 reliability degraded, 0x08 read-only, 0x10 volatile memory backup failed, 0x20 persistent memory region unreliable.")
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
	smartATAAttributeRaw = withNote(newDesc("smart", "ata_attribute_raw",
		"Raw count of an ATA attribute that predicts failure: id 10, 184, 187, 188, 196 or 199 (5, 197 and 198 have series of their own); name is smartctl's.", "device", "id", "name"),
		"10 spin retries, 184 end-to-end errors, 187 uncorrectable errors, 188 command timeouts, 196 reallocation events, 199 UDMA CRC errors (a cable or backplane, not the disk).")
	smartATAAttributeNormalized = withNote(newDesc("smart", "ata_attribute_normalized",
		"Normalized value (vendor scale, usually 100 or 200 down to 1) of an SSD wear or spare attribute; the drive fails the attribute at or below its threshold.", "device", "id", "name"),
		"The attributes are 177, 202, 231, 232, 233 and 245. name is smartctl's, which says what the vendor means by the id.")
	smartATAAttributeThreshold = newDesc("smart", "ata_attribute_threshold",
		"Vendor threshold of an SSD wear or spare attribute (see hardware_smart_ata_attribute_normalized); 0 means it never fails.",
		"device", "id", "name")
	smartNVMeReadBytes = newDesc("smart", "nvme_read_bytes_total",
		"Bytes the host read from the NVMe device (data units read x 512000).", "device")
	smartNVMeWrittenBytes = newDesc("smart", "nvme_written_bytes_total",
		"Bytes the host wrote to the NVMe device (data units written x 512000).", "device")
	smartNVMeUnsafeShutdowns = newDesc("smart", "nvme_unsafe_shutdowns_total",
		"Times the NVMe device lost power without a shutdown notification; growing means power loss or resets that risk data in its cache.", "device")
	smartNVMeErrorLogEntries = newDesc("smart", "nvme_error_log_entries_total",
		"Error information log entries over the NVMe controller's life (num_err_log_entries).", "device")
	smartNVMeWarningTemperature = newDesc("smart", "nvme_warning_temperature_seconds_total",
		"Time the NVMe composite temperature was above the warning threshold (minute resolution).", "device")
	smartNVMeCriticalTemperature = newDesc("smart", "nvme_critical_temperature_seconds_total",
		"Time the NVMe composite temperature was above the critical threshold (minute resolution).", "device")
	smartSCSICorrectedErrors = newDesc("smart", "scsi_corrected_errors_total",
		"Errors the SCSI device corrected, by operation (read, write, verify), from its error counter log.", "device", "operation")
	smartSCSIUncorrectedErrors = newDesc("smart", "scsi_uncorrected_errors_total",
		"Errors the SCSI device could not correct, by operation (read, write, verify), from its error counter log.", "device", "operation")
	smartSCSIStartStopCycles = newDesc("smart", "scsi_start_stop_cycles_total",
		"Start-stop (spin-up) cycles of the SCSI device over its life.", "device")
	smartSCSILoadUnloadCycles = newDesc("smart", "scsi_load_unload_cycles_total",
		"Head load-unload cycles of the SCSI device over its life.", "device")
	smartSCSIPercentageUsed = newDesc("smart", "scsi_percentage_used_ratio",
		"SCSI SSD endurance used (percentage used endurance indicator / 100); may exceed 1.", "device")
	smartSelfTestResult = newDesc("smart", "self_test_result",
		"1 for the result of the newest test of its kind (test: short, extended) in the device's self-test log, 0 for the others: passed, failed, or aborted and in_progress where that is the result.",
		"device", "test", "result")
	smartSelfTestAge = newDesc("smart", "self_test_age_seconds",
		"Power-on time of the device since the newest test of its kind ran (hour resolution; ATA logs wrap at 65536 hours, so this is modulo that on older disks).",
		"device", "test")
	smartExitStatusFlag = newDesc("smart", "exit_status_flag",
		"One bit of smartctl's exit status for the device, 0 or 1 (see man smartctl, EXIT STATUS). Not exported for a device left asleep, whose exit status only says so.",
		"device", "flag")
)

const (
	// smartParallel is how many smartctl processes run at once. Each spends
	// most of its ~1.6 s waiting on the device; a few at a time shortens a
	// 24-disk run without flooding an HBA with passthrough commands.
	smartParallel = 4
	// smartCCISSMax bounds the -d cciss,N walk behind one Smart Array
	// controller. It stops earlier, at the first N smartctl cannot open.
	smartCCISSMax = 32
)

// smartSelfTestResults are the results every self-test series carries.
var smartSelfTestResults = []string{smartctl.SelfTestPassed, smartctl.SelfTestFailed}

// smartWearAttributes are the PredictiveAttributes whose normalized value,
// not raw, says how worn an SSD is: vendors count different things raw.
var smartWearAttributes = map[int]bool{177: true, 202: true, 231: true, 232: true, 233: true, 245: true}

// SmartOptions are the smart probe's own settings (probes.smart.*).
type SmartOptions struct {
	Command confval.Path `yaml:"command" help:"Absolute path of smartctl."`
	// Include and Exclude match device paths as smartctl --scan-open
	// names them ("/dev/sda", "/dev/nvme0").
	Include confval.Regexp `yaml:"include" flag:"device-include" help:"Regular expression on device paths, e.g. \"^/dev/nvme\": read only the devices that match. Empty: all."`
	Exclude confval.Regexp `yaml:"exclude" flag:"device-exclude" help:"Regular expression on device paths: skip the devices that match. Empty: none."`
	// DeviceTimeout bounds one device's smartctl run, so a hung disk costs
	// its own series and not the run.
	DeviceTimeout confval.Duration `yaml:"device_timeout" check:"positive" help:"Bounds one device's smartctl run; a hung device costs its own series only."`
}

func newSmartOptions() *SmartOptions {
	return &SmartOptions{Command: "/usr/sbin/smartctl", DeviceTimeout: confval.Duration(30 * time.Second)}
}

func (o *SmartOptions) available() error { return toolrun.Available(string(o.Command)) }

func init() {
	Register(Spec{
		Name:      "smart",
		Summary:   "SMART health through smartctl --json, one device at a time per device_timeout, several devices at once. Sleeping disks are not woken.",
		Reads:     "`smartctl --scan-open --json`, then `smartctl --json … --nocheck=standby` per device, several at once, each with `device_timeout`: health, temperature, power-on time, power cycles, reallocated/pending/uncorrectable sectors, the ATA attributes that predict failure, NVMe critical warning, spare, wear, media errors, bytes read and written, unsafe shutdowns, SCSI error counters and cycles, the last short and extended self-test, the exit-status bits. Disks behind MegaRAID and Adaptec controllers as the scan lists them; behind HPE Smart Array (hpsa, smartpqi in `/sys/bus/pci/drivers`) with `-d cciss,N`. Sleeping disks are not woken.",
		Privilege: "root, or `CAP_SYS_RAWIO` (ATA/SCSI) and `CAP_SYS_ADMIN` (NVMe)",
		Timeout:   2 * time.Minute,
		Kind:      KindTool,
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
		smartNVMePercentageUsed, smartMediaErrors,
		smartATAAttributeRaw, smartATAAttributeNormalized, smartATAAttributeThreshold,
		smartNVMeReadBytes, smartNVMeWrittenBytes, smartNVMeUnsafeShutdowns, smartNVMeErrorLogEntries,
		smartNVMeWarningTemperature, smartNVMeCriticalTemperature,
		smartSCSICorrectedErrors, smartSCSIUncorrectedErrors, smartSCSIStartStopCycles,
		smartSCSILoadUnloadCycles, smartSCSIPercentageUsed,
		smartSelfTestResult, smartSelfTestAge, smartExitStatusFlag,
	} {
		ch <- d
	}
}

// Available reports why smartctl cannot run here, or nil.
func (p *smartProbe) Available(env Env) error {
	return optionsOf(env, newSmartOptions).available()
}

func (p *smartProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	o, unlock, err := openTool(ctx, env, newSmartOptions, nil) // label locks what it keeps
	if err != nil {
		return nil, err
	}
	defer unlock()
	devices, err := p.scan(ctx, o, skips)
	if err != nil {
		return nil, err
	}

	var (
		mu       sync.Mutex
		readings []smartReading
		sem      = make(chan struct{}, smartParallel)
		wg       sync.WaitGroup
	)
	// read runs smartctl on d when a slot is free; false if the run ended.
	read := func(d smartDevice) (smartResult, bool) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			return smartResult{}, false
		}
		r := p.readDevice(ctx, o, d)
		return r, true
	}
	keep := func(d smartDevice, r smartResult) {
		mu.Lock()
		readings = append(readings, smartReading{d, r})
		mu.Unlock()
	}
	for _, d := range devices {
		wg.Go(func() {
			if r, ok := read(d); ok {
				keep(d, r)
			}
		})
	}
	for _, node := range smartArrayNodes(env.Paths.SysFS) {
		// One controller's disks in turn: whether N exists is known only
		// once N-1 has answered.
		wg.Go(func() {
			for n := range smartCCISSMax {
				d := smartDevice{ScanDevice: smartctl.ScanDevice{Name: node, Type: "cciss," + strconv.Itoa(n)}}
				d.controller, d.slot = controllerOf(d.ScanDevice)
				r, ok := read(d)
				if !ok || r.notFound() {
					return
				}
				keep(d, r)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// The run as a whole was cut short: its timeouts are not the devices'.
		return nil, err
	}

	slices.SortFunc(readings, func(a, b smartReading) int {
		return cmp.Or(cmp.Compare(a.dev.Name, b.dev.Name), cmp.Compare(a.dev.controller, b.dev.controller), compareSlots(a.dev.slot, b.dev.slot))
	})
	p.label(readings)
	var ms []prometheus.Metric
	for _, rd := range readings {
		ms = append(ms, p.deviceMetrics(rd.dev, rd.res, skips)...)
	}
	return ms, nil
}

// smartReading is one device and what smartctl said of it.
type smartReading struct {
	dev smartDevice
	res smartResult
}

// compareSlots orders "2" before "10", and aacraid's "0,0,2" by its parts.
func compareSlots(a, b string) int {
	as, bs := strings.Split(a, ","), strings.Split(b, ",")
	for i := range min(len(as), len(bs)) {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if c := cmp.Compare(x, y); errx == nil && erry == nil && c != 0 {
			return c
		}
		if c := cmp.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

// smartArrayDrivers are the drivers of HPE Smart Array controllers, whose
// disks smartctl reads only with -d cciss,N and never lists.
var smartArrayDrivers = []string{"hpsa", "smartpqi"}

// smartArrayNodes are the device nodes through which smartctl reaches each
// Smart Array controller's disks: a logical drive's block device, or the
// controller's own SCSI generic node when it has no logical drive (HBA
// mode), found through the PCI devices its driver holds.
func smartArrayNodes(sysfs string) []string {
	if sysfs == "" {
		return nil // never the working directory
	}
	var nodes []string
	for _, driver := range smartArrayDrivers {
		dir := filepath.Join(sysfs, "bus/pci/drivers", driver)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.Contains(e.Name(), ":") { // bind, unbind, module, new_id
				continue
			}
			for _, class := range []string{"block", "scsi_generic"} {
				found, _ := filepath.Glob(filepath.Join(dir, e.Name(), "host*", "target*", "*", class, "*"))
				if len(found) > 0 {
					slices.Sort(found)
					nodes = append(nodes, "/dev/"+filepath.Base(found[0]))
					break
				}
			}
		}
	}
	return nodes
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
		d.controller, d.slot = controllerOf(d.ScanDevice)
		devices = append(devices, d)
	}
	return devices, nil
}

// controllerOf names the controller and slot of a disk behind a RAID
// controller, whose type names both ("megaraid,5", "aacraid,0,0,2",
// "sat+megaraid,5"); empty for other disks.
func controllerOf(d smartctl.ScanDevice) (controller, slot string) {
	t := d.Type
	if _, after, ok := strings.Cut(t, "+"); ok {
		t = after
	}
	family, slot, ok := strings.Cut(t, ",")
	if !ok {
		return "", ""
	}
	return family + ":" + strings.TrimPrefix(d.Name, "/dev/"), slot
}

// label sets each reading's device label. A plain disk is its path
// ("sda", "nvme0"). A disk behind a controller is its serial, so its
// series follow it to another slot or controller: its WWN where two
// disks of the run share a serial, and its controller path and type
// ("bus/0:megaraid,5") when neither is told or unique. A disk asleep, or
// one smartctl failed on, reports no serial: the one it last had stands in.
func (p *smartProbe) label(readings []smartReading) {
	p.mu.Lock()
	defer p.mu.Unlock()
	serials := map[string]int{} // serials and WWNs of disks behind controllers
	ids := make([]smartctl.Identity, len(readings))
	for i, rd := range readings {
		key := rd.dev.Name + " " + rd.dev.Type
		id := rd.res.data.Identity
		switch {
		case rd.res.err != nil || rd.res.data.Standby:
			// A controller disk that failed to read keeps its name, so
			// its read_success 0 lands on its own series.
			id = p.known[key]
		default:
			if id.Type == "" {
				id.Type = rd.dev.Type
			}
			p.known[key] = id
		}
		ids[i] = id
		if rd.dev.controller != "" {
			serials[id.Serial]++
			serials[id.WWN]++
		}
	}
	names := map[string]int{}
	for _, rd := range readings {
		names[rd.dev.Name]++
	}
	used := map[string]bool{}
	for i := range readings {
		d, id := &readings[i].dev, ids[i]
		d.identity = id
		label := strings.TrimPrefix(d.Name, "/dev/")
		if d.controller != "" || names[d.Name] > 1 {
			label += ":" + d.Type
		}
		if d.controller != "" {
			switch {
			case id.Serial != "" && serials[id.Serial] == 1:
				label = id.Serial
			case id.WWN != "" && serials[id.WWN] == 1:
				label = id.WWN
			}
		}
		// Two readings must never share a label, or their series would
		// clash: a plain disk's path could equal another disk's serial.
		if used[label] {
			label = strings.TrimPrefix(d.Name, "/dev/") + ":" + d.Type
		}
		used[label] = true
		d.label = labelValue(label)
	}
}

// smartResult is what one device's smartctl run produced.
type smartResult struct {
	ran  bool // smartctl ran to its exit: exit is meaningful
	exit int
	data smartctl.Device
	err  error // no usable data: why
}

// notFound reports whether smartctl could not open the device at all,
// which ends a walk of controller slots.
func (r smartResult) notFound() bool {
	return r.ran && r.exit&2 != 0 && (r.err != nil || !r.data.Standby)
}

// readDevice runs smartctl on one device under the device timeout.
func (p *smartProbe) readDevice(ctx context.Context, o *SmartOptions, d smartDevice) smartResult {
	dctx, cancel := context.WithTimeoutCause(ctx, time.Duration(o.DeviceTimeout),
		fmt.Errorf("no answer from %s within %v", d.Name, time.Duration(o.DeviceTimeout)))
	defer cancel()
	args := []string{"--json", "--info", "--health", "--attributes", "--log=error", "--log=selftest", "--nocheck=standby"}
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
	var ms []prometheus.Metric
	add := func(desc *prometheus.Desc, value *float64, vt prometheus.ValueType, labels ...string) {
		if value != nil {
			ms = append(ms, constMetric(desc, vt, *value, append([]string{dev}, labels...)...))
		}
	}
	one := func(desc *prometheus.Desc, v float64, labels ...string) {
		add(desc, &v, prometheus.GaugeValue, labels...)
	}

	if r.ran && !(r.err == nil && r.data.Standby) {
		for bit, flag := range smartctl.ExitBitNames {
			one(smartExitStatusFlag, float64(r.exit>>bit&1), flag)
		}
	}
	if r.err != nil {
		what := d.Name
		if d.controller != "" {
			what += " -d " + d.Type
		}
		skips.Add(what, r.err)
		one(smartReadSuccess, 0)
		return ms
	}
	data := r.data
	one(smartReadSuccess, 1)
	one(smartStandby, boolValue(data.Standby))

	if id := d.identity; id.Model != "" || id.Serial != "" {
		one(smartDeviceInfo, 1, smartTypeOf(id.Type, data.Protocol), id.Model, id.Serial, id.Firmware, d.controller, d.slot)
	}
	if data.Passed != nil {
		one(smartHealthPassed, boolValue(*data.Passed))
	}
	// The value types, named so as not to shadow the package helpers.
	const asGauge, asCounter = prometheus.GaugeValue, prometheus.CounterValue
	add(smartTemperature, data.Temperature, asGauge)
	add(smartPowerOnSeconds, data.PowerOnSeconds, asCounter)
	add(smartPowerCycles, data.PowerCycles, asCounter)
	add(smartReallocated, data.Reallocated, asGauge)
	add(smartPending, data.Pending, asGauge)
	add(smartOfflineUncorrectable, data.OfflineUncorrectable, asGauge)
	add(smartNVMeCriticalWarning, data.CriticalWarning, asGauge)
	add(smartNVMeAvailableSpare, data.AvailableSpare, asGauge)
	add(smartNVMeAvailableSpareThreshold, data.AvailableSpareThreshold, asGauge)
	add(smartNVMePercentageUsed, data.PercentageUsed, asGauge)
	add(smartMediaErrors, data.MediaErrors, asCounter)

	for _, id := range slices.Sorted(maps.Keys(data.Attributes)) {
		a := data.Attributes[id]
		labels := []string{strconv.Itoa(id), a.Name}
		switch {
		case smartWearAttributes[id]:
			one(smartATAAttributeNormalized, a.Value, labels...)
			one(smartATAAttributeThreshold, a.Threshold, labels...)
		case id != 5 && id != 197 && id != 198:
			one(smartATAAttributeRaw, a.Raw, labels...)
		}
	}

	add(smartNVMeReadBytes, data.ReadBytes, asCounter)
	add(smartNVMeWrittenBytes, data.WrittenBytes, asCounter)
	add(smartNVMeUnsafeShutdowns, data.UnsafeShutdowns, asCounter)
	add(smartNVMeErrorLogEntries, data.ErrorLogEntries, asCounter)
	add(smartNVMeWarningTemperature, data.WarningTemperatureSeconds, asCounter)
	add(smartNVMeCriticalTemperature, data.CriticalTemperatureSeconds, asCounter)

	for _, op := range slices.Sorted(maps.Keys(data.ErrorCounters)) {
		c := data.ErrorCounters[op]
		add(smartSCSICorrectedErrors, c.Corrected, asCounter, op)
		add(smartSCSIUncorrectedErrors, c.Uncorrected, asCounter, op)
	}
	add(smartSCSIStartStopCycles, data.StartStopCycles, asCounter)
	add(smartSCSILoadUnloadCycles, data.LoadUnloadCycles, asCounter)
	add(smartSCSIPercentageUsed, data.SCSIPercentageUsed, asGauge)

	for _, kind := range []string{smartctl.SelfTestShort, smartctl.SelfTestExtended} {
		t, ok := data.SelfTests[kind]
		if !ok {
			continue
		}
		ms = append(ms, stateSet(smartSelfTestResult, smartSelfTestResults, t.Result, dev, kind)...)
		if data.PowerOnSeconds != nil {
			age := t.Age(*data.PowerOnSeconds/3600, strings.EqualFold(data.Protocol, "ATA")) * 3600
			one(smartSelfTestAge, age, kind)
		}
	}
	return ms
}

// smartTypeOf is a device's type without the controller part smartctl
// adds behind one ("sat+megaraid,5" is sat; "megaraid,5" alone is a SCSI
// disk), so that a disk keeps its info series in another slot.
func smartTypeOf(t, protocol string) string {
	if before, _, ok := strings.Cut(t, "+"); ok {
		return before
	}
	if strings.Contains(t, ",") {
		return strings.ToLower(protocol)
	}
	return t
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

// smartDevice is a device the scan listed or a Smart Array walk found.
type smartDevice struct {
	smartctl.ScanDevice
	controller, slot string // behind a RAID controller: see controllerOf

	// Set by label, once the device was read.
	label    string
	identity smartctl.Identity
}
