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
		Reads:     "`ipmitool sdr elist` (sensor readings and states), `ipmitool fru print` (board, product and chassis serials, part numbers), `ipmitool dcmi power reading` (where the BMC has a DCMI power meter), `ipmitool chassis status` (intrusion, faults, restore policy), `ipmitool mc info` (BMC firmware)",
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
	Command confval.Path `yaml:"command" help:"Absolute path of ipmitool."`
}

func newIPMIOptions() *IPMIOptions { return &IPMIOptions{Command: "/usr/bin/ipmitool"} }

func (o *IPMIOptions) available() error { return toolrun.Available(string(o.Command)) }

// ipmiProbe reads the BMC's sensors and FRU inventory through ipmitool.
// It remembers when the BMC said it has no DCMI power meter, so that a
// BMC without one is not asked every run (re-asked after
// ipmiReaskUnsupported, as a firmware update can add it).
type ipmiProbe struct {
	mu              sync.Mutex
	dcmiUnsupported time.Time // when the BMC last said it has no DCMI power meter
	now             func() time.Time
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
	o, unlock, err := openTool(ctx, env, newIPMIOptions, nil) // bmcMetrics locks what it keeps
	if err != nil {
		return nil, err
	}
	defer unlock()
	command := string(o.Command)

	// Two runs, so that a BMC whose FRU reads fail (common with PSU FRUs
	// behind a PMBus mux) still reports its sensors, and the other way round.
	sdrSrc := command + " sdr elist"
	sdrOut, sdrErr := toolrun.Run(ctx, command, "sdr", "elist")
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", sdrSrc, sdrErr)
	}
	var sensors []ipmitool.Sensor
	var lineErrs []error
	if sdrErr == nil {
		sensors, lineErrs = ipmitool.ParseSDR(sdrOut.Stdout)
		sdrErr = sdrOut.Failed(len(sensors) > 0, "no sensor lines")
	}

	fruSrc := command + " fru print"
	fruOut, fruErr := toolrun.Run(ctx, command, "fru", "print")
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", fruSrc, fruErr)
	}
	var frus []ipmitool.FRU
	if fruErr == nil {
		frus = ipmitool.ParseFRU(fruOut.Stdout)
		fruErr = fruOut.Failed(len(frus) > 0, "no FRU Device Description lines")
	}

	switch {
	case sdrErr != nil && fruErr != nil:
		return nil, fmt.Errorf("%s: %w; %s: %w", sdrSrc, sdrErr, fruSrc, fruErr)
	case sdrErr != nil:
		skips.Add(sdrSrc, sdrErr)
	case fruErr != nil:
		skips.Add(fruSrc, fruErr)
	}

	var ms []prometheus.Metric
	if sdrErr == nil {
		for _, err := range lineErrs {
			skips.Add(sdrSrc, err)
		}
		ms = append(ms, ipmiSensorMetrics(sensors, sdrSrc, skips)...)
	}
	if fruErr == nil {
		ms = append(ms, ipmiFRUMetrics(frus, fruSrc, skips)...)
	}
	more, err := p.bmcMetrics(ctx, env, command, skips)
	if err != nil {
		return nil, err
	}
	return append(ms, more...), nil
}

// bmcMetrics reads the DCMI power meter, the chassis status and the BMC's
// identity. Each is optional: a failure costs its own series (a skip),
// never the sensors; only a cancelled run fails.
func (p *ipmiProbe) bmcMetrics(ctx context.Context, env Env, command string, skips *Skips) ([]prometheus.Metric, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	var ms []prometheus.Metric

	if p.dcmiUnsupported.IsZero() || now().Sub(p.dcmiUnsupported) >= ipmiReaskUnsupported {
		src := command + " dcmi power reading"
		out, err := toolrun.Run(ctx, command, "dcmi", "power", "reading")
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		if err == nil && out.ExitCode == 0 && len(bytes.TrimSpace(out.Stdout)) == 0 && len(bytes.TrimSpace(out.Stderr)) == 0 {
			// Nothing printed and exit 0: nothing to report.
		} else if err == nil {
			var pr ipmitool.PowerReading
			pr, err = ipmitool.ParseDCMIPowerReading(append(slices.Clip(out.Stdout), out.Stderr...))
			switch {
			case errors.Is(err, ipmitool.ErrUnsupported):
				p.dcmiUnsupported = now()
				env.logger().Debug("the BMC has no DCMI power meter; asking again later", "after", ipmiReaskUnsupported, "message", err)
				err = nil
			case err == nil && (pr.Active || pr.Instantaneous > 0):
				p.dcmiUnsupported = time.Time{}
				ms = append(ms,
					gauge(ipmiDCMIPower, pr.Instantaneous, "instantaneous"),
					gauge(ipmiDCMIPower, pr.Minimum, "minimum"),
					gauge(ipmiDCMIPower, pr.Maximum, "maximum"),
					gauge(ipmiDCMIPower, pr.Average, "average"))
			}
		}
		if err != nil {
			skips.Add(src, err)
		}
	}

	src := command + " chassis status"
	out, err := toolrun.Run(ctx, command, "chassis", "status")
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if err == nil {
		var cs ipmitool.ChassisStatus
		if cs, err = ipmitool.ParseChassisStatus(out.Stdout); err == nil {
			ms = append(ms, ipmiChassisMetrics(cs)...)
		} else {
			// Nothing printed and exit 0 is a BMC with nothing to say.
			err = ipmiOptionalFailed(env, src, out, "no System Power line")
		}
	}
	if err != nil {
		skips.Add(src, err)
	}

	src = command + " mc info"
	out, err = toolrun.Run(ctx, command, "mc", "info")
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if err == nil {
		var info ipmitool.MCInfo
		if info, err = ipmitool.ParseMCInfo(out.Stdout); err == nil {
			ms = append(ms, gauge(ipmiBMCInfo, 1, info.ManufacturerName, strconv.FormatUint(uint64(info.ManufacturerID), 10),
				strconv.FormatUint(uint64(info.ProductID), 10), info.FirmwareRevision, info.IPMIVersion))
			ms = append(ms, firmwareInfo(firmwareBMC, "", labelValue(info.ManufacturerName),
				strconv.FormatUint(uint64(info.ProductID), 10), labelValue(info.FirmwareRevision))...)
		} else {
			err = ipmiOptionalFailed(env, src, out, "no Device ID line")
		}
	}
	if err != nil {
		skips.Add(src, err)
	}
	return ms, nil
}

// ipmiOptionalFailed judges an optional command whose output did not
// parse: a BMC that answers it does not implement the command (completion
// code c1 "Invalid command", "not supported") lacks the feature, as a BMC
// without DCMI does, which is no read error; anything else is judged as any
// tool run.
func ipmiOptionalFailed(env Env, src string, out toolrun.Output, what string) error {
	if err := ipmitool.Unsupported(append(slices.Clip(out.Stdout), out.Stderr...)); err != nil {
		env.logger().Debug("the BMC does not implement an optional command", "command", src, "message", err)
		return nil
	}
	return out.Failed(false, what)
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
