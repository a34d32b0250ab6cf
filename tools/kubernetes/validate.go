// Package kubernetes checks deploy/kubernetes/ offline, and generates its
// PrometheusRule from deploy/prometheus/rules.
//
// The schema check decodes every document strictly into the Go types the
// API server itself uses (k8s.io/api, and the Prometheus Operator's
// monitoring/v1 for its custom resources): an unknown or misspelt field, a
// value of the wrong type, a bad quantity or a duplicate key is an error
// naming the file and document. Then the cross-references the API server
// or the operator would refuse, or silently not connect, at apply time:
// selectors that match, ports and volumes named where they are used,
// names and labels of the right syntax.
package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Object is one decoded document.
type Object struct {
	File  string // base name
	Index int    // document number in the file, from 1
	Kind  string // apiVersion and kind
	Name  string
	Value any // *appsv1.DaemonSet, *corev1.Service, ...
}

func (o Object) String() string {
	return fmt.Sprintf("%s#%d %s %s", o.File, o.Index, o.Kind, o.Name)
}

// kinds are the types deploy/kubernetes may hold.
var kinds = map[string]func() any{
	"apps/v1 DaemonSet": func() any { return new(appsv1.DaemonSet) },
	"v1 Service":        func() any { return new(corev1.Service) },
	"monitoring.coreos.com/v1 ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1 PodMonitor":     func() any { return new(monitoringv1.PodMonitor) },
	"monitoring.coreos.com/v1 PrometheusRule": func() any { return new(monitoringv1.PrometheusRule) },
}

// Decode reads every *.yaml file of dir, strictly.
func Decode(dir string) ([]Object, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.yaml in %s", dir)
	}
	sort.Strings(files)
	var objs []Object
	var errs []error
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for i := 1; ; i++ {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
				break
			}
			if isEmpty(doc) {
				i--
				continue
			}
			o, err := decodeDoc(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s#%d: %w", filepath.Base(f), i, err))
				continue
			}
			o.File, o.Index = filepath.Base(f), i
			objs = append(objs, o)
		}
	}
	return objs, errors.Join(errs...)
}

// isEmpty is a document of comments only (the header of a file).
func isEmpty(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "---" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

func decodeDoc(doc []byte) (Object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return Object{}, err
	}
	kind := tm.APIVersion + " " + tm.Kind
	mk, ok := kinds[kind]
	if !ok {
		return Object{}, fmt.Errorf("unexpected kind %q", kind)
	}
	v := mk()
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return Object{}, fmt.Errorf("%s: %w", kind, err)
	}
	meta := v.(metav1.Object)
	return Object{Kind: kind, Name: meta.GetName(), Value: v}, nil
}

// Check reports what the API server or the operator would refuse, or leave
// unconnected, in objs taken together.
func Check(objs []Object) error {
	var errs []error
	bad := func(o Object, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", o, fmt.Sprintf(format, a...)))
	}
	var pods []labels.Set
	podPorts := map[string]bool{}
	svcs := map[string]*corev1.Service{}
	for _, o := range objs {
		meta := o.Value.(metav1.Object)
		for _, msg := range validation.IsDNS1123Subdomain(meta.GetName()) {
			bad(o, "name: %s", msg)
		}
		checkLabels(meta.GetLabels(), func(msg string) { bad(o, "label %s", msg) })
		switch v := o.Value.(type) {
		case *appsv1.DaemonSet:
			checkDaemonSet(v, func(f string, a ...any) { bad(o, f, a...) })
			pods = append(pods, labels.Set(v.Spec.Template.Labels))
			for _, c := range v.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					podPorts[p.Name] = true
				}
			}
		case *corev1.Service:
			for _, msg := range validation.IsDNS1035Label(v.Name) {
				bad(o, "service name: %s", msg)
			}
			svcs[v.Name] = v
		}
	}
	for _, o := range objs {
		switch v := o.Value.(type) {
		case *corev1.Service:
			sel := labels.SelectorFromSet(v.Spec.Selector)
			if len(v.Spec.Selector) == 0 || !matchesAny(sel, pods) {
				bad(o, "selector %v matches no pod template", v.Spec.Selector)
			}
			for _, p := range v.Spec.Ports {
				if msgs := validation.IsValidPortName(p.Name); len(msgs) > 0 {
					bad(o, "port name %q: %v", p.Name, msgs)
				}
				if p.Port < 1 || p.Port > 65535 {
					bad(o, "port %d", p.Port)
				}
				if p.TargetPort.StrVal != "" && !podPorts[p.TargetPort.StrVal] {
					bad(o, "targetPort %q is no container port's name", p.TargetPort.StrVal)
				}
			}
		case *monitoringv1.ServiceMonitor:
			sel, err := metav1.LabelSelectorAsSelector(&v.Spec.Selector)
			if err != nil {
				bad(o, "selector: %v", err)
				continue
			}
			var target *corev1.Service
			for _, s := range svcs {
				if sel.Matches(labels.Set(s.Labels)) {
					target = s
				}
			}
			if target == nil {
				bad(o, "selector %s matches no Service", sel)
				continue
			}
			for _, ep := range v.Spec.Endpoints {
				if !servicePort(target, ep.Port) {
					bad(o, "endpoint port %q is not a port of Service %s", ep.Port, target.Name)
				}
				if !strings.HasPrefix(ep.Path, "/") {
					bad(o, "endpoint path %q", ep.Path)
				}
				for _, r := range ep.RelabelConfigs {
					if r.TargetLabel != "" && !promLabel.MatchString(r.TargetLabel) {
						bad(o, "relabel target %q", r.TargetLabel)
					}
				}
			}
		case *monitoringv1.PodMonitor:
			sel, err := metav1.LabelSelectorAsSelector(&v.Spec.Selector)
			if err != nil || !matchesAny(sel, pods) {
				bad(o, "selector matches no pod template (%v)", err)
			}
		case *monitoringv1.PrometheusRule:
			if len(v.Spec.Groups) == 0 {
				bad(o, "no rule groups")
			}
			for _, g := range v.Spec.Groups {
				for _, r := range g.Rules {
					if (r.Alert == "") == (r.Record == "") {
						bad(o, "group %s: a rule needs exactly one of alert and record", g.Name)
					}
					if r.Expr.String() == "" {
						bad(o, "group %s: rule %s%s has no expr", g.Name, r.Alert, r.Record)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// promLabel is a Prometheus label name.
var promLabel = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func matchesAny(sel labels.Selector, sets []labels.Set) bool {
	for _, s := range sets {
		if sel.Matches(s) {
			return true
		}
	}
	return false
}

func servicePort(s *corev1.Service, name string) bool {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

func checkLabels(l map[string]string, bad func(string)) {
	for k, v := range l {
		for _, msg := range validation.IsQualifiedName(k) {
			bad(fmt.Sprintf("key %q: %s", k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			bad(fmt.Sprintf("%s=%q: %s", k, v, msg))
		}
	}
}

var hostPathTypes = map[corev1.HostPathType]bool{
	corev1.HostPathUnset: true, corev1.HostPathDirectoryOrCreate: true, corev1.HostPathDirectory: true,
	corev1.HostPathFileOrCreate: true, corev1.HostPathFile: true, corev1.HostPathSocket: true,
	corev1.HostPathCharDev: true, corev1.HostPathBlockDev: true,
}

func checkDaemonSet(ds *appsv1.DaemonSet, bad func(string, ...any)) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || ds.Spec.Selector == nil {
		bad("selector: %v", err)
	} else if !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		// The API server refuses this ("selector does not match template labels").
		bad("selector %s does not match the template's labels %v", sel, ds.Spec.Template.Labels)
	}
	checkLabels(ds.Spec.Template.Labels, func(msg string) { bad("template label %s", msg) })
	pod := ds.Spec.Template.Spec
	if pod.RestartPolicy != "" && pod.RestartPolicy != corev1.RestartPolicyAlways {
		bad("a DaemonSet's pods must have restartPolicy Always")
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			bad("volume %q: %s", v.Name, msg)
		}
		if volumes[v.Name] {
			bad("volume %q twice", v.Name)
		}
		volumes[v.Name] = true
		if hp := v.HostPath; hp != nil {
			if hp.Type != nil && !hostPathTypes[*hp.Type] {
				bad("volume %q: hostPath type %q", v.Name, *hp.Type)
			}
			if !filepath.IsAbs(hp.Path) {
				bad("volume %q: hostPath %q is not absolute", v.Name, hp.Path)
			}
		}
	}
	if len(pod.Containers) == 0 {
		bad("no containers")
	}
	for _, c := range pod.Containers {
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			bad("container %q: %s", c.Name, msg)
		}
		if c.Image == "" {
			bad("container %q has no image", c.Name)
		}
		ports := map[string]bool{}
		for _, p := range c.Ports {
			if msgs := validation.IsValidPortName(p.Name); p.Name != "" && len(msgs) > 0 {
				bad("container %q port %q: %v", c.Name, p.Name, msgs)
			}
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				bad("container %q port %d", c.Name, p.ContainerPort)
			}
			ports[p.Name] = true
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				bad("container %q mounts %q, which is no volume", c.Name, m.Name)
			}
			if !filepath.IsAbs(m.MountPath) {
				bad("container %q mount path %q", c.Name, m.MountPath)
			}
		}
		for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.StrVal != "" && !ports[p.HTTPGet.Port.StrVal] {
				bad("container %q %s probe port %q is not a port of it", c.Name, name, p.HTTPGet.Port.StrVal)
			}
		}
	}
}
