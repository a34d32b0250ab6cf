package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/hardware-exporter/hardware_exporter/internal/confval"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The textfile probe exports metrics that the operator's own scripts write
// into *.prom files (a vendor RAID tool's state, an SSD wear report from a
// cron job), as node_exporter's textfile collector does. Its rules, and why:
//
//   - A file is read whole or not at all when it cannot be read, is larger
//     than textfileMaxSize, does not parse, or carries client-side
//     timestamps (which make series vanish from instant queries five minutes
//     after the timestamp; see DESIGN.md). Only files read whole get
//     hardware_textfile_mtime_seconds.
//   - Files are merged in name order, and a family may span several files.
//     The first file that defines a family fixes its type, and the first
//     explicit HELP its help; a later file's family with another type or
//     another explicit HELP is dropped (node_exporter's behaviour). A family
//     no file gives HELP for gets "Metric read from <files>".
//   - A family is dropped when its name, or a _sum/_count/_bucket name it
//     expands to, is a name this exporter exports itself: every name another
//     probe Describes (exact check, see declaredNames), and any name below
//     hardware_probe_, hardware_inventory_, hardware_exporter_ (the metric
//     cache's status metrics and the build info, which this package cannot
//     see) and hardware_textfile_. Also dropped: a family whose name collides
//     with another file family's expanded names, the way the registry's
//     suffix check would refuse it.
//   - A series that duplicates one already read (same name and non-empty
//     labels, in any file) is dropped, as is one the client library refuses
//     (a label name starting with "__", a label value that is not UTF-8).
//
// Each of these costs what it names, counts one skip, logs a warning naming
// the file, and sets hardware_textfile_scrape_error to 1. Everything else is
// kept. The point of all the checks is that nothing an operator's file says
// can make the registry's Gather report an error: the server serves on
// (promhttp.ContinueOnError) but drops whichever of two clashing series the
// cache's Collect sent second, in map order, so a file could make another
// probe's real series (hardware_hwmon_fan_rpm) vanish at random.
//
// HELP and TYPE are kept as the file wrote them, with no "refreshed on a
// schedule" note: the metrics are the operator's, and they already are only
// as fresh as the script that wrote them.

// textfileMaxSize bounds one file: the same bound as a tool's output, and
// for the same reason (a runaway script must not make the daemon allocate
// without bound). A textfile near it is a script gone wrong.
const textfileMaxSize = maxToolOutput

var (
	textfileMtime = newDesc("textfile", "mtime_seconds",
		"Modification time of a *.prom file the textfile probe read whole, as a Unix time; file is its base name.",
		"file")
	textfileScrapeError = newDesc("textfile", "scrape_error",
		"1 if a *.prom file, or a family or series in one, was rejected (the log names the file and why), 0 otherwise.")
)

// textfileReservedPrefixes are name spaces the daemon owns beyond what the
// probes Describe: the metric cache's hardware_probe_* and
// hardware_inventory_* status metrics, hardware_exporter_build_info, and
// this probe's own metrics.
var textfileReservedPrefixes = []string{
	Namespace + "_probe_", Namespace + "_inventory_", Namespace + "_exporter_", Namespace + "_textfile_",
}

func init() {
	Register(Spec{
		Name:      "textfile",
		Summary:   "*.prom files written by your own scripts, checked like node_exporter's textfile collector.",
		Reads:     "`*.prom` files in `probes.textfile.directory` (default `/var/lib/hardware_exporter/textfile`), checked like node_exporter's textfile collector: a file with client timestamps, a syntax error, or a metric name this exporter owns is refused and reported in `hardware_textfile_scrape_error`; the other files are kept",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		Options:   func() any { return newTextfileOptions() },
		New:       func() Probe { return textfileProbe{} },
	})
}

// TextfileOptions are the textfile probe's own settings (probes.textfile.*).
type TextfileOptions struct {
	Directory confval.Path `yaml:"directory" help:"Directory whose *.prom files are read."`
}

func newTextfileOptions() *TextfileOptions {
	return &TextfileOptions{Directory: "/var/lib/hardware_exporter/textfile"}
}

// textfileProbe reads the *.prom files in one directory.
type textfileProbe struct{}

// Describe sends the probe's own descriptors only: the files' metrics are
// not known until they are read. The registry does not check undescribed
// descriptors (only a pedantic one does), and this probe does the checks a
// registry would do itself, so that they cost a family, not the scrape.
func (textfileProbe) Describe(ch chan<- *prometheus.Desc) {
	ch <- textfileMtime
	ch <- textfileScrapeError
}

// Available implements Conditional: most hosts have no textfile directory,
// and the probe then stays off unless enabled explicitly.
func (textfileProbe) Available(env Env) error {
	return textfileDirAvailable(string(optionsOf(env, newTextfileOptions).Directory))
}

func textfileDirAvailable(dir string) error {
	switch {
	case dir == "":
		return errors.New("no textfile directory configured")
	case !filepath.IsAbs(dir):
		return fmt.Errorf("textfile directory %q is not an absolute path", dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

func (textfileProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := string(optionsOf(env, newTextfileOptions).Directory)
	if err := textfileDirAvailable(dir); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	logger := env.logger()

	failed := false
	reject := func(path string, err error) {
		failed = true
		skips.Add(path, err)
		logger.Warn("textfile rejected", "file", path, "err", err)
	}
	m := textfileMerge{owned: declaredNames, families: map[string]*textfileFamily{}, seen: map[string]bool{}}
	var metrics []prometheus.Metric
	for _, e := range entries { // sorted by name: the merge order
		if !strings.HasSuffix(e.Name(), ".prom") {
			continue // editors' and atomic writers' temporary files among them
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, e.Name())
		families, mtime, err := textfileRead(path)
		if err != nil {
			reject(path, err)
			continue
		}
		for _, err := range m.add(e.Name(), families) {
			reject(path, err)
		}
		metrics = append(metrics, prometheus.MustNewConstMetric(textfileMtime, prometheus.GaugeValue,
			float64(mtime.UnixNano())/1e9, e.Name()))
	}
	fileMetrics, problems := m.metrics()
	for _, pr := range problems {
		reject(filepath.Join(dir, pr.file), pr.err)
	}
	errVal := 0.0
	if failed {
		errVal = 1
	}
	metrics = append(fileMetrics, metrics...)
	return append(metrics, prometheus.MustNewConstMetric(textfileScrapeError, prometheus.GaugeValue, errVal)), nil
}

// textfileRead reads and parses one file, refusing it whole when it is not
// a regular file, is too large, does not parse or has timestamps.
func textfileRead(path string) (map[string]*dto.MetricFamily, time.Time, error) {
	// O_NONBLOCK: opening a FIFO someone named x.prom must not hang the
	// probe; it changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, time.Time{}, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, textfileMaxSize+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(b) > textfileMaxSize {
		return nil, time.Time{}, fmt.Errorf("larger than %d bytes", textfileMaxSize)
	}
	// Legacy names, as node_exporter: a script's file is read by the same
	// rules whatever escaping a scraper negotiates.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("parsing: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(families)) {
		for _, mt := range families[name].GetMetric() {
			if mt.TimestampMs != nil {
				return nil, time.Time{}, fmt.Errorf("%s has a client-side timestamp, which the textfile probe does not support", name)
			}
		}
	}
	return families, fi.ModTime(), nil
}

// textfileFamily is one metric family merged from every file defining it.
type textfileFamily struct {
	name   string
	typ    dto.MetricType
	help   string   // the first explicit HELP, "" while none
	files  []string // base names of the files contributing series
	series []textfileSeries
}

type textfileSeries struct {
	file string
	m    *dto.Metric
}

// textfileProblem is a family or series rejected while building metrics.
type textfileProblem struct {
	file string
	err  error
}

// textfileMerge merges the files' families in the order they are added.
type textfileMerge struct {
	owned    map[string]bool
	families map[string]*textfileFamily
	seen     map[string]bool // series keys, for duplicates
}

// textfileExpansions are the names the text format adds to a summary's or
// a histogram's samples, and which the registry therefore refuses as other
// families' names.
func textfileExpansions(typ dto.MetricType) []string {
	switch typ {
	case dto.MetricType_SUMMARY:
		return []string{"_sum", "_count"}
	case dto.MetricType_HISTOGRAM:
		return []string{"_sum", "_count", "_bucket"}
	}
	return nil
}

// isOwned reports whether the exporter exports name itself.
func (m *textfileMerge) isOwned(name string) bool {
	if m.owned[name] || m.owned[Namespace+"_"] && strings.HasPrefix(name, Namespace+"_") {
		return true
	}
	for _, p := range textfileReservedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// add merges one file's families and returns why any were (partly) refused.
func (m *textfileMerge) add(file string, families map[string]*dto.MetricFamily) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(families)) {
		mf := families[name]
		typ := mf.GetType()
		if textfileExpansions(typ) == nil && typ != dto.MetricType_COUNTER && typ != dto.MetricType_GAUGE && typ != dto.MetricType_UNTYPED {
			errs = append(errs, fmt.Errorf("family %s: type %s is not supported", name, strings.ToLower(typ.String())))
			continue
		}
		if err := m.clash(name, typ); err != nil {
			errs = append(errs, err)
			continue
		}
		f := m.families[name]
		switch {
		case f == nil:
			f = &textfileFamily{name: name, typ: typ}
			m.families[name] = f
		case f.typ != typ:
			errs = append(errs, fmt.Errorf("family %s is a %s here but a %s in %s",
				name, strings.ToLower(typ.String()), strings.ToLower(f.typ.String()), f.files[0]))
			continue
		case mf.GetHelp() != "" && f.help != "" && mf.GetHelp() != f.help:
			errs = append(errs, fmt.Errorf("family %s has help %q here but %q in %s", name, mf.GetHelp(), f.help, strings.Join(f.files, ", ")))
			continue
		}
		if f.help == "" {
			f.help = mf.GetHelp()
		}
		added := false
		for _, s := range mf.GetMetric() {
			key, err := textfileSeriesKey(name, s)
			if err == nil && m.seen[key] {
				err = fmt.Errorf("duplicate series %s", key)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			m.seen[key] = true
			f.series = append(f.series, textfileSeries{file: file, m: s})
			added = true
		}
		if added && !slices.Contains(f.files, file) {
			f.files = append(f.files, file)
		}
	}
	return errs
}

// clash reports why a family called name of type typ cannot be exported
// next to the exporter's own metrics and the families merged so far.
func (m *textfileMerge) clash(name string, typ dto.MetricType) error {
	for _, n := range append([]string{name}, textfileSuffixed(name, typ)...) {
		if m.isOwned(n) {
			return fmt.Errorf("family %s: %s is a name this exporter exports itself", name, n)
		}
	}
	for _, suf := range []string{"_sum", "_count", "_bucket"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		if f := m.families[base]; f != nil && slices.Contains(textfileExpansions(f.typ), suf) {
			return fmt.Errorf("family %s collides with the %s %s in %s", name, strings.ToLower(f.typ.String()), base, strings.Join(f.files, ", "))
		}
	}
	for _, n := range textfileSuffixed(name, typ) {
		if f := m.families[n]; f != nil {
			return fmt.Errorf("%s %s collides with the family %s in %s", strings.ToLower(typ.String()), name, n, strings.Join(f.files, ", "))
		}
	}
	return nil
}

func textfileSuffixed(name string, typ dto.MetricType) []string {
	var out []string
	for _, suf := range textfileExpansions(typ) {
		out = append(out, name+suf)
	}
	return out
}

// textfileSeriesKey identifies a series as Prometheus does: its name and
// non-empty labels (an empty label is an absent one), sorted. A label named
// twice is refused, as the registry would.
func textfileSeriesKey(name string, s *dto.Metric) (string, error) {
	var pairs []string
	seen := map[string]bool{}
	for _, l := range s.GetLabel() {
		if seen[l.GetName()] {
			return "", fmt.Errorf("series of %s has the label %s twice", name, l.GetName())
		}
		seen[l.GetName()] = true
		if l.GetValue() != "" {
			pairs = append(pairs, l.GetName()+"="+strconv.Quote(l.GetValue()))
		}
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}", nil
}

// metrics builds the merged families' const metrics, in name order.
func (m *textfileMerge) metrics() ([]prometheus.Metric, []textfileProblem) {
	var out []prometheus.Metric
	var problems []textfileProblem
	for _, name := range slices.Sorted(maps.Keys(m.families)) {
		f := m.families[name]
		help := f.help
		if help == "" {
			help = "Metric read from " + strings.Join(f.files, ", ")
		}
		// One descriptor per label set, so each series keeps exactly the
		// labels its file gave it.
		descs := map[string]*prometheus.Desc{}
		for _, s := range f.series {
			var labels, values []string
			for _, l := range s.m.GetLabel() {
				labels = append(labels, l.GetName())
				values = append(values, l.GetValue())
			}
			key := strings.Join(labels, "\xff")
			d := descs[key]
			if d == nil {
				d = prometheus.NewDesc(name, help, labels, nil)
				descs[key] = d
			}
			metric, err := textfileConst(d, f.typ, s.m, values)
			if err != nil {
				problems = append(problems, textfileProblem{s.file, fmt.Errorf("series of %s: %w", name, err)})
				continue
			}
			out = append(out, metric)
		}
	}
	return out, problems
}

// textfileConst turns one parsed series into a const metric.
func textfileConst(d *prometheus.Desc, typ dto.MetricType, s *dto.Metric, values []string) (prometheus.Metric, error) {
	switch typ {
	case dto.MetricType_COUNTER:
		return prometheus.NewConstMetric(d, prometheus.CounterValue, s.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		return prometheus.NewConstMetric(d, prometheus.GaugeValue, s.GetGauge().GetValue(), values...)
	case dto.MetricType_UNTYPED:
		return prometheus.NewConstMetric(d, prometheus.UntypedValue, s.GetUntyped().GetValue(), values...)
	case dto.MetricType_SUMMARY:
		q := map[float64]float64{}
		for _, v := range s.GetSummary().GetQuantile() {
			q[v.GetQuantile()] = v.GetValue()
		}
		return prometheus.NewConstSummary(d, s.GetSummary().GetSampleCount(), s.GetSummary().GetSampleSum(), q, values...)
	case dto.MetricType_HISTOGRAM:
		h := s.GetHistogram()
		if h.SampleCountFloat != nil {
			return nil, errors.New("histogram counts are not whole numbers")
		}
		b := map[float64]uint64{}
		for _, v := range h.GetBucket() {
			b[v.GetUpperBound()] = v.GetCumulativeCount()
		}
		return prometheus.NewConstHistogram(d, h.GetSampleCount(), h.GetSampleSum(), b, values...)
	}
	return nil, fmt.Errorf("type %s is not supported", typ)
}
