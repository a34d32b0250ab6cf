package probe

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// Every reading carries the sensor's label (tempN_label, "Package id 0") so
// dashboards can show it without a join; chip and sensor identify the series.
var hwmonSensorLabels = []string{"chip", "sensor", "label"}

var (
	hwmonChipInfo = newDesc("hwmon", "chip_info",
		"Hardware monitoring chip, value 1; chip is derived from the device path and stable across reboots, chip_name is the driver's name for it.",
		"chip", "chip_name")

	hwmonTemperature = newDesc("hwmon", "temperature_celsius",
		"Temperature the sensor reads (tempN_input).", hwmonSensorLabels...)
	hwmonTemperatureMax = newDesc("hwmon", "temperature_max_celsius",
		"High temperature limit of the sensor (tempN_max).", hwmonSensorLabels...)
	hwmonTemperatureMin = newDesc("hwmon", "temperature_min_celsius",
		"Low temperature limit of the sensor (tempN_min).", hwmonSensorLabels...)
	hwmonTemperatureCrit = newDesc("hwmon", "temperature_crit_celsius",
		"Critical temperature limit of the sensor (tempN_crit).", hwmonSensorLabels...)
	hwmonFan = newDesc("hwmon", "fan_rpm",
		"Fan speed the sensor reads (fanN_input); 0 for a stopped or unconnected fan.", hwmonSensorLabels...)
	hwmonFanMin = newDesc("hwmon", "fan_min_rpm",
		"Low fan speed limit of the sensor (fanN_min).", hwmonSensorLabels...)
	hwmonFanTarget = newDesc("hwmon", "fan_target_rpm",
		"Fan speed the chip's fan control aims for (fanN_target).", hwmonSensorLabels...)
	hwmonPWM = newDesc("hwmon", "pwm_ratio",
		"PWM duty cycle the chip drives the fan with (pwmN, 0-255 scaled to 0-1); 1 is full speed.", hwmonSensorLabels...)
	hwmonIntrusion = newDesc("hwmon", "intrusion_alarm",
		"1 if the chip's chassis intrusion detector has tripped since it was last cleared (intrusionN_alarm), 0 if not: someone opened the case.", hwmonSensorLabels...)
	hwmonVoltage = newDesc("hwmon", "voltage_volts",
		"Voltage the sensor reads (inN_input), before any scaling the board's resistor dividers would need.", hwmonSensorLabels...)
	hwmonVoltageMin = newDesc("hwmon", "voltage_min_volts",
		"Low voltage limit of the sensor (inN_min).", hwmonSensorLabels...)
	hwmonVoltageMax = newDesc("hwmon", "voltage_max_volts",
		"High voltage limit of the sensor (inN_max).", hwmonSensorLabels...)
	hwmonCurrent = newDesc("hwmon", "current_amperes",
		"Current the sensor reads (currN_input).", hwmonSensorLabels...)
	hwmonCurrentMax = newDesc("hwmon", "current_max_amperes",
		"High current limit of the sensor (currN_max).", hwmonSensorLabels...)
	hwmonCurrentCrit = newDesc("hwmon", "current_crit_amperes",
		"Critical current limit of the sensor (currN_crit).", hwmonSensorLabels...)
	hwmonPower = newDesc("hwmon", "power_watts",
		"Power the sensor reads (powerN_input, or powerN_average where the chip only averages).", hwmonSensorLabels...)
	hwmonPowerCap = newDesc("hwmon", "power_cap_watts",
		"Power cap enforced by the chip (powerN_cap).", hwmonSensorLabels...)
	hwmonPowerMax = newDesc("hwmon", "power_max_watts",
		"High power limit of the sensor (powerN_max).", hwmonSensorLabels...)
	hwmonPowerCrit = newDesc("hwmon", "power_crit_watts",
		"Critical power limit of the sensor (powerN_crit).", hwmonSensorLabels...)
	hwmonAlarm = newDesc("hwmon", "sensor_alarm",
		"1 if the chip raises the sensor's alarm, 0 if not; alarm names the condition (any, min, max, lcrit, crit, cap, emergency).",
		"chip", "sensor", "label", "alarm")
)

// hwmonReading maps sensor attributes to a metric. The first attribute the
// chip has is used: power meters offer powerN_input, powerN_average or both,
// and both measure the same thing.
type hwmonReading struct {
	attrs []string
	desc  *prometheus.Desc
	// div converts the kernel's unit to the base unit. Dividing rather than
	// multiplying by 1e-3 keeps 1150 mV at exactly 1.15 V.
	div float64
}

// hwmonKinds lists the sensor kinds in output order, with the kernel's units
// (ABI: Documentation/hwmon/sysfs-interface.rst) scaled to base units.
var hwmonKinds = []struct {
	prefix   string
	readings []hwmonReading
}{
	{"temp", []hwmonReading{
		{[]string{"input"}, hwmonTemperature, 1000},
		{[]string{"min"}, hwmonTemperatureMin, 1000},
		{[]string{"max"}, hwmonTemperatureMax, 1000},
		{[]string{"crit"}, hwmonTemperatureCrit, 1000},
	}},
	{"fan", []hwmonReading{
		{[]string{"input"}, hwmonFan, 1},
		{[]string{"min"}, hwmonFanMin, 1},
		{[]string{"target"}, hwmonFanTarget, 1},
	}},
	// pwmN itself is the duty cycle; its pwmN_* siblings configure the
	// chip's automatic fan control and are not readings.
	{"pwm", []hwmonReading{
		{[]string{""}, hwmonPWM, 255},
	}},
	// intrusionN_alarm latches until written 0, so it is its own metric
	// rather than one more sensor_alarm: it is a security signal, not a
	// limit the reading crossed.
	{"intrusion", []hwmonReading{
		{[]string{"alarm"}, hwmonIntrusion, 1},
	}},
	{"in", []hwmonReading{
		{[]string{"input"}, hwmonVoltage, 1000},
		{[]string{"min"}, hwmonVoltageMin, 1000},
		{[]string{"max"}, hwmonVoltageMax, 1000},
	}},
	{"curr", []hwmonReading{
		{[]string{"input"}, hwmonCurrent, 1000},
		{[]string{"max"}, hwmonCurrentMax, 1000},
		{[]string{"crit"}, hwmonCurrentCrit, 1000},
	}},
	{"power", []hwmonReading{
		{[]string{"input", "average"}, hwmonPower, 1e6},
		{[]string{"cap"}, hwmonPowerCap, 1e6},
		{[]string{"max"}, hwmonPowerMax, 1e6},
		{[]string{"crit"}, hwmonPowerCrit, 1e6},
	}},
}

// hwmonAlarms maps alarm attribute suffixes to the alarm label.
var hwmonAlarms = []struct{ suffix, alarm string }{
	{"alarm", "any"},
	{"min_alarm", "min"},
	{"max_alarm", "max"},
	{"lcrit_alarm", "lcrit"},
	{"crit_alarm", "crit"},
	{"cap_alarm", "cap"},
	{"emergency_alarm", "emergency"},
}

// hwmonAttr matches sensor attribute files: kind, index, attribute;
// pwmN has no attribute suffix.
var hwmonAttr = regexp.MustCompile(`^(temp|fan|in|curr|power|pwm|intrusion)([0-9]+)(?:_([a-z0-9_]+))?$`)

// HwmonOptions are the hwmon probe's filters (probes.hwmon.*), named and
// matched as node_exporter's --collector.hwmon.* flags are. A chip or
// sensor filtered out is not read at all: its sensor files are never
// opened, and its chip_info is not exported.
type HwmonOptions struct {
	ChipInclude   confval.Regexp `yaml:"chip_include" flag:"chip-include" help:"Regular expression on chip ids (the chip label, e.g. \"^platform_coretemp_\"): read only the chips that match. Empty: all."`
	ChipExclude   confval.Regexp `yaml:"chip_exclude" flag:"chip-exclude" help:"Regular expression on chip ids: skip the chips that match. Empty: none."`
	SensorInclude confval.Regexp `yaml:"sensor_include" flag:"sensor-include" help:"Regular expression on \"chip;sensor\" (e.g. \"^platform_coretemp_0;temp1$\"): read only the sensors that match. Empty: all."`
	SensorExclude confval.Regexp `yaml:"sensor_exclude" flag:"sensor-exclude" help:"Regular expression on \"chip;sensor\": skip the sensors that match. Empty: none."`
}

func newHwmonOptions() *HwmonOptions { return &HwmonOptions{} }

func init() {
	Register(Spec{
		Name:      "hwmon",
		Summary:   "Temperatures, fans, voltages, currents, power: sensors move, so 1m.",
		Reads:     "every `/sys/class/hwmon` chip: temperatures, fans (with targets and PWM duty), voltages, currents, power, with limits and alarms, and chassis intrusion alarms; chips named by device path (and their own name where several share a device) so names survive reboots; a chip whose PCI device is runtime suspended (an idle dGPU) exports only its chip_info, so the read does not wake it. Readings are re-read from descriptors kept open; the chips are listed each run (a new or removed chip shows at once), labels and limits read again every 60 runs",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		Options:   func() any { return newHwmonOptions() },
		New:       func() Probe { return &hwmonProbe{} },
	})
}

// hwmonProbe reports the sensors of every hardware monitoring chip. It
// keeps the chips' layout between runs (layout.go) and re-reads only the
// readings and alarms.
type hwmonProbe struct{ layout keptLayout }

func (*hwmonProbe) Describe(ch chan<- *prometheus.Desc) {
	ch <- hwmonChipInfo
	for _, k := range hwmonKinds {
		for _, r := range k.readings {
			ch <- r.desc
		}
	}
	ch <- hwmonAlarm
}

// Close closes the descriptors the probe keeps.
func (p *hwmonProbe) Close() { p.layout.close() }

// hwmonChip is one chip under /sys/class/hwmon.
type hwmonChip struct {
	id      string // the chip label
	name    string // the driver's name file
	dir     attrs  // class/hwmon/hwmonN
	sensors attrs  // the directory of its sensor attributes
	hwmon   string // hwmonN, which the kernel renumbers between boots
}

func (p *hwmonProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	return p.layout.run(ctx, env, skips, func(b *layoutBuilder) error { return hwmonDiscover(ctx, env, b) })
}

// hwmonDiscover reads the chips' layout: which chips, their names, their
// sensors' labels and limits, and which readings and alarms to re-read.
func hwmonDiscover(ctx context.Context, env Env, b *layoutBuilder) error {
	o := optionsOf(env, newHwmonOptions)
	class := env.Sys("class/hwmon")
	b.watch(class, nil)
	var chips []hwmonChip
	for _, h := range class.indexed("hwmon") {
		if err := ctx.Err(); err != nil {
			return err
		}
		chips = append(chips, readHwmonChip(class.sub(h), h))
	}
	// Ids are settled over every chip, filtered or not, so a filter never
	// renames the chips it keeps.
	chips = disambiguateHwmonChips(chips, b.skips)
	sort.Slice(chips, func(i, j int) bool { return chips[i].id < chips[j].id })

	for _, c := range chips {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !o.ChipInclude.MatchOr(c.id, true) || o.ChipExclude.MatchOr(c.id, false) {
			continue
		}
		g := b.group()
		g.add(constMetric(hwmonChipInfo, prometheus.GaugeValue, 1, c.id, labelValue(c.name)))
		if status, name, ok := hwmonRuntimeStatus(c.dir); ok {
			asleep := status == "suspended"
			b.gate(g, c.dir.root(), name, func(s string) bool { return s == "suspended" }, asleep)
			if asleep {
				continue
			}
		}
		hwmonSensors(c, o, b, g)
	}
	return nil
}

func readHwmonChip(dir attrs, hwmon string) hwmonChip {
	c := hwmonChip{hwmon: hwmon, dir: dir, sensors: dir}
	// Older kernels, and drivers not converted to the hwmon core's attribute
	// groups, put name and sensors in the device's directory and leave only
	// the device link in hwmonN.
	device := dir.sub("device")
	if !hasHwmonSensors(dir) && hasHwmonSensors(device) {
		c.sensors = device
	}
	name, ok := dir.String("name")
	if !ok {
		name, _ = device.String("name")
	}
	c.name = name
	c.id = hwmonChipID(dir, name, hwmon)
	return c
}

// hwmonRuntimeStatus returns the runtime PM status of the chip's device
// when it is a PCI device (power/runtime_status, which the PM core answers
// without waking it), and that file's name below the root. A chip whose
// device reads "suspended" is asleep: its sensors are not read. Drivers such as amdgpu resume the device to answer a sensor read,
// so a read a minute would keep an idle dGPU powered (node_exporter
// #2681). Devices off the PCI bus are read whatever their status: an i2c
// PSU's client reads as suspended between transfers, and waking it costs
// nothing.
func hwmonRuntimeStatus(dir attrs) (status, name string, ok bool) {
	dev, err := dir.realpath("device")
	if err != nil || !pciAddress.MatchString(path.Base(dev)) {
		return "", "", false
	}
	name = path.Join(dev, "power/runtime_status")
	status, _ = dir.root().String(name)
	return status, name, true
}

// hwmonChipID names a chip by the device it monitors, the way node_exporter
// does (the device's parent directory and its own name: platform_coretemp_0,
// pci0000:00_0000:00:18_3), so that dashboards carry over and the name
// survives the renumbering of hwmonN between boots. A chip with no device
// falls back to its driver's name.
func hwmonChipID(dir attrs, name, hwmon string) string {
	if dev, err := dir.realpath("device"); err == nil {
		dev = hwmonStableDevice(dir.root(), dev)
		parent, base := hwmonClean(path.Base(path.Dir(dev))), hwmonClean(path.Base(dev))
		switch {
		case parent != "" && base != "":
			return parent + "_" + base
		case base != "":
			return base
		}
	}
	if n := hwmonClean(name); n != "" {
		return n
	}
	return hwmon
}

// hwmonStableDevice returns the bus device behind a class device. Class
// devices such as nvme0 are numbered in probe order, which changes between
// boots on hosts with several of them; the PCI function they belong to does
// not. Class devices with no bus device (thermal_zone0 under
// /sys/devices/virtual) are kept, since there is nothing steadier to use.
// dev is relative to sys's root.
func hwmonStableDevice(sys attrs, dev string) string {
	target, err := sys.readlink(path.Join(dev, "subsystem"))
	if err != nil || path.Base(path.Dir(target)) != "class" {
		return dev
	}
	parent := path.Dir(dev)
	if path.Base(parent) == path.Base(target) {
		// The kernel groups a bus device's class children in a directory
		// named after the class (0000:01:00.0/nvme/nvme0).
		parent = path.Dir(parent)
	}
	if b := path.Base(parent); b == "virtual" || b == "devices" || b == "." || b == "/" {
		return dev
	}
	return parent
}

var hwmonInvalidChars = regexp.MustCompile(`[^a-z0-9:_]`)

// hwmonClean is node_exporter's cleanMetricName, so chip labels match its.
func hwmonClean(s string) string {
	return strings.Trim(hwmonInvalidChars.ReplaceAllLiteralString(strings.ToLower(s), "_"), "_")
}

// disambiguateHwmonChips tells apart chips whose ids clash. Several chips
// often share one device (asus-nb-wmi registers one for fan control and one
// for its WMI sensors, a wifi card one per radio): they get the driver's
// name for the chip appended, as node_exporter does, which the kernel does
// not renumber between boots. Only chips that share the name too (two
// dell_smm without a device) fall back to the hwmonN number, and such an id
// is only as stable as hwmonN. A chip whose id still clashes is dropped:
// one duplicate series would fail the whole scrape.
func disambiguateHwmonChips(chips []hwmonChip, skips *Skips) []hwmonChip {
	count := map[string]int{}
	named := map[[2]string]int{}
	for _, c := range chips {
		count[c.id]++
		named[[2]string{c.id, c.name}]++
	}
	for i, c := range chips {
		if count[c.id] < 2 {
			continue
		}
		suffix := hwmonClean(c.name)
		if suffix == "" || named[[2]string{c.id, c.name}] > 1 {
			suffix = c.hwmon
		}
		chips[i].id += "_" + suffix
	}
	seen := map[string]bool{}
	out := chips[:0]
	for _, c := range chips {
		if seen[c.id] {
			skips.Add(c.sensors.path("."), fmt.Errorf("hwmon chip id %q already taken", c.id))
			continue
		}
		seen[c.id] = true
		out = append(out, c)
	}
	return out
}

func hasHwmonSensors(dir attrs) bool {
	for _, e := range dir.entries() {
		if hwmonAttr.MatchString(e.Name()) {
			return true
		}
	}
	return false
}

// hwmonSensors lays out every sensor of chip c that o lets through:
// labels and limits are read now, readings and alarms kept to re-read.
func hwmonSensors(c hwmonChip, o *HwmonOptions, b *layoutBuilder, g *layoutGroup) {
	a := c.sensors
	entries, err := a.fs.ReadDir(a.dir)
	if err != nil {
		a.skips.Add(a.path("."), err)
		return
	}
	files := map[string]bool{}
	indexes := map[string][]int{}
	for _, e := range entries {
		files[e.Name()] = true
		m := hwmonAttr.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			continue
		}
		indexes[m[1]] = append(indexes[m[1]], n)
	}

	for _, k := range hwmonKinds {
		ns := indexes[k.prefix]
		slices.Sort(ns)
		for _, n := range slices.Compact(ns) {
			sensor := k.prefix + strconv.Itoa(n)
			// node_exporter's form, so its filters carry over.
			if cs := c.id + ";" + sensor; !o.SensorInclude.MatchOr(cs, true) || o.SensorExclude.MatchOr(cs, false) {
				continue
			}
			label, _ := a.String(sensor + "_label")
			label = labelValue(label)
			for _, r := range k.readings {
				for _, attr := range r.attrs {
					file := sensor
					if attr != "" {
						file += "_" + attr
					}
					if !files[file] {
						continue
					}
					if hwmonLimits[attr] {
						if v, ok := a.Int(file); ok {
							g.add(constMetric(r.desc, prometheus.GaugeValue, float64(v)/r.div, c.id, sensor, label))
						}
					} else {
						b.value(g, a, file, parseIntDiv(r.div), r.desc, prometheus.GaugeValue, c.id, sensor, label)
					}
					break
				}
			}
			if k.prefix == "intrusion" {
				continue
			}
			for _, al := range hwmonAlarms {
				file := sensor + "_" + al.suffix
				if !files[file] {
					continue
				}
				b.value(g, a, file, parseUintValue, hwmonAlarm, prometheus.GaugeValue, c.id, sensor, label, al.alarm)
			}
		}
	}
}

// hwmonLimits are the attributes read once per layout: limits a person or
// the firmware sets, not readings. Everything else (inputs, averages, fan
// targets, PWM duty, alarms) is re-read every run.
var hwmonLimits = map[string]bool{"min": true, "max": true, "crit": true, "cap": true}
