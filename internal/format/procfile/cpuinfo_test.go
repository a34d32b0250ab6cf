package procfile

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// cpuSummary is what a test checks of each processor, flags aside.
func cpuSummary(c CPU) CPU {
	c.Flags, c.variant, c.revision = nil, "", ""
	return c
}

func TestParseCPUInfoCaptures(t *testing.T) {
	for _, tc := range []struct {
		file    string
		threads int
		first   CPU // flags not compared
		last    uint
		flags   int // flags of the first processor
	}{
		// x86: a 4-core, 8-thread Intel laptop.
		{"procfs-cpuinfo", 8, CPU{Processor: 0, VendorID: "GenuineIntel", CPUFamily: "6", Model: "142",
			ModelName: "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz", Stepping: "10", Microcode: "0xb4",
			PhysicalID: "0", CoreID: "0"}, 7, 120},
		// 64-bit arm (a Raspberry Pi 4 in 32-bit mode): the fields are per
		// processor, the board's in a summary block.
		{"procfs-cpuinfo-arm7", 4, CPU{Processor: 0, VendorID: "0x41", CPUFamily: "7", Model: "0xd08",
			ModelName: "ARMv7 Processor rev 3 (v7l)", Stepping: "r0p3"}, 3, 0},
		// Old 32-bit arm: the model before the processors, the rest after.
		{"procfs-cpuinfo-arm7-legacy", 2, CPU{Processor: 0, VendorID: "0x41", CPUFamily: "7", Model: "0xc07",
			ModelName: "ARMv7 Processor rev 5 (v7l)", Stepping: "r0p5"}, 1, 0},
		// powerpc: "cpu" names the model; the summary's "model" is the
		// machine's and stays out.
		{"procfs-cpuinfo-ppc64", 6, CPU{Processor: 0, ModelName: "POWER7 (architected), altivec supported"}, 5, 0},
		// s390: "cpu number" starts a processor, with its topology.
		{"procfs-cpuinfo-s390x", 4, CPU{Processor: 0, VendorID: "IBM/S390", PhysicalID: "2", CoreID: "0"}, 3, 0},
		// riscv and loongarch: processors counted, nothing else known.
		{"procfs-cpuinfo-riscv64", 2, CPU{Processor: 0}, 1, 0},
		{"procfs-cpuinfo-loong64", 4, CPU{Processor: 0}, 3, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cpus, err := ParseCPUInfo(context.Background(), readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(cpus) != tc.threads {
				t.Fatalf("%d processors, want %d", len(cpus), tc.threads)
			}
			if got := cpuSummary(cpus[0]); !reflect.DeepEqual(got, tc.first) {
				t.Errorf("first processor\n got %+v\nwant %+v", got, tc.first)
			}
			if cpus[len(cpus)-1].Processor != tc.last {
				t.Errorf("last processor %d, want %d", cpus[len(cpus)-1].Processor, tc.last)
			}
			if len(cpus[0].Flags) != tc.flags {
				t.Errorf("%d flags, want %d", len(cpus[0].Flags), tc.flags)
			}
		})
	}
}

// The x86 capture's topology: 4 cores of 2 threads each on package 0.
func TestParseCPUInfoX86Topology(t *testing.T) {
	cpus, err := ParseCPUInfo(context.Background(), readTestdata(t, "procfs-cpuinfo"))
	if err != nil {
		t.Fatal(err)
	}
	cores := map[string]int{}
	for _, c := range cpus {
		cores[c.PhysicalID+"/"+c.CoreID]++
	}
	if len(cores) != 4 || cores["0/3"] != 2 {
		t.Errorf("cores %v, want 4 of 2 threads", cores)
	}
	if !slices.Contains(cpus[5].Flags, "vmx") {
		t.Errorf("flags of processor 5 lack vmx: %v", cpus[5].Flags)
	}
}

// ARMv6 in its oldest layout has no processor line at all: nothing to count.
func TestParseCPUInfoNoProcessor(t *testing.T) {
	if _, err := ParseCPUInfo(context.Background(), readTestdata(t, "procfs-cpuinfo-armv6")); err == nil {
		t.Error("no error for a cpuinfo without processor lines")
	}
}

// A processor whose number does not parse costs that processor.
func TestParseCPUInfoMalformedProcessor(t *testing.T) {
	in := "processor : 0\nmodel name : A\n\nprocessor : zero\nmodel name : B\n\nprocessor : 2\nmodel name : C\n"
	cpus, err := ParseCPUInfo(context.Background(), []byte(in))
	if err == nil || !strings.Contains(err.Error(), "1 malformed") {
		t.Errorf("err = %v, want 1 malformed line", err)
	}
	if len(cpus) != 2 || cpus[0].ModelName != "A" || cpus[1].Processor != 2 || cpus[1].ModelName != "C" {
		t.Errorf("got %+v", cpus)
	}
}

func TestParseCPUInfoStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ParseCPUInfo(ctx, []byte(strings.Repeat("processor : 0\n", 1000))); err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	for _, name := range []string{"procfs-cpuinfo", "procfs-cpuinfo-arm7", "procfs-cpuinfo-arm7-legacy",
		"procfs-cpuinfo-armv6", "procfs-cpuinfo-ppc64", "procfs-cpuinfo-s390x", "procfs-cpuinfo-mips"} {
		f.Add(readTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cpus, err := ParseCPUInfo(context.Background(), b)
		if err == nil && len(cpus) == 0 {
			t.Error("no processors and no error")
		}
	})
}
