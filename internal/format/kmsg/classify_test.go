package kmsg

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// describe renders an Event compactly: "source severity device [xid=N] [n=N]",
// with "-" for no device.
func describe(e Event) string {
	d := e.Device
	if d == "" {
		d = "-"
	}
	s := fmt.Sprintf("%s %s %s", e.Source, e.Severity, d)
	if e.Xid != 0 {
		s += fmt.Sprintf(" xid=%d", e.Xid)
	}
	if e.Count != 1 {
		s += fmt.Sprintf(" n=%d", e.Count)
	}
	return s
}

// Every line of every capture is classified; the events are the ones listed,
// in order, and no other line is an event.
func TestClassifyCaptures(t *testing.T) {
	want := map[string][]string{
		"kernel-pcieaer-howto.log": {"aer fatal 0000:50:00.0"},
		"edac-utils-issue10.log": {
			"mce error -",
			"edac corrected CPU_SrcID#0_Ha#0_Chan#2_DIMM#0",
		},
		"radiasoft-devops-134.log": {
			"mce error -",
			"edac corrected CPU_SrcID#1_Ha#0_Chan#0_DIMM#0",
		},
		"osm-operations-300.log": {
			"mce error -",
			"edac corrected CPU#0Channel#2_DIMM#0 n=4",
			"edac corrected CPU#0Channel#2_DIMM#0 n=2",
			"edac corrected CPU#0Channel#2_DIMM#0 n=6",
			"edac corrected CPU#0Channel#2_DIMM#0",
		},
		"machine-shop-maintenance-66.log": {"edac corrected CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 n=262"},
		// a600000000020408: VAL, UC and PCC set: the fatal error that reset
		// the machine, found in the bank at the next boot.
		"mcelog-issue70.log": {"mce error -", "mce fatal -"},
		// b200000080060001: VAL, UC, EN, PCC.
		"wsl-issue41659.log": {"mce fatal -"},
		// The reporter cut the status off; an exception without one is at
		// least uncorrected.
		"bazzite-issue5546.log":       {"mce uncorrected -"},
		"node-exporter-issue3511.log": {"ghes corrected -"},
		"mcelog-issue74.log":          {"ghes uncorrected -"},
		"nvidia-xid.log": {
			"xid error 0000:cb:00.0 xid=13",
			"xid error 0000:cb:00.0 xid=13",
			"xid error 0000:cb:00.0 xid=13",
			"xid error 0000:cb:00.0 xid=109",
		},
		"open-gpu-kernel-modules-issue1150.log": {
			"xid error 0000:dc:00.0 xid=45",
			"xid error 0000:ed:00.0 xid=45",
			"xid error 0000:ba:00.0 xid=45",
			"xid error 0000:97:00.0 xid=45",
		},
		"gpud-pr1174.log": {
			"xid error 0019:01:00.0 xid=149",
			"xid error 0000:00:00.0 xid=149",
			"xid error 0018:01:00.0 xid=145",
		},
		// Line by line, the three-line record's last line is the event and
		// names no GPU; TestClassifyGPUOffBusRecord reads it as the one
		// record it is and gets the address.
		"nvsentinel-issue155.log": {"gpu_off_bus fatal -", "xid error 0000:44:00.0 xid=79"},
		"bumblebee-issue677.log": {
			"xid error 0000:01:00.0 xid=32",
			"xid error 0000:01:00.0 xid=32",
			"xid error 0000:01:00.0 xid=31",
		},
		"nvme-cli-issue151.log": {
			"nvme error nvme2", "nvme error nvme2",
			"nvme error nvme3", "nvme error nvme3",
		},
		"propolis-issue578.log": {"nvme error nvme1", "nvme error nvme1", "nvme error nvme1"},
		"raspberrypi-linux-issue6661.log": {
			"nvme error nvme0",
			"nvme error nvme0",
			"disk_io error nvme0n1",
		},
		"openebs-issue1433.log":  {"disk_io error sdb", "disk_io error sdb"},
		"longhorn-issue1920.log": {"disk_io error sde"},
		"longhorn-issue69.log":   {"disk_io error sdg"},
		"nvmecha-issue6.log":     {"disk_io error nvme0n1"},
		"lede-issue119.log":      {"disk_io error mtdblock1"},
		"popos-issue751.log": {
			"aer corrected 0000:00:1d.0",
			"aer corrected 0000:00:1d.0",
			"aer corrected 0000:03:00.0",
		},
		"coreboot-archfan-issue2.log":   {"aer corrected 0000:00:1c.1", "aer corrected 0000:00:1c.1"},
		"rpi-pcie-devices-issue600.log": {"aer uncorrected 0000:00:00.0"},
		"minisforum-ms02-issue10.log":   {"aer uncorrected 0000:80:1b.4"},
		"gsconnect-issue1052.log":       {"aer corrected 0000:00:1c.5"},
		"hid-asus-dkms-issue33.log":     {"aer corrected 0000:00:1c.5"},
		// Notices only: counted by Stream, not line by line.
		"rtlwifi-new-issue28.log":  nil,
		"endlessm-linux-pr625.log": {"aer corrected 0000:00:1c.5"},
	}
	logs, err := filepath.Glob(filepath.Join("testdata", "captures", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range logs {
		if _, ok := want[filepath.Base(p)]; !ok {
			t.Errorf("capture %s has no expected events listed", p)
		}
	}
	for name, events := range want {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, line := range captureLines(t, name) {
				if e, ok := ClassifyMessage(dmesgMessage(line)); ok {
					got = append(got, describe(e))
				}
			}
			if !slices.Equal(got, events) {
				t.Errorf("events:\n got %q\nwant %q", got, events)
			}
		})
	}
}

// Lines written here: formats without a public capture at hand (AMD's
// decoder, CPER "info"), the brief's own examples, and hostile shapes.
func TestClassifyMessage(t *testing.T) {
	long := strings.Repeat("A", 200)
	tests := []struct {
		msg  string
		want string // "" for not an event
	}{
		{"[Hardware Error]: Corrected error, no action required.", "mce corrected -"},
		{"[Hardware Error]: Deferred error, no action required.", "mce uncorrected -"},
		{"[Hardware Error]: System Fatal error.", "mce fatal -"},
		{"[Hardware Error]: CPU:0 (17:71:0) MC22_STATUS[Over|CE|MiscV|AddrV|-|-|SyndV|CECC|-|-|-]: 0xdc2040000400011b", ""},
		{"{2}[Hardware Error]: event severity: fatal", "ghes fatal -"},
		{"{2}[Hardware Error]: event severity: info", ""},
		{"{2}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 1", ""},
		{"mce: [Hardware Error]: CPU 3: Machine Check: 0 Bank 7: 0c00000000000000", "mce error -"}, // VAL clear
		{"mce: [Hardware Error]: CPU 3: Machine Check: 0 Bank 7: zzzz", "mce error -"},
		{"mce: [Hardware Error]: CPU 3: Machine Check: 0 Bank 7: 9c00000000000000", "mce corrected -"},
		{"mce: [Hardware Error]: CPU 3: Machine Check Exception: 5 Bank 1: bd80000000100134", "mce uncorrected -"},
		{"mce: [Hardware Error]: Machine check: Processor context corrupt", ""},
		{"mce: CPU supports 7 MCE banks", ""},
		// After the UE line quoted in andikleen/mcelog#74.
		{"EDAC MC0: 1 UE memory read error on CPU_SrcID#0_MC#0_Chan#0_DIMM#0 (channel:0 slot:0 page:0xe16677 offset:0x0 grain:32 -  err_code:0000:009f socket:0 imc:0 rank:0 bg:0 ba:3 row:dad3 col:3c0)", "edac uncorrected CPU_SrcID#0_MC#0_Chan#0_DIMM#0"},
		{"EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0", "edac corrected CPU_SrcID#0_Ha#0_Chan#1_DIMM#0"},
		{"EDAC MC3: 2 Fatal memory error on DIMM_A1 (x)", "edac fatal DIMM_A1 n=2"},
		{"EDAC MC0: 1 CE Single-bit ECC on unknown memory (node:0 card:0 module:0)", "edac corrected mc0"},
		{"EDAC MC0: 1 CE memory read error on " + long + " (x)", "edac corrected mc0"},
		{"EDAC MC0: 1 CE memory read error on #bad (x)", "edac corrected mc0"},
		{"EDAC MC0: 1 Info memory read error on DIMM_A1 (x)", ""},
		{"EDAC MC99999: 1 CE memory read error on DIMM_A1 (x)", ""},
		{"EDAC sbridge MC0: CPU 0: Machine Check Event: 0 Bank 5: 8c00004000010092", ""},
		{"EDAC MC0: Giving out device to module skx_edac controller Skylake Socket#0 IMC#0: DEV 0000:3a:0a.0 (INTERRUPT)", ""},
		{"PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)", "aer corrected -"},
		{"pcieport 0000:00:1C.0: PCIe Bus Error: severity=Odd, type=x", "aer error 0000:00:1c.0"},
		{"pcieport 0000:00:1c.9: PCIe Bus Error: severity=Corrected, type=x", "aer corrected -"},
		{"pcieport 10000:e0:06.0: AER: PCIe Bus Error: severity=Uncorrected (Fatal), type=Inaccessible, (Unregistered Agent ID)", "aer fatal 10000:e0:06.0"},
		{"pcieport 0000:00:1c.0: AER: Corrected error received: 0000:02:00.0", ""},
		{"NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=x, GPU has fallen off the bus.", "xid error 0000:3b:00.0 xid=79"},
		{"NVRM: Xid (0000:03:00): 13, Graphics Exception", "xid error 0000:03:00.0 xid=13"},
		{"NVRM: Xid (PCI:../../../etc): 48, x", "xid error - xid=48"},
		{"NVRM: Xid (PCI:0000:3b:00): 123456789, x", ""},
		{"NVRM: Xid (PCI:0000:3b:00): -1, x", ""},
		{"NVRM: Xid (PCI:0000:3b:00", ""},
		{"nvme nvme0: I/O 123 QID 4 timeout, reset controller", "nvme error nvme0"},
		{"nvme nvme0: I/O 7 QID 0 timeout, completion polled", "nvme error nvme0"},
		{"nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff", "nvme error nvme0"},
		{"nvme nvme0: I/O 123 QID 4 done", ""},
		{"nvme nvmeX: I/O 123 QID 4 timeout, reset controller", ""},
		{"nvme nvme0: Abort status: 0x6", ""},
		{"nvme 0000:01:00.0: enabling device (0000 -> 0002)", ""},
		{"I/O error, dev sda, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2", "disk_io error sda"},
		{"end_request: I/O error, dev sdc, sector 976773168", "disk_io error sdc"},
		{"timeout error, dev dm-3, sector 8 op 0x0:(READ)", "disk_io error dm-3"},
		{"operation not supported error, dev sda, sector 0 op 0x9:(WRITE_ZEROES)", ""},
		{"nonblocking retry error, dev sda, sector 0", ""},
		{"I/O error, dev S\\x1b[31m, sector 1", "disk_io error -"},
		{"I/O error, dev " + long + ", sector 1", "disk_io error -"},
		{"I/O error, dev sda", ""},
		{"Buffer I/O error on dev sdb, logical block 640, lost async page write", ""},
		{"", ""},
		{"[Hardware Error]:", ""},
	}
	for _, tt := range tests {
		e, ok := ClassifyMessage(tt.msg)
		got := ""
		if ok {
			got = describe(e)
		}
		if got != tt.want {
			t.Errorf("ClassifyMessage(%.80q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

// User space can write to /dev/kmsg but not as the kernel: its records carry
// another facility and never count.
func TestClassifyIgnoresUserSpaceRecords(t *testing.T) {
	msg := "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=x, GPU has fallen off the bus."
	if _, ok := Classify(Record{Facility: 1, Level: 3, Message: msg}); ok {
		t.Error("a user-space record was classified")
	}
	e, ok := Classify(Record{Facility: 0, Level: 3, Message: msg})
	if !ok || describe(e) != "xid error 0000:3b:00.0 xid=79" {
		t.Errorf("kernel record: %v %q", ok, describe(e))
	}
}

// A message longer than any the kernel writes is looked at up to
// MaxRecordSize only.
func TestClassifyHugeMessage(t *testing.T) {
	msg := strings.Repeat("x", 1<<20) + "NVRM: Xid (PCI:0000:3b:00): 79, x"
	if e, ok := ClassifyMessage(msg); ok {
		t.Errorf("got %q from beyond MaxRecordSize", describe(e))
	}
}

// A root port's "AER: ... error received" notice is an error of its own when
// no "PCIe Bus Error" detail follows it: kernels before 4.x, or a device
// the kernel could not find ("can't find device of ID00e5"). Stream counts
// such a lone notice once, on the device it names, and a notice followed by
// its detail only once, on the detail. Every other capture gives the same
// events as a stream as line by line.
func TestStreamCountsLoneAERNotices(t *testing.T) {
	port := "aer corrected 0000:00:1c.5"
	want := map[string][]string{
		// The "Multiple" notice is followed by "can't find device": one
		// error; the second notice by its detail: one more, not two.
		"hid-asus-dkms-issue33.log": {port, port},
		"rtlwifi-new-issue28.log":   slices.Repeat([]string{port}, 12),
		"endlessm-linux-pr625.log":  {port, port, port},
	}
	logs, err := filepath.Glob(filepath.Join("testdata", "captures", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range logs {
		name := filepath.Base(p)
		var lines, got []string
		var s Stream
		emit := func(e Event) { got = append(got, describe(e)) }
		for _, line := range captureLines(t, name) {
			msg := dmesgMessage(line)
			if e, ok := ClassifyMessage(msg); ok {
				lines = append(lines, describe(e))
			}
			s.Add(Record{Message: msg}, emit)
		}
		s.Flush(emit)
		expect, ok := want[name]
		if !ok {
			expect = lines
		}
		if !slices.Equal(got, expect) {
			t.Errorf("%s as a stream:\n got %q\nwant %q", name, got, expect)
		}
	}
}

// Notices in the forms no capture here shows: uncorrected ones, the 4.x+
// form naming the source, a requester ID off the port, and a record from
// user space between a notice and its detail, which neither counts nor
// breaks the pair.
func TestStreamAERNoticeForms(t *testing.T) {
	for _, tc := range []struct {
		msgs []string
		want []string
	}{
		{[]string{"pcieport 0000:00:1c.0: AER: Uncorrected (Non-Fatal) error received: id=00e0"}, []string{"aer uncorrected 0000:00:1c.0"}},
		{[]string{"pcieport 0000:00:01.0: AER: Uncorrected (Fatal) error received: 0000:03:00.0"}, []string{"aer fatal 0000:03:00.0"}},
		{[]string{"pcieport 0002:00:01.0: AER: Multiple Uncorrected (Non-Fatal) error received: id=0300"}, []string{"aer uncorrected 0002:03:00.0"}},
		{[]string{"pcieport 0000:00:03.0: AER: Corrected error received: 0000:00:03:0"}, []string{"aer corrected 0000:00:03.0"}}, // not an address: the port
		{[]string{"pcieport 0000:00:1c.5: AER: Corrected error received: id=zz"}, []string{"aer corrected 0000:00:1c.5"}},
		{[]string{"AER: Corrected error received: id=00e5"}, []string{"aer corrected -"}},
		{[]string{"AER: Corrected error received: id=00e5", "\x01user", "pcieport 0000:00:1c.5: PCIe Bus Error: severity=Corrected, type=Physical Layer, id=00e5(Receiver ID)"}, []string{"aer corrected 0000:00:1c.5"}},
		{[]string{"pcieport 0000:00:1c.5: AER: Corrected error received: id=00e5", "EDAC MC0: 1 CE memory read error on DIMM_A1 (x)"}, []string{"aer corrected 0000:00:1c.5", "edac corrected DIMM_A1"}},
	} {
		var got []string
		var s Stream
		emit := func(e Event) { got = append(got, describe(e)) }
		for _, m := range tc.msgs {
			r := Record{Message: m}
			if m, ok := strings.CutPrefix(m, "\x01"); ok {
				r = Record{Facility: 1, Message: m} // written by a user-space process
			}
			s.Add(r, emit)
		}
		s.Flush(emit)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q:\n got %q\nwant %q", tc.msgs, got, tc.want)
		}
	}
}

// NVRM's "fallen off the bus" message comes without an Xid (NVSentinel
// #155): one record of three lines, as the driver prints it with one call
// and dmesg shows it with the continuation lines indented.
func TestClassifyGPUOffBusRecord(t *testing.T) {
	lines := captureLines(t, "nvsentinel-issue155.log")
	// The first record: its first line and the indented ones after it.
	msg := dmesgMessage(lines[0])
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, " ") {
			break
		}
		msg += "\n" + strings.TrimLeft(l, " ")
	}
	e, ok := ClassifyMessage(msg)
	if got, want := describe(e), "gpu_off_bus fatal 0000:b3:00.0"; !ok || got != want {
		t.Errorf("ClassifyMessage(%q) = %q, %t; want %q", msg, got, ok, want)
	}
	// Newer drivers print the address and the PCI ID on one line.
	two := "NVRM: The NVIDIA GPU 0000:01:00.0 (PCI ID: 10de:2d04) installed in this system has\nNVRM: fallen off the bus and is not responding to commands."
	if e, ok := ClassifyMessage(two); !ok || describe(e) != "gpu_off_bus fatal 0000:01:00.0" {
		t.Errorf("two-line form: %q, %t", describe(e), ok)
	}
	// The probe routine's summary and a bad address are not, or name none.
	if _, ok := ClassifyMessage("NVRM: The NVIDIA probe routine failed for 1 device(s)."); ok {
		t.Error("the probe routine's summary counted")
	}
	bad := "NVRM: The NVIDIA GPU 0000:zz:00.0\nNVRM: fallen off the bus and is not responding to commands."
	if e, ok := ClassifyMessage(bad); !ok || e.Device != "" {
		t.Errorf("bad address: %q, %t; want the event with no device", describe(e), ok)
	}
}
