package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Names PromQL may use that are neither in docs/metrics.md nor in the
// fixture exposition, and why.
var extraMetricNames = map[string]string{
	"up":                         "Prometheus' own per-target series (HardwareExporterDown)",
	"process_start_time_seconds": "client_golang's process collector on /exporter/metrics, job hardware_exporter_self (exporter_test.yml feeds it to show that a restart does not fire HardwareInventoryChanged)",
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func ruleFiles(t *testing.T) map[string]ruleFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("prometheus", "rules", "*.yml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rule files in deploy/prometheus/rules (%v)", err)
	}
	files := map[string]ruleFile{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f ruleFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		files[p] = f
	}
	return files
}

// dashboardExprs returns every PromQL expression of the dashboard (panel
// targets, in rows too, and the metric selectors of label_values queries),
// keyed by where it is.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "hardware_exporter.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/hardware_exporter.json: %v", err)
	}
	exprs := map[string]string{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
					continue
				}
				exprs[fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, q)
			continue
		}
		exprs["variable "+v.Name] = m[1]
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !vars[want] {
			t.Errorf("dashboard has no template variable %q", want)
		}
	}
	return exprs
}

type dashPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

// Grafana's variables, substituted as Grafana would before the query
// reaches Prometheus.
var grafanaVars = strings.NewReplacer(
	"${job}", "x", "$job", "x",
	"${instance}", "x", "$instance", "x",
	"${datasource}", "x", "$datasource", "x",
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
)

var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlBraces   = regexp.MustCompile(`\{[^{}]*\}`)
	promqlBrackets = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlNumber   = regexp.MustCompile(`(^|[^a-zA-Z0-9_:.])(0x[0-9a-fA-F]+|([0-9]+(ms|s|m|h|d|w|y))+|[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true,
		"without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "atan2": true, "start": true, "end": true,
	}
)

// metricNames returns the metric names an expression selects. It is a
// tokenizer, not a parser (the Prometheus parser is not a dependency of this
// module); promtool has already checked that the expression parses.
func metricNames(expr string) []string {
	s := promqlString.ReplaceAllString(expr, `""`)
	s = promqlBraces.ReplaceAllString(s, " ")
	s = promqlBrackets.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlNumber.ReplaceAllString(s, "$1 ")
	var names []string
	for _, tok := range promqlIdent.FindAllString(s, -1) {
		if strings.HasSuffix(tok, "(") || promqlKeywords[strings.ToLower(tok)] {
			continue // a function or aggregation, or a keyword
		}
		names = append(names, tok)
	}
	return names
}

func TestMetricNamesTokenizer(t *testing.T) {
	got := metricNames(`topk(15, hardware_a{job=~"$job", x="y(z)"}) > on(job, instance) group_left(bond) (b_total * 1e9 + 0.5) unless c offset 5m or sum by(a) (rate(d[5m:1m])) > bool 2 * hardware_e`)
	want := []string{"hardware_a", "b_total", "c", "d", "hardware_e"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("metricNames = %v, want %v", got, want)
	}
}

// TestExpressions checks that every expression in the rules and the dashboard
// parses (through promtool) and selects only metrics the exporter has: in
// docs/metrics.md or in the fixture's --once output, or recorded by a rule.
func TestExpressions(t *testing.T) {
	needTool(t, "promtool")
	files := ruleFiles(t)
	known := documentedMetricNames(t)
	for n := range fixtureMetricNames(t) {
		known[n] = true
	}
	for n := range extraMetricNames {
		known[n] = true
	}
	exprs := map[string]string{}
	for path, f := range files {
		for _, g := range f.Groups {
			for i, r := range g.Rules {
				id := r.Alert + r.Record
				if id == "" {
					id = fmt.Sprint(i)
				}
				exprs[fmt.Sprintf("%s group %s rule %s", path, g.Name, id)] = r.Expr
				if r.Record != "" {
					known[r.Record] = true
				}
			}
		}
	}
	// The rule files themselves, as Prometheus loads them.
	args := []string{"check", "rules"}
	for path := range files {
		args = append(args, path)
	}
	promtool(t, args...)

	// The dashboard's expressions as recording rules of one file.
	dash := dashboardExprs(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, where := range sortedKeys(dash) {
		exprs[where] = dash[where]
		q, _ := json.Marshal(grafanaVars.Replace(dash[where])) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      # %s\n      - record: dashboard:expr_%d\n        expr: %s\n", where, i+1, q)
	}
	tmp := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(tmp, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(needTool(t, "promtool"), "check", "rules", tmp).CombinedOutput(); err != nil {
		t.Fatalf("the dashboard's expressions do not parse: %v\n%s\nas recording rules:\n%s", err, out, rules.String())
	}

	for where, e := range exprs {
		names := metricNames(grafanaVars.Replace(e))
		if len(names) == 0 && !strings.Contains(e, "vector(") {
			t.Errorf("%s: no metric name found in %q", where, e)
		}
		for _, n := range names {
			if !known[n] {
				t.Errorf("%s: metric %s is in neither docs/metrics.md nor the fixture output", where, n)
			}
		}
	}
}

// TestAlertConventions checks what every alert must carry, and that each is
// unit-tested both firing and not firing.
func TestAlertConventions(t *testing.T) {
	runbook, err := os.ReadFile(filepath.Join(repoRoot, "docs/runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(runbook), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[strings.ToLower(strings.TrimSpace(h))] = true
		}
	}
	tests := alertTests(t)
	n := 0
	for path, f := range ruleFiles(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				n++
				where := path + ": " + r.Alert
				switch r.Labels["severity"] {
				case "critical", "warning", "info":
				default:
					t.Errorf("%s: severity %q, want critical, warning or info", where, r.Labels["severity"])
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("%s: no %s annotation", where, a)
					}
				}
				if !strings.Contains(r.Annotations["description"], "$labels") {
					t.Errorf("%s: description names no $labels", where)
				}
				anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], "docs/runbook.md#")
				if !ok || !anchors[anchor] {
					t.Errorf("%s: runbook_url %q is not docs/runbook.md#<a section>", where, r.Annotations["runbook_url"])
				}
				if anchor != strings.ToLower(r.Alert) {
					t.Errorf("%s: runbook_url anchor %q, want %q", where, anchor, strings.ToLower(r.Alert))
				}
				c := tests[r.Alert]
				if c.firing == 0 || c.quiet == 0 {
					t.Errorf("%s: unit tests in deploy/prometheus/tests have %d firing and %d not-firing cases; want both", where, c.firing, c.quiet)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts found")
	}
}

type alertCases struct{ firing, quiet int }

func alertTests(t *testing.T) map[string]alertCases {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join("prometheus", "tests", "*.yml"))
	cases := map[string]alertCases{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `yaml:"alertname"`
					ExpAlerts []any  `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, tc := range f.Tests {
			for _, a := range tc.AlertRuleTest {
				c := cases[a.Alertname]
				if len(a.ExpAlerts) > 0 {
					c.firing++
				} else {
					c.quiet++
				}
				cases[a.Alertname] = c
			}
		}
	}
	return cases
}

// TestRuleUnitTests runs promtool's unit tests of the rules.
func TestRuleUnitTests(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("prometheus", "tests", "*.yml"))
	if len(paths) == 0 {
		t.Fatal("no rule unit tests in deploy/prometheus/tests")
	}
	promtool(t, append([]string{"test", "rules"}, paths...)...)
}

// TestPrometheusConfig checks the example scrape config (and the rule files
// it loads).
func TestPrometheusConfig(t *testing.T) {
	promtool(t, "check", "config", filepath.Join("prometheus", "prometheus.yml"))
}

// TestFixtureExpositionLint runs promtool check metrics on the fixture
// output: naming conventions (units, _total on counters), HELP on every
// metric. Every finding fails the test; one that is deliberate must be
// listed here with the reason.
func TestFixtureExpositionLint(t *testing.T) {
	cmd := commandWithStdin(t, fixtureExposition(t), needTool(t, "promtool"), "check", "metrics")
	out, err := cmd.CombinedOutput()
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line = strings.TrimSpace(line); line != "" && !allowedLint(line) {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 || (err != nil && strings.TrimSpace(string(out)) == "") {
		t.Errorf("promtool check metrics on the fixture output (%v):\n%s", err, strings.Join(problems, "\n"))
	}
}

// allowedLintFindings are promtool check metrics findings that are
// deliberate, with the reason. Each must name the metric.
var allowedLintFindings = []struct{ pattern, why string }{}

func allowedLint(line string) bool {
	for _, a := range allowedLintFindings {
		if strings.Contains(line, a.pattern) {
			return true
		}
	}
	return false
}
