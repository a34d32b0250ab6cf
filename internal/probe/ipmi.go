package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/ipmitool"
	"github.com/hardware-exporter/hardware_exporter/internal/host/toolrun"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
	"golang.org/x/sys/unix"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	ipmiSensorState = withNote(newDesc("ipmi", "sensor_state",
		"State of the BMC sensor from ipmitool sdr elist: 0 ok, 1 non-critical, 2 critical, 3 non-recoverable.", "sensor", "type"),
		"A discrete sensor is 2 when an asserted event reports a failure (Failure detected, Power Supply AC lost, Redundancy Lost). A sensor without a reading (ns) has no series. A name the BMC uses twice is qualified with its entity, as in \"Temp (3.1)\"; type is derived from the unit, or for discrete sensors from the name and entity.")
	ipmiTemperature = newDesc("ipmi", "temperature_celsius",
		"Temperature the BMC reads from the sensor (ipmitool sdr elist).", "sensor")
	ipmiFanSpeed = newDesc("ipmi", "fan_speed_rpm",
		"Fan speed the BMC reads from the sensor (ipmitool sdr elist).", "sensor")
	ipmiVoltage = newDesc("ipmi", "voltage_volts",
		"Voltage the BMC reads from the sensor (ipmitool sdr elist).", "sensor")
	ipmiCurrent = newDesc("ipmi", "current_amperes",
		"Current the BMC reads from the sensor (ipmitool sdr elist).", "sensor")
	ipmiPower = newDesc("ipmi", "power_watts",
		"Power the BMC reads from the sensor (ipmitool sdr elist).", "sensor")
	ipmiRatio = newDesc("ipmi", "sensor_ratio",
		"Reading in percent of a BMC sensor, as a share 0 to 1 (ipmitool sdr elist): fan duty, utilisation, humidity; the sensor's type label says which.", "sensor")
	ipmiAirflow = newDesc("ipmi", "airflow_cubic_meters_per_second",
		"Airflow the BMC reads from the sensor (ipmitool sdr elist, printed in CFM), in cubic metres per second.", "sensor")
	ipmiFRUInfo = Inventory(newDesc("ipmi", "fru_info",
		"Field replaceable unit the BMC describes (ipmitool fru print), value 1; fru is the FRU device description. On Supermicro boards the system's serial is often only the chassis serial.",
		"fru", "board_manufacturer", "board_product", "board_serial", "board_part_number", "board_mfg_date",
		"product_manufacturer", "product_name", "product_serial", "product_part_number", "product_version", "product_asset_tag",
		"chassis_serial", "chassis_part_number"))
	ipmiPSURatedWatts = Inventory(withNote(newDesc("ipmi", "power_supply_rated_watts",
		"Output capacity a power supply's FRU states in its name or model number (ipmitool fru print); fru is the FRU device description as in hardware_ipmi_fru_info.", "fru"),
		"Read from names such as \"PWR SPLY,1400W,RDNT\", \"HPE 800W ... Pwr Sply Kit\" and \"PWS-1K62A-1R\". No series for a PSU whose name states no capacity in a known form. Many supplies deliver less at low-line (100-127 V) input than the name says."))
	ipmiDCMIPower = withNote(newDesc("ipmi", "dcmi_power_watts",
		"Power the whole system draws as the BMC's DCMI power meter reads it (ipmitool dcmi power reading): stat instantaneous, minimum, maximum or average.", "stat"),
		"minimum, maximum and average are over the BMC's sampling period. No series on BMCs without DCMI power readings.")
	ipmiChassisPowerOn = newDesc("ipmi", "chassis_power_on",
		"1 when the BMC says the system is powered on (ipmitool chassis status), else 0.")
	ipmiChassisIntrusion = newDesc("ipmi", "chassis_intrusion",
		"1 while the BMC reports the chassis open (ipmitool chassis status Chassis Intrusion: active), else 0.")
	ipmiChassisFrontPanelLockout = newDesc("ipmi", "chassis_front_panel_lockout",
		"1 while the front panel buttons are locked out (ipmitool chassis status), else 0.")
	ipmiChassisFault = newDesc("ipmi", "chassis_fault",
		"1 while the BMC reports the fault (ipmitool chassis status): drive, cooling (Cooling/Fan Fault), main_power, power_control, power_overload, power_interlock; else 0.", "fault")
	ipmiChassisRestorePolicy = newDesc("ipmi", "chassis_power_restore_policy",
		"What the system does when AC power returns (ipmitool chassis status Power Restore Policy): 1 for the policy set, 0 for the others.", "policy")
	ipmiBMCInfo = Inventory(newDesc("ipmi", "bmc_info",
		"The BMC (management controller) as ipmitool mc info describes it, value 1.",
		"manufacturer", "manufacturer_id", "product_id", "firmware_revision", "ipmi_version"))
)

func init() {
	Register(Spec{
		Name:      "ipmi",
		Summary:   "BMC sensors, power meter, chassis state and FRU inventory through ipmitool. A BMC is slow to answer.",
		Reads:     "each run, in one `ipmitool exec`: `sdr elist` (sensor readings and states), `dcmi power reading` (where the BMC has a DCMI power meter), `chassis status` (intrusion, faults, restore policy); every `inventory_interval` (6h) and after a hot-swap hint: `ipmitool fru print` (board, product and chassis serials, part numbers), `ipmitool mc info` (BMC firmware)",
		Privilege: "root (`/dev/ipmi0`)",
		Interval:  5 * time.Minute,
		Timeout:   2 * time.Minute,
		Kind:      KindTool,
		Options:   func() any { return newIPMIOptions() },
		New:       func() Probe { return &ipmiProbe{} },
	})
}

// IPMIOptions are the ipmi probe's own settings (probes.ipmi.*).
type IPMIOptions struct {
	Command           confval.Path     `yaml:"command" help:"Absolute path of ipmitool."`
	InventoryInterval confval.Duration `yaml:"inventory_interval" check:"positive" help:"How often fru print and mc info, which change only with the hardware, are read again. Read sooner after a failed sensor read, a sensor that appears, goes or reports a part absent, or a new SEL entry of a hot-swap type."`
}

func newIPMIOptions() *IPMIOptions {
	return &IPMIOptions{Command: "/usr/bin/ipmitool", InventoryInterval: confval.Duration(6 * time.Hour)}
}

func (o *IPMIOptions) available() error { return toolrun.Available(string(o.Command)) }

// ipmiProbe reads the BMC's sensors and FRU inventory through ipmitool.
//
// The readings (sdr elist, dcmi power reading, chassis status) are asked
// every run in one ipmitool process (ipmitool exec); a command whose part
// of that run does not parse is run again on its own, and judged as
// before. The inventory (fru print, mc info) changes only with the
// hardware: it is read on the first run, every inventory_interval, and
// sooner on a hint that parts changed, and its last parsed result is
// re-emitted by the runs between. The probe remembers what the BMC said it
// lacks (a DCMI power meter, chassis status) so that it is not asked every
// run (re-asked after ipmiReaskUnsupported, as a firmware update can add
// it), and an ipmitool whose exec fails, so that the fallback is not paid
// twice a run.
type ipmiProbe struct {
	mu                 sync.Mutex
	dcmiUnsupported    time.Time // when the BMC last said it has no DCMI power meter
	chassisUnsupported time.Time // when the BMC last said it does not implement chassis status
	execFailed         time.Time // when ipmitool exec last failed as a whole
	fru, mc            inventoryPass
	frus               []ipmitool.FRU
	mcInfo             *ipmitool.MCInfo // nil once mc info was read: the BMC does not implement it
	presence           string           // ipmiPresence of the last sensors read
	now                func() time.Time
	hints              *atomic.Uint64 // nil: inventoryHints, the daemon's
}

// ipmiReaskUnsupported is how long a capability the BMC said it lacks is
// left unasked.
const ipmiReaskUnsupported = 6 * time.Hour

func (*ipmiProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		ipmiSensorState, ipmiTemperature, ipmiFanSpeed, ipmiVoltage, ipmiCurrent, ipmiPower, ipmiFRUInfo,
		ipmiRatio, ipmiAirflow, ipmiPSURatedWatts, ipmiDCMIPower, ipmiChassisPowerOn, ipmiChassisIntrusion,
		ipmiChassisFrontPanelLockout, ipmiChassisFault, ipmiChassisRestorePolicy, ipmiBMCInfo, firmwareInfoDesc,
	} {
		ch <- d
	}
}

// Available reports why the probe has nothing to read on this host: no
// ipmitool, or no BMC it may talk to. ipmitool installed on a host without
// a BMC would only ever fail.
func (p *ipmiProbe) Available(env Env) error {
	if err := optionsOf(env, newIPMIOptions).available(); err != nil {
		return err
	}
	return bmcAvailable(env.Paths)
}

// bmcDevices are where a BMC's device appears: the class directory the
// ipmi_devintf driver populates (under SysFS), and the device nodes
// ipmitool opens (under RootFS), in the order it tries them.
var (
	bmcSysfsClass = filepath.Join("class", "ipmi")
	bmcDevNodes   = []string{"dev/ipmi0", "dev/ipmi/0", "dev/ipmidev/0"}
)

// bmcAvailable reports why ipmitool cannot reach a local BMC, decided from
// the configured roots so that fixtures can test it: no IPMI device at all
// (no BMC, or ipmi_si and ipmi_devintf not loaded), or a device node this
// process may not open read-write, as ipmitool does (the udev rule in
// deploy/udev grants that to the hardware_exporter group; without it the
// probes stay off rather than fail every run).
func bmcAvailable(paths Paths) error {
	for _, n := range bmcDevNodes {
		node := filepath.Join(paths.RootFS, n)
		if _, err := os.Stat(node); err != nil {
			continue
		}
		if err := unix.Access(node, unix.R_OK|unix.W_OK); err != nil {
			return fmt.Errorf("no access to %s (%v): ipmitool opens it read-write; see deploy/udev", node, err)
		}
		return nil
	}
	if matches, _ := filepath.Glob(filepath.Join(paths.SysFS, bmcSysfsClass, "ipmi*")); len(matches) > 0 {
		return nil
	}
	return fmt.Errorf("no BMC: %s has no ipmi device and none of /dev/ipmi0, /dev/ipmi/0, /dev/ipmidev/0 exists (load ipmi_si and ipmi_devintf)",
		filepath.Join(paths.SysFS, bmcSysfsClass))
}

func (p *ipmiProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	o, unlock, err := openTool(ctx, env, newIPMIOptions, &p.mu)
	if err != nil {
		return nil, err
	}
	defer unlock()
	command := string(o.Command)
	now := time.Now()
	if p.now != nil {
		now = p.now()
	}

	r, err := p.readings(ctx, env, command, now)
	if err != nil {
		return nil, err
	}

	// The inventory is read again when it is due, and at once when the
	// sensors hint that parts changed: the sensors could not be read (as
	// before the split, a BMC that answers neither fails the run), or a
	// sensor appeared, went or changed its presence.
	hint := p.hint()
	changed := r.sdrErr != nil
	if r.sdrErr == nil {
		presence := ipmiPresence(r.sensors)
		changed = changed || p.presence != "" && presence != p.presence
		p.presence = presence
	}
	every := time.Duration(o.InventoryInterval)
	if every <= 0 {
		every = time.Duration(newIPMIOptions().InventoryInterval)
	}

	fruSrc := command + " fru print"
	var fruErr error
	if changed || p.fru.due(now, every, hint) {
		p.fru.reset()
		p.frus = nil
		fruOut, err := toolrun.Run(ctx, command, "fru", "print")
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", fruSrc, err)
		}
		fruErr = err
		var frus []ipmitool.FRU
		if fruErr == nil {
			frus = ipmitool.ParseFRU(fruOut.Stdout)
			fruErr = fruOut.Failed(len(frus) > 0, "no FRU Device Description lines")
		}
		if fruErr == nil {
			// Kept only when read: a failed read is tried again next run.
			p.frus = frus
			p.fru.done(now, hint)
		}
	}

	switch {
	case r.sdrErr != nil && fruErr != nil:
		return nil, fmt.Errorf("%s: %w; %s: %w", r.sdrSrc, r.sdrErr, fruSrc, fruErr)
	case r.sdrErr != nil:
		skips.Add(r.sdrSrc, r.sdrErr)
	case fruErr != nil:
		skips.Add(fruSrc, fruErr)
	}

	var ms []prometheus.Metric
	if r.sdrErr == nil {
		for _, err := range r.lineErrs {
			skips.Add(r.sdrSrc, err)
		}
		ms = append(ms, ipmiSensorMetrics(r.sensors, r.sdrSrc, skips)...)
	}
	if fruErr == nil {
		ms = append(ms, ipmiFRUMetrics(p.frus, fruSrc, skips)...)
	}
	for _, add := range r.skips {
		skips.Add(add.src, add.err)
	}
	ms = append(ms, r.bmc...)

	src := command + " mc info"
	if changed || p.mc.due(now, every, hint) {
		p.mc.reset()
		p.mcInfo = nil
		out, err := toolrun.Run(ctx, command, "mc", "info")
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		if err == nil {
			var info ipmitool.MCInfo
			if info, err = ipmitool.ParseMCInfo(out.Stdout); err == nil {
				p.mcInfo = &info
			} else {
				// Nothing printed and exit 0, or a BMC that does not
				// implement the command, is an answer: no series.
				_, err = ipmiOptionalFailed(env, src, out, "no Device ID line")
			}
		}
		if err != nil {
			skips.Add(src, err)
		} else {
			p.mc.done(now, hint)
		}
	}
	if info := p.mcInfo; info != nil {
		ms = append(ms, gauge(ipmiBMCInfo, 1, info.ManufacturerName, strconv.FormatUint(uint64(info.ManufacturerID), 10),
			strconv.FormatUint(uint64(info.ProductID), 10), info.FirmwareRevision, info.IPMIVersion))
		ms = append(ms, firmwareInfo(firmwareBMC, "", labelValue(info.ManufacturerName),
			strconv.FormatUint(uint64(info.ProductID), 10), labelValue(info.FirmwareRevision))...)
	}
	return ms, nil
}

// hint is the count of hints that parts may have changed.
func (p *ipmiProbe) hint() uint64 {
	if p.hints != nil {
		return p.hints.Load()
	}
	return inventoryHints.Load()
}

// ipmiPresence sums up which sensors exist and which of them say their
// part is there: a PSU, disk or DIMM pulled or inserted changes it (its
// sensor goes, comes, stops reading or reports Device Absent), a reading
// moving does not.
func ipmiPresence(sensors []ipmitool.Sensor) string {
	var b strings.Builder
	for _, s := range sensors {
		b.WriteString(s.Name)
		b.WriteByte(0)
		b.WriteString(s.Entity)
		switch {
		case s.Status == "ns":
			b.WriteString("\x00ns")
		case ipmiAbsent(strings.Split(s.Reading, ", ")):
			b.WriteString("\x00absent")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// ipmiSkip is a read error found while the readings were gathered, added
// to the run's skips in the order the series are built.
type ipmiSkip struct {
	src string
	err error
}

// ipmiReadings are the readings of one run: the sensors (or why they could
// not be read), and the DCMI and chassis series.
type ipmiReadings struct {
	sdrSrc   string
	sensors  []ipmitool.Sensor
	lineErrs []error
	sdrErr   error
	bmc      []prometheus.Metric
	skips    []ipmiSkip
}

// readings asks the BMC for its readings in one ipmitool run, and runs on
// its own each command whose part of it did not parse (or all of them when
// ipmitool exec failed). Only a cancelled run is an error.
func (p *ipmiProbe) readings(ctx context.Context, env Env, command string, now time.Time) (ipmiReadings, error) {
	r := ipmiReadings{sdrSrc: command + " sdr elist"}
	asked := func(since time.Time) bool {
		return since.IsZero() || now.Sub(since) >= ipmiReaskUnsupported || now.Before(since)
	}
	askDCMI, askChassis := asked(p.dcmiUnsupported), asked(p.chassisUnsupported)
	cmds := [][]string{{"sdr", "elist"}}
	if askDCMI {
		cmds = append(cmds, []string{"dcmi", "power", "reading"})
	}
	if askChassis {
		cmds = append(cmds, []string{"chassis", "status"})
	}
	var sections [][]byte
	if asked(p.execFailed) {
		var err error
		sections, err = ipmiExec(ctx, command, cmds)
		if ctx.Err() != nil {
			return r, fmt.Errorf("%s exec: %w", command, err)
		}
		if err != nil || sections[0] == nil {
			// An ipmitool without exec, or one that cannot read the
			// file: separate runs, and exec is tried again later.
			env.logger().Debug("ipmitool exec failed; running each command on its own", "command", command, "err", err)
			p.execFailed, sections = now, nil
		} else {
			p.execFailed = time.Time{}
		}
	}
	section := func(cmd string) []byte {
		for i, c := range cmds {
			if c[0] == cmd && sections != nil {
				return sections[i]
			}
		}
		return nil
	}

	if sec := section("sdr"); sec != nil {
		if sensors, lineErrs := ipmitool.ParseSDR(sec); len(sensors) > 0 {
			r.sensors, r.lineErrs = sensors, lineErrs
		}
	}
	if r.sensors == nil {
		// On its own, judged as before the exec run, so that a failure
		// is reported in ipmitool's words (its stderr cannot be told
		// apart by command in exec). fru print is never in the exec run:
		// a BMC whose FRU reads fail (common with PSU FRUs behind a
		// PMBus mux) still reports its sensors, and the other way round.
		out, err := toolrun.Run(ctx, command, "sdr", "elist")
		if ctx.Err() != nil {
			return r, fmt.Errorf("%s: %w", r.sdrSrc, err)
		}
		if err == nil {
			r.sensors, r.lineErrs = ipmitool.ParseSDR(out.Stdout)
			err = out.Failed(len(r.sensors) > 0, "no sensor lines")
		}
		r.sdrErr = err
	}

	if askDCMI {
		src := command + " dcmi power reading"
		var err error
		done := false
		if sec := section("dcmi"); sec != nil {
			pr, perr := ipmitool.ParseDCMIPowerReading(sec)
			if perr == nil || errors.Is(perr, ipmitool.ErrUnsupported) {
				r.bmc = append(r.bmc, p.dcmiMetrics(env, now, pr, perr)...)
				done = true
			}
		}
		if !done {
			var out toolrun.Output
			out, err = toolrun.Run(ctx, command, "dcmi", "power", "reading")
			if ctx.Err() != nil {
				return r, fmt.Errorf("%s: %w", src, err)
			}
			if err == nil && out.ExitCode == 0 && len(bytes.TrimSpace(out.Stdout)) == 0 && len(bytes.TrimSpace(out.Stderr)) == 0 {
				// Nothing printed and exit 0: nothing to report.
			} else if err == nil {
				pr, perr := ipmitool.ParseDCMIPowerReading(append(slices.Clip(out.Stdout), out.Stderr...))
				r.bmc = append(r.bmc, p.dcmiMetrics(env, now, pr, perr)...)
				if perr != nil && !errors.Is(perr, ipmitool.ErrUnsupported) {
					err = perr
				}
			}
		}
		if err != nil {
			r.skips = append(r.skips, ipmiSkip{src, err})
		}
	}

	if askChassis {
		src := command + " chassis status"
		var err error
		done := false
		if sec := section("chassis"); sec != nil {
			if cs, perr := ipmitool.ParseChassisStatus(sec); perr == nil {
				r.bmc = append(r.bmc, ipmiChassisMetrics(cs)...)
				done = true
			}
		}
		if !done {
			var out toolrun.Output
			out, err = toolrun.Run(ctx, command, "chassis", "status")
			if ctx.Err() != nil {
				return r, fmt.Errorf("%s: %w", src, err)
			}
			if err == nil {
				var cs ipmitool.ChassisStatus
				if cs, err = ipmitool.ParseChassisStatus(out.Stdout); err == nil {
					r.bmc = append(r.bmc, ipmiChassisMetrics(cs)...)
				} else {
					// Nothing printed and exit 0 is a BMC with nothing to say.
					var unsupported bool
					unsupported, err = ipmiOptionalFailed(env, src, out, "no System Power line")
					if unsupported {
						p.chassisUnsupported = now
					}
				}
			}
		}
		if err != nil {
			r.skips = append(r.skips, ipmiSkip{src, err})
		}
	}
	return r, nil
}

// dcmiMetrics maps a parsed DCMI power reading, remembering a BMC that has
// no power meter. A reading that is neither active nor above zero is no
// reading.
func (p *ipmiProbe) dcmiMetrics(env Env, now time.Time, pr ipmitool.PowerReading, err error) []prometheus.Metric {
	switch {
	case errors.Is(err, ipmitool.ErrUnsupported):
		p.dcmiUnsupported = now
		env.logger().Debug("the BMC has no DCMI power meter; asking again later", "after", ipmiReaskUnsupported, "message", err)
	case err == nil && (pr.Active || pr.Instantaneous > 0):
		p.dcmiUnsupported = time.Time{}
		return []prometheus.Metric{
			gauge(ipmiDCMIPower, pr.Instantaneous, "instantaneous"),
			gauge(ipmiDCMIPower, pr.Minimum, "minimum"),
			gauge(ipmiDCMIPower, pr.Maximum, "maximum"),
			gauge(ipmiDCMIPower, pr.Average, "average"),
		}
	}
	return nil
}

// ipmiExec runs cmds in one ipmitool process (ipmitool exec on a file
// written for the run; a regular file, as ipmitool built with
// --enable-file-security refuses anything else) and returns each
// command's stdout, nil for a command whose part is missing.
func ipmiExec(ctx context.Context, command string, cmds [][]string) ([][]byte, error) {
	script, err := ipmitool.ExecScript(cmds)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "hardware_exporter-ipmitool-*.txt")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(script)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	out, err := toolrun.Run(ctx, command, "exec", f.Name())
	if err != nil {
		return nil, err
	}
	return ipmitool.SplitExec(out.Stdout, len(cmds)), nil
}

// ipmiOptionalFailed judges an optional command whose output did not
// parse: a BMC that answers it does not implement the command (completion
// code c1 "Invalid command", "not supported") lacks the feature, as a BMC
// without DCMI does, which is no read error (unsupported); anything else
// is judged as any tool run.
func ipmiOptionalFailed(env Env, src string, out toolrun.Output, what string) (unsupported bool, err error) {
	if err := ipmitool.Unsupported(append(slices.Clip(out.Stdout), out.Stderr...)); err != nil {
		env.logger().Debug("the BMC does not implement an optional command", "command", src, "message", err)
		return true, nil
	}
	return false, out.Failed(false, what)
}

// ipmiRestorePolicies are the policies chassis status prints.
var ipmiRestorePolicies = []string{"always-off", "always-on", "previous", "unknown"}

func ipmiChassisMetrics(cs ipmitool.ChassisStatus) []prometheus.Metric {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	ms := []prometheus.Metric{
		gauge(ipmiChassisPowerOn, b(cs.PowerOn)),
		gauge(ipmiChassisIntrusion, b(cs.ChassisIntrusion)),
		gauge(ipmiChassisFrontPanelLockout, b(cs.FrontPanelLockout)),
		gauge(ipmiChassisFault, b(cs.DriveFault), "drive"),
		gauge(ipmiChassisFault, b(cs.CoolingFault), "cooling"),
		gauge(ipmiChassisFault, b(cs.MainPowerFault), "main_power"),
		gauge(ipmiChassisFault, b(cs.PowerControlFault), "power_control"),
		gauge(ipmiChassisFault, b(cs.PowerOverload), "power_overload"),
		gauge(ipmiChassisFault, b(cs.PowerInterlock), "power_interlock"),
	}
	if cs.PowerRestorePolicy != "" {
		ms = append(ms, stateSet(ipmiChassisRestorePolicy, ipmiRestorePolicies, cs.PowerRestorePolicy)...)
	}
	return ms
}

// ipmiUnits are the analog units ipmitool prints after a reading that this
// probe knows: the sensor type they imply, the descriptor of their value
// (nil: state only) and the conversion to the base unit.
var ipmiUnits = []struct {
	unit, typ string
	desc      *prometheus.Desc
	convert   func(float64) float64
}{
	{"degrees C", "temperature", ipmiTemperature, nil},
	{"degrees F", "temperature", ipmiTemperature, func(f float64) float64 { return (f - 32) * 5 / 9 }},
	{"RPM", "fan", ipmiFanSpeed, nil},
	{"Volts", "voltage", ipmiVoltage, nil},
	{"Amps", "current", ipmiCurrent, nil},
	{"Watts", "power", ipmiPower, nil},
	{"percent", "utilization", ipmiRatio, func(p float64) float64 { return p / 100 }},
	{"CFM", "airflow", ipmiAirflow, func(cfm float64) float64 { return cfm * 0.00047194745 }},
}

// ipmiEventSeverities are the discrete events (ipmitool's names for the
// IPMI event offsets) that report trouble, and the state they mean. An
// event matches when it equals text or, with prefix, starts with it
// ("Config Error: Vendor Mismatch", "Redundancy Degraded from Fully
// Redundant"). Events not listed (Presence detected, Fully Redundant,
// State Deasserted, Drive Present) are ok.
var ipmiEventSeverities = []struct {
	text     string
	prefix   bool
	severity float64
}{
	// Power supply and power unit.
	{"Failure detected", false, 2},
	{"Predictive failure", false, 2},
	{"Power Supply AC lost", false, 2},
	{"AC lost or out-of-range", false, 2},
	{"AC out-of-range", false, 1}, // "AC out-of-range, but present"
	{"Config Error", true, 2},
	{"Power Supply Inactive", false, 1},
	{"AC lost", false, 2},
	{"Soft-power control failure", false, 2},
	// Redundancy.
	{"Redundancy Lost", false, 2},
	{"Redundancy Degraded", true, 2},
	{"Non-Redundant: Insufficient Resources", false, 2},
	{"Non-Redundant: Sufficient from", true, 1},
	// Generic severity and digital states.
	{"Transition to Non-critical", true, 1},
	{"Transition to Critical", true, 2},
	{"Transition to Non-recoverable", true, 3},
	{"Predictive Failure Asserted", false, 2},
	{"Limit Exceeded", false, 1},
	// Processor, memory, drives.
	{"IERR", false, 2},
	{"Thermal Trip", false, 3},
	{"FRB1/BIST failure", false, 2},
	{"FRB2/Hang in POST failure", false, 2},
	{"FRB3/Processor startup/init failure", false, 2},
	{"Uncorrectable machine check exception", false, 2},
	{"Uncorrectable ECC", false, 2},
	{"Correctable ECC logging limit reached", false, 1},
	{"Memory Scrub Failed", false, 2},
	{"Critical Overtemperature", false, 2},
	{"Drive Fault", false, 2},
	{"In Critical Array", false, 2},
	{"In Failed Array", false, 2},
	{"Rebuild Aborted", false, 1},
	// Physical security.
	{"General Chassis intrusion", false, 1},
}

// ipmiEventSeverity is the worst state the asserted events report.
func ipmiEventSeverity(events []string) float64 {
	var worst float64
	for _, e := range events {
		for _, s := range ipmiEventSeverities {
			if strings.EqualFold(e, s.text) || s.prefix && len(e) >= len(s.text) && strings.EqualFold(e[:len(s.text)], s.text) {
				worst = max(worst, s.severity)
				break
			}
		}
	}
	return worst
}

// ipmiEntityTypes name discrete sensors' types by the entity they are on
// (IPMI entity IDs, which elist prints in decimal).
var ipmiEntityTypes = map[string]string{
	"3": "processor", "4": "disk", "7": "system_board", "8": "memory",
	"10": "power_supply", "11": "add_in_card", "15": "drive_backplane", "19": "power_unit",
	"20": "power_module", "23": "system_chassis", "26": "disk_drive_bay", "29": "fan",
	"30": "cooling_unit", "31": "cable", "32": "memory", "34": "bios",
	"35": "operating_system", "40": "battery",
}

// ipmiNameType is the type a sensor's name says, or "". sdr elist does not
// print the IPMI sensor type, and BMCs put sensors on whatever entity they
// like: Dell puts "PS Redundancy" and "Intrusion" on the system board, HP
// its fans' duty (in percent) and its "Memory" ECC sensor there too.
func ipmiNameType(name string) string {
	lower := strings.ToLower(name)
	switch {
	case strings.Contains(lower, "redundancy"):
		return "redundancy"
	case strings.Contains(lower, "intrusion"):
		return "intrusion"
	case strings.Contains(lower, "watchdog"):
		return "watchdog"
	}
	for _, w := range strings.FieldsFunc(lower, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	}) {
		w = strings.TrimRight(w, "0123456789")
		switch w {
		case "fan", "fans":
			return "fan"
		case "mem", "memory", "dimm", "ecc":
			return "memory"
		case "ps", "psu", "supply", "supplies":
			return "power_supply"
		case "cpu", "proc", "processor":
			return "processor"
		}
	}
	return ""
}

// ipmiDiscreteType derives a discrete sensor's type: the name's words
// first, then the entity.
func ipmiDiscreteType(name, entity string) string {
	if t := ipmiNameType(name); t != "" {
		return t
	}
	id, _, _ := strings.Cut(entity, ".")
	if t, ok := ipmiEntityTypes[id]; ok {
		return t
	}
	return "other"
}

// ipmiAbsent reports whether a discrete sensor's events say its part is
// not there.
func ipmiAbsent(events []string) bool {
	for _, e := range events {
		if strings.EqualFold(e, "Device Absent") || strings.EqualFold(e, "Not Present") || strings.EqualFold(e, "Presence Not Detected") {
			return true
		}
	}
	return false
}

// ipmiReading is what one sensor line says.
type ipmiReading struct {
	typ      string
	state    float64
	hasState bool
	desc     *prometheus.Desc // value's descriptor, nil when none
	value    float64
}

// ipmiRead interprets a parsed sensor line. ok=false means the line is no
// sensor (an MC locator record) or has no reading (ns). An error means the
// analog value is malformed: it costs the value, the state stands.
func ipmiRead(s ipmitool.Sensor) (r ipmiReading, ok bool, err error) {
	level, known := ipmitool.SDRStatusLevel(s.Status)
	if !known { // ns
		return r, false, nil
	}
	if strings.HasPrefix(s.Reading, "Static MC @") || strings.HasPrefix(s.Reading, "Dynamic MC @") {
		return r, false, nil
	}
	r = ipmiReading{state: float64(level), hasState: true}
	events := strings.Split(s.Reading, ", ")
	if s.Reading == "" {
		events = nil
	}
	// An analog reading ("23 degrees C") stands alone for a threshold
	// sensor; a discrete sensor with an analog value prints it before its
	// events ("95 Watts, Presence detected").
	if len(events) > 0 {
		for _, u := range ipmiUnits {
			num, isUnit := strings.CutSuffix(events[0], " "+u.unit)
			if !isUnit {
				continue
			}
			events = events[1:]
			r.typ = u.typ
			if u.desc == ipmiRatio || u.desc == ipmiAirflow || len(events) > 0 {
				// A share or an airflow says little of what it measures
				// (HP's fan blocks read their duty in percent), and a
				// discrete sensor with a value is a part first: HP's
				// "Power Supply 1" reads "0 Watts, Presence detected,
				// Failure detected".
				if t := ipmiNameType(s.Name); t != "" {
					r.typ = t
				}
			}
			v, perr := strconv.ParseFloat(num, 64)
			if perr != nil {
				err = fmt.Errorf("sensor %q: malformed reading %q: %w", s.Name, s.Reading, perr)
				break
			}
			if u.convert != nil {
				v = u.convert(v)
			}
			r.desc, r.value = u.desc, v
			break
		}
	}
	if r.typ == "" {
		r.typ = ipmiDiscreteType(s.Name, s.Entity)
	}
	r.state = max(r.state, ipmiEventSeverity(events))
	if ipmiAbsent(events) {
		// An empty slot (a PSU bay, a DIMM socket) is not a failed part,
		// whatever status column the BMC prints for it.
		r.state = 0
	}
	return r, true, err
}

// ipmiSensorMetrics turns parsed sensors into series. Names are not unique
// (Dell's two CPU temperatures are both "Temp"): a name that occurs more
// than once is qualified with its entity on every line it occurs, whether
// or not that line has a reading now, so labels do not change when one of
// them stops reading.
func ipmiSensorMetrics(sensors []ipmitool.Sensor, src string, skips *Skips) []prometheus.Metric {
	count := map[string]int{}
	for _, s := range sensors {
		count[s.Name]++
	}
	seen := map[string]bool{}
	var ms []prometheus.Metric
	for _, s := range sensors {
		r, ok, err := ipmiRead(s)
		if err != nil {
			skips.Add(src, err)
		}
		if !ok {
			continue
		}
		label := s.Name
		if count[s.Name] > 1 {
			label = s.Name + " (" + s.Entity + ")"
		}
		label = labelValue(label)
		if seen[label] {
			skips.Add(src, fmt.Errorf("sensor %q listed twice on entity %s", s.Name, s.Entity))
			continue
		}
		seen[label] = true
		ms = append(ms, constMetric(ipmiSensorState, prometheus.GaugeValue, r.state, label, r.typ))
		if r.desc != nil {
			ms = append(ms, constMetric(r.desc, prometheus.GaugeValue, r.value, label))
		}
	}
	return ms
}

// ipmiFRUFields are the fru print keys exported, in label order.
var ipmiFRUFields = []string{
	"Board Mfg", "Board Product", "Board Serial", "Board Part Number", "Board Mfg Date",
	"Product Manufacturer", "Product Name", "Product Serial", "Product Part Number", "Product Version", "Product Asset Tag",
	"Chassis Serial", "Chassis Part Number",
}

// ipmiFRUMetrics exports each FRU that has at least one of ipmiFRUFields,
// and the rated capacity of each power supply whose name states one.
func ipmiFRUMetrics(frus []ipmitool.FRU, src string, skips *Skips) []prometheus.Metric {
	var ms []prometheus.Metric
	seen := map[string]bool{}
	for _, f := range frus {
		values := []string{labelValue(f.Name)}
		found := false
		for _, k := range ipmiFRUFields {
			v := f.Fields[k]
			found = found || v != ""
			values = append(values, labelValue(v))
		}
		if !found {
			continue
		}
		if seen[values[0]] {
			skips.Add(src, fmt.Errorf("FRU %q listed twice", f.Name))
			continue
		}
		seen[values[0]] = true
		ms = append(ms, constMetric(ipmiFRUInfo, prometheus.GaugeValue, 1, values...))
		if w, ok := ipmitool.PowerSupplyRating(f); ok {
			ms = append(ms, constMetric(ipmiPSURatedWatts, prometheus.GaugeValue, w, values[0]))
		}
		ms = append(ms, psuFirmware(f)...)
	}
	return ms
}
