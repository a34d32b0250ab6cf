package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSystemGolden(t *testing.T) {
	checkGolden(t, "system")
	if _, skips := runProbe(t, "system", fixturePaths); skips.Count() != 0 {
		t.Errorf("fixture run skipped %d inputs, want 0", skips.Count())
	}
}

func TestSystemDegraded(t *testing.T) {
	const serialLine = `hardware_system_serial_info{board_asset_tag="",board_serial=".7XQ2XX3.CNFCP0041J00ZT.",chassis_asset_tag="",chassis_serial="7XQ2XX3",product_serial="7XQ2XX3",product_uuid="4c4c4544-0058-5110-8032-b7c04f585833"} 1`
	runDegraded(t, "system", []degradedCase{
		{
			name: "vm without dmi",
			break_: func(t *testing.T, p Paths) {
				if err := os.RemoveAll(filepath.Join(p.SysFS, "class", "dmi")); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(p.ProcFS, "cpuinfo"))
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(p.ProcFS, "cpuinfo"), strings.ReplaceAll(string(b), " arch_capabilities\n", " hypervisor arch_capabilities\n"))
			},
			want: []string{
				`hardware_system_kernel_info{release="6.1.0-27-amd64",version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)"} 1`,
				`hardware_system_boot_time_seconds 1.731402652e+09`,
				`hardware_system_virtualization_info{role="guest",system="unknown"} 1`,
			},
			absent: []string{"hardware_system_dmi_info", "hardware_system_serial_info"},
		},
		{
			name: "unreadable dmi string",
			break_: func(t *testing.T, p Paths) {
				replaceWithDir(t, filepath.Join(p.SysFS, "class", "dmi", "id", "bios_version"))
			},
			skips: 1,
			want: []string{
				`hardware_system_dmi_info{bios_date="12/13/2023",bios_release="1.13",bios_vendor="Dell Inc.",bios_version="",board_name="0PJ7YJ",board_vendor="Dell Inc.",board_version="A04",chassis_type="23",chassis_type_name="Rack Mount Chassis",chassis_vendor="Dell Inc.",chassis_version="",product_family="PowerEdge",product_name="PowerEdge R750",product_sku="SKU=090B;ModelName=PowerEdge R750",product_version="",sys_vendor="Dell Inc."} 1`,
				serialLine,
			},
		},
		{
			name: "garbage chassis type",
			break_: func(t *testing.T, p Paths) {
				writeFile(t, filepath.Join(p.SysFS, "class", "dmi", "id", "chassis_type"), "Rack\n")
			},
			skips: 1,
			want: []string{
				`hardware_system_dmi_info{bios_date="12/13/2023",bios_release="1.13",bios_vendor="Dell Inc.",bios_version="1.13.2",board_name="0PJ7YJ",board_vendor="Dell Inc.",board_version="A04",chassis_type="Rack",chassis_type_name="",chassis_vendor="Dell Inc.",chassis_version="",product_family="PowerEdge",product_name="PowerEdge R750",product_sku="SKU=090B;ModelName=PowerEdge R750",product_version="",sys_vendor="Dell Inc."} 1`,
			},
		},
		{
			name: "unreadable serial is a skip",
			break_: func(t *testing.T, p Paths) {
				replaceWithDir(t, filepath.Join(p.SysFS, "class", "dmi", "id", "board_serial"))
			},
			skips: 1,
			want: []string{
				`hardware_system_serial_info{board_asset_tag="",board_serial="",chassis_asset_tag="",chassis_serial="7XQ2XX3",product_serial="7XQ2XX3",product_uuid="4c4c4544-0058-5110-8032-b7c04f585833"} 1`,
			},
		},
		{
			name:      "serials not permitted as non-root",
			needsUser: true,
			break_: func(t *testing.T, p Paths) {
				for _, name := range dmiSerials {
					if err := os.Chmod(filepath.Join(p.SysFS, "class", "dmi", "id", name), 0); err != nil {
						t.Fatal(err)
					}
				}
			},
			want:   []string{`hardware_system_boot_time_seconds 1.731402652e+09`},
			absent: []string{"hardware_system_serial_info"},
		},
		{
			name:      "one serial not permitted as non-root",
			needsUser: true,
			break_: func(t *testing.T, p Paths) {
				if err := os.Chmod(filepath.Join(p.SysFS, "class", "dmi", "id", "product_uuid"), 0); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{
				`hardware_system_serial_info{board_asset_tag="",board_serial=".7XQ2XX3.CNFCP0041J00ZT.",chassis_asset_tag="",chassis_serial="7XQ2XX3",product_serial="7XQ2XX3",product_uuid=""} 1`,
			},
		},
		{
			name: "os-release only in /usr/lib",
			break_: func(t *testing.T, p Paths) {
				if err := os.Rename(filepath.Join(p.RootFS, "etc", "os-release"), filepath.Join(p.RootFS, "etc", "gone")); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(p.RootFS, "usr", "lib", "os-release"), "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n")
			},
			want: []string{`hardware_system_os_info{id="rocky",id_like="rhel centos fedora",name="Rocky Linux",pretty_name="",version="",version_codename="",version_id="9.4"} 1`},
		},
		{
			name: "stat without btime",
			break_: func(t *testing.T, p Paths) {
				writeFile(t, filepath.Join(p.ProcFS, "stat"), "cpu  1 2 3 4 5 6 7 0 0 0\nctxt 10\n")
			},
			skips:  1,
			want:   []string{`hardware_system_virtualization_info{role="host",system="kvm"} 1`},
			absent: []string{"hardware_system_boot_time_seconds"},
		},
		{
			name: "no os-release, kernel or modules",
			break_: func(t *testing.T, p Paths) {
				for _, path := range []string{filepath.Join(p.RootFS, "etc"), filepath.Join(p.ProcFS, "sys"), filepath.Join(p.ProcFS, "modules")} {
					if err := os.RemoveAll(path); err != nil {
						t.Fatal(err)
					}
				}
			},
			want:   []string{serialLine},
			absent: []string{"hardware_system_os_info", "hardware_system_kernel_info", "hardware_system_virtualization_info"},
		},
	})
}

func TestSystemNoRoots(t *testing.T) {
	dir := t.TempDir()
	env := Env{Paths: treePaths(dir)}
	p, err := New("system")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := p.Probe(context.Background(), env, NewSkips(nil))
	if err == nil {
		t.Fatalf("Probe on empty roots = %d metrics, nil error; want an error naming the roots", len(ms))
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the roots", err)
	}
}

func TestSystemVirtualization(t *testing.T) {
	const (
		bareFlags = "flags\t\t: fpu vme de pse tsc msr\n"
		vmFlags   = "flags\t\t: fpu vme de pse tsc msr hypervisor\n"
	)
	tests := []struct {
		name  string
		files map[string]string // relative to a root holding proc/ and sys/
		want  string            // the series, or "" for none
	}{
		{"bare metal", map[string]string{"proc/cpuinfo": "processor\t: 0\n" + bareFlags}, ""},
		{"kvm host", map[string]string{
			"proc/cpuinfo": "processor\t: 0\n" + bareFlags,
			"proc/modules": "kvm_intel 380928 0 - Live 0x0000000000000000\nkvm 1142784 1 kvm_intel, Live 0x0000000000000000\n",
		}, `{role="host",system="kvm"}`},
		{"qemu guest", map[string]string{
			"proc/cpuinfo":                "processor\t: 0\n" + vmFlags,
			"sys/class/dmi/id/sys_vendor": "QEMU\n",
		}, `{role="guest",system="qemu"}`},
		{"vmware guest", map[string]string{
			"proc/cpuinfo":                  "processor\t: 0\n" + vmFlags,
			"sys/class/dmi/id/sys_vendor":   "VMware, Inc.\n",
			"sys/class/dmi/id/product_name": "VMware Virtual Platform\n",
		}, `{role="guest",system="vmware"}`},
		{"hyper-v guest", map[string]string{
			"proc/cpuinfo":                  "processor\t: 0\n" + vmFlags,
			"sys/class/dmi/id/sys_vendor":   "Microsoft Corporation\n",
			"sys/class/dmi/id/product_name": "Virtual Machine\n",
		}, `{role="guest",system="microsoft"}`},
		{"surface laptop is not a guest", map[string]string{
			"proc/cpuinfo":                  "processor\t: 0\n" + bareFlags,
			"sys/class/dmi/id/sys_vendor":   "Microsoft Corporation\n",
			"sys/class/dmi/id/product_name": "Surface Laptop 5\n",
		}, ""},
		{"nested guest with kvm loaded", map[string]string{
			"proc/cpuinfo":                "processor\t: 0\n" + vmFlags,
			"proc/modules":                "kvm 1142784 0 - Live 0x0000000000000000\n",
			"sys/class/dmi/id/sys_vendor": "OpenStack Foundation\n",
		}, `{role="guest",system="kvm"}`},
		{"xen domU", map[string]string{
			"proc/cpuinfo":        "processor\t: 0\n" + vmFlags,
			"sys/hypervisor/type": "xen\n",
		}, `{role="guest",system="xen"}`},
		{"xen dom0", map[string]string{
			"proc/cpuinfo":          "processor\t: 0\n" + vmFlags,
			"proc/xen/capabilities": "control_d\n",
			"sys/hypervisor/type":   "xen\n",
		}, `{role="host",system="xen"}`},
		{"arm64 guest without flags", map[string]string{
			"proc/cpuinfo":                  "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics\n",
			"sys/class/dmi/id/sys_vendor":   "QEMU\n",
			"sys/class/dmi/id/product_name": "KVM Virtual Machine\n",
		}, `{role="guest",system="qemu"}`},
		{"amazon nitro guest", map[string]string{
			"proc/cpuinfo":                  "processor\t: 0\n" + vmFlags,
			"sys/class/dmi/id/sys_vendor":   "Amazon EC2\n",
			"sys/class/dmi/id/product_name": "m5.large\n",
		}, `{role="guest",system="amazon"}`},
		{"amazon graviton metal is not a guest", map[string]string{
			"proc/cpuinfo":                  "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics\n",
			"sys/class/dmi/id/sys_vendor":   "Amazon EC2\n",
			"sys/class/dmi/id/product_name": "c6g.metal\n",
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			plantTree(t, dir, tt.files)
			skips := NewSkips(nil)
			env := Env{Paths: treePaths(dir)}.Bind(skips)
			ms := (&systemProbe{}).virtualization(env, env.Sys("class/dmi/id"))
			text := string(exposition(t, collected{p: &systemProbe{}, metrics: ms}))
			if tt.want == "" {
				checkSeries(t, "\n"+text, nil, []string{"hardware_system_virtualization_info"})
			} else {
				checkSeries(t, "\n"+text, []string{"hardware_system_virtualization_info" + tt.want + " 1"}, nil)
			}
			if len(ms) > 1 {
				t.Errorf("%d series, want at most 1", len(ms))
			}
			if skips.Count() != 0 {
				t.Errorf("skips = %d, want 0", skips.Count())
			}
		})
	}
}
