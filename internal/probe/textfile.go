package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hardware-exporter/hardware_exporter/internal/format/textfile"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
	"github.com/prometheus/client_golang/prometheus"
)

// The textfile probe exports metrics that the operator's own scripts write
// into *.prom files, read and merged by internal/format/textfile (its package
// comment has the rules, and why). The probe refuses every name another
// probe Describes (declaredNames) and the name spaces the daemon owns
// (textfileReservedPrefixes), and turns each refusal into a skip, a warning
// naming the file, and hardware_textfile_scrape_error 1.

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

// textfileReserved is what no file may export.
var textfileReserved = textfile.Reserved{Names: declaredNames, Prefixes: textfileReservedPrefixes}

// textfileMayPass reports whether a file may export a family of that name
// (MayExport).
func textfileMayPass(name string) bool { return !textfileReserved.Has(name) }

func init() {
	Register(Spec{
		Name:      "textfile",
		Summary:   "*.prom files written by your own scripts, checked like node_exporter's textfile collector.",
		Reads:     "`*.prom` files in `probes.textfile.directory` (default `/var/lib/hardware_exporter/textfile`), checked like node_exporter's textfile collector: a file with client timestamps, a syntax error, a metric name this exporter owns, or more series than `max_series_per_file` (or `max_series` for the directory) is refused and reported in `hardware_textfile_scrape_error`; the other files are kept",
		Privilege: "none",
		Interval:  time.Minute,
		Timeout:   30 * time.Second,
		Options:   func() any { return newTextfileOptions() },
		New:       func() Probe { return &textfileProbe{} },
	})
}

// TextfileOptions are the textfile probe's own settings (probes.textfile.*).
type TextfileOptions struct {
	Directory        confval.Path `yaml:"directory" help:"Directory whose *.prom files are read."`
	MaxSeriesPerFile int          `yaml:"max_series_per_file" check:"positive" help:"A file holding more series (a histogram's buckets count each) is refused whole and hardware_textfile_scrape_error says so."`
	MaxSeries        int          `yaml:"max_series" check:"positive" help:"Series kept from all files together, in file name order; a file that would pass it is refused whole."`
	// A file filtered out is not opened: no mtime series, no problem.
	FileInclude confval.Regexp `yaml:"file_include" flag:"file-include" help:"Regular expression on file names (e.g. \"^(raid|backup)_\"): read only the *.prom files that match. Empty: all."`
	FileExclude confval.Regexp `yaml:"file_exclude" flag:"file-exclude" help:"Regular expression on file names: skip the *.prom files that match. Empty: none."`
}

func newTextfileOptions() *TextfileOptions {
	return &TextfileOptions{Directory: "/var/lib/hardware_exporter/textfile",
		MaxSeriesPerFile: textfile.DefaultMaxSeriesPerFile, MaxSeries: textfile.DefaultMaxSeries}
}

// textfileProbe reads the *.prom files in one directory. It is built once
// per daemon, so what it remembers survives reloads.
type textfileProbe struct {
	// warned holds the directories (and why) already warned about as
	// writable by others: once is enough, every minute is noise.
	warned sync.Map
}

// Describe sends the probe's own descriptors only: the files' metrics are
// not known until they are read. The registry does not check undescribed
// descriptors (only a pedantic one does), and this probe does the checks a
// registry would do itself, so that they cost a family, not the scrape.
func (*textfileProbe) Describe(ch chan<- *prometheus.Desc) {
	ch <- textfileMtime
	ch <- textfileScrapeError
}

// Available implements Conditional: most hosts have no textfile directory,
// and the probe then stays off unless enabled explicitly.
func (*textfileProbe) Available(env Env) error {
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

func (p *textfileProbe) Probe(ctx context.Context, env Env, skips *Skips) ([]prometheus.Metric, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := optionsOf(env, newTextfileOptions)
	dir := string(o.Directory)
	if err := textfileDirAvailable(dir); err != nil {
		return nil, err
	}
	r, err := textfile.ReadDir(ctx, dir, textfileReserved, textfile.Limits{
		SeriesPerFile: o.MaxSeriesPerFile, Series: o.MaxSeries,
		Skip: func(name string) bool {
			return !o.FileInclude.MatchOr(name, true) || o.FileExclude.MatchOr(name, false)
		},
	})
	if err != nil {
		return nil, err
	}
	logger := env.logger()
	if why := r.OthersMayWrite; why != "" {
		if _, seen := p.warned.LoadOrStore(dir+"\x00"+why, true); !seen {
			logger.Warn("textfile directory is writable by other users, who can put any series in /metrics", "dir", dir, "why", why)
		}
	}
	for _, pr := range r.Problems {
		path := filepath.Join(dir, pr.File)
		skips.Add(path, pr.Err)
		logger.Warn("textfile rejected", "file", path, "err", pr.Err)
	}
	ms := r.Metrics
	for _, f := range r.Files {
		ms = append(ms, gauge(textfileMtime, float64(f.ModTime.UnixNano())/1e9, f.Name))
	}
	errVal := 0.0
	if len(r.Problems) > 0 {
		errVal = 1
	}
	return append(ms, gauge(textfileScrapeError, errVal)), nil
}
