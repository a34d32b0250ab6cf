package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	powerSupplyInfo = Inventory(withNote(newDesc("power", "supply_info",
		"Power supply the kernel knows (/sys/class/power_supply), value 1; type is the kernel's (Mains, Battery, UPS, USB).", "supply", "type", "manufacturer", "model", "serial"),
		"Server PSUs are usually seen only through the BMC (hardware_ipmi_*) or PMBus (hardware_hwmon_*), not here."))
	powerSupplyOnline = newDesc("power", "supply_online",
		"1 if the power supply is online (for Mains: input power is present), 0 if not; USB supplies report 2 for an online programmable source.", "supply")
	powerSupplyPresent = newDesc("power", "supply_present",
		"1 if the power supply (typically a battery) is present, 0 if not.", "supply")
	powerSupplyHealth = newDesc("power", "supply_health",
		"Health the power supply reports, value 1 for the current one; health is the kernel's string (Good, Overheat, Dead, Over voltage, Unspecified failure, Cold, ...).",
		"supply", "health")

	powerMeterWatts = newDesc("power", "meter_watts",
		"Average power the ACPI power meter measures over its averaging interval (power1_average). Kernels also register the meter with hwmon, so it may appear as hardware_hwmon_power_watts too.",
		"meter")
	powerMeterCapWatts = newDesc("power", "meter_cap_watts",
		"Power cap the platform enforces through the ACPI power meter (power1_cap); absent when the firmware offers no capping.",
		"meter")

	powerRAPLEnergy = withNote(newDesc("power", "rapl_energy_joules_total",
		"Energy the RAPL zone has consumed (powercap energy_uj), raw: the counter wraps to 0 at max_energy_range_uj, which rate() and increase() handle as a counter reset.", "zone"),
		"Exported only when running as root: energy_uj is mode 0400 since CVE-2020-8694.")
)

func init() {
	Register(Spec{
		Name:      "power",
		Summary:   "Power supplies, ACPI power meters, RAPL energy counters.",
		Reads:     "`/sys/class/power_supply`, ACPI power meters, RAPL energy counters (`/sys/class/powercap/intel-rapl:*`); readings re-read from descriptors kept open, the supplies, meters and zones listed each run, the rest every 60 runs",
		Privilege: "none; RAPL energy needs root or `CAP_DAC_READ_SEARCH`",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		New:       func() Probe { return &powerProbe{} },
	})
}

// powerProbe reports power supplies, ACPI power meters and RAPL energy.
//
// It reads sysfs itself rather than through procfs v0.23.0: PowerSupplyClass
// and GetPowerMeters fail every supply or meter when one attribute is
// unreadable or malformed, and GetRaplZones fails every zone when one
// max_energy_range_uj is unreadable, and splits "package-0" into name
// "package" and index 0 while dropping which package a "dram" subzone
// belongs to, which the zone label needs. A bad attribute here costs the
// series it feeds and nothing else.
//
// It keeps its layout between runs (layout.go): online, present and
// health, the meters' readings and the RAPL counters are re-read.
type powerProbe struct{ layout keptLayout }

// Close closes the descriptors the probe keeps.
func (p *powerProbe) Close() { p.layout.close() }

func (*powerProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		powerSupplyInfo, powerSupplyOnline, powerSupplyPresent, powerSupplyHealth,
		powerMeterWatts, powerMeterCapWatts,
		powerRAPLEnergy,
	} {
		ch <- d
	}
}

func (p *powerProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	return p.layout.run(ctx, env, skips, func(b *layoutBuilder) error {
		for _, read := range []func(Env, *layoutBuilder){powerSupplies, powerMeters, powerRAPL} {
			if err := ctx.Err(); err != nil {
				return err
			}
			read(env, b)
		}
		return nil
	})
}

// powerSupplies lays out /sys/class/power_supply.
func powerSupplies(env Env, b *layoutBuilder) {
	class := env.Sys("class/power_supply")
	b.watch(class, nil)
	for _, e := range class.entries() {
		supply := e.Name()
		a := class.sub(supply)
		typ, _ := a.String("type")
		manufacturer, _ := a.String("manufacturer")
		model, _ := a.String("model_name")
		serial, _ := a.String("serial_number")
		label := labelValue(supply)
		g := b.group()
		g.add(constMetric(powerSupplyInfo, prometheus.GaugeValue, 1,
			label, labelValue(typ), labelValue(manufacturer), labelValue(model), labelValue(serial)))
		b.value(g, a, "online", parseUintValue, powerSupplyOnline, prometheus.GaugeValue, label)
		b.value(g, a, "present", parseUintValue, powerSupplyPresent, prometheus.GaugeValue, label)
		// health is a label value, not a number: the group's build
		// makes its series.
		health := b.value(g, a, "health", nil, nil, 0)
		g.build = func(get func(*layoutValue) (string, bool), _ *Skips) []prometheus.Metric {
			if h, ok := get(health); ok && h != "" {
				return []prometheus.Metric{constMetric(powerSupplyHealth, prometheus.GaugeValue, 1, label, labelValue(h))}
			}
			return nil
		}
	}
}

// powerMeters lays out the ACPI power meters bound to the power_meter
// driver. The driver reports microwatts.
func powerMeters(env Env, b *layoutBuilder) {
	driver := env.Sys("bus/acpi/drivers/power_meter")
	b.watch(driver, func(name string) bool { return strings.HasPrefix(name, "ACPI000D:") })
	for _, e := range driver.entries() {
		// The driver directory also holds bind, unbind, uevent and module.
		meter := e.Name()
		if !strings.HasPrefix(meter, "ACPI000D:") {
			continue
		}
		a := driver.sub(meter)
		g := b.group()
		b.value(g, a, "power1_average", parseIntDiv(1e6), powerMeterWatts, prometheus.GaugeValue, meter)
		if v, ok := a.Int("power1_cap"); ok {
			g.add(constMetric(powerMeterCapWatts, prometheus.GaugeValue, float64(v)/1e6, meter))
		}
	}
}

// powerRAPLZone is one intel-rapl:N or intel-rapl:N:M powercap zone.
type powerRAPLZone struct {
	dir    attrs  // class/powercap/intel-rapl:0:0
	parent string // intel-rapl:0 for a subzone, "" for a package
	label  string
}

// powerRAPL lays out the RAPL zones of the MSR interface (intel-rapl:*;
// AMD CPUs use it too). intel-rapl-mmio:* zones are left out: they are the
// same packages seen through MMIO, named "package-0" again.
func powerRAPL(env Env, b *layoutBuilder) {
	class := env.Sys("class/powercap")
	b.watch(class, func(name string) bool { return strings.HasPrefix(name, "intel-rapl:") })
	var zones []powerRAPLZone
	names := map[string]string{} // intel-rapl:N -> package-N
	for _, e := range class.entries() {
		id, ok := strings.CutPrefix(e.Name(), "intel-rapl:")
		if !ok {
			continue
		}
		dir := class.sub(e.Name())
		name, ok := dir.String("name")
		if !ok {
			continue
		}
		z := powerRAPLZone{dir: dir, label: labelValue(name)}
		if i := strings.IndexByte(id, ':'); i >= 0 {
			z.parent = "intel-rapl:" + id[:i]
		} else {
			names[e.Name()] = z.label
		}
		zones = append(zones, z)
	}

	// Subzone names (dram, core, uncore) repeat in every package: prefix
	// the package's name so that each zone's label is unique.
	sort.Slice(zones, func(i, j int) bool { return zones[i].dir.dir < zones[j].dir.dir })
	seen := map[string]bool{}
	for _, z := range zones {
		if z.parent != "" {
			pkg, ok := names[z.parent]
			if !ok {
				// The package's own name was unreadable (already counted)
				// or its zone is missing: no unique label to give.
				continue
			}
			z.label = pkg + "-" + z.label
		}
		if seen[z.label] {
			z.dir.skips.Add(z.dir.path("."), fmt.Errorf("RAPL zone label %q already taken", z.label))
			continue
		}
		seen[z.label] = true

		// The counter is exported as read, wraps included: rate() loses at
		// most one probe interval's energy at a wrap. That holds only while
		// the interval stays well below the wrap time (max_energy_range_uj is
		// about 262 kJ, some 20 minutes for a 200 W package), which the
		// power probe's one-minute default keeps.
		g := b.group()
		if v := b.value(g, z.dir, "energy_uj", parseUintDiv(1e6), powerRAPLEnergy, prometheus.CounterValue, z.label); v != nil {
			// energy_uj is mode 0400 since CVE-2020-8694: permission
			// denied is the expected answer when not running as root,
			// no series and not a skip (as RestrictedString has it).
			v.unknown = func(err error) bool { return errors.Is(err, fs.ErrPermission) }
		}
	}
}
