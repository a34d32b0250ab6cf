package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/config"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// exporterConfig is the built-in configuration with every duration that
// sets how often the daemon works (probe intervals, the scheduler's jitter,
// the response cache's TTL) divided by compress, the probe roots on tree,
// and the tool probes on the fake tools in tools. Probe timeouts stay as
// they are: they bound a run, they do not schedule one. The textfile probe
// gets a directory that does not exist, so it is left off as on a host
// without one. Probes enabled says false for are disabled.
func exporterConfig(tree, tools, work string, compress float64, enabled func(string) bool) string {
	def := config.Default()
	scaled := func(d time.Duration) string {
		ms := max(int64(float64(d.Milliseconds())/compress), 1)
		return strconv.FormatInt(ms, 10) + "ms"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "paths: {procfs: %q, sysfs: %q, rootfs: %q}\n",
		filepath.Join(tree, "proc"), filepath.Join(tree, "sys"), filepath.Join(tree, "root"))
	fmt.Fprintf(&b, "cache: {ttl: %s}\n", scaled(time.Duration(def.Cache.TTL)))
	fmt.Fprintf(&b, "scheduler: {jitter: %s}\n", scaled(time.Duration(def.Scheduler.Jitter)))
	b.WriteString("pprof: {enabled: true}\n")
	// State files as a host keeps them (they cost a write per run, spaced),
	// in the work directory rather than the host's /var/lib.
	fmt.Fprintf(&b, "state: {path: %q}\n", filepath.Join(work, "state"))
	fmt.Fprintf(&b, "probes:\n  defaults: {interval: %s}\n", scaled(time.Duration(def.Probes.Defaults.Interval)))
	// The tool probes run the fake tools (fixture.ToolConfig), enabled
	// explicitly so that a missing fake fails loudly rather than leaving a
	// probe's cost out.
	fakes := fixture.ToolConfig(filepath.Dir(tools))
	for _, name := range probe.Names() {
		if !enabled(name) {
			fmt.Fprintf(&b, "  %s: {enabled: false}\n", name)
			continue
		}
		// allow_fast: a compressed day runs probes far more often than
		// their kinds' floors allow on a host.
		fmt.Fprintf(&b, "  %s: {interval: %s, allow_fast: true", name, scaled(def.Probe(name).Interval))
		if name == "textfile" {
			fmt.Fprintf(&b, ", directory: %q", filepath.Join(work, "no-textfile-directory"))
		} else if section, ok := fakes[name].(map[string]any); ok {
			b.WriteString(", enabled: true")
			keys := make([]string, 0, len(section))
			for k := range section {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, ", %s: %q", k, section[k])
			}
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// defaultIntervals are the built-in probe intervals, by probe.
func defaultIntervals() map[string]time.Duration {
	def := config.Default()
	m := map[string]time.Duration{}
	for _, name := range probe.Names() {
		m[name] = def.Probe(name).Interval
	}
	return m
}

// nodeExporterOff are the node_exporter collectors turned off, and why: each
// reads the host rather than the fixture tree.
var nodeExporterOff = []struct{ flag, why string }{
	{"--no-collector.systemd", "asks the host's systemd over D-Bus"},
	{"--no-collector.selinux", "reads the host's SELinux state, not --path.*"},
	{"--no-collector.timex", "adjtimex(2) on the host's clock"},
	{"--no-collector.uname", "uname(2) of the host"},
	{"--no-collector.textfile", "its directory is a host path (the exporter's textfile probe is off too)"},
	{"--no-collector.netdev.netlink", "netdev from the tree's /proc/net/dev, not the host's netlink"},
	{"--no-collector.netclass.netlink", "netclass from the tree's sysfs, not the host's netlink"},
}

func nodeExporterArgs(tree, addr string) []string {
	args := []string{
		"--path.procfs=" + filepath.Join(tree, "proc"),
		"--path.sysfs=" + filepath.Join(tree, "sys"),
		"--path.rootfs=" + filepath.Join(tree, "root"),
		// Not below rootfs by default: diskstats would read the host's.
		"--path.udev.data=" + filepath.Join(tree, "root/run/udev/data"),
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}
	for _, c := range nodeExporterOff {
		args = append(args, c.flag)
	}
	return args
}

// versionOf is the first line bin --version prints.
func versionOf(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// seriesIn counts the samples of a text exposition body, gzip or not.
func seriesIn(v variant) (int, error) {
	var r io.Reader = bytes.NewReader(v.Body)
	if v.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return 0, err
		}
		r = zr
	}
	n := 0
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if line := s.Bytes(); len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n, s.Err()
}

// runtimeCounters are the exporter's own unlabelled series that costtest
// reads, by the key counters files them under: renders, and the Go
// runtime's GC CPU and cycles from runtime/metrics.
var runtimeCounters = map[string]string{
	"hardware_exporter_response_cache_renders_total":  "renders",
	"go_cpu_classes_gc_total_cpu_seconds_total":       "gc_cpu",
	"go_cpu_classes_scavenge_total_cpu_seconds_total": "scavenge_cpu",
	"go_gc_cycles_total_gc_cycles_total":              "gc_cycles",
	"process_cpu_seconds_total":                       "process_cpu",
	"go_goroutines":                                   "goroutines",
}

// counters reads the exporter's own counters that explain its CPU: probe
// runs by probe, response-cache renders, the runtime's GC (runtimeCounters). A counter the exporter does not
// have (yet, or any more) is absent from the map, not an error.
func counters(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	m := map[string]float64{}
	s := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		var key string
		if strings.HasPrefix(line, "hardware_exporter_probe_runs_total{") {
			key = "runs:" + labelValue(line, "probe")
		} else if name, _, ok := strings.Cut(line, " "); ok && runtimeCounters[name] != "" {
			key = runtimeCounters[name]
		} else {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[key] += v
	}
	return m, s.Err()
}

// labelValue is the value of label name in a text exposition line.
func labelValue(line, name string) string {
	_, rest, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
