package kmsg

import (
	"fmt"
	"strconv"
	"strings"
)

// Sources of hardware errors. The set is closed: a line of any other kind is
// not an Event, so a metric labelled by source cannot grow new values.
const (
	SourceMCE  = "mce"  // x86 machine check (mce: [Hardware Error]: ..., AMD decoder lines)
	SourceGHES = "ghes" // APEI firmware-first record ({N}[Hardware Error]: event severity: ...)
	SourceEDAC = "edac" // EDAC memory controller (EDAC MC0: 1 CE ... on LABEL)
	SourceAER  = "aer"  // PCIe Advanced Error Reporting (PCIe Bus Error: severity=...)
	SourceXid  = "xid"  // NVIDIA driver (NVRM: Xid (PCI:0000:3b:00): 79, ...)
	// SourceGPUOffBus is NVRM's "The NVIDIA GPU ADDR ... has fallen off
	// the bus and is not responding to commands", which the driver prints
	// without an Xid when it finds the GPU gone as it loads or probes it.
	SourceGPUOffBus = "gpu_off_bus"
	SourceNVMe      = "nvme"    // NVMe controller timeout, reset or removal
	SourceDiskIO    = "disk_io" // block layer request failure (I/O error, dev sda, sector ...)
)

// Severities, also a closed set. Recoverable (APEI) and non-fatal
// uncorrected (AER) errors are both SeverityUncorrected: data was lost or
// poisoned but the system runs on.
const (
	SeverityCorrected   = "corrected"
	SeverityUncorrected = "uncorrected"
	SeverityFatal       = "fatal"
	SeverityError       = "error" // the line says no more than that something failed
)

// maxDeviceLen bounds Event.Device; every accepted shape fits well inside it.
const maxDeviceLen = 64

// Event is a hardware error recognised in one kernel log line.
type Event struct {
	Source   string
	Severity string
	// Device names the failing part when the line does, in a checked shape:
	// a PCI address ("0000:3b:00.0") for aer and xid, a controller ("nvme0")
	// for nvme, a disk ("sda", "nvme0n1") for disk_io, an EDAC DIMM label
	// ("CPU_SrcID#0_Ha#0_Chan#1_DIMM#0", else the controller "mc0") for edac.
	// Anything else is "", so a hostile line cannot mint label values.
	Device string
	Xid    int // the Xid number for source xid, else 0
	// Count is how many errors the line reports: EDAC folds repeats into one
	// line ("262 CE memory read error"); every other line is 1.
	Count int
}

// Classify recognises the hardware-error lines among the kernel's own
// records. Records a user-space process wrote into /dev/kmsg carry a facility
// other than LOG_KERN (the kernel forbids them 0), so they are never events:
// nothing outside the kernel can fake a machine check this way.
//
// Each recognised line is one event, and a fault can log more than one
// recognised line: a corrected machine check shows as "Machine check events
// logged" (severity error) and, where no mcelog or rasdaemon consumes it,
// also as its decoded "CPU n: Machine Check: ... Bank b: status" line. An AER
// error is counted on its "PCIe Bus Error: severity=" line, once per device
// that logged it; the root port's "... error received" notice before it is
// an event only where no such line follows (see Stream, which counts a
// stream of records; Classify alone never counts a notice). The detail
// lines around it are not events, nor are "Buffer I/O error" lines, which
// repeat the block-layer failure already counted.
func Classify(r Record) (Event, bool) {
	if r.Facility != 0 {
		return Event{}, false
	}
	return ClassifyMessage(r.Message)
}

// ClassifyMessage classifies the text of one kernel message, without the
// dmesg or syslog prefixes. Classify is the safe entry point for records from
// /dev/kmsg; this one is for text whose origin is already known to be the kernel.
func ClassifyMessage(msg string) (Event, bool) {
	if len(msg) > MaxRecordSize {
		msg = msg[:MaxRecordSize]
	}
	for _, classify := range classifiers {
		if e, ok := classify(msg); ok {
			if e.Count == 0 {
				e.Count = 1
			}
			return e, true
		}
	}
	return Event{}, false
}

var classifiers = []func(string) (Event, bool){
	classifyXid,
	classifyGPUOffBus,
	classifyGHES,
	classifyMCE,
	classifyEDAC,
	classifyAER,
	classifyNVMe,
	classifyDiskIO,
}

// classifyXid: "NVRM: Xid (PCI:0000:3b:00): 79, pid=..., GPU has fallen off the bus."
// Old drivers print the address without "PCI:".
func classifyXid(msg string) (Event, bool) {
	i := strings.Index(msg, "NVRM: Xid (")
	if i < 0 {
		return Event{}, false
	}
	rest := msg[i+len("NVRM: Xid ("):]
	rest = strings.TrimPrefix(rest, "PCI:")
	addr, rest, ok := strings.Cut(rest, "): ")
	if !ok {
		return Event{}, false
	}
	num, _, _ := strings.Cut(rest, ",")
	xid, err := strconv.Atoi(num)
	if err != nil || xid < 1 || xid > 9999 {
		return Event{}, false
	}
	// NVRM names domain:bus:device; the GPU is function 0 of it.
	return Event{Source: SourceXid, Severity: SeverityError, Device: pciAddress(addr + ".0"), Xid: xid}, true
}

// classifyGPUOffBus: the driver prints one record of three lines (two in
// newer drivers), "NVRM: The NVIDIA GPU 0000:b3:00.0\nNVRM: (PCI ID:
// 10de:26b5) installed in this system has\nNVRM: fallen off the bus and is
// not responding to commands.". The event is counted on the line that says
// so; the address is its device where the record holds it, and "" where a
// log split the record into lines. Lines with an Xid are classifyXid's.
func classifyGPUOffBus(msg string) (Event, bool) {
	if !strings.Contains(msg, "NVRM: fallen off the bus") && !strings.Contains(msg, "has fallen off the bus and is not responding") {
		return Event{}, false
	}
	device := ""
	if _, rest, ok := strings.Cut(msg, "NVRM: The NVIDIA GPU "); ok {
		// The address ends where its characters do: at a line break, a
		// space, or /dev/kmsg's escaped line break (\x0a), which Read
		// leaves as it is.
		n := 0
		for n < len(rest) && n < 16 && (isHex(rest[n:n+1]) || rest[n] == ':' || rest[n] == '.') {
			n++
		}
		device = pciAddress(rest[:n])
	}
	return Event{Source: SourceGPUOffBus, Severity: SeverityFatal, Device: device}, true
}

// classifyGHES counts a firmware-first record once, on the line that carries
// its severity: "{1}[Hardware Error]: event severity: recoverable".
func classifyGHES(msg string) (Event, bool) {
	i := strings.Index(msg, "[Hardware Error]:")
	if i < 0 {
		return Event{}, false
	}
	rest := strings.TrimLeft(msg[i+len("[Hardware Error]:"):], " ")
	sev, ok := strings.CutPrefix(rest, "event severity: ")
	if !ok {
		return Event{}, false
	}
	switch strings.TrimSpace(sev) {
	case "corrected":
		return Event{Source: SourceGHES, Severity: SeverityCorrected}, true
	case "recoverable":
		return Event{Source: SourceGHES, Severity: SeverityUncorrected}, true
	case "fatal":
		return Event{Source: SourceGHES, Severity: SeverityFatal}, true
	}
	return Event{}, false // "info", or a severity this package does not know
}

// AMD's decoder (edac_mce_amd) opens each decoded error with one of these.
var amdMCESeverity = map[string]string{
	"Corrected error, no action required.":     SeverityCorrected,
	"Deferred error, no action required.":      SeverityUncorrected,
	"Uncorrected, software containable error.": SeverityUncorrected,
	"Uncorrected, software restartable error.": SeverityUncorrected,
	"System Fatal error.":                      SeverityFatal,
}

func classifyMCE(msg string) (Event, bool) {
	if rest, ok := strings.CutPrefix(msg, "[Hardware Error]: "); ok {
		if sev, ok := amdMCESeverity[strings.TrimSpace(rest)]; ok {
			return Event{Source: SourceMCE, Severity: sev}, true
		}
		return Event{}, false
	}
	rest, ok := strings.CutPrefix(msg, "mce: [Hardware Error]: ")
	if !ok {
		return Event{}, false
	}
	if strings.HasPrefix(rest, "Machine check events logged") {
		// The notice that records reached the mcelog buffer; it says nothing of severity.
		return Event{Source: SourceMCE, Severity: SeverityError}, true
	}
	// "CPU 0: Machine Check: 0 Bank 5: 8c00004000010092", or "Machine Check
	// Exception" when the CPU raised #MC. The panic line that follows a
	// fatal one ("Machine check: Processor context corrupt") is not counted again.
	cpu, rest, ok := strings.Cut(rest, ": Machine Check")
	if !ok || !strings.HasPrefix(cpu, "CPU ") {
		return Event{}, false
	}
	exception := strings.HasPrefix(rest, " Exception")
	if sev, ok := mceStatusSeverity(rest); ok {
		return Event{Source: SourceMCE, Severity: sev}, true
	}
	if exception {
		return Event{Source: SourceMCE, Severity: SeverityUncorrected}, true
	}
	return Event{Source: SourceMCE, Severity: SeverityError}, true
}

// mceStatusSeverity decodes the bank's MCi_STATUS after "Bank N: ": bit 61
// (UC) says the error was not corrected, bit 57 (PCC) that the processor
// context is corrupt, which the kernel treats as fatal.
func mceStatusSeverity(s string) (string, bool) {
	i := strings.Index(s, "Bank ")
	if i < 0 {
		return "", false
	}
	_, status, ok := strings.Cut(s[i:], ": ")
	if !ok {
		return "", false
	}
	status, _, _ = strings.Cut(strings.TrimSpace(status), " ")
	v, err := strconv.ParseUint(status, 16, 64)
	if err != nil || v&(1<<63) == 0 { // not VAL: nothing valid to decode
		return "", false
	}
	switch {
	case v&(1<<61) == 0:
		return SeverityCorrected, true
	case v&(1<<57) != 0:
		return SeverityFatal, true
	}
	return SeverityUncorrected, true
}

// classifyEDAC: "EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 ...)"
// and the older "EDAC MC0: 4 CE error on CPU#0Channel#2_DIMM#0 (...)".
func classifyEDAC(msg string) (Event, bool) {
	rest, ok := strings.CutPrefix(msg, "EDAC MC")
	if !ok {
		return Event{}, false
	}
	mc, rest, ok := strings.Cut(rest, ": ")
	if !ok || !isDigits(mc, 4) {
		return Event{}, false
	}
	count := 1
	if n, after, ok := strings.Cut(rest, " "); ok && isDigits(n, 9) {
		count, _ = strconv.Atoi(n)
		rest = after
	}
	kind, rest, _ := strings.Cut(rest, " ")
	var sev string
	switch kind {
	case "CE":
		sev = SeverityCorrected
	case "UE", "Deferred":
		sev = SeverityUncorrected
	case "Fatal":
		sev = SeverityFatal
	default:
		return Event{}, false
	}
	device := "mc" + mc
	if _, after, ok := strings.Cut(rest, " on "); ok {
		label, _, _ := strings.Cut(after, " (")
		if isDIMMLabel(label) {
			device = label
		}
	}
	return Event{Source: SourceEDAC, Severity: sev, Device: device, Count: max(count, 1)}, true
}

// classifyAER counts "[driver ]BDF: [AER: ]PCIe Bus Error: severity=Corrected, type=..."
// against the device named before it.
func classifyAER(msg string) (Event, bool) {
	i := strings.Index(msg, "PCIe Bus Error: severity=")
	if i < 0 {
		return Event{}, false
	}
	sevText := msg[i+len("PCIe Bus Error: severity="):]
	var sev string
	switch {
	case strings.HasPrefix(sevText, "Corrected"), strings.HasPrefix(sevText, "Correctable"):
		sev = SeverityCorrected
	case strings.HasPrefix(sevText, "Uncorrected (Fatal)"), strings.HasPrefix(sevText, "Uncorrectable (Fatal)"):
		sev = SeverityFatal
	case strings.HasPrefix(sevText, "Uncorrected (Non-Fatal)"), strings.HasPrefix(sevText, "Uncorrectable (Non-Fatal)"):
		sev = SeverityUncorrected
	default:
		sev = SeverityError
	}
	device := ""
	for _, f := range strings.Fields(msg[:i]) {
		if a := pciAddress(strings.TrimSuffix(f, ":")); a != "" {
			device = a
			break
		}
	}
	return Event{Source: SourceAER, Severity: sev, Device: device}, true
}

// Stream classifies records in the order the kernel logged them, for the
// one error that needs its neighbours. A root port that receives an AER
// message logs a notice ("pcieport 0000:00:1c.5: AER: Corrected error
// received: id=00e5") and then a "PCIe Bus Error" detail for each device
// that logged the error, which is what Classify counts. Kernels before 4.x
// where the device's status cannot be read, and any kernel that cannot find
// the device ("can't find device of ID00e5"), print the notice alone: then
// the notice is the only trace of the error. So a notice waits for the next
// kernel record: a detail line drops it (the detail counts), anything else
// counts it. The zero value is ready to use; it is not safe for concurrent
// use.
type Stream struct {
	pending    Event
	hasPending bool
}

// Add classifies r and passes emit the events it completes: r's own, and
// a notice that waited for r and turned out to be alone. Records from user
// space are ignored, so they can neither count nor break a pair.
func (s *Stream) Add(r Record, emit func(Event)) {
	if r.Facility != 0 {
		return
	}
	if e, ok := classifyAERNotice(r.Message); ok {
		s.Flush(emit)
		s.pending, s.hasPending = e, true
		return
	}
	e, ok := ClassifyMessage(r.Message)
	if ok && e.Source == SourceAER {
		s.hasPending = false // the notice's detail: counted instead
	} else {
		s.Flush(emit)
	}
	if ok {
		emit(e)
	}
}

// Flush counts a notice still waiting. Call it when a drain ends: the
// kernel logs the detail from the same interrupt handler, microseconds
// after the notice, so a drain seldom ends between the two, and a notice
// kept until the next run would leave a lone error uncounted while the log
// is quiet.
func (s *Stream) Flush(emit func(Event)) {
	if s.hasPending {
		s.hasPending = false
		emit(s.pending)
	}
}

// classifyAERNotice recognises a root port's "[Multiple ]<severity> error
// received: <source>" notice. The source is "id=00e5" (a requester ID:
// bus, device and function, in the port's PCI domain) before 4.x, an address
// after; the port itself when neither reads.
func classifyAERNotice(msg string) (Event, bool) {
	if len(msg) > MaxRecordSize {
		msg = msg[:MaxRecordSize]
	}
	head, source, ok := strings.Cut(msg, " error received: ")
	if !ok {
		return Event{}, false
	}
	i := strings.LastIndex(head, "AER: ")
	if i < 0 {
		return Event{}, false
	}
	var sev string
	switch kind := strings.TrimPrefix(head[i+len("AER: "):], "Multiple "); kind {
	case "Corrected":
		sev = SeverityCorrected
	case "Uncorrected (Fatal)":
		sev = SeverityFatal
	case "Uncorrected (Non-Fatal)", "Uncorrected":
		sev = SeverityUncorrected
	default:
		return Event{}, false
	}
	port := ""
	for _, f := range strings.Fields(head[:i]) {
		if a := pciAddress(strings.TrimSuffix(f, ":")); a != "" {
			port = a
			break
		}
	}
	source, _, _ = strings.Cut(strings.TrimSpace(source), " ")
	device := pciAddress(source)
	if id, ok := strings.CutPrefix(source, "id="); ok && port != "" && len(id) == 4 && isHex(id) {
		n, _ := strconv.ParseUint(id, 16, 16)
		dom, _, _ := strings.Cut(port, ":")
		device = fmt.Sprintf("%s:%02x:%02x.%d", dom, n>>8, (n>>3)&0x1f, n&7)
	}
	if device == "" {
		device = port
	}
	return Event{Source: SourceAER, Severity: sev, Device: device, Count: 1}, true
}

// NVMe lines that mean a command or the controller failed. "Device not ready;
// aborting reset" and "Abort status" follow one of these and are not counted again.
var nvmeFailures = []string{
	"controller is down; will reset",
	"Removing after probe failure",
}

// classifyNVMe: "nvme nvme0: I/O 123 QID 4 timeout, reset controller",
// "nvme nvme0: controller is down; will reset: CSTS=0xffffffff, ...".
func classifyNVMe(msg string) (Event, bool) {
	rest, ok := strings.CutPrefix(msg, "nvme ")
	if !ok {
		return Event{}, false
	}
	ctrl, rest, ok := strings.Cut(rest, ": ")
	if !ok || !isNVMeController(ctrl) {
		return Event{}, false
	}
	failed := false
	if io, ok := strings.CutPrefix(rest, "I/O "); ok {
		// "I/O <tag> QID <qid> timeout, <action>"
		f := strings.Fields(io)
		failed = len(f) >= 4 && isDigits(f[0], 6) && f[1] == "QID" && isDigits(f[2], 6) && strings.HasPrefix(f[3], "timeout")
	}
	for _, p := range nvmeFailures {
		failed = failed || strings.HasPrefix(rest, p)
	}
	if !failed {
		return Event{}, false
	}
	return Event{Source: SourceNVMe, Severity: SeverityError, Device: ctrl}, true
}

// The block layer names a failed request by its status ("I/O", "critical
// medium", ...; blk_errors in block/blk-core.c) before "error, dev". Statuses
// that are not the device's fault (not supported, nonblocking retry, kernel
// resource) are left out.
var diskErrorKinds = map[string]bool{
	"I/O":                       true,
	"critical medium":           true,
	"critical target":           true,
	"critical nexus":            true,
	"critical space allocation": true,
	"critical protection":       true,
	"recoverable transport":     true,
	"timeout":                   true,
	"device offline":            true,
}

// classifyDiskIO: "blk_update_request: I/O error, dev sda, sector 2048 op 0x0:(READ) ...",
// newer kernels without the function prefix, older ones with "print_req_error: "
// or "end_request: ".
func classifyDiskIO(msg string) (Event, bool) {
	kind, rest, ok := strings.Cut(msg, " error, dev ")
	if !ok {
		return Event{}, false
	}
	for _, p := range []string{"blk_update_request: ", "print_req_error: ", "end_request: "} {
		kind = strings.TrimPrefix(kind, p)
	}
	if !diskErrorKinds[kind] {
		return Event{}, false
	}
	disk, rest, ok := strings.Cut(rest, ", ")
	if !ok || !strings.HasPrefix(rest, "sector ") {
		return Event{}, false
	}
	if !isDiskName(disk) {
		disk = ""
	}
	return Event{Source: SourceDiskIO, Severity: SeverityError, Device: disk}, true
}

// pciAddress returns s in lower case when it is a PCI address
// (domain:bus:device.function, the domain 4 to 8 hex digits), else "".
func pciAddress(s string) string {
	dom, rest, ok := strings.Cut(s, ":")
	if !ok || len(dom) < 4 || len(dom) > 8 || !isHex(dom) {
		return ""
	}
	bus, rest, ok := strings.Cut(rest, ":")
	if !ok || len(bus) != 2 || !isHex(bus) {
		return ""
	}
	dev, fn, ok := strings.Cut(rest, ".")
	if !ok || len(dev) != 2 || !isHex(dev) || len(fn) != 1 || fn[0] < '0' || fn[0] > '7' {
		return ""
	}
	return strings.ToLower(s)
}

// isNVMeController accepts "nvme" followed by up to 4 digits.
func isNVMeController(s string) bool {
	n, ok := strings.CutPrefix(s, "nvme")
	return ok && isDigits(n, 4)
}

// isDiskName accepts the kernel's disk names (sda, nvme0n1, vdb, dm-3,
// mmcblk0, md127, mtdblock1): a lower-case letter, then letters, digits,
// '-' or '_', 32 bytes at most.
func isDiskName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isDIMMLabel accepts EDAC labels as drivers and edac-ctl write them
// ("CPU_SrcID#0_Ha#0_Chan#1_DIMM#0", "DIMM_A1", "mc#0csrow#2channel#0"):
// letters, digits and "_#-.:", starting with a letter or digit. A label with
// spaces ("unknown memory", "A or B") is not one DIMM and is refused.
func isDIMMLabel(s string) bool {
	if len(s) == 0 || len(s) > maxDeviceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("_#-.:", rune(c))) {
			return false
		}
	}
	return true
}

func isDigits(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
