package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/format/ssacli"
	"github.com/hardware-exporter/hardware_exporter/internal/format/storcli"
	"github.com/hardware-exporter/hardware_exporter/internal/host/toolrun"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// Series are keyed by the tool's own address of a thing, so an operator can
// paste it back into the tool: controller "/c0" (storcli64 /c0 show) or
// "slot=0" (ssacli ctrl slot=0 show); a drive's enclosure and slot are
// storcli's EID and Slt, or ssacli's port:box and bay.
var (
	raidPDLabels = []string{"controller", "enclosure", "slot"}

	raidControllerInfo = Inventory(newDesc("raid", "controller_info",
		"Hardware RAID controller, value 1. family is megaraid (storcli64, perccli64) or smartarray (ssacli); controller is the tool's name for it (/c0, slot=0).",
		"controller", "family", "model", "serial", "firmware", "driver"))
	raidControllerState = newDesc("raid", "controller_state",
		"1 for the controller's current status, 0 for the others: ok (storcli Optimal or OK, ssacli OK), needs_attention, failed, or the tool's word.",
		"controller", "state")
	raidControllerTemperature = newDesc("raid", "controller_temperature_celsius",
		"Temperature of the controller's chip (storcli ROC temperature, ssacli Controller Temperature).", "controller")
	raidControllerMemoryErrors = newDesc("raid", "controller_memory_errors_total",
		"Errors of the controller's cache memory since it started (storcli Memory Correctable/Uncorrectable Errors).", "controller", "type")
	raidBackupUnitInfo = Inventory(newDesc("raid", "backup_unit_info",
		"Power backup of the controller's write cache, value 1: kind is bbu (battery), cachevault (Broadcom supercapacitor and flash) or capacitor (HPE Smart Storage Battery or capacitor pack).",
		"controller", "kind", "model"))
	raidBackupUnitHealthy = newDesc("raid", "backup_unit_healthy",
		"1 when the cache's power backup protects the cache (optimal, or a battery in its learn or charge cycle), 0 when it is failed, missing or degraded.", "controller")

	raidVDInfo = Inventory(newDesc("raid", "virtual_drive_info",
		"Virtual drive (MegaRAID VD, Smart Array logical drive), value 1.", "controller", "vd", "raid_level", "name"))
	raidVDState = withNote(newDesc("raid", "virtual_drive_state",
		"1 for the virtual drive's current state, 0 for the others: optimal, degraded, partially_degraded, offline, rebuilding, or the tool's word.", "controller", "vd", "state"),
		"degraded: no redundancy left (ssacli Interim Recovery or Ready for Rebuild); partially_degraded: some redundancy lost; offline: ssacli Failed; rebuilding: ssacli Recovering.")
	raidVDSize = Inventory(newDesc("raid", "virtual_drive_size_bytes",
		"Usable size of the virtual drive.", "controller", "vd"))
	raidVDProgress = newDesc("raid", "virtual_drive_progress_ratio",
		"Progress of the virtual drive's rebuild, from 0 to 1, where the tool reports one.", "controller", "vd")

	raidPDInfo = Inventory(newDesc("raid", "physical_drive_info",
		"Physical drive behind a RAID controller, value 1. device_id is MegaRAID's DID, the N of smartctl -d megaraid,N.",
		"controller", "enclosure", "slot", "device_id", "interface", "medium", "model", "serial", "firmware"))
	raidPDState = newDesc("raid", "physical_drive_state",
		"1 for the physical drive's current state, 0 for the others: online, offline, failed, rebuild, hot_spare, unconfigured_good, unconfigured_bad, jbod, missing, or the tool's word.",
		raidPDStateLabels...)
	raidPDSize = Inventory(newDesc("raid", "physical_drive_size_bytes",
		"Size of the physical drive as the controller uses it.", raidPDLabels...))
	raidPDTemperature = newDesc("raid", "physical_drive_temperature_celsius",
		"Temperature the drive reports to the controller.", raidPDLabels...)
	raidPDMediaErrors = newDesc("raid", "physical_drive_media_errors_total",
		"Media errors the controller counted on the drive (storcli Media Error Count).", raidPDLabels...)
	raidPDOtherErrors = newDesc("raid", "physical_drive_other_errors_total",
		"Other errors the controller counted on the drive: link resets, timeouts (storcli Other Error Count).", raidPDLabels...)
	raidPDPredictiveFailures = newDesc("raid", "physical_drive_predictive_failures_total",
		"Predictive failures the drive reported to the controller (storcli Predictive Failure Count).", raidPDLabels...)
	raidPDSMARTAlert = newDesc("raid", "physical_drive_smart_alert",
		"1 when the drive's SMART has tripped (storcli S.M.A.R.T alert flagged by drive; ssacli status Predictive Failure), else 0.", raidPDLabels...)
)

var raidPDStateLabels = []string{"controller", "enclosure", "slot", "state"}

// The states every series of a state-set carries, so a query for the 1
// can also see the 0s; a state outside these is added for that drive only.
var (
	raidControllerStates = []string{"ok", "needs_attention", "failed"}
	raidVDStates         = []string{"optimal", "degraded", "partially_degraded", "offline", "rebuilding"}
	raidPDStates         = []string{"online", "offline", "failed", "rebuild", "hot_spare", "unconfigured_good", "unconfigured_bad", "jbod"}
)

func init() {
	Register(Spec{
		Name:    "raid",
		Summary: "Hardware RAID controllers, their virtual and physical drives, through storcli64/perccli64 (MegaRAID, PERC) and ssacli (HPE Smart Array). Every controller, not only the first.",
		Reads: "`storcli64 /call show all J nolog` and `/call/eall/sall show all J nolog` (or perccli64): controller model, serial, firmware, status, temperature, memory errors, BBU/CacheVault; virtual drive level, size, state; physical drive state, errors, predictive failures, SMART alert, temperature. " +
			"`ssacli ctrl all show config detail`: controller, cache battery, logical and physical drives. A tool that is not installed or finds no controller leaves its family off.",
		Privilege: "root; under the hardened unit storcli/perccli need `CAP_SYS_ADMIN` and `/dev/megaraid_sas_ioctl_node`, ssacli `CAP_SYS_RAWIO` and `/dev/sg*` (see Hardware RAID controllers)",
		Interval:  5 * time.Minute,
		Timeout:   2 * time.Minute,
		Kind:      KindTool,
		Options:   func() any { return newRAIDOptions() },
		New:       func() Probe { return raidProbe{} },
	})
}

// RAIDOptions are the raid probe's own settings (probes.raid.*).
type RAIDOptions struct {
	Storcli confval.Path `yaml:"storcli" help:"Absolute path of storcli64, or of Dell's perccli64 (/opt/dell/srvadmin/sbin/perccli64), which prints the same JSON. A path where nothing is installed leaves MegaRAID off."`
	Ssacli  confval.Path `yaml:"ssacli" help:"Absolute path of HPE's ssacli. A path where nothing is installed leaves Smart Array off."`
}

func newRAIDOptions() *RAIDOptions {
	return &RAIDOptions{Storcli: "/opt/MegaRAID/storcli/storcli64", Ssacli: "/usr/sbin/ssacli"}
}

// raidProbe reads hardware RAID controllers through their vendors' tools.
type raidProbe struct{}

func (raidProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		raidControllerInfo, raidControllerState, raidControllerTemperature, raidControllerMemoryErrors,
		raidBackupUnitInfo, raidBackupUnitHealthy, firmwareInfoDesc,
		raidVDInfo, raidVDState, raidVDSize, raidVDProgress,
		raidPDInfo, raidPDState, raidPDSize, raidPDTemperature, raidPDMediaErrors, raidPDOtherErrors,
		raidPDPredictiveFailures, raidPDSMARTAlert,
	} {
		ch <- d
	}
}

// Available reports why neither tool can run on this host.
func (raidProbe) Available(env Env) error {
	return optionsOf(env, newRAIDOptions).available()
}

// available reports why neither tool can start, or nil when one can.
func (o *RAIDOptions) available() error {
	errStorcli := toolrun.Available(string(o.Storcli))
	errSsacli := toolrun.Available(string(o.Ssacli))
	if errStorcli == nil || errSsacli == nil {
		return nil
	}
	return fmt.Errorf("storcli: %w; ssacli: %w", errStorcli, errSsacli)
}

// errNoRAIDController is a family's tool answering that the host has none of
// its controllers: that family is left off, and it is not a failure.
var errNoRAIDController = errors.New("no controller found")

func (p raidProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	o, unlock, err := openTool(ctx, env, newRAIDOptions, nil)
	if err != nil {
		return nil, err
	}
	defer unlock()
	log := env.logger()

	families := []struct {
		name, command string
		read          func(context.Context, string, *Skips) (*raidMetrics, error)
	}{
		{"megaraid", string(o.Storcli), raidReadStorcli},
		{"smartarray", string(o.Ssacli), raidReadSsacli},
	}
	var (
		ms     []prometheus.Metric
		failed []error
		ran    int
	)
	for _, f := range families {
		if err := toolrun.Available(f.command); err != nil {
			log.Debug("raid family left off: tool not available", "family", f.name, "err", err)
			continue
		}
		rm, err := f.read(ctx, f.command, skips)
		if ctx.Err() != nil {
			// A hung tool: the run as a whole is out of time.
			return nil, fmt.Errorf("%s: %w", f.command, err)
		}
		switch {
		case errors.Is(err, errNoRAIDController):
			log.Info("raid family left off: no controller", "family", f.name, "tool", f.command, "err", err)
		case err != nil:
			failed = append(failed, fmt.Errorf("%s: %w", f.command, err))
		default:
			ran++
			ms = append(ms, rm.metrics...)
			for _, err := range rm.capped {
				skips.Add(f.command, err)
			}
		}
	}
	// One family failing must not hide the other's controllers; only when
	// nothing could be read is the run a failure (and the last good
	// metrics stay).
	if ran == 0 && len(failed) > 0 {
		return nil, errors.Join(failed...)
	}
	for _, err := range failed {
		skips.Add("raid", err)
	}
	return ms, nil
}

// raidMaxDrivesPerController bounds the physical (and virtual) drives
// exported per controller, far above real hardware (a MegaRAID 9600
// takes 240 drives): a tool printing 10k drives made 150k series and
// ~280 MB. The drives beyond it are left out and the controller counts
// as one read error.
const raidMaxDrivesPerController = 1024

// raidMetrics collects one family's series.
type raidMetrics struct {
	metrics []prometheus.Metric
	capped  []error // controllers with drives left out (raidMaxDrivesPerController)
}

// tooMany reports whether the n-th drive of controller ctrl (counting
// from 1) is beyond raidMaxDrivesPerController, recording the controller
// once when it is.
func (r *raidMetrics) tooMany(ctrl, kind string, n, total int) bool {
	if n <= raidMaxDrivesPerController {
		return false
	}
	if n == raidMaxDrivesPerController+1 {
		r.capped = append(r.capped, fmt.Errorf("controller %s lists %d %s drives; only the first %d are exported",
			ctrl, total, kind, raidMaxDrivesPerController))
	}
	return true
}

func (r *raidMetrics) gauge(d *prometheus.Desc, v float64, lv ...string) {
	for i := range lv {
		lv[i] = labelValue(lv[i])
	}
	r.metrics = append(r.metrics, constMetric(d, prometheus.GaugeValue, v, lv...))
}

func (r *raidMetrics) counter(d *prometheus.Desc, v *uint64, lv ...string) {
	if v == nil {
		return
	}
	for i := range lv {
		lv[i] = labelValue(lv[i])
	}
	r.metrics = append(r.metrics, constMetric(d, prometheus.CounterValue, float64(*v), lv...))
}

func (r *raidMetrics) optional(d *prometheus.Desc, v *float64, lv ...string) {
	if v != nil {
		r.gauge(d, *v, lv...)
	}
}

func (r *raidMetrics) flag(d *prometheus.Desc, v *bool, lv ...string) {
	if v != nil {
		r.gauge(d, boolValue(*v), lv...)
	}
}

// stateSet exports one series per known state, and the current one if it
// is not among them.
func (r *raidMetrics) stateSet(d *prometheus.Desc, known []string, current string, lv ...string) {
	current = labelValue(current)
	if current == "" {
		current = "unknown"
	}
	states := known
	if !slices.Contains(known, current) {
		states = append(slices.Clip(known), current)
	}
	for _, s := range states {
		r.gauge(d, boolValue(s == current), append(slices.Clip(lv), s)...)
	}
}

// --- MegaRAID through storcli64 / perccli64 ---------------------------------

// raidReadStorcli runs storcli twice: the controllers with their drive
// lists, then every drive's details (errors, serials, temperatures), which
// the first command does not print. nolog: storcli otherwise appends to a
// log file in its working directory on every call.
func raidReadStorcli(ctx context.Context, command string, skips *Skips) (*raidMetrics, error) {
	src := command + " /call show all J nolog"
	out, err := toolrun.Run(ctx, command, "/call", "show", "all", "J", "nolog")
	if err != nil {
		return nil, err
	}
	ctrls, err := storcli.ParseControllers(out.Stdout)
	var partial *storcli.PartialError
	var refused *storcli.CommandError
	switch {
	case errors.Is(err, storcli.ErrNoController):
		return nil, fmt.Errorf("%w: %w", errNoRAIDController, err)
	case errors.As(err, &partial):
		// Failure, yet with the controllers' data: used, and counted.
		skips.Add(src, err)
	case errors.As(err, &refused):
		return nil, err // storcli's JSON says why, in its words
	case err != nil:
		if failed := out.Failed(false, "no storcli JSON"); failed != nil {
			return nil, fmt.Errorf("%w (%w)", failed, err)
		}
		return nil, err
	}

	drivesSrc := command + " /call/eall/sall show all J nolog"
	out, err = toolrun.Run(ctx, command, "/call/eall/sall", "show", "all", "J", "nolog")
	if ctx.Err() != nil {
		return nil, err
	}
	if err == nil {
		var drives []storcli.PhysicalDrive
		drives, err = storcli.ParseDrives(out.Stdout)
		if err == nil || errors.Is(err, storcli.ErrNoController) || errors.As(err, &partial) {
			// A controller without drives answers "no drive found": the
			// lists of the first command are all there is. A Failure
			// that printed the drives anyway is used, and counted below.
			storcli.MergeDrives(ctrls, drives)
			if !errors.As(err, &partial) {
				err = nil
			}
		}
	}
	if err != nil {
		skips.Add(drivesSrc, err)
	}

	r := &raidMetrics{}
	for _, c := range ctrls {
		if c.Failure != "" {
			skips.Add(src, fmt.Errorf("controller %d: %s", c.Index, c.Failure))
			continue
		}
		raidStorcliController(r, c)
	}
	return r, nil
}

func raidStorcliController(r *raidMetrics, c storcli.Controller) {
	ctrl := "/c" + strconv.Itoa(c.Index)
	firmware := c.FirmwarePackage
	if firmware == "" {
		firmware = c.FirmwareVersion
	}
	driver := strings.TrimSpace(c.DriverName + " " + c.DriverVersion)
	r.gauge(raidControllerInfo, 1, ctrl, "megaraid", c.Model, c.Serial, firmware, driver)
	r.metrics = append(r.metrics, firmwareInfo(firmwareRAIDController, ctrl, "", labelValue(c.Model), labelValue(firmware))...)
	if c.Status != "" {
		r.stateSet(raidControllerState, raidControllerStates, raidControllerStatus(c.Status), ctrl)
	}
	r.optional(raidControllerTemperature, c.TemperatureCelsius, ctrl)
	r.counter(raidControllerMemoryErrors, c.MemoryCorrectableErrors, ctrl, "correctable")
	r.counter(raidControllerMemoryErrors, c.MemoryUncorrectableErrors, ctrl, "uncorrectable")
	if b := c.Backup; b != nil {
		r.gauge(raidBackupUnitInfo, 1, ctrl, b.Kind, b.Model)
		r.gauge(raidBackupUnitHealthy, boolValue(b.Healthy), ctrl)
	}

	seenVD := map[int]bool{}
	for _, vd := range c.VirtualDrives {
		if seenVD[vd.ID] {
			continue
		}
		seenVD[vd.ID] = true
		if r.tooMany(ctrl, "virtual", len(seenVD), len(c.VirtualDrives)) {
			break
		}
		id := strconv.Itoa(vd.ID)
		r.gauge(raidVDInfo, 1, ctrl, id, vd.RAIDLevel, vd.Name)
		r.stateSet(raidVDState, raidVDStates, vd.State, ctrl, id)
		if vd.SizeBytes != 0 {
			r.gauge(raidVDSize, float64(vd.SizeBytes), ctrl, id)
		}
	}

	seenPD := map[string]bool{}
	for _, d := range c.PhysicalDrives {
		slot := strconv.Itoa(d.Slot)
		if key := d.Enclosure + ":" + slot; seenPD[key] {
			continue
		} else {
			seenPD[key] = true
		}
		if r.tooMany(ctrl, "physical", len(seenPD), len(c.PhysicalDrives)) {
			break
		}
		r.gauge(raidPDInfo, 1, ctrl, d.Enclosure, slot, strconv.Itoa(d.DeviceID), d.Interface, d.Medium, d.Model, d.Serial, d.Firmware)
		r.metrics = append(r.metrics, raidDriveFirmware(ctrl, d.Enclosure, slot, d.Model, d.Firmware)...)
		r.stateSet(raidPDState, raidPDStates, d.State, ctrl, d.Enclosure, slot)
		if d.SizeBytes != 0 {
			r.gauge(raidPDSize, float64(d.SizeBytes), ctrl, d.Enclosure, slot)
		}
		r.optional(raidPDTemperature, d.TemperatureCelsius, ctrl, d.Enclosure, slot)
		r.counter(raidPDMediaErrors, d.MediaErrors, ctrl, d.Enclosure, slot)
		r.counter(raidPDOtherErrors, d.OtherErrors, ctrl, d.Enclosure, slot)
		r.counter(raidPDPredictiveFailures, d.PredictiveFailures, ctrl, d.Enclosure, slot)
		r.flag(raidPDSMARTAlert, d.SMARTAlert, ctrl, d.Enclosure, slot)
	}
}

// raidControllerStatus maps both tools' controller statuses to one set.
func raidControllerStatus(s string) string {
	l := strings.ToLower(strings.TrimSpace(s))
	switch {
	case l == "optimal" || l == "ok":
		return "ok"
	case l == "needs attention":
		return "needs_attention"
	case strings.HasPrefix(l, "failed"):
		return "failed"
	}
	return strings.Join(strings.Fields(l), "_")
}

// --- HPE Smart Array through ssacli -----------------------------------------

// raidSsacliNoController is what ssacli prints (with exit status 1) on a
// host without a Smart Array controller.
var raidSsacliNoController = []byte("No controllers detected")

func raidReadSsacli(ctx context.Context, command string, skips *Skips) (*raidMetrics, error) {
	out, err := toolrun.Run(ctx, command, "ctrl", "all", "show", "config", "detail")
	if err != nil {
		return nil, err
	}
	ctrls, err := ssacli.Parse(out.Stdout)
	if err != nil {
		return nil, err
	}
	if len(ctrls) == 0 {
		if bytes.Contains(out.Stdout, raidSsacliNoController) || bytes.Contains(out.Stderr, raidSsacliNoController) {
			return nil, fmt.Errorf("%w: %s", errNoRAIDController, out.Message())
		}
		if err := out.Failed(false, "no controller"); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: ssacli printed nothing", errNoRAIDController)
	}
	r := &raidMetrics{}
	seen := map[string]bool{}
	for _, c := range ctrls {
		ctrl := "slot=" + c.Slot
		if seen[ctrl] {
			skips.Add(command, fmt.Errorf("controller in slot %s listed twice", c.Slot))
			continue
		}
		seen[ctrl] = true
		raidSsacliController(r, c)
	}
	return r, nil
}

func raidSsacliController(r *raidMetrics, c ssacli.Controller) {
	ctrl := "slot=" + c.Slot
	driver := strings.TrimSpace(c.DriverName + " " + c.DriverVersion)
	r.gauge(raidControllerInfo, 1, ctrl, "smartarray", c.Model, c.Serial, c.Firmware, driver)
	r.metrics = append(r.metrics, firmwareInfo(firmwareRAIDController, ctrl, "", labelValue(c.Model), labelValue(c.Firmware))...)
	if c.Status != "" {
		r.stateSet(raidControllerState, raidControllerStates, raidControllerStatus(c.Status), ctrl)
	}
	r.optional(raidControllerTemperature, c.TemperatureCelsius, ctrl)
	if c.BatteryStatus != "" {
		kind := "capacitor"
		if strings.HasPrefix(strings.ToLower(c.BackupPowerSource), "batter") {
			kind = "bbu"
		}
		r.gauge(raidBackupUnitInfo, 1, ctrl, kind, "")
		r.gauge(raidBackupUnitHealthy, boolValue(strings.EqualFold(c.BatteryStatus, "OK")), ctrl)
	}

	seenLD := map[int]bool{}
	for _, ld := range c.LogicalDrives {
		if seenLD[ld.ID] {
			continue
		}
		seenLD[ld.ID] = true
		if r.tooMany(ctrl, "logical", len(seenLD), len(c.LogicalDrives)) {
			break
		}
		id := strconv.Itoa(ld.ID)
		r.gauge(raidVDInfo, 1, ctrl, id, ld.RAIDLevel, "")
		r.stateSet(raidVDState, raidVDStates, raidLogicalDriveState(ld.Status), ctrl, id)
		if ld.SizeBytes != 0 {
			r.gauge(raidVDSize, float64(ld.SizeBytes), ctrl, id)
		}
		if ld.ProgressPercent != nil {
			r.gauge(raidVDProgress, *ld.ProgressPercent/100, ctrl, id)
		}
	}

	seenPD := map[string]bool{}
	for _, d := range c.PhysicalDrives {
		enclosure := d.Port + ":" + d.Box
		if seenPD[d.ID] {
			continue
		}
		seenPD[d.ID] = true
		if r.tooMany(ctrl, "physical", len(seenPD), len(c.PhysicalDrives)) {
			break
		}
		r.gauge(raidPDInfo, 1, ctrl, enclosure, d.Bay, "", d.Interface, "", d.Model, d.Serial, d.Firmware)
		r.metrics = append(r.metrics, raidDriveFirmware(ctrl, enclosure, d.Bay, d.Model, d.Firmware)...)
		r.stateSet(raidPDState, raidPDStates, raidSsacliDriveState(d), ctrl, enclosure, d.Bay)
		if d.SizeBytes != 0 {
			r.gauge(raidPDSize, float64(d.SizeBytes), ctrl, enclosure, d.Bay)
		}
		r.optional(raidPDTemperature, d.TemperatureCelsius, ctrl, enclosure, d.Bay)
		r.gauge(raidPDSMARTAlert, boolValue(d.Status == "predictive_failure"), ctrl, enclosure, d.Bay)
	}
}

// raidLogicalDriveState maps ssacli's logical drive statuses onto storcli's
// virtual drive states, so one alert covers both families.
func raidLogicalDriveState(s string) string {
	switch s {
	case "ok":
		return "optimal"
	case "interim_recovery", "ready_for_rebuild":
		return "degraded"
	case "recovering":
		return "rebuilding"
	case "failed":
		return "offline"
	}
	return s
}

// raidSsacliDriveState maps ssacli's drive status, which says OK for data
// drives, spares and unassigned drives alike, onto storcli's drive states
// using the drive's type. A drive in predictive failure is still online;
// its SMART alert says the rest.
func raidSsacliDriveState(d ssacli.PhysicalDrive) string {
	switch d.Status {
	case "ok", "predictive_failure":
		switch t := strings.ToLower(d.DriveType); {
		case strings.HasPrefix(t, "spare"):
			return "hot_spare"
		case strings.HasPrefix(t, "unassigned"):
			return "unconfigured_good"
		case strings.HasPrefix(t, "hba"):
			return "jbod"
		}
		return "online"
	case "rebuilding":
		return "rebuild"
	}
	return d.Status
}
