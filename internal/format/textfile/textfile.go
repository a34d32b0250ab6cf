// Package textfile reads the *.prom files that an operator's own scripts
// write (a vendor RAID tool's state, an SSD wear report from a cron job) and
// merges them into const metrics, as node_exporter's textfile collector
// does. Its rules, and why:
//
//   - A file is read whole or not at all when it cannot be read, is larger
//     than MaxFileSize, does not parse, or carries client-side timestamps
//     (which make series vanish from instant queries five minutes after the
//     timestamp). Only files read whole are listed in Result.Files.
//   - The directory's files together are read up to MaxDirSize bytes a run;
//     a file that would pass it is refused (name order decides which), so
//     several large files cannot multiply the memory one may cost.
//   - Only files inside the directory are read. A relative symlink to
//     another file in the directory is followed; an absolute symlink, or one
//     that leads out of the directory, is refused (the daemon may be able to
//     read files the scripts' authors cannot, and must not export them).
//   - An error never quotes the file's content: a line that does not parse
//     may hold anything (a password hash was once logged), so a syntax error
//     names the line number and the kind of error only.
//   - Files are merged in name order, and a family may span several files.
//     The first file that defines a family fixes its type, and the first
//     explicit HELP its help; a later file's family with another type or
//     another explicit HELP is dropped (node_exporter's behaviour). A family
//     no file gives HELP for gets "Metric read from <files>".
//   - A family is dropped when its name, or a _sum/_count/_bucket name it
//     expands to, is Reserved: the names the caller exports itself. Also
//     dropped: a family whose name collides with another file family's
//     expanded names, the way the registry's suffix check would refuse it.
//   - A series that duplicates one already read (same name and non-empty
//     labels, in any file) is dropped, as is one the client library refuses
//     (a label name starting with "__", a label value that is not UTF-8).
//
// Each of these costs what it names and is returned as a Problem naming the
// file. Everything else is kept. The point of all the checks is that nothing
// an operator's file says can make a registry's Gather report an error: a
// server that serves on (promhttp.ContinueOnError) still drops whichever of
// two clashing series was collected second, so a file could otherwise make
// the exporter's own series vanish at random.
//
// HELP and TYPE are kept as the file wrote them, the metrics being the
// operator's, except that bytes which are not UTF-8 in a HELP become U+FFFD:
// the exposition formats are UTF-8, and a scraper may refuse the whole
// response over one bad byte.
package textfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/user"
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

// MaxFileSize bounds one file: a runaway script must not make the reader
// allocate without bound. A textfile near it is a script gone wrong.
const MaxFileSize = 16 << 20

// Limits bound the series a run keeps. Bytes alone do not bound them: a
// 15 MiB file of 700k short series cost 1.0-1.3 GB of RSS, seconds a
// render and a 10 MB state file. The zero value means the defaults.
type Limits struct {
	// SeriesPerFile refuses a file (whole) that holds more series
	// (DefaultMaxSeriesPerFile when 0).
	SeriesPerFile int
	// Series refuses a file (whole) that would take the directory's
	// files, in name order, past this many series (DefaultMaxSeries
	// when 0).
	Series int
	// Skip, when set, passes over the *.prom files it returns true for,
	// unopened, as if they were not there (the probe's file filters).
	Skip func(name string) bool
}

// Default series limits: far above what a host's scripts export (a few
// hundred series), far below what costs the daemon real memory.
const (
	DefaultMaxSeriesPerFile = 10000
	DefaultMaxSeries        = 50000
)

func (l Limits) perFile() int {
	if l.SeriesPerFile > 0 {
		return l.SeriesPerFile
	}
	return DefaultMaxSeriesPerFile
}

func (l Limits) total() int {
	if l.Series > 0 {
		return l.Series
	}
	return DefaultMaxSeries
}

// seriesIn counts the series families expand to in an exposition: a
// histogram's buckets, _sum and _count, a summary's quantiles, _sum and
// _count.
func seriesIn(families map[string]*dto.MetricFamily) int {
	n := 0
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetHistogram() != nil:
				n += len(m.GetHistogram().GetBucket()) + 2 // _sum, _count
			case m.GetSummary() != nil:
				n += len(m.GetSummary().GetQuantile()) + 2
			default:
				n++
			}
		}
	}
	return n
}

// MaxDirSize bounds what one run reads from all the directory's files
// together: six files just under MaxFileSize once cost 2.6 GB of RSS and
// a 96 MB /metrics.
const MaxDirSize = 16 << 20

// Reserved are the metric names no file may export: Names exactly, and
// any name starting with one of Prefixes.
type Reserved struct {
	Names    map[string]bool
	Prefixes []string
}

// File is a *.prom file read whole.
type File struct {
	Name    string // base name
	ModTime time.Time
}

// Problem is a file, family or series refused, and why.
type Problem struct {
	File string // base name
	Err  error
}

// Result is what ReadDir read.
type Result struct {
	// Metrics are the merged families' series, in family name order.
	Metrics []prometheus.Metric
	// Files are the files read whole, in name order.
	Files []File
	// Problems are in the order they were found: each file's as it was
	// read, then those found building the metrics.
	Problems []Problem
	// OthersMayWrite says why users other than the daemon's own (and
	// root) may write files into the directory, which lets them put series
	// into /metrics; "" when they may not.
	OthersMayWrite string
}

// ReadDir reads and merges the *.prom files in dir, in name order; other
// names (editors' and atomic writers' temporary files) are passed over.
// Only a directory that cannot be listed, and ctx ending, are errors.
// A file over limits' series caps is refused whole, as one that is too
// large is.
func ReadDir(ctx context.Context, dir string, reserved Reserved, limits Limits) (Result, error) {
	var r Result
	// Opened through an os.Root, a name cannot resolve outside dir: the
	// kernel (openat2 RESOLVE_BENEATH) or Go's own walk refuses it.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return r, err
	}
	defer root.Close()
	d, err := root.Open(".")
	if err != nil {
		return r, err
	}
	entries, err := d.ReadDir(-1)
	fi, statErr := d.Stat()
	d.Close()
	if err != nil {
		return r, err
	}
	if statErr == nil {
		r.OthersMayWrite = othersMayWrite(fi)
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	m := merger{reserved: reserved, families: map[string]*family{}, seen: map[string]bool{}}
	budget := int64(MaxDirSize)
	seriesLeft := limits.total()
	for _, e := range entries { // sorted by name: the merge order
		if !strings.HasSuffix(e.Name(), ".prom") || (limits.Skip != nil && limits.Skip(e.Name())) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		families, mtime, n, err := readFile(root, e.Name(), budget)
		budget -= n
		if err == nil {
			switch k := seriesIn(families); {
			case k > limits.perFile():
				err = fmt.Errorf("%d series, more than the %d a file may hold (max_series_per_file)", k, limits.perFile())
			case seriesLeft-k < 0:
				err = fmt.Errorf("%d series, and the directory's files before it already hold %d of the %d kept a run (max_series)",
					k, limits.total()-seriesLeft, limits.total())
			default:
				seriesLeft -= k
			}
		}
		if err != nil {
			r.Problems = append(r.Problems, Problem{File: e.Name(), Err: err})
			continue
		}
		for _, err := range m.add(e.Name(), families) {
			r.Problems = append(r.Problems, Problem{File: e.Name(), Err: err})
		}
		r.Files = append(r.Files, File{Name: e.Name(), ModTime: mtime})
	}
	var problems []Problem
	r.Metrics, problems = m.metrics()
	r.Problems = append(r.Problems, problems...)
	return r, nil
}

// ServiceUser is the system user and group the shipped unit runs the daemon
// as (deploy/sysusers). The unit's StateDirectory= gives it the default
// textfile directory, so root running --once on an installed host finds the
// directory owned by it: that owner is the daemon itself, not a stranger.
const ServiceUser = "hardware_exporter"

// lookupServiceUser returns ServiceUser's uid and gid, ok false where this
// host has no such user. A variable so that tests need not read the host's
// user database.
var lookupServiceUser = func() (uid, gid int, ok bool) {
	u, err := user.Lookup(ServiceUser)
	if err != nil {
		return 0, 0, false
	}
	uid, errU := strconv.Atoi(u.Uid)
	gid, errG := strconv.Atoi(u.Gid)
	return uid, gid, errU == nil && errG == nil
}

// othersMayWrite says why users other than ours, the service user's and
// root may create files in a directory of this mode and owner, or "". A
// sticky bit does not help: it stops others deleting our files, not adding
// theirs.
func othersMayWrite(fi os.FileInfo) string {
	perm := fi.Mode().Perm()
	if perm&0o002 != 0 {
		return fmt.Sprintf("mode %04o lets every user write", perm)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	uid, gid := int(st.Uid), int(st.Gid)
	groupWrites := perm&0o020 != 0 && gid != os.Getegid() && gid != 0
	strangerOwns := uid != os.Geteuid() && uid != 0
	if groupWrites || strangerOwns {
		// Asked only here: the user database is read when the directory
		// is not plainly ours.
		if svcUID, svcGID, ok := lookupServiceUser(); ok {
			groupWrites = groupWrites && gid != svcGID
			strangerOwns = strangerOwns && uid != svcUID
		}
	}
	if groupWrites {
		return fmt.Sprintf("mode %04o lets group %d write", perm, gid)
	}
	if strangerOwns {
		return fmt.Sprintf("it belongs to user %d", uid)
	}
	return ""
}

// OthersMayWrite says why users other than the daemon's own (and root)
// may write in the directory fi describes, or "" if they may not. The
// state files reuse it for their directory.
func OthersMayWrite(fi os.FileInfo) string { return othersMayWrite(fi) }

// readFile reads and parses one file of root, refusing it whole when it is
// not a regular file inside root, is larger than MaxFileSize or than the
// budget left, does not parse or has timestamps. n is the bytes it read.
func readFile(root *os.Root, name string, budget int64) (families map[string]*dto.MetricFamily, mtime time.Time, n int64, err error) {
	// O_NONBLOCK: opening a FIFO someone named x.prom must not hang the
	// probe; it changes nothing for a regular file.
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, time.Time{}, 0, openError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, time.Time{}, 0, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	limit, overBudget := int64(MaxFileSize), false
	if budget < limit {
		limit, overBudget = max(budget, 0), true
	}
	tooLarge := func() error {
		if overBudget {
			return fmt.Errorf("the directory's files before it already hold %d of the %d bytes read a run", MaxDirSize-max(budget, 0), MaxDirSize)
		}
		return fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	if fi.Size() > limit { // refused unread
		return nil, time.Time{}, 0, tooLarge()
	}
	// The file may grow while it is read: the limit holds whatever Stat said.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	n = int64(len(b))
	if err != nil {
		return nil, time.Time{}, n, err
	}
	if n > limit {
		return nil, time.Time{}, n, tooLarge()
	}
	families, err = parse(b)
	if err != nil {
		return nil, time.Time{}, n, err
	}
	return families, fi.ModTime(), n, nil
}

// openError says why a name could not be opened, plainly when a symlink
// leads out of the directory (os.Root's own message is "path escapes from
// parent").
func openError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
		return errors.New("a symlink out of the directory (or an absolute one), which is not followed")
	}
	return err
}

// syntaxError says where a file does not parse and what kind of error it
// is, without the text the parser quotes: that is the file's content.
func syntaxError(err error) error {
	msg, line := err.Error(), 0
	var pe expfmt.ParseError
	if errors.As(err, &pe) {
		msg, line = pe.Msg, pe.Line
	}
	if i := strings.IndexAny(msg, "\"'"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.TrimRight(msg, " ,:")
	for _, dangling := range []string{" got", " found"} { // "expected float as value, got %q"
		msg = strings.TrimRight(strings.TrimSuffix(msg, dangling), " ,:")
	}
	if line > 0 {
		return fmt.Errorf("syntax error on line %d: %s", line, msg)
	}
	return fmt.Errorf("syntax error: %s", msg)
}

// parse reads one file's content, refusing it whole when it does not parse
// or has timestamps.
func parse(b []byte) (map[string]*dto.MetricFamily, error) {
	// Legacy names, as node_exporter: a script's file is read by the same
	// rules whatever escaping a scraper negotiates.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, syntaxError(err)
	}
	for _, name := range slices.Sorted(maps.Keys(families)) {
		for _, mt := range families[name].GetMetric() {
			if mt.TimestampMs != nil {
				return nil, fmt.Errorf("%s has a client-side timestamp, which the textfile probe does not support", name)
			}
		}
	}
	return families, nil
}

// family is one metric family merged from every file defining it.
type family struct {
	name   string
	typ    dto.MetricType
	help   string   // the first explicit HELP, "" while none
	files  []string // base names of the files contributing series
	series []series
}

type series struct {
	file string
	m    *dto.Metric
}

// merger merges the files' families in the order they are added.
type merger struct {
	reserved Reserved
	families map[string]*family
	seen     map[string]bool // series keys, for duplicates
}

// expansions are the names the text format adds to a summary's or
// a histogram's samples, and which the registry therefore refuses as other
// families' names.
func expansions(typ dto.MetricType) []string {
	switch typ {
	case dto.MetricType_SUMMARY:
		return []string{"_sum", "_count"}
	case dto.MetricType_HISTOGRAM:
		return []string{"_sum", "_count", "_bucket"}
	}
	return nil
}

// Has reports whether name is reserved.
func (r Reserved) Has(name string) bool { return r.has(name) }

func (r Reserved) has(name string) bool {
	if r.Names[name] {
		return true
	}
	for _, p := range r.Prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// add merges one file's families and returns why any were (partly) refused.
func (m *merger) add(file string, families map[string]*dto.MetricFamily) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(families)) {
		mf := families[name]
		typ := mf.GetType()
		help := strings.ToValidUTF8(mf.GetHelp(), "\uFFFD")
		if expansions(typ) == nil && typ != dto.MetricType_COUNTER && typ != dto.MetricType_GAUGE && typ != dto.MetricType_UNTYPED {
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
			f = &family{name: name, typ: typ}
			m.families[name] = f
		case f.typ != typ:
			errs = append(errs, fmt.Errorf("family %s is a %s here but a %s in %s",
				name, strings.ToLower(typ.String()), strings.ToLower(f.typ.String()), f.files[0]))
			continue
		case help != "" && f.help != "" && help != f.help:
			errs = append(errs, fmt.Errorf("family %s has help %q here but %q in %s", name, help, f.help, strings.Join(f.files, ", ")))
			continue
		}
		if f.help == "" {
			f.help = help
		}
		added := false
		for _, s := range mf.GetMetric() {
			key, err := seriesKey(name, s)
			if err == nil && m.seen[key] {
				err = fmt.Errorf("duplicate series %s", key)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			m.seen[key] = true
			f.series = append(f.series, series{file: file, m: s})
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
func (m *merger) clash(name string, typ dto.MetricType) error {
	for _, n := range append([]string{name}, suffixed(name, typ)...) {
		if m.reserved.has(n) {
			return fmt.Errorf("family %s: %s is a name this exporter exports itself", name, n)
		}
	}
	for _, suf := range []string{"_sum", "_count", "_bucket"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		if f := m.families[base]; f != nil && slices.Contains(expansions(f.typ), suf) {
			return fmt.Errorf("family %s collides with the %s %s in %s", name, strings.ToLower(f.typ.String()), base, strings.Join(f.files, ", "))
		}
	}
	for _, n := range suffixed(name, typ) {
		if f := m.families[n]; f != nil {
			return fmt.Errorf("%s %s collides with the family %s in %s", strings.ToLower(typ.String()), name, n, strings.Join(f.files, ", "))
		}
	}
	return nil
}

func suffixed(name string, typ dto.MetricType) []string {
	var out []string
	for _, suf := range expansions(typ) {
		out = append(out, name+suf)
	}
	return out
}

// seriesKey identifies a series as Prometheus does: its name and
// non-empty labels (an empty label is an absent one), sorted. A label named
// twice is refused, as the registry would.
func seriesKey(name string, s *dto.Metric) (string, error) {
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
func (m *merger) metrics() ([]prometheus.Metric, []Problem) {
	var out []prometheus.Metric
	var problems []Problem
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
			metric, err := constMetric(d, f.typ, s.m, values)
			if err != nil {
				problems = append(problems, Problem{File: s.file, Err: fmt.Errorf("series of %s: %w", name, err)})
				continue
			}
			out = append(out, metric)
		}
	}
	return out, problems
}

// constMetric turns one parsed series into a const metric.
func constMetric(d *prometheus.Desc, typ dto.MetricType, s *dto.Metric, values []string) (prometheus.Metric, error) {
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
