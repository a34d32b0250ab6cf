package kubernetes

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/rules")

const (
	repoRoot  = "../.."
	manifests = repoRoot + "/deploy/kubernetes"
)

// The PrometheusRule is generated: a rule changed in deploy/prometheus/rules
// and not here would alert differently on Kubernetes than elsewhere.
func TestPrometheusRuleGenerated(t *testing.T) {
	want, err := PrometheusRules(filepath.Join(repoRoot, "deploy/prometheus/rules"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(manifests, "prometheusrule.yaml")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from deploy/prometheus/rules; run `go test ./kubernetes -update` in tools/ and read the diff", path)
	}
}

// Every rule of the source files is in the generated objects, alert for
// alert and record for record.
func TestPrometheusRuleComplete(t *testing.T) {
	objs := decodeAll(t)
	got := map[string]bool{}
	for _, o := range objs {
		if pr, ok := o.Value.(*monitoringv1.PrometheusRule); ok {
			for _, g := range pr.Spec.Groups {
				for _, r := range g.Rules {
					got[g.Name+"/"+r.Alert+r.Record+"/"+r.Expr.String()] = true
				}
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot, "deploy/prometheus/rules/*.yml"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var spec monitoringv1.PrometheusRuleSpec
		if err := yaml.UnmarshalStrict(b, &spec); err != nil {
			t.Fatal(err)
		}
		for _, g := range spec.Groups {
			for _, r := range g.Rules {
				n++
				if !got[g.Name+"/"+r.Alert+r.Record+"/"+r.Expr.String()] {
					t.Errorf("%s: %s%s is not in prometheusrule.yaml", f, r.Alert, r.Record)
				}
			}
		}
	}
	if n < 40 || len(got) != n {
		t.Errorf("%d rules in the files, %d generated", n, len(got))
	}
}

func decodeAll(t *testing.T) []Object {
	t.Helper()
	objs, err := Decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// The schema check and the cross-references, on the shipped manifests.
func TestManifests(t *testing.T) {
	objs := decodeAll(t)
	if err := Check(objs); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		t.Logf("valid: %s", o)
		kinds[o.Kind]++
	}
	for kind, n := range map[string]int{
		"apps/v1 DaemonSet": 1, "v1 Service": 1, "monitoring.coreos.com/v1 ServiceMonitor": 1,
		"monitoring.coreos.com/v1 PrometheusRule": 3,
	} {
		if kinds[kind] != n {
			t.Errorf("%d %s, want %d", kinds[kind], kind, n)
		}
	}
}

// The validator refuses what the API server would: each case breaks the
// shipped manifests in one place.
func TestValidatorRefuses(t *testing.T) {
	ds, err := os.ReadFile(filepath.Join(manifests, "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := os.ReadFile(filepath.Join(manifests, "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sm, err := os.ReadFile(filepath.Join(manifests, "servicemonitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, file, old, new, want string }{
		{"misspelt field", "daemonset.yaml", "hostPath:\n            path: /sys", "hostPaht:\n            path: /sys", `unknown field "hostPaht"`},
		{"wrong type", "daemonset.yaml", "containerPort: 9816", "containerPort: metrics", "containerPort"},
		{"bad quantity", "daemonset.yaml", "memory: 256Mi", "memory: 256MB-", "quantities must match"},
		{"selector off the template", "daemonset.yaml", "    matchLabels:\n      app.kubernetes.io/name: hardware-exporter", "    matchLabels:\n      app.kubernetes.io/name: node-exporter", "does not match the template's labels"},
		{"mount of no volume", "daemonset.yaml", "- name: proc\n              mountPath", "- name: procfs\n              mountPath", `mounts "procfs", which is no volume`},
		{"probe on an unnamed port", "daemonset.yaml", "path: /-/ready\n              port: metrics", "path: /-/ready\n              port: http", `readiness probe port "http"`},
		{"service targets no port", "service.yaml", "targetPort: metrics", "targetPort: web", `targetPort "web"`},
		{"service selects nothing", "service.yaml", "  selector:\n    app.kubernetes.io/name: hardware-exporter", "  selector:\n    app.kubernetes.io/name: hw", "matches no pod template"},
		{"monitor on no port", "servicemonitor.yaml", "- port: metrics\n      path: /metrics", "- port: http\n      path: /metrics", `endpoint port "http"`},
		{"monitor field misspelt", "servicemonitor.yaml", "scrapeTimeout: 10s", "scrape_timeout: 10s", `unknown field`},
		{"unknown kind", "service.yaml", "kind: Service", "kind: Servce", `unexpected kind "v1 Servce"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string][]byte{"daemonset.yaml": ds, "service.yaml": svc, "servicemonitor.yaml": sm}
			if !strings.Contains(string(files[c.file]), c.old) {
				t.Fatalf("%s no longer contains %q: update the test", c.file, c.old)
			}
			files[c.file] = []byte(strings.Replace(string(files[c.file]), c.old, c.new, 1))
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			objs, err := Decode(dir)
			if err == nil {
				err = Check(objs)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func daemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	for _, o := range decodeAll(t) {
		if ds, ok := o.Value.(*appsv1.DaemonSet); ok {
			return ds
		}
	}
	t.Fatal("no DaemonSet")
	return nil
}

// The least privilege README promises: non-root, no capability, no host
// namespace, host paths read-only, no /dev.
func TestDaemonSetLeastPrivilege(t *testing.T) {
	ds := daemonSet(t)
	pod := ds.Spec.Template.Spec
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("a host namespace is shared")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; the exporter uses no API")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser 65532 (the image's user)", psc)
	}
	if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
		t.Error("no RuntimeDefault seccomp profile")
	}
	hostPaths := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
			if strings.HasPrefix(v.HostPath.Path, "/dev") || v.HostPath.Path == "/" {
				t.Errorf("volume %s mounts %s", v.Name, v.HostPath.Path)
			}
		}
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			(sc.Privileged != nil && *sc.Privileged) ||
			sc.Capabilities == nil || len(sc.Capabilities.Add) != 0 ||
			len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s securityContext %+v: want no privilege escalation, read-only root, all capabilities dropped", c.Name, sc)
		}
		for _, m := range c.VolumeMounts {
			if _, host := hostPaths[m.Name]; host && !m.ReadOnly {
				t.Errorf("host path %s mounted read-write at %s", hostPaths[m.Name], m.MountPath)
			}
		}
	}
}

// The container's flags are the exporter's, and its --path.* roots are
// where the host's trees are mounted.
func TestDaemonSetFlags(t *testing.T) {
	ds := daemonSet(t)
	c := ds.Spec.Template.Spec.Containers[0]
	mounts := map[string]string{} // mount path -> host path
	for _, m := range c.VolumeMounts {
		for _, v := range ds.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.HostPath != nil {
				mounts[m.MountPath] = v.HostPath.Path
			}
		}
	}
	flags := map[string]string{}
	for _, a := range c.Args {
		k, v, _ := strings.Cut(a, "=")
		flags[k] = v
	}
	for flag, host := range map[string]string{"--path.sysfs": "/sys", "--path.procfs": "/proc"} {
		if mounts[flags[flag]] != host {
			t.Errorf("%s=%s: %s is not mounted there", flag, flags[flag], host)
		}
	}
	if root := flags["--path.rootfs"]; mounts[root+"/etc/os-release"] != "/etc/os-release" {
		t.Errorf("--path.rootfs=%s: the host's /etc/os-release is not below it", root)
	}
	if !strings.HasPrefix(flags["--state.path"], "/var/lib/hardware_exporter/") {
		t.Errorf("--state.path=%s is not on the state volume", flags["--state.path"])
	}
	if !strings.HasSuffix(flags["--web.listen-address"], ":9816") {
		t.Errorf("--web.listen-address=%s: the Service and probes use 9816", flags["--web.listen-address"])
	}
	// The exporter parses them (kingpin refuses an unknown flag). Nothing is
	// read from the host: --config.check validates and exits.
	bin := filepath.Join(t.TempDir(), "hardware_exporter")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hardware_exporter")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	args := append(append([]string{}, c.Args...), "--config.check")
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Errorf("hardware_exporter %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The image in the DaemonSet is this release's, as `make image` tags it.
func TestDaemonSetVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(b))
	ds := daemonSet(t)
	if img := ds.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, "hardware_exporter:"+version) {
		t.Errorf("image %s, want hardware_exporter:%s (VERSION)", img, version)
	}
	if v := ds.Labels["app.kubernetes.io/version"]; v != version {
		t.Errorf("app.kubernetes.io/version %q, want %q", v, version)
	}
}

// Prometheus loads what the operator hands it: each PrometheusRule's
// groups, as written in the generated file, pass promtool.
func TestPrometheusRulePromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not on PATH: run `make tools` (deploy/ci/install-tools.sh)")
	}
	dir := t.TempDir()
	var files []string
	for _, o := range decodeAll(t) {
		pr, ok := o.Value.(*monitoringv1.PrometheusRule)
		if !ok {
			continue
		}
		b, err := yaml.Marshal(pr.Spec)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, pr.Name+".yml")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatal("no PrometheusRule")
	}
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
