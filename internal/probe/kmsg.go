package probe

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardware-exporter/hardware_exporter/internal/format/kmsg"
)

// The kmsg probe counts the hardware errors the kernel logs. /dev/kmsg is
// drained without blocking each run from a cursor kept in the probe, so a
// record is counted once however many runs see it in the ring; the first
// run starts at the oldest record still held, so the counts mean "since
// boot" (as far as the ring reaches back) rather than "since the exporter
// started". Sequence numbers restart with the kernel, and so does the
// probe, so the cursor needs no persisting.

var (
	kmsgErrors = withNote(newDesc("kmsg", "errors_total",
		"Hardware errors the kernel logged since boot (/dev/kmsg), by source (mce, ghes, edac, aer, xid, gpu_off_bus, nvme, disk_io), severity and device.", "source", "severity", "device"),
		"severity is corrected, uncorrected, fatal, or error when the line says no more. "+
			"gpu_off_bus is NVRM's \"fallen off the bus and is not responding to commands\", which comes without an Xid. "+
			"device is a PCI address for aer, xid and gpu_off_bus, an NVMe controller for nvme, a disk for disk_io, an EDAC DIMM label or memory controller for edac, \"\" when the line names none. "+
			"An EDAC line that folds repeats counts each. Records the ring overwrote before the exporter read them are not counted (see hardware_kmsg_records_lost_total). "+
			"At most "+strconv.Itoa(kmsgMaxDevicesPerSource)+" devices per source are told apart; errors of further devices are counted as device=\"other\".")
	kmsgXidErrors = withNote(newDesc("kmsg", "gpu_xid_errors_total",
		"NVIDIA driver Xid errors the kernel logged since boot (NVRM: Xid), by GPU (PCI address, function 0) and Xid number.", "device", "xid"),
		"Also counted in hardware_kmsg_errors_total{source=\"xid\"}, and folded into device=\"other\" as there.")
	kmsgRecords = newDesc("kmsg", "records_read_total",
		"Kernel log records the probe read from /dev/kmsg since the exporter started, hardware errors or not.")
	kmsgLost = newDesc("kmsg", "records_lost_total",
		"Kernel log records never read because the ring buffer wrapped over them: gaps in the sequence numbers, including those overwritten before the first run. Errors among them are not counted.")
	kmsgOverruns = newDesc("kmsg", "ring_overruns_total",
		"Times the ring buffer wrapped under an open read (read(2) returned EPIPE): records were lost during the run.")
	kmsgMalformed = newDesc("kmsg", "records_malformed_total",
		"Kernel log records that did not parse or were longer than 8 KiB, each skipped and counted here.")
)

func init() {
	Register(Spec{
		Name:      "kmsg",
		Summary:   "Hardware errors in the kernel log (/dev/kmsg): machine checks, APEI/GHES, EDAC, PCIe AER, NVIDIA Xid, NVMe resets, disk I/O errors.",
		Reads:     "`/dev/kmsg` under the root filesystem, without blocking, from where the last run stopped: machine checks, APEI/GHES, EDAC, PCIe AER (with the device), NVIDIA Xid (with the GPU and the Xid), NVMe timeouts and resets, disk I/O errors",
		Privilege: "`CAP_SYSLOG` where `kernel.dmesg_restrict=1`",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		New:       func() Probe { return &kmsgProbe{errors: map[kmsgKey]float64{}, xids: map[kmsgXidKey]float64{}} },
	})
}

// kmsgMaxRecordsPerRun bounds one run's reading: the ring holds a few
// thousand records on most hosts and a few hundred thousand at the most
// (log_buf_len=128M), so only a flood reaches it, and the next run goes on
// from there.
const kmsgMaxRecordsPerRun = 1 << 20

// kmsgMaxDevicesPerSource bounds the devices told apart per source, far
// above real hardware (a chassis of 400 disks, a few dozen PCIe ports):
// the counts live as long as the daemon and are never pruned, so lines
// naming ever new devices (a flapping bus renaming disks, or lines
// crafted to) must not grow the series without bound. Further devices
// are counted under kmsgOtherDevice.
const kmsgMaxDevicesPerSource = 1024

const kmsgOtherDevice = "other"

type kmsgKey struct{ source, severity, device string }

type kmsgXidKey struct {
	device string
	xid    int
}

// kmsgProbe holds the cursor and the counts since boot.
type kmsgProbe struct {
	mu                                     sync.Mutex
	cursor                                 kmsg.Cursor
	stream                                 kmsg.Stream // pairs AER notices with their details
	errors                                 map[kmsgKey]float64
	xids                                   map[kmsgXidKey]float64
	devices                                map[string]map[string]bool // told apart, per source
	records, lost, overruns, malformedRecs float64
}

func (*kmsgProbe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{kmsgErrors, kmsgXidErrors, kmsgRecords, kmsgLost, kmsgOverruns, kmsgMalformed} {
		ch <- d
	}
}

func kmsgPath(paths Paths) string { return filepath.Join(paths.RootFS, "dev", "kmsg") }

// Available opens the log once: the kernel checks the reader's privilege at
// open, so this says whether the runs will be refused.
func (p *kmsgProbe) Available(env Env) error {
	return kmsgCheck(kmsgPath(env.Paths))
}

// kmsgCheck opens the log as a run does and says why it is not the
// kernel's: the kernel checks the reader's privilege at open, and what is
// there may be something else. systemd's ProtectKernelLogs=yes puts an
// inaccessible node in its place (an empty regular file in a container, a
// character device 0:0 elsewhere), from which a run would read 0 records
// and succeed forever. A regular file that holds records is accepted: it
// is what fixture trees (tests, make demo) carry in place of the device,
// which only root could create.
func kmsgCheck(path string) error {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return kmsgOpenError(path, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat %s: %w", path, err)
	}
	typ := st.Mode & syscall.S_IFMT
	if typ == syscall.S_IFREG && st.Size > 0 {
		return nil
	}
	if err := kmsgDevice(devMajor(st.Rdev), devMinor(st.Rdev), typ); err != nil {
		return fmt.Errorf("%s %w", path, err)
	}
	return nil
}

// kmsgDevice says why a node of this type and number is not the kernel's
// log, the character device 1:11 (Documentation/admin-guide/devices.txt).
// A regular file reaching here is empty.
func kmsgDevice(major, minor uint32, typ uint32) error {
	switch typ {
	case syscall.S_IFCHR:
		if major == 1 && minor == 11 {
			return nil
		}
		return fmt.Errorf("is character device %d:%d, not the kernel log (1:11); systemd's ProtectKernelLogs=yes puts such a node there", major, minor)
	case syscall.S_IFREG:
		return errors.New("is an empty regular file, not the kernel log (character device 1:11); systemd's ProtectKernelLogs=yes puts one there")
	}
	return fmt.Errorf("is not the kernel log (character device 1:11) but a file of type %#o", typ)
}

// devMajor and devMinor split a Linux dev_t (glibc's encoding, as
// gnu_dev_major and gnu_dev_minor do).
func devMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff) }
func devMinor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^0xff) }

// kmsgOpenError names the capability when the kernel refused the open.
func kmsgOpenError(path string, err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("reading %s needs CAP_SYSLOG where kernel.dmesg_restrict=1: %w", path, err)
	}
	return fmt.Errorf("opening %s: %w", path, err)
}

func (p *kmsgProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	path := kmsgPath(env.Paths)
	p.mu.Lock()
	defer p.mu.Unlock()

	// Checked each run, so an explicitly enabled probe whose log is not
	// the kernel's fails, saying why, rather than reading 0 records.
	if err := kmsgCheck(path); err != nil {
		return nil, err
	}
	cursor, st, err := kmsg.Read(ctx, path, p.cursor, kmsgMaxRecordsPerRun, p.count)
	p.stream.Flush(p.add)
	// Whatever was delivered is counted, errors or not: the cursor moved
	// past it, and a failed run must not count it again.
	p.cursor = cursor
	p.records += float64(st.Records)
	p.lost += float64(st.Lost)
	p.overruns += float64(st.Overruns)
	p.malformedRecs += float64(st.Malformed)
	for range st.Malformed {
		skips.Add(path, errors.New("malformed or oversized kernel log record"))
	}
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w (needs CAP_SYSLOG where kernel.dmesg_restrict=1)", err)
		}
		return nil, err
	}
	if st.Wrapped() {
		env.logger().Debug("kernel log ring wrapped before it was read", "path", path, "lost", st.Lost, "overruns", st.Overruns)
	}
	return p.metrics(), nil
}

// count adds the hardware errors one record completes, in log order.
func (p *kmsgProbe) count(r kmsg.Record) { p.stream.Add(r, p.add) }

// add counts one hardware error, under a device of its own or "other".
func (p *kmsgProbe) add(e kmsg.Event) {
	device := p.device(e.Source, e.Device)
	p.errors[kmsgKey{e.Source, e.Severity, device}] += float64(e.Count)
	if e.Source == kmsg.SourceXid {
		p.xids[kmsgXidKey{device, e.Xid}] += float64(e.Count)
	}
}

// device returns the label value for a device of source: the device
// itself while fewer than kmsgMaxDevicesPerSource have been seen for that
// source (or it is one of them), kmsgOtherDevice after.
func (p *kmsgProbe) device(source, device string) string {
	if device == "" {
		return ""
	}
	if p.devices == nil {
		p.devices = map[string]map[string]bool{}
	}
	seen := p.devices[source]
	if seen == nil {
		seen = map[string]bool{}
		p.devices[source] = seen
	}
	if seen[device] {
		return device
	}
	if len(seen) >= kmsgMaxDevicesPerSource {
		return kmsgOtherDevice
	}
	seen[device] = true
	return device
}

func (p *kmsgProbe) metrics() []prometheus.Metric {
	ms := []prometheus.Metric{
		constMetric(kmsgRecords, prometheus.CounterValue, p.records),
		constMetric(kmsgLost, prometheus.CounterValue, p.lost),
		constMetric(kmsgOverruns, prometheus.CounterValue, p.overruns),
		constMetric(kmsgMalformed, prometheus.CounterValue, p.malformedRecs),
	}
	keys := make([]kmsgKey, 0, len(p.errors))
	for k := range p.errors {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.source != b.source {
			return a.source < b.source
		}
		if a.severity != b.severity {
			return a.severity < b.severity
		}
		return a.device < b.device
	})
	for _, k := range keys {
		ms = append(ms, constMetric(kmsgErrors, prometheus.CounterValue, p.errors[k], k.source, k.severity, labelValue(k.device)))
	}
	for k, v := range p.xids {
		ms = append(ms, constMetric(kmsgXidErrors, prometheus.CounterValue, v, labelValue(k.device), strconv.Itoa(k.xid)))
	}
	return ms
}
