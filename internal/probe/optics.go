package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/format/sff"
	"github.com/hardware-exporter/hardware_exporter/internal/host/ethtool"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

var (
	opticsModuleInfo = Inventory(newDesc("optics", "module_info",
		"Pluggable transceiver module in the interface's cage, value 1: its SFF-8024 type, management spec, connector, vendor, part number, revision and serial.",
		"interface", "type", "spec", "connector", "vendor", "part_number", "revision", "serial"))
	opticsWavelength = Inventory(newDesc("optics", "module_wavelength_meters",
		"Nominal laser wavelength of the module; absent for a copper cable or a module that does not say.", "interface"))
	opticsDOM = withNote(newDesc("optics", "module_dom_supported",
		"1 when the module implements diagnostic monitoring (DOM) and its monitors were read, else 0.", "interface"),
		"A module without DOM (most copper cables, some cheap optics) has this series at 0 and its info and wavelength only: no monitors, no thresholds.")
	opticsTemperature = newDesc("optics", "temperature_celsius",
		"Module temperature, as the module measures it.", "interface")
	opticsSupplyVoltage = newDesc("optics", "supply_voltage_volts",
		"Module supply voltage (Vcc), as the module measures it.", "interface")
	opticsTxBias = newDesc("optics", "tx_bias_amperes",
		"Laser bias current of the lane.", "interface", "lane")
	opticsTxPower = newDesc("optics", "tx_power_watts",
		"Optical power the lane transmits.", "interface", "lane")
	opticsRxPower = withNote(newDesc("optics", "rx_power_watts",
		"Optical power the lane receives (average power, or OMA where the module measures that).", "interface", "lane"),
		"Watts, not dBm: 1 mW is 0 dBm, 0.1 mW is -10 dBm (dBm = 10*log10(W*1000)). A receiver without light reads 0.")
	opticsThreshold = withNote(newDesc("optics", "threshold",
		"The module's own alarm or warning threshold for a sensor, in the unit of the sensor's family.",
		"interface", "sensor", "level"),
		"sensor is temperature (degrees Celsius, like hardware_optics_temperature_celsius), supply_voltage (volts), "+
			"tx_bias (amperes), tx_power or rx_power (watts); level is high_alarm, high_warning, low_warning or low_alarm. "+
			"Lane thresholds apply to every lane. The vendor writes them into the module (SFF-8472 A2h, SFF-8636 page 03h, "+
			"CMIS page 02h), so the alerts compare each module with its own range and need no tuning per part. "+
			"A module that does not implement a sensor has no thresholds for it.")
)

// OpticsOptions are the optics probe's settings (probes.optics.*).
type OpticsOptions struct {
	Include confval.Regexp `yaml:"include" flag:"device-include" help:"Regular expression on interface names, e.g. \"^ens\": read only the modules of those interfaces. Empty: all."`
	Exclude confval.Regexp `yaml:"exclude" flag:"device-exclude" help:"Regular expression on interface names: skip the modules of those interfaces (not read at all). Empty: none."`
	Images  confval.Path   `yaml:"images" help:"Directory of module images read instead of the kernel, one regular file <interface>.bin each (SFP: A0h then A2h, 512 bytes; QSFP and CMIS: the lower page, then page N at 128*(N+1)): for offline debugging and the fixture host. Empty: read the kernel."`
}

func newOpticsOptions() *OpticsOptions { return &OpticsOptions{} }

func init() {
	Register(Spec{
		Name:    "optics",
		Summary: "Transceiver modules (SFP, QSFP, QSFP-DD/OSFP): identity, DOM temperature, voltage, bias, TX/RX power and the module's thresholds.",
		Reads: "the module memory of each physical interface in `/sys/class/net` through the kernel's ethtool netlink interface " +
			"(`ETHTOOL_MSG_MODULE_EEPROM_GET`; the `SIOCETHTOOL` ioctl on kernels before 5.13), decoded per SFF-8472, SFF-8636 and CMIS",
		Privilege: "none (netlink); CAP_NET_ADMIN on kernels before 5.13, whose ioctl needs it",
		// A module read is an I2C transfer behind the driver or the NIC's
		// firmware: tens of milliseconds a page, up to five pages a
		// module, so a 48-port host spends seconds. DOM values move with
		// temperature and ageing over minutes to months, and the alerts
		// wait 10m: every 5m is two reads inside that window.
		Interval: 5 * time.Minute,
		Timeout:  time.Minute,
		Options:  func() any { return newOpticsOptions() },
		New:      func() Probe { return opticsProbe{} },
	})
}

// opticsModules reads module images: the kernel's (internal/host/ethtool)
// or a directory's.
type opticsModules interface {
	Module(ctx context.Context, ifname string) ([]byte, error)
	Close() error
}

// opticsOpen opens the kernel's module reader. Tests replace it: they
// never ask the host's kernel.
var opticsOpen = func() (opticsModules, error) { return ethtool.Open() }

type opticsProbe struct{}

func (opticsProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		opticsModuleInfo, opticsWavelength, opticsDOM, opticsTemperature, opticsSupplyVoltage,
		opticsTxBias, opticsTxPower, opticsRxPower, opticsThreshold,
	} {
		ch <- d
	}
}

func (opticsProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	env = env.Bind(skips)
	o := optionsOf(env, newOpticsOptions)
	var (
		names   []string
		modules opticsModules
	)
	if o.Images != "" {
		dir := env.attrs(string(o.Images), nil)
		if _, err := dir.fs.Stat("."); err != nil {
			return nil, fmt.Errorf("optics images: %w", err)
		}
		for _, e := range dir.entries() {
			if n, ok := strings.CutSuffix(e.Name(), ".bin"); ok && e.Type().IsRegular() {
				names = append(names, n)
			}
		}
		modules = opticsImages{dir}
	} else {
		names = opticsInterfaces(env)
		m, err := opticsOpen()
		if err != nil {
			return nil, fmt.Errorf("module reader: %w", err)
		}
		modules = m
	}
	defer modules.Close()

	var ms []prometheus.Metric
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !o.Include.MatchOr(name, true) || o.Exclude.MatchOr(name, false) {
			continue // filtered: not read at all
		}
		img, err := modules.Module(ctx, name)
		if errors.Is(err, ethtool.ErrNoModule) || errors.Is(err, fs.ErrNotExist) {
			continue // an RJ45 port, an empty cage: no series, no error
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err != nil {
			skips.Add("module eeprom of "+name, err)
			if img == nil {
				continue
			}
		}
		m, err := sff.Decode(img)
		if err != nil {
			skips.Add("module eeprom of "+name, err)
			continue
		}
		ms = append(ms, opticsMetrics(labelValue(name), m)...)
	}
	return ms, nil
}

// opticsInterfaces lists the physical interfaces of sysfs (those with a
// device link), as the network probe does: a bond, bridge or VLAN has no
// module of its own.
func opticsInterfaces(env Env) []string {
	class := env.Sys("class/net")
	var names []string
	for _, e := range class.entries() {
		if e.Type().IsRegular() { // bonding_masters
			continue
		}
		if _, err := class.sub(e.Name()).readlink("device"); err == nil {
			names = append(names, e.Name())
		}
	}
	return names
}

// opticsImages reads <interface>.bin below the images directory.
type opticsImages struct{ dir attrs }

func (d opticsImages) Module(ctx context.Context, ifname string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Bounded to the largest image the decoder takes: a longer file is an
	// error (hostfs.ErrTooLarge), not a truncated module.
	return d.dir.readFileErr(ifname+".bin", sff.MaxImage)
}

func (opticsImages) Close() error { return nil }

// opticsLevels name Thresholds' fields in the threshold series.
var opticsLevels = []struct {
	name string
	of   func(sff.Thresholds) float64
}{
	{"high_alarm", func(t sff.Thresholds) float64 { return t.HighAlarm }},
	{"high_warning", func(t sff.Thresholds) float64 { return t.HighWarning }},
	{"low_warning", func(t sff.Thresholds) float64 { return t.LowWarning }},
	{"low_alarm", func(t sff.Thresholds) float64 { return t.LowAlarm }},
}

// opticsMetrics maps a decoded module.
func opticsMetrics(iface string, m sff.Module) []prometheus.Metric {
	ms := []prometheus.Metric{gauge(opticsModuleInfo, 1, iface, labelValue(m.Type), string(m.Spec),
		labelValue(m.Connector), labelValue(m.Vendor), labelValue(m.PartNumber), labelValue(m.Revision), labelValue(m.Serial))}
	if m.Wavelength > 0 {
		ms = append(ms, gauge(opticsWavelength, m.Wavelength, iface))
	}
	dom := 0.0
	if m.DOM {
		dom = 1
	}
	ms = append(ms, gauge(opticsDOM, dom, iface))
	if m.Temperature.OK {
		ms = append(ms, gauge(opticsTemperature, m.Temperature.Value, iface))
	}
	if m.SupplyVoltage.OK {
		ms = append(ms, gauge(opticsSupplyVoltage, m.SupplyVoltage.Value, iface))
	}
	for i, l := range m.Lanes {
		lane := strconv.Itoa(i + 1)
		for _, r := range []struct {
			d *prometheus.Desc
			v sff.Reading
		}{{opticsTxBias, l.TxBias}, {opticsTxPower, l.TxPower}, {opticsRxPower, l.RxPower}} {
			if r.v.OK {
				ms = append(ms, gauge(r.d, r.v.Value, iface, lane))
			}
		}
	}
	for _, s := range sff.Sensors {
		t, ok := m.Thresholds[s]
		if !ok {
			continue
		}
		for _, l := range opticsLevels {
			ms = append(ms, gauge(opticsThreshold, l.of(t), iface, string(s), l.name))
		}
	}
	return ms
}
