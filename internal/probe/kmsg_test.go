package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/kmsg"
)

func TestKmsgGolden(t *testing.T) {
	checkGolden(t, "kmsg")
	c, skips := runProbe(t, "kmsg", fixturePaths)
	if skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
	// One of each fault the fixture's kernel log carries.
	assertSeries(t, gatherSeries(t, c), "hardware_kmsg_", map[string]float64{
		`hardware_kmsg_errors_total{device="",severity="error",source="mce"}`:                                      1,
		`hardware_kmsg_errors_total{device="",severity="fatal",source="mce"}`:                                      1,
		`hardware_kmsg_errors_total{device="",severity="uncorrected",source="ghes"}`:                               1,
		`hardware_kmsg_errors_total{device="CPU_SrcID#0_Ha#0_Chan#2_DIMM#0",severity="corrected",source="edac"}`:   1,
		`hardware_kmsg_errors_total{device="CPU_SrcID#0_Ha#0_Chan#2_DIMM#0",severity="uncorrected",source="edac"}`: 1,
		`hardware_kmsg_errors_total{device="0000:50:00.0",severity="fatal",source="aer"}`:                          1,
		`hardware_kmsg_errors_total{device="0000:17:00.0",severity="error",source="xid"}`:                          1,
		`hardware_kmsg_errors_total{device="nvme2",severity="error",source="nvme"}`:                                1,
		`hardware_kmsg_errors_total{device="sdb",severity="error",source="disk_io"}`:                               1,
		`hardware_kmsg_gpu_xid_errors_total{device="0000:17:00.0",xid="79"}`:                                       1,
		`hardware_kmsg_records_read_total{}`:                                                                       21,
		`hardware_kmsg_records_lost_total{}`:                                                                       0,
		`hardware_kmsg_ring_overruns_total{}`:                                                                      0,
		`hardware_kmsg_records_malformed_total{}`:                                                                  0,
	})
}

// kmsgHost is a kernel log in a file (the form kmsg.Read takes for
// regular files) that a test appends to between runs of one probe.
type kmsgHost struct {
	t     *testing.T
	paths Paths
	probe Probe
}

func newKmsgHost(t *testing.T) *kmsgHost {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "dev", "kmsg"), "")
	p, err := New("kmsg")
	if err != nil {
		t.Fatal(err)
	}
	return &kmsgHost{t: t, paths: treePaths(root), probe: p}
}

func (h *kmsgHost) appendLog(s string) {
	h.t.Helper()
	f, err := os.OpenFile(kmsgPath(h.paths), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		h.t.Fatal(err)
	}
}

func (h *kmsgHost) run() (map[string]float64, *Skips) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	skips := NewSkips(nil)
	ms, err := h.probe.Probe(ctx, Env{Paths: h.paths}, skips)
	if err != nil {
		h.t.Fatal(err)
	}
	return gatherSeries(h.t, collected{p: h.probe, metrics: ms}), skips
}

const kmsgXid79 = `hardware_kmsg_gpu_xid_errors_total{device="0000:17:00.0",xid="79"}`

func TestKmsgCountsEachRecordOnceAcrossRuns(t *testing.T) {
	h := newKmsgHost(t)
	h.appendLog("6,0,1000,-;Linux version 6.8.0\n" +
		"4,1,2000,-;NVRM: Xid (PCI:0000:17:00): 79, GPU has fallen off the bus\n")
	got, _ := h.run()
	if got[kmsgXid79] != 1 || got[`hardware_kmsg_records_read_total{}`] != 2 {
		t.Fatalf("first run: xid %v, records %v", got[kmsgXid79], got[`hardware_kmsg_records_read_total{}`])
	}
	// The file still holds the first records, as the ring does: not counted again.
	got, _ = h.run()
	if got[kmsgXid79] != 1 || got[`hardware_kmsg_records_read_total{}`] != 2 {
		t.Errorf("second run: xid %v, records %v; want 1, 2", got[kmsgXid79], got[`hardware_kmsg_records_read_total{}`])
	}
	// New records, after a gap of three the ring overwrote unread.
	h.appendLog("4,5,9000,-;NVRM: Xid (PCI:0000:17:00): 79, GPU has fallen off the bus\n" +
		"4,6,9100,-;EDAC MC1: 262 CE memory read error on CPU_SrcID#1_Ha#0_Chan#0_DIMM#0 (channel:0 slot:0 page:0x0 offset:0x0 grain:32 syndrome:0x0 - OVERFLOW area:DRAM err_code:0001:0090)\n")
	got, _ = h.run()
	assertSeries(t, got, "hardware_kmsg_", map[string]float64{
		kmsgXid79: 2,
		`hardware_kmsg_errors_total{device="0000:17:00.0",severity="error",source="xid"}`:                        2,
		`hardware_kmsg_errors_total{device="CPU_SrcID#1_Ha#0_Chan#0_DIMM#0",severity="corrected",source="edac"}`: 262,
		`hardware_kmsg_records_read_total{}`:      4,
		`hardware_kmsg_records_lost_total{}`:      3,
		`hardware_kmsg_ring_overruns_total{}`:     0,
		`hardware_kmsg_records_malformed_total{}`: 0,
	})
}

func TestKmsgHostileRecordsCostTheirOwnCount(t *testing.T) {
	h := newKmsgHost(t)
	h.appendLog("3,0,1000,-;blk_update_request: I/O error, dev sda, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0\n" +
		"3,1,1100,-;" + strings.Repeat("A", 1<<20) + "\n" + // 1 MiB message
		"this is not a record\n" +
		"3,3,1300,-;blk_update_request: I/O error, dev sda, sector 4096 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0\n" +
		// A user-space write (facility 1) cannot fake a machine check.
		"12,4,1400,-;mce: [Hardware Error]: CPU 0: Machine Check Exception: 4 Bank 0: b200000080060001\n")
	got, skips := h.run()
	if skips.Count() != 2 {
		t.Errorf("skips = %d, want 2 (the 1 MiB record and the malformed line)", skips.Count())
	}
	assertSeries(t, got, "hardware_kmsg_", map[string]float64{
		`hardware_kmsg_errors_total{device="sda",severity="error",source="disk_io"}`: 2,
		`hardware_kmsg_records_read_total{}`:                                         3,
		`hardware_kmsg_records_lost_total{}`:                                         2, // seq 1 (oversized) and 2 (never seen): a malformed record is a gap too
		`hardware_kmsg_ring_overruns_total{}`:                                        0,
		`hardware_kmsg_records_malformed_total{}`:                                    2,
	})
}

func TestKmsgManyRecordsInOneRun(t *testing.T) {
	h := newKmsgHost(t)
	var b strings.Builder
	const n = 30000 // more than kmsg.DefaultMaxRecords, fewer than the probe's bound
	for i := range n {
		fmt.Fprintf(&b, "4,%d,%d,-;EDAC MC0: 1 CE memory read error on DIMM_A1 (channel:0 slot:0)\n", i, 1000+i)
	}
	h.appendLog(b.String())
	got, _ := h.run()
	if v := got[`hardware_kmsg_errors_total{device="DIMM_A1",severity="corrected",source="edac"}`]; v != n {
		t.Errorf("corrected errors on DIMM_A1 = %v, want %d", v, n)
	}
}

func TestKmsgAvailable(t *testing.T) {
	p, _ := New("kmsg")
	c := p.(Conditional)
	if err := c.Available(Env{Paths: fixturePaths}); err != nil {
		t.Errorf("fixture host: %v", err)
	}
	empty := treePaths(t.TempDir())
	if err := c.Available(Env{Paths: empty}); err == nil {
		t.Error("no /dev/kmsg: Available said yes")
	}
	if _, err := p.Probe(context.Background(), Env{Paths: empty}, NewSkips(nil)); err == nil {
		t.Error("no /dev/kmsg: Probe did not fail")
	}
	if os.Geteuid() == 0 {
		t.Skip("root opens files whatever their mode")
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "dev", "kmsg"), "")
	if err := os.Chmod(filepath.Join(root, "dev", "kmsg"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Available(Env{Paths: treePaths(root)}); err == nil || !strings.Contains(err.Error(), "CAP_SYSLOG") {
		t.Errorf("unreadable /dev/kmsg: err = %v, want one naming CAP_SYSLOG", err)
	}
}

// A pre-4.x AER notice with no "PCIe Bus Error" detail after it is one
// error on the device it names; a notice followed by its detail is one, not
// two (lines from lwfinger/rtlwifi_new#28 and larixer/hid-asus-dkms#33).
func TestKmsgCountsLoneAERNotices(t *testing.T) {
	h := newKmsgHost(t)
	h.appendLog("4,0,1000,-;pcieport 0000:00:1c.5: AER: Multiple Corrected error received: id=00e5\n" +
		"4,1,1001,-;pcieport 0000:00:1c.5: AER: Corrected error received: id=00e5\n" +
		"4,2,1002,-;pcieport 0000:00:1c.5: PCIe Bus Error: severity=Corrected, type=Physical Layer, id=00e5(Receiver ID)\n" +
		"4,3,1003,-;pcieport 0000:00:1c.5:   device [8086:9d15] error status/mask=00000001/00002000\n" +
		"4,4,1004,-;pcieport 0000:00:1c.5: AER: Corrected error received: id=00e5\n")
	got, _ := h.run()
	const aer = `hardware_kmsg_errors_total{device="0000:00:1c.5",severity="corrected",source="aer"}`
	if got[aer] != 3 {
		t.Errorf("%s = %v, want 3 (two lone notices and one detailed error)", aer, got[aer])
	}
}

// systemd's ProtectKernelLogs=yes leaves an empty regular file at /dev/kmsg
// (in a container) or an inaccessible character device 0:0: neither is the
// kernel's log, and a probe reading it would succeed with 0 records forever.
// Only the character device 1:11 is; a regular file of records is what the
// fixture trees (and the demo) carry in its place.
func TestKmsgRefusesWhatIsNotTheKernelLog(t *testing.T) {
	p, _ := New("kmsg")
	c := p.(Conditional)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "dev", "kmsg"), "")
	paths := treePaths(root)
	err := c.Available(Env{Paths: paths})
	if err == nil || !strings.Contains(err.Error(), "1:11") || !strings.Contains(err.Error(), "ProtectKernelLogs") {
		t.Errorf("empty regular file: Available = %v, want off naming 1:11 and ProtectKernelLogs", err)
	}
	if _, err := p.Probe(context.Background(), Env{Paths: paths}, NewSkips(nil)); err == nil {
		t.Error("empty regular file: Probe succeeded")
	}
	if err := kmsgDevice(0, 0, syscall.S_IFCHR); err == nil || !strings.Contains(err.Error(), "0:0") {
		t.Errorf("character device 0:0: %v, want refused naming it", err)
	}
	if maj, min := devMajor(0x10b), devMinor(0x10b); maj != 1 || min != 11 {
		t.Errorf("dev_t 0x10b = %d:%d, want 1:11", maj, min)
	}
	if err := kmsgDevice(1, 11, syscall.S_IFCHR); err != nil {
		t.Errorf("character device 1:11: %v", err)
	}
	if err := kmsgDevice(0, 0, syscall.S_IFIFO); err == nil {
		t.Error("a FIFO accepted")
	}
}

// 20k distinct disks and 20k distinct AER addresses (lines crafted to, or
// a bus renaming devices in a loop) give at most kmsgMaxDevicesPerSource
// series per source plus device="other", and no error is lost from the
// counts. It feeds the records to the probe's counter directly, as the
// reader would, so it does not depend on how the log is opened.
func TestKmsgDevicesPerSourceAreBounded(t *testing.T) {
	pr, err := New("kmsg")
	if err != nil {
		t.Fatal(err)
	}
	p := pr.(*kmsgProbe)
	const n = 20000
	for i := range n {
		p.count(kmsg.Record{Level: 3, Seq: uint64(2 * i),
			Message: fmt.Sprintf("blk_update_request: I/O error, dev sd%05d, sector 2048 op 0x0:(READ) flags 0x0", i)})
		p.count(kmsg.Record{Level: 3, Seq: uint64(2*i + 1),
			Message: fmt.Sprintf("pcieport 0000:%02x:%02x.%d: AER: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)", i>>8&0xff, i>>3&0x1f, i&7)})
	}
	c := collected{p: p, metrics: p.metrics()}
	got := gatherSeries(t, c)
	series, total := map[string]int{}, map[string]float64{}
	for k, v := range got {
		for _, src := range []string{"disk_io", "aer"} {
			if strings.HasPrefix(k, "hardware_kmsg_errors_total{") && strings.Contains(k, `source="`+src+`"`) {
				series[src]++
				total[src] += v
			}
		}
	}
	for _, src := range []string{"disk_io", "aer"} {
		if series[src] != kmsgMaxDevicesPerSource+1 {
			t.Errorf("%s: %d series, want %d devices and other", src, series[src], kmsgMaxDevicesPerSource+1)
		}
		if total[src] != n {
			t.Errorf("%s: %v errors counted, want %d", src, total[src], n)
		}
	}
	if v := got[`hardware_kmsg_errors_total{device="other",severity="error",source="disk_io"}`]; v != n-kmsgMaxDevicesPerSource {
		t.Errorf(`disk_io device="other" = %v, want %d`, v, n-kmsgMaxDevicesPerSource)
	}
	// A device seen before the bound was reached keeps its own series.
	p.count(kmsg.Record{Level: 3, Message: "blk_update_request: I/O error, dev sd00000, sector 1 op 0x0:(READ)"})
	if v := gatherSeries(t, collected{p: p, metrics: p.metrics()})[`hardware_kmsg_errors_total{device="sd00000",severity="error",source="disk_io"}`]; v != 2 {
		t.Errorf("sd00000 = %v, want 2", v)
	}
}

// NVRM's "fallen off the bus" without an Xid (NVSentinel #155, the record
// of internal/format/kmsg/testdata/captures/nvsentinel-issue155.log as
// /dev/kmsg carries it: one record, its line breaks escaped) counts as
// source gpu_off_bus, fatal, on the GPU's PCI address.
func TestKmsgCountsGPUOffTheBusWithoutXid(t *testing.T) {
	h := newKmsgHost(t)
	h.appendLog(`3,0,1843308145,-;NVRM: The NVIDIA GPU 0000:b3:00.0\x0aNVRM: (PCI ID: 10de:26b5) installed in this system has\x0aNVRM: fallen off the bus and is not responding to commands.` + "\n" +
		"4,1,1843439662,-;NVRM: The NVIDIA probe routine failed for 1 device(s).\n")
	got, _ := h.run()
	assertSeries(t, got, "hardware_kmsg_errors_total", map[string]float64{
		`hardware_kmsg_errors_total{device="0000:b3:00.0",severity="fatal",source="gpu_off_bus"}`: 1,
	})
	for k := range got {
		if strings.HasPrefix(k, "hardware_kmsg_gpu_xid_errors_total") {
			t.Errorf("counted as an Xid: %s", k)
		}
	}
}
