package probe

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// The fingerprint follows what a run reads with: a new tool path, other
// filters or other read roots change it; equal settings (in other structs)
// and the logger do not.
func TestFingerprintFollowsSettings(t *testing.T) {
	env := func(doc string) Env {
		o := newSmartOptions()
		if err := yaml.Unmarshal([]byte(doc), o); err != nil {
			t.Fatal(err)
		}
		return Env{Paths: Paths{ProcFS: "/proc", SysFS: "/sys", RootFS: "/"}, Options: o}
	}
	base := env("{}")
	if base.Fingerprint() != env("{}").Fingerprint() {
		t.Error("equal settings, different fingerprints")
	}
	for _, doc := range []string{"command: /opt/other/smartctl", "include: ^/dev/nvme", "exclude: sdb"} {
		if env(doc).Fingerprint() == base.Fingerprint() {
			t.Errorf("%s keeps the fingerprint", doc)
		}
	}
	roots := base
	roots.Paths.SysFS = "/host/sys"
	if roots.Fingerprint() == base.Fingerprint() {
		t.Error("another sysfs root keeps the fingerprint")
	}
	if (Env{}).Fingerprint() == 0 {
		t.Error("a fingerprint of 0, which state files use for unknown")
	}
}

// MayExport passes a probe's own families only; the textfile probe's test
// passes a file's names but not the daemon's or another probe's.
func TestMayExport(t *testing.T) {
	smart, _ := New("smart")
	tf, _ := New("textfile")
	mine, files := MayExport(smart), MayExport(tf)
	for name, want := range map[string][2]bool{
		"hardware_smart_device_info":         {true, false},
		"hardware_probe_success":             {false, false},
		"hardware_textfile_scrape_error":     {false, true},
		"site_backup_last_success_timestamp": {false, true},
		"hardware_cpu_info":                  {false, false},
	} {
		if got := [2]bool{mine(name), files(name)}; got != want {
			t.Errorf("%s: smart %v, textfile %v; want %v", name, got[0], got[1], want)
		}
	}
}
