package probe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/osrelease"
	"github.com/hardware-exporter/hardware_exporter/internal/format/procfile"
	"github.com/prometheus/client_golang/prometheus"
)

// The system probe reads what identifies the machine: DMI strings, the
// operating system and kernel, whether it is virtual, and when it booted.
//
// gopsutil's host package is deliberately not used, although go.mod carries
// it: in v3.24.5 none of its host facts honour the configured roots fully.
// KernelVersion calls uname(2); PlatformInformation runs the host's
// /usr/bin/lsb_release; Virtualization caches its first answer for the life of
// the process (later contexts and roots are ignored) and looks at the host's
// /.dockerenv and /usr/bin/lxc-version; BootTime reads btime and then discards
// it for now minus /proc/uptime, so it moves by a second between runs. Each
// would make the output depend on the machine the exporter or test runs on,
// so the files they would read are read here instead.

var (
	// dmiStrings are the world-readable files of /sys/class/dmi/id; each file
	// name is also its label name.
	dmiStrings = []string{
		"sys_vendor", "product_name", "product_version", "product_family", "product_sku",
		"board_vendor", "board_name", "board_version",
		"chassis_vendor", "chassis_type", "chassis_version",
		"bios_vendor", "bios_version", "bios_date", "bios_release",
	}
	// dmiSerials are root-only (mode 0400) on every kernel that has them.
	dmiSerials = []string{
		"product_serial", "product_uuid", "board_serial", "chassis_serial",
		"board_asset_tag", "chassis_asset_tag",
	}

	systemDMIInfo = Inventory(newDesc("system", "dmi_info",
		"Machine identity as the firmware states it in DMI (SMBIOS), verbatim; chassis_type_name is the SMBIOS name of the numeric chassis_type.",
		append(append([]string{}, dmiStrings...), "chassis_type_name")...))
	systemSerialInfo = Inventory(newDesc("system", "serial_info",
		"Serial numbers, UUID and asset tags from DMI. Absent when none is readable: the kernel lets only root read them.",
		dmiSerials...))
	systemOSInfo = newDesc("system", "os_info",
		"Operating system as named by os-release(5) below the root filesystem.",
		"id", "id_like", "name", "pretty_name", "version", "version_id", "version_codename")
	systemKernelInfo = newDesc("system", "kernel_info",
		"Running kernel release and build version, from /proc/sys/kernel.",
		"release", "version")
	systemVirtualizationInfo = newDesc("system", "virtualization_info",
		"Virtualization detected: role guest (system names the hypervisor, as systemd-detect-virt does) or host (the hypervisor is loaded). Absent on bare metal that hosts nothing.",
		"system", "role")
	systemBootTime = newDesc("system", "boot_time_seconds",
		"Time the host booted, in seconds since the Unix epoch, from btime in /proc/stat.")
)

// chassisTypes names the SMBIOS System Enclosure or Chassis Types (DSP0134,
// section 7.4.1). The kernel exports the type byte without its lock bit.
var chassisTypes = map[uint64]string{
	0x01: "Other", 0x02: "Unknown", 0x03: "Desktop", 0x04: "Low Profile Desktop",
	0x05: "Pizza Box", 0x06: "Mini Tower", 0x07: "Tower", 0x08: "Portable",
	0x09: "Laptop", 0x0A: "Notebook", 0x0B: "Hand Held", 0x0C: "Docking Station",
	0x0D: "All in One", 0x0E: "Sub Notebook", 0x0F: "Space-saving", 0x10: "Lunch Box",
	0x11: "Main Server Chassis", 0x12: "Expansion Chassis", 0x13: "SubChassis",
	0x14: "Bus Expansion Chassis", 0x15: "Peripheral Chassis", 0x16: "RAID Chassis",
	0x17: "Rack Mount Chassis", 0x18: "Sealed-case PC", 0x19: "Multi-system chassis",
	0x1A: "Compact PCI", 0x1B: "Advanced TCA", 0x1C: "Blade", 0x1D: "Blade Enclosure",
	0x1E: "Tablet", 0x1F: "Convertible", 0x20: "Detachable", 0x21: "IoT Gateway",
	0x22: "Embedded PC", 0x23: "Mini PC", 0x24: "Stick PC",
}

func init() {
	Register(Spec{
		Name:      "system",
		Summary:   "DMI identity, OS, kernel, virtualization, boot time.",
		Reads:     "`/sys/class/dmi/id` (vendor, product, board, chassis, BIOS; serials and UUID), `/etc/os-release`, `/proc/sys/kernel/{osrelease,version}`, boot time from `/proc/stat`, virtualization from cpuinfo flags, DMI and modules",
		Privilege: "none; serials and `product_uuid` need root or `CAP_DAC_READ_SEARCH`",
		New:       func() Probe { return systemProbe{} },
	})
}

type systemProbe struct{}

func (p systemProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{systemDMIInfo, systemSerialInfo, systemOSInfo, systemKernelInfo, systemVirtualizationInfo, systemBootTime, firmwareInfoDesc} {
		ch <- d
	}
}

func (p systemProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	env = env.Bind(skips)
	var ms []prometheus.Metric
	dmi := env.Sys("class/dmi/id")
	steps := []func() []prometheus.Metric{
		func() []prometheus.Metric { return p.dmi(dmi) },
		func() []prometheus.Metric { return p.serials(dmi) },
		func() []prometheus.Metric { return p.osRelease(env) },
		func() []prometheus.Metric { return p.kernel(env) },
		func() []prometheus.Metric { return p.virtualization(env, dmi) },
		func() []prometheus.Metric { return p.bootTime(ctx, env) },
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ms = append(ms, step()...)
	}
	// A VM without DMI still has a kernel and a boot time. Nothing at all
	// means the roots point at the wrong place, and a green probe with no
	// series would hide that.
	if len(ms) == 0 && skips.Count() == 0 {
		return nil, fmt.Errorf("no DMI, os-release, kernel or boot time found below %s, %s and %s",
			env.Paths.SysFS, env.Paths.RootFS, env.Paths.ProcFS)
	}
	return ms, nil
}

// dmi reports the DMI strings. A string that is missing or unreadable is an
// empty label value: one bad attribute should not hide the machine's identity.
func (p systemProbe) dmi(a attrs) []prometheus.Metric {
	values := make([]string, 0, len(dmiStrings)+1)
	found := false
	for _, name := range dmiStrings {
		v, _ := a.String(name)
		found = found || v != ""
		values = append(values, v)
	}
	if !found {
		return nil
	}
	typeName := ""
	if t, ok := a.Uint("chassis_type"); ok {
		typeName = chassisTypes[t]
	}
	values = append(values, typeName)
	return append([]prometheus.Metric{gauge(systemDMIInfo, 1, values...)}, biosFirmware(dmiStrings, values)...)
}

func (p systemProbe) serials(a attrs) []prometheus.Metric {
	values := make([]string, 0, len(dmiSerials))
	found := false
	for _, name := range dmiSerials {
		v, _ := a.RestrictedString(name)
		found = found || v != ""
		values = append(values, v)
	}
	if !found {
		return nil
	}
	return []prometheus.Metric{gauge(systemSerialInfo, 1, values...)}
}

// osRelease reads os-release(5): /etc/os-release, or /usr/lib/os-release when
// the former does not exist, below the root filesystem.
func (p systemProbe) osRelease(env Env) []prometheus.Metric {
	root := env.Root()
	b, ok := root.read("etc/os-release")
	if !ok {
		b, ok = root.read("usr/lib/os-release")
	}
	if !ok {
		return nil
	}
	kv := osrelease.Parse(b)
	if kv["ID"] == "" && kv["NAME"] == "" && kv["PRETTY_NAME"] == "" {
		return nil
	}
	return []prometheus.Metric{gauge(systemOSInfo, 1,
		kv["ID"], kv["ID_LIKE"], kv["NAME"], kv["PRETTY_NAME"], kv["VERSION"], kv["VERSION_ID"], kv["VERSION_CODENAME"])}
}

func (p systemProbe) kernel(env Env) []prometheus.Metric {
	a := env.Proc("sys/kernel")
	release, ok := a.String("osrelease")
	if !ok {
		return nil
	}
	version, _ := a.String("version")
	return []prometheus.Metric{gauge(systemKernelInfo, 1, release, version)}
}

func (p systemProbe) bootTime(ctx context.Context, env Env) []prometheus.Metric {
	proc := env.Proc()
	b, ok := proc.readFile("stat", procfile.StatMaxSize)
	if !ok {
		return nil
	}
	btime, err := procfile.ParseBootTime(ctx, b)
	if err != nil {
		proc.skips.Add(proc.path("stat"), err)
		return nil
	}
	return []prometheus.Metric{gauge(systemBootTime, float64(btime))}
}

// dmiHypervisors maps the prefix of a DMI vendor or product string to the
// hypervisor's systemd-detect-virt name. Vendors that also sell or rent bare
// metal are told apart in dmiHypervisor: "Microsoft Corporation" makes
// laptops, and EC2's *.metal instances say "Amazon EC2" too.
var dmiHypervisors = []struct{ prefix, system string }{
	{"KVM", "kvm"}, {"OpenStack", "kvm"}, {"KubeVirt", "kvm"},
	{"Amazon EC2", "amazon"}, {"QEMU", "qemu"},
	{"VMware", "vmware"}, {"VMW", "vmware"},
	{"innotek GmbH", "oracle"}, {"VirtualBox", "oracle"},
	{"Xen", "xen"}, {"Bochs", "bochs"}, {"Parallels", "parallels"}, {"BHYVE", "bhyve"},
	{"Hyper-V", "microsoft"}, {"Google Compute Engine", "google"},
	{"Apple Virtualization", "apple"},
}

// virtualization tells a guest from the x86 CPUID hypervisor bit (every
// mainstream hypervisor sets it), or, where cpuinfo has no flags (arm64),
// from DMI strings only hypervisors use. A host is one with Xen's control
// domain or the kvm module loaded, as gopsutil judges it. Containers are
// not reported: the hardware below a container is the host's.
func (p systemProbe) virtualization(env Env, dmi attrs) []prometheus.Metric {
	quiet := dmi
	quiet.skips = NewSkips(nil) // already counted by dmi
	hypervisor, hasFlags := p.hypervisorFlag(env)
	dmiSystem := dmiHypervisor(quiet)
	hypType, _ := env.Sys("hypervisor").String("type")
	xenCaps, _ := env.Proc("xen").String("capabilities")

	var system, role string
	switch {
	case strings.Contains(xenCaps, "control_d"):
		system, role = "xen", "host"
	case hypervisor || hypType != "" || (!hasFlags && dmiSystem != ""):
		system, role = dmiSystem, "guest"
		if system == "" {
			system = hypType
		}
		if system == "" {
			system = "unknown"
		}
	case p.kvmLoaded(env):
		system, role = "kvm", "host"
	default:
		return nil
	}
	return []prometheus.Metric{gauge(systemVirtualizationInfo, 1, system, role)}
}

func dmiHypervisor(a attrs) string {
	values := map[string]string{}
	for _, name := range []string{"sys_vendor", "product_name", "board_vendor", "bios_vendor"} {
		values[name], _ = a.String(name)
	}
	if values["sys_vendor"] == "Microsoft Corporation" && values["product_name"] == "Virtual Machine" {
		return "microsoft"
	}
	if strings.HasSuffix(values["product_name"], ".metal") {
		return ""
	}
	for _, name := range []string{"sys_vendor", "product_name", "board_vendor", "bios_vendor"} {
		for _, h := range dmiHypervisors {
			if strings.HasPrefix(values[name], h.prefix) {
				return h.system
			}
		}
	}
	return ""
}

// hypervisorFlag reports whether the first CPU has the x86 hypervisor flag,
// and whether cpuinfo could have said so: only x86 has that flag.
func (p systemProbe) hypervisorFlag(env Env) (hypervisor, hasFlags bool) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		return false, false
	}
	proc := env.Proc()
	b, ok := proc.readFile("cpuinfo", procfile.CPUInfoMaxSize)
	if !ok {
		return false, false
	}
	cpus, err := procfile.ParseCPUInfo(context.Background(), b)
	if err != nil {
		proc.skips.Add(proc.path("cpuinfo"), err)
		return false, false
	}
	if len(cpus) == 0 || len(cpus[0].Flags) == 0 {
		return false, false
	}
	for _, f := range cpus[0].Flags {
		if f == "hypervisor" {
			return true, true
		}
	}
	return false, true
}

// systemMaxModules bounds /proc/modules: some 100 bytes per module, and
// hosts load a few hundred.
const systemMaxModules = 1 << 20

// kvmLoaded reports whether /proc/modules lists the kvm module.
func (p systemProbe) kvmLoaded(env Env) bool {
	b, ok := env.Proc().readFile("modules", systemMaxModules)
	if !ok {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if name, _, _ := strings.Cut(sc.Text(), " "); name == "kvm" {
			return true
		}
	}
	return false
}
