package metricsdoc

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/devguard"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/scheduler"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

var update = flag.Bool("update", false, "rewrite docs/metrics.md")

const docPath = "../../../docs/metrics.md"

// scheduledHelp is what every probe's HELP ends with (probe.newDesc); the
// document says it once instead of on every row.
const scheduledHelp = " Refreshed on the probe's schedule, not per scrape."

// unexercised lists descriptors the fixture server cannot show, with their
// type (which only an emitted sample reveals) and why. Keep it short: every
// entry is a metric whose exposition no golden file checks.
var unexercised = map[string]struct{ typ, why string }{
	"hardware_memory_edac_csrow_correctable_errors_total":   {"counter", "only kernels without per-DIMM EDAC directories; memory_test.go covers it"},
	"hardware_memory_edac_csrow_uncorrectable_errors_total": {"counter", "only kernels without per-DIMM EDAC directories; memory_test.go covers it"},
	// Rack servers show their PSUs through the BMC (ipmi) and PMBus (hwmon),
	// not /sys/class/power_supply.
	"hardware_power_supply_info":    {"gauge", "no power_supply class on a rack server; power_test.go covers it"},
	"hardware_power_supply_online":  {"gauge", "no power_supply class on a rack server; power_test.go covers it"},
	"hardware_power_supply_present": {"gauge", "no power_supply class on a rack server; power_test.go covers it"},
	"hardware_power_supply_health":  {"gauge", "no power_supply class on a rack server; power_test.go covers it"},
	// Off by default for cardinality; the fixture runs with the defaults.
	"hardware_pci_aer_errors_by_type_total": {"counter", "only with probes.pci.aer_details; pci_test.go covers it on procfs's capture"},
	// Ampere GPUs remap rows instead of retiring pages: nvidia-smi says [N/A].
	"hardware_gpu_retired_pages":         {"gauge", "the fixture's A100 remaps rows instead; gpu_test.go covers it with a V100"},
	"hardware_gpu_retired_pages_pending": {"gauge", "the fixture's A100 remaps rows instead; nvidia-smi says [N/A]"},
	// A PCIe A100 is passively cooled and has no NVLink bridge.
	"hardware_gpu_fan_speed_ratio":     {"gauge", "the fixture's A100 has no fan of its own; gpu_test.go covers the parsing"},
	"hardware_gpu_nvlink_errors_total": {"counter", "the fixture's PCIe A100 has no NVLink; gpu_test.go covers it"},
	// Dell iDRAC reads fans in RPM; HP iLO reads their duty in percent.
	"hardware_ipmi_sensor_ratio":                    {"gauge", "the fixture's Dell BMC reads no percent; ipmi_test.go covers it with an HP capture"},
	"hardware_ipmi_airflow_cubic_meters_per_second": {"gauge", "the fixture's Dell BMC reads no CFM; ipmi_test.go covers it"},
	// x86_pkg_temp zones have no programmed trip points (-274000).
	"hardware_thermal_zone_trip_point_celsius": {"gauge", "the fixture's zones have none programmed; thermal_test.go covers it"},
	// storcli's VD list carries no progress; only ssacli prints one.
	"hardware_raid_virtual_drive_progress_ratio": {"gauge", "the fixture's Smart Array rebuilds nothing; raid_test.go covers it"},
	// No public capture of a SAS SSD's smartctl JSON was found.
	"hardware_smart_scsi_percentage_used_ratio": {"gauge", "the fixture's SAS disks are HDDs; internal/format/smartctl tests parse the indicator"},
}

// row is one metric in the document.
type row struct {
	name, typ, labels, help, note, probe string
}

var descPattern = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), .*variableLabels: \{([^}]*)\}\}$`)

// parseDesc reads name, help and variable labels back out of a descriptor:
// client_golang exposes them only through String.
func parseDesc(t *testing.T, d *prometheus.Desc) (name, help string, labels []string) {
	t.Helper()
	m := descPattern.FindStringSubmatch(d.String())
	if m == nil {
		t.Fatalf("cannot parse descriptor %s", d)
	}
	name, err1 := strconv.Unquote(m[1])
	help, err2 := strconv.Unquote(m[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("cannot unquote descriptor %s", d)
	}
	if m[3] != "" {
		labels = strings.Split(m[3], ",")
	}
	return name, help, labels
}

// fixtureOptions returns each probe's options as the daemon decodes them
// from a config that points every path option at the fixture's stand-in
// (fixture.ToolConfig): the fake tools and the textfile test directory. A
// new tool probe's entry in fixture.ToolPaths is all this test needs, and
// no probe runs a host tool.
func fixtureOptions(t *testing.T) func(name string) any {
	t.Helper()
	testdata, err := filepath.Abs(filepath.Join("..", "..", "probe", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(map[string]any{"probes": fixture.ToolConfig(testdata)})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) any { return cfg.Probe(name).Options }
}

// types runs every probe once on the fixture server through a metric cache,
// as the daemon does, and returns the type of every metric family emitted.
func types(t *testing.T, jobs []scheduler.Job) map[string]string {
	t.Helper()
	var describers []metriccache.Describer
	for _, j := range jobs {
		describers = append(describers, j.Probe)
	}
	cache := metriccache.New(describers...)
	scheduler.New(cache, jobs, scheduler.Options{MaxConcurrent: 4}).RunOnce(context.Background())
	for name, err := range cache.Failures() {
		t.Errorf("probe %s failed on the fixture: %v", name, err)
	}
	// Not pedantic: textfile's metrics are the operator's, and described by
	// no one.
	reg := prometheus.NewRegistry()
	if err := reg.Register(cache); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, mf := range mfs {
		out[mf.GetName()] = strings.ToLower(dto.MetricType_name[int32(mf.GetType())])
	}
	return out
}

// descs collects what describe sends.
func descs(describe func(chan<- *prometheus.Desc)) []*prometheus.Desc {
	ch := make(chan *prometheus.Desc, 512)
	go func() { describe(ch); close(ch) }()
	var out []*prometheus.Desc
	for d := range ch {
		out = append(out, d)
	}
	return out
}

func TestMetricsDoc(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "server")
	if err := fixture.Materialize(filepath.Join("..", "..", "probe", "testdata", "server"), root); err != nil {
		t.Fatal(err)
	}
	paths := probe.Paths{ProcFS: filepath.Join(root, "proc"), SysFS: filepath.Join(root, "sys"), RootFS: filepath.Join(root, "root")}

	options := fixtureOptions(t)
	var jobs []scheduler.Job
	owner := map[string]string{}              // metric name → probe that describes it
	declared := map[string]*prometheus.Desc{} // metric name → its descriptor
	var rows []row
	add := func(d *prometheus.Desc, by string) {
		name, help, labels := parseDesc(t, d)
		if prev, dup := owner[name]; dup {
			// One family fed by several probes (hardware_firmware_info)
			// is one descriptor, declared once, that each sends; two
			// declarations of one name would be a clash.
			if declared[name] != d {
				t.Errorf("%s is declared by both %s and %s: series names must be unique across probes", name, prev, by)
				return
			}
			for i := range rows {
				if rows[i].name == name {
					rows[i].probe += ", " + by
				}
			}
			return
		}
		owner[name], declared[name] = by, d
		rows = append(rows, row{name: name, help: strings.TrimSuffix(help, scheduledHelp), note: probe.Note(d),
			labels: strings.Join(labels, ", "), probe: by})
	}
	for _, n := range probe.Names() {
		p, err := probe.New(n)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, scheduler.Job{Name: n, Probe: p, Env: probe.Env{Paths: paths, Options: options(n)},
			Interval: time.Hour, Timeout: time.Minute})
		for _, d := range descs(p.Describe) {
			add(d, n)
		}
	}
	// The cache's own status series, for every probe.
	for _, d := range descs(metriccache.New().Describe) {
		add(d, "(every probe)")
	}

	emitted := types(t, jobs)
	for i := range rows {
		r := &rows[i]
		if typ, ok := emitted[r.name]; ok {
			r.typ = typ
			continue
		}
		if u, ok := unexercised[r.name]; ok {
			r.typ = u.typ
			continue
		}
		t.Errorf("%s (probe %s) is not emitted on the fixture server: add fixture data, or list it in unexercised with a reason", r.name, r.probe)
	}
	// The device guard's series: gauges it builds from the baselines.
	for _, d := range devguard.Descs() {
		add(d, "(device guard)")
		rows[len(rows)-1].typ, rows[len(rows)-1].note = "gauge", devguard.Note(d)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })

	got := render(rows)
	if *update {
		if err := os.WriteFile(docPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/test/metricsdoc -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/metrics.md is out of date: run go test ./internal/test/metricsdoc -update and review the diff")
	}
}

func render(rows []row) []byte {
	var b bytes.Buffer
	b.WriteString(`# Metrics

Generated from the probes' descriptors by ` + "`go test ./internal/test/metricsdoc -update`" + `;
a test fails when this file and the code disagree. Do not edit by hand.

Every probe metric is read on the probe's schedule and replayed on scrapes
(its HELP says so). The Help column is each metric's HELP, which every
scrape carries and so is a sentence or two; what follows it after a line
break is the probe's note on the metric (probe.withNote), the detail that
only needs reading once. Strings such as models and serials are ` + "`_info`" + ` gauges
with value 1. Series marked as inventory move
` + "`hardware_inventory_last_change_timestamp_seconds`" + ` when they change.
Besides these, the textfile probe exports whatever its *.prom files hold,
and ` + "`/metrics`" + ` carries ` + "`hardware_exporter_build_info`" + `.

| Metric | Type | Labels | Help | Probe |
|---|---|---|---|---|
`)
	for _, r := range rows {
		help := r.help
		if r.note != "" {
			help += "<br>" + r.note
		}
		help = strings.ReplaceAll(help, "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.name, r.typ, r.labels, help, r.probe)
	}
	return b.Bytes()
}
