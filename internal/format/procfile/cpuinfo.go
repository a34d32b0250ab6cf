package procfile

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CPUInfoMaxSize bounds /proc/cpuinfo: about 1.7 KiB per x86 thread, so
// some 4,800 threads.
const CPUInfoMaxSize = 8 << 20

// CPU is what /proc/cpuinfo says of one processor (hardware thread), in
// x86's terms; other architectures' fields are mapped onto them where they
// mean the same, and left empty where they have none.
type CPU struct {
	Processor uint // the kernel's CPU number
	VendorID  string
	CPUFamily string
	Model     string
	ModelName string
	Stepping  string
	Microcode string
	// PhysicalID and CoreID are the package and core, where cpuinfo says
	// (x86, s390); elsewhere sysfs topology does.
	PhysicalID, CoreID string
	Flags              []string // x86's CPUID flags; nil elsewhere

	variant, revision string // arm's, which make Stepping
}

// ParseCPUInfo parses /proc/cpuinfo, one "key : value" line at a time.
// Layouts: x86; arm, where "CPU implementer", "CPU architecture", "CPU part"
// and "CPU variant"/"CPU revision" stand for vendor, family, model and
// stepping (arm's Features are left out of Flags so that no caller reads
// them as CPUID bits); powerpc, whose "cpu" names the model; s390, where
// "cpu number" starts a processor. A "processor N" line starts a processor
// elsewhere. Lines before the first (32-bit arm's "Processor : ARMv7
// Processor rev 10 (v7l)", s390's vendor) hold what all processors share,
// and so, where the first processor lacks them, do those of the last (arm's
// summary block). A processor whose number does not parse is left out and
// counted in the error, as is a line that is not "key : value"; the others
// are returned. The loop stops when ctx ends.
func ParseCPUInfo(ctx context.Context, b []byte) ([]CPU, error) {
	var (
		cpus   []CPU
		common CPU
		bad    []string
		cur    = &common
		lc     = lineCounter{ctx: ctx}
	)
	for line := range strings.Lines(string(b)) {
		if err := lc.done(); err != nil {
			return nil, err
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			if strings.TrimSpace(line) != "" {
				bad = append(bad, fmt.Sprintf("line %.80q", strings.TrimSpace(line)))
			}
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if key == "processor" || key == "cpu number" {
			v, err := strconv.ParseUint(value, 0, 32)
			if err != nil {
				bad = append(bad, fmt.Sprintf("processor %.80q", value))
				cur = &CPU{} // its lines go nowhere
				continue
			}
			cpus = append(cpus, CPU{Processor: uint(v)})
			cur = &cpus[len(cpus)-1]
			continue
		}
		switch key {
		case "vendor_id", "vendor", "CPU implementer":
			cur.VendorID = value
		case "cpu family", "CPU architecture":
			cur.CPUFamily = value
		case "model":
			// powerpc's summary block names the machine there
			// ("IBM,8233-E8B"); a processor's model is a number.
			if _, err := strconv.ParseUint(value, 0, 64); err == nil {
				cur.Model = value
			}
		case "CPU part":
			cur.Model = value
		case "model name", "Processor", "cpu":
			cur.ModelName = value
		case "stepping":
			cur.Stepping = value
		case "CPU variant":
			cur.variant = value
		case "CPU revision":
			cur.revision = value
		case "microcode":
			cur.Microcode = value
		case "physical id":
			cur.PhysicalID = value
		case "core id":
			cur.CoreID = value
		case "flags": // x86 only; arm's Features are no CPUID bits
			cur.Flags = strings.Fields(value)
		}
	}
	if len(cpus) > 0 && cpus[0].VendorID == "" {
		common = cpuFill(common, cpus[len(cpus)-1])
	}
	for i := range cpus {
		c := cpuFill(cpus[i], common)
		if c.Stepping == "" {
			c.Stepping = armStepping(c.variant, c.revision)
		}
		cpus[i] = c
	}
	switch {
	case len(bad) > 0:
		return cpus, fmt.Errorf("%d malformed lines, first %s", len(bad), bad[0])
	case len(cpus) == 0:
		return nil, errors.New("no processor lines")
	}
	return cpus, nil
}

// cpuFill returns c with its empty fields taken from from.
func cpuFill(c, from CPU) CPU {
	for _, f := range []struct{ to, from *string }{
		{&c.VendorID, &from.VendorID}, {&c.CPUFamily, &from.CPUFamily}, {&c.Model, &from.Model},
		{&c.ModelName, &from.ModelName}, {&c.Stepping, &from.Stepping}, {&c.Microcode, &from.Microcode},
		{&c.variant, &from.variant}, {&c.revision, &from.revision},
	} {
		if *f.to == "" {
			*f.to = *f.from
		}
	}
	if c.Flags == nil {
		c.Flags = from.Flags
	}
	return c
}

// armStepping spells arm's variant and revision as Arm does, "r1p2".
func armStepping(variant, revision string) string {
	v, errV := strconv.ParseUint(variant, 0, 64)
	r, errR := strconv.ParseUint(revision, 0, 64)
	switch {
	case variant == "" && revision == "":
		return ""
	case errV == nil && errR == nil:
		return fmt.Sprintf("r%dp%d", v, r)
	case errV == nil:
		return fmt.Sprintf("r%d", v)
	case errR == nil:
		return fmt.Sprintf("p%d", r)
	}
	return "r" + variant + "p" + revision
}
