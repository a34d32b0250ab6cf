package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// PrometheusRules renders every rule file of rulesDir (*.yml, as
// Prometheus loads them) as one PrometheusRule object each, in one
// multi-document YAML file: deploy/kubernetes/prometheusrule.yaml. A rule
// file is decoded strictly into the operator's RuleGroup type, so a key it
// does not know is an error here, not a rule silently dropped.
func PrometheusRules(rulesDir string) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(rulesDir, "*.yml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files in %s", rulesDir)
	}
	sort.Strings(files)
	var out bytes.Buffer
	out.WriteString("# Generated from deploy/prometheus/rules by tools/kubernetes: do not edit.\n" +
		"# Edit the rule files and run `go test ./kubernetes -update` in tools/.\n" +
		"# One PrometheusRule per rule file, for the Prometheus Operator; the\n" +
		"# rules select job=\"hardware_exporter\", which servicemonitor.yaml sets.\n")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var spec monitoringv1.PrometheusRuleSpec
		if err := yaml.UnmarshalStrict(raw, &spec); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(spec.Groups) == 0 {
			return nil, fmt.Errorf("%s: no rule groups", f)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".yml")
		name := "hardware-exporter-" + strings.ReplaceAll(strings.TrimPrefix(base, "hardware_"), "_", "-")
		// A map, not the typed object: ObjectMeta would print
		// "creationTimestamp: null".
		obj := map[string]any{
			"apiVersion": "monitoring.coreos.com/v1",
			"kind":       "PrometheusRule",
			"metadata": map[string]any{
				"name": name,
				"labels": map[string]string{
					"app.kubernetes.io/name":      "hardware-exporter",
					"app.kubernetes.io/component": "exporter",
				},
			},
			"spec": spec,
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&out, "---\n# From deploy/prometheus/rules/%s.\n", filepath.Base(f))
		out.Write(b)
	}
	return out.Bytes(), nil
}
