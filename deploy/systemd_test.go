package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
)

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// unitDirectives parses a systemd unit or drop-in: section -> key -> values
// (a key may repeat).
func unitDirectives(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	units := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			units[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a directive: %q", path, n, line)
			}
			units[section][strings.TrimSpace(k)] = append(units[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return units
}

func TestSystemdUnit(t *testing.T) {
	unit := filepath.Join("systemd", "hardware_exporter.service")
	d := unitDirectives(t, unit)
	svc := d["Service"]
	want := map[string]string{
		"Type":                  "notify",
		"Restart":               "on-failure",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"StateDirectory":        "hardware_exporter hardware_exporter/textfile",
		"User":                  "hardware_exporter",
		"CapabilityBoundingSet": "CAP_SYS_RAWIO CAP_DAC_READ_SEARCH CAP_SYSLOG",
		"AmbientCapabilities":   "CAP_SYS_RAWIO CAP_DAC_READ_SEARCH CAP_SYSLOG",
		"ProtectKernelLogs":     "no",
		"DevicePolicy":          "closed",
	}
	for k, v := range want {
		if got := strings.Join(svc[k], " | "); got != v {
			t.Errorf("%s: [Service] %s=%q, want %q", unit, k, got, v)
		}
	}
	// An invalid config exits with config.ExitInvalid: systemd must not
	// restart it forever.
	if got, want := strings.Join(svc["RestartPreventExitStatus"], " "), strconv.Itoa(config.ExitInvalid); got != want {
		t.Errorf("%s: [Service] RestartPreventExitStatus=%q, want %q (config.ExitInvalid)", unit, got, want)
	}
	// No PrivateDevices (it would hide the disks and drop CAP_SYS_RAWIO), no
	// CAP_SYS_ADMIN in the base unit (opt-in drop-in), no DynamicUser (the
	// udev rule needs a static group).
	for _, k := range []string{"PrivateDevices", "DynamicUser"} {
		if v, ok := svc[k]; ok && v[len(v)-1] != "no" {
			t.Errorf("%s: %s=%v; the unit's comments explain why it must not be set", unit, k, v)
		}
	}
	for _, k := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if strings.Contains(strings.Join(svc[k], " "), "CAP_SYS_ADMIN") {
			t.Errorf("%s: %s grants CAP_SYS_ADMIN; it belongs in the nvme-smart.conf drop-in", unit, k)
		}
	}
	allowed := strings.Join(svc["DeviceAllow"], ",")
	for _, dev := range []string{"block-sd r", "block-blkext r", "char-nvme r", "char-ipmidev rw", "char-nvidia-frontend rw", "/dev/kmsg r"} {
		if !strings.Contains(allowed, dev) {
			t.Errorf("%s: DeviceAllow lacks %q (smartctl, ipmitool, nvidia-smi or the kmsg probe open it)", unit, dev)
		}
	}
	if !strings.HasPrefix(strings.Join(svc["ExecStart"], ""), "/usr/local/bin/hardware_exporter ") {
		t.Errorf("%s: ExecStart=%v; make install rewrites the /usr/local prefix", unit, svc["ExecStart"])
	}

	dropIn := filepath.Join("systemd", "hardware_exporter.service.d", "nvme-smart.conf")
	dd := unitDirectives(t, dropIn)["Service"]
	for _, k := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if got := strings.Join(dd[k], " "); got != "CAP_SYS_ADMIN" {
			t.Errorf("%s: %s=%q, want CAP_SYS_ADMIN", dropIn, k, got)
		}
	}

	// The default state path must be writable under ProtectSystem=strict:
	// below a StateDirectory= or a ReadWritePaths= entry, and not
	// overridden by ExecStart.
	covered := false
	for _, dir := range strings.Fields(strings.Join(svc["StateDirectory"], " ")) {
		if within(config.DefaultStatePath, "/var/lib/"+dir) {
			covered = true
		}
	}
	for _, dir := range strings.Fields(strings.Join(svc["ReadWritePaths"], " ")) {
		if within(config.DefaultStatePath, strings.TrimPrefix(dir, "-")) {
			covered = true
		}
	}
	if !covered {
		t.Errorf("%s: the default state path %s is under no StateDirectory= or ReadWritePaths=; ProtectSystem=strict makes it read-only",
			unit, config.DefaultStatePath)
	}
	if strings.Contains(strings.Join(svc["ExecStart"], " "), "--state.path") {
		t.Errorf("%s: ExecStart moves the state path away from the StateDirectory", unit)
	}
	for _, k := range []string{"InaccessiblePaths", "ReadOnlyPaths"} {
		for _, p := range strings.Fields(strings.Join(svc[k], " ")) {
			if within(config.DefaultStatePath, strings.TrimPrefix(p, "-")) {
				t.Errorf("%s: %s=%s hides the state path", unit, k, p)
			}
		}
	}

	sysusers, err := os.ReadFile(filepath.Join("sysusers", "hardware_exporter.conf"))
	if err != nil || !strings.Contains(string(sysusers), "\nu hardware_exporter ") {
		t.Errorf("deploy/sysusers/hardware_exporter.conf does not create user hardware_exporter (%v)", err)
	}
	udev, err := os.ReadFile(filepath.Join("udev", "60-hardware_exporter.rules"))
	if err != nil || !strings.Contains(string(udev), `GROUP="hardware_exporter"`) {
		t.Errorf("deploy/udev/60-hardware_exporter.rules does not give /dev/ipmi* to the group (%v)", err)
	}
}

// TestSystemdAnalyzeVerify runs systemd's own checker on the unit with and
// without the drop-in, where systemd is installed. It reports unknown keys
// and bad values only as warnings, so any output fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: only TestSystemdUnit's directive checks ran")
		return
	}
	src, err := os.ReadFile(filepath.Join("systemd", "hardware_exporter.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify insists that ExecStart's binary exists: point it at this test.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unitText := strings.ReplaceAll(string(src), "/usr/local/bin/hardware_exporter", self)
	for _, withDropIn := range []bool{false, true} {
		dir := t.TempDir()
		unit := filepath.Join(dir, "hardware_exporter.service")
		if err := os.WriteFile(unit, []byte(unitText), 0o644); err != nil {
			t.Fatal(err)
		}
		if withDropIn {
			b, err := os.ReadFile(filepath.Join("systemd", "hardware_exporter.service.d", "nvme-smart.conf"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(unit+".d", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(unit+".d", "nvme-smart.conf"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(analyze, "verify", "--man=no", unit)
		cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("systemd-analyze verify (drop-in: %v): %v\n%s", withDropIn, err, out)
		}
	}
}
