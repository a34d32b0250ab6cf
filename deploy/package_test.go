//go:build package

package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The packages `make package` writes (make check-package builds them, then
// runs this test with -tags package). Names are the interface `make release`
// relies on.
var packageArches = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}

func distPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(repoRoot, "dist", name)
	if !fileExists(p) {
		t.Fatalf("%s missing: run make check-package (it runs make package first)", p)
	}
	return p
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, msg)
	}
	return string(out)
}

// commonFiles are in both packages, whatever the distribution.
var commonFiles = []string{
	"/usr/bin/hardware_exporter",
	"/usr/lib/sysusers.d/hardware_exporter.conf",
	"/usr/lib/udev/rules.d/60-hardware_exporter.rules",
	"/usr/share/man/man1/hardware_exporter.1.gz",
	"/etc/hardware_exporter/hardware_exporter.yml",
	"/usr/share/doc/hardware_exporter/LICENSE",
	"/usr/share/hardware_exporter/prometheus/rules/hardware_alerts.yml",
	"/usr/share/hardware_exporter/systemd/hardware_exporter.service.d/nvme-smart.conf",
}

// TestDebPackage reads each .deb's control fields, file list, conffiles and
// maintainer scripts with dpkg-deb, and runs the amd64 binary's --version.
func TestDebPackage(t *testing.T) {
	needTool(t, "dpkg-deb")
	version := versionFile(t)
	for arch := range packageArches {
		deb := distPath(t, "hardware_exporter_"+version+"_"+arch+".deb")
		fields := map[string]string{}
		for _, l := range strings.Split(output(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends", "Recommends"), "\n") {
			if k, v, ok := strings.Cut(l, ": "); ok {
				fields[k] = v
			}
		}
		want := map[string]string{"Package": "hardware_exporter", "Version": version + "-1", "Architecture": arch,
			"Depends": "init-system-helpers (>= 1.54~), procps", "Recommends": "smartmontools, ipmitool"}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("%s: %s %q, want %q", deb, k, fields[k], v)
			}
		}
		var files []string
		for _, l := range strings.Split(output(t, "dpkg-deb", "-c", deb), "\n") {
			if f := strings.Fields(l); len(f) >= 6 {
				files = append(files, strings.TrimPrefix(f[5], "."))
			}
		}
		for _, f := range append(slices.Clone(commonFiles), "/lib/systemd/system/hardware_exporter.service",
			"/etc/default/hardware_exporter", "/usr/share/doc/hardware_exporter/copyright") {
			if !slices.Contains(files, f) {
				t.Errorf("%s lacks %s", deb, f)
			}
		}
		if slices.Contains(files, "/etc/sysconfig/hardware_exporter") || slices.Contains(files, "/usr/lib/systemd/system/hardware_exporter.service") {
			t.Errorf("%s has the RPM's paths", deb)
		}
		dir := t.TempDir()
		output(t, "dpkg-deb", "-e", deb, dir)
		conffiles, _ := os.ReadFile(filepath.Join(dir, "conffiles"))
		if got := strings.Fields(string(conffiles)); !slices.Equal(got, []string{"/etc/default/hardware_exporter", "/etc/hardware_exporter/hardware_exporter.yml"}) {
			t.Errorf("%s conffiles %q", deb, got)
		}
		for script, wants := range map[string][]string{
			"postinst": {"systemd-sysusers", "useradd", "udevadm trigger --subsystem-match=ipmi", "deb-systemd-helper", "deb-systemd-invoke \"$action\""},
			"prerm":    {"deb-systemd-invoke stop"},
			"postrm":   {"deb-systemd-helper purge", "rm -rf /var/lib/hardware_exporter"},
		} {
			b, err := os.ReadFile(filepath.Join(dir, script))
			if err != nil {
				t.Errorf("%s: no %s: %v", deb, script, err)
				continue
			}
			for _, w := range wants {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s %s lacks %q", deb, script, w)
				}
			}
		}
		if strings.Contains(mustRead(t, filepath.Join(dir, "postrm")), "userdel") {
			t.Errorf("%s postrm removes the user; it must stay", deb)
		}

		root := t.TempDir()
		output(t, "dpkg-deb", "-x", deb, root)
		unit := mustRead(t, filepath.Join(root, "lib/systemd/system/hardware_exporter.service"))
		for _, w := range []string{"\nExecStart=/usr/bin/hardware_exporter --config.file=/etc/hardware_exporter/hardware_exporter.yml $ARGS\n",
			"\nEnvironmentFile=-/etc/default/hardware_exporter\n", "file:///usr/share/doc/hardware_exporter/README.md"} {
			if !strings.Contains(unit, w) {
				t.Errorf("%s: unit lacks %q", deb, strings.TrimSpace(w))
			}
		}
		if d := mustRead(t, filepath.Join(root, "etc/default/hardware_exporter")); !strings.Contains(d, "\nARGS=\"\"\n") {
			t.Errorf("%s: /etc/default/hardware_exporter lacks ARGS=\"\"", deb)
		}
		if arch == runtime.GOARCH {
			v := output(t, filepath.Join(root, "usr/bin/hardware_exporter"), "--version")
			if !strings.Contains(v, "version "+version+" ") {
				t.Errorf("%s: --version %q lacks %s", deb, v, version)
			}
		}
	}
}

// TestRPMPackage installs each .rpm into a scratch root with rpm --root
// (Debian's rpm; --noscripts and --nodeps: the scratch root has no shell
// and no packages) and lists its files, config files, scripts and
// dependencies from the rpm database there.
func TestRPMPackage(t *testing.T) {
	needTool(t, "rpm")
	version := versionFile(t)
	for _, rarch := range packageArches {
		pkg := distPath(t, "hardware_exporter-"+version+"-1."+rarch+".rpm")
		root := t.TempDir()
		output(t, "rpm", "--root", root, "--initdb")
		output(t, "rpm", "--root", root, "-i", "--nodeps", "--noscripts", "--ignorearch", pkg)
		q := func(args ...string) string {
			return output(t, "rpm", append([]string{"--root", root, "-q"}, append(args, "hardware_exporter")...)...)
		}
		if got := strings.TrimSpace(q("--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE}")); got != "hardware_exporter "+version+" 1 "+rarch+" Apache-2.0" {
			t.Errorf("%s: %q", pkg, got)
		}
		files := strings.Fields(q("-l"))
		for _, f := range append(slices.Clone(commonFiles), "/usr/lib/systemd/system/hardware_exporter.service", "/etc/sysconfig/hardware_exporter") {
			if !slices.Contains(files, f) {
				t.Errorf("%s lacks %s", pkg, f)
			} else if !fileExists(filepath.Join(root, f)) {
				t.Errorf("%s: %s listed but not installed in the scratch root", pkg, f)
			}
		}
		if slices.Contains(files, "/etc/default/hardware_exporter") || slices.Contains(files, "/lib/systemd/system/hardware_exporter.service") {
			t.Errorf("%s has the Debian paths", pkg)
		}
		if got := strings.Fields(q("-c")); !slices.Equal(got, []string{"/etc/hardware_exporter/hardware_exporter.yml", "/etc/sysconfig/hardware_exporter"}) {
			t.Errorf("%s config files %q", pkg, got)
		}
		if fi, err := os.Stat(filepath.Join(root, "usr/bin/hardware_exporter")); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: /usr/bin/hardware_exporter not installed 0755 (%v)", pkg, err)
		}
		unit := mustRead(t, filepath.Join(root, "usr/lib/systemd/system/hardware_exporter.service"))
		if !strings.Contains(unit, "\nEnvironmentFile=-/etc/sysconfig/hardware_exporter\n") {
			t.Errorf("%s: unit does not read /etc/sysconfig/hardware_exporter", pkg)
		}
		scripts := q("--scripts")
		for _, w := range []string{"postinstall scriptlet", "systemd-sysusers", "systemctl --no-reload preset",
			"preuninstall scriptlet", "systemctl --no-reload disable --now", "postuninstall scriptlet", "systemctl try-restart"} {
			if !strings.Contains(scripts, w) {
				t.Errorf("%s scripts lack %q", pkg, w)
			}
		}
		if reqs := q("-R"); !strings.Contains(reqs, "/usr/bin/kill") {
			t.Errorf("%s does not require /usr/bin/kill (ExecReload):\n%s", pkg, reqs)
		}
		t.Logf("%s: %d files, config %q", filepath.Base(pkg), len(files), strings.Fields(q("-c")))
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
