package metriccache

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/gzipcat"
)

// part is a set of metrics gathered and encoded once, when they are stored:
// one probe's data, one probe's status series, or the static collectors of
// a Renderer. A render concatenates the parts' encoded families instead of
// gathering (see Renderer). A part is immutable but for its encodings,
// which are added on first use and then kept.
type part struct {
	fams []*dto.MetricFamily // as Registry.Gather returns them: sorted by name, metrics sorted
	err  error               // Gather's error; a render with this part goes through promhttp

	mu   sync.Mutex
	encs map[expfmt.Format]*encoding
}

// encoding is a part's families in one format.
type encoding struct {
	all  []byte // every family encoded, one after another
	off  []int  // family i is all[off[i]:off[i+1]]
	err  error  // the encoder's, for any family: such a part is not rendered here
	runs map[[2]int]gzipcat.Block

	fresh int // families encoded rather than copied from the part replaced (encodingFrom)
}

// sliceCollector sends stored metrics. It describes nothing, which makes it
// an unchecked collector: the cache's own registration with the daemon's
// registry has already checked the descriptors.
type sliceCollector []prometheus.Metric

func (sliceCollector) Describe(chan<- *prometheus.Desc) {}

func (c sliceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

// newPart gathers ms as the daemon's registry would (the families, the
// order of the series, the checks of label values, duplicates and types),
// and encodes them in each of formats. quickGather does it for well-formed
// metrics; whatever it is not sure of goes to a registry of their own,
// which reports the error as the daemon's would.
//
// prev is the part this one replaces (the same probe's last data or
// status), or nil: the families equal to one of prev's are not encoded
// again (reusePart).
func newPart(ms []prometheus.Metric, formats []expfmt.Format, prev *part) *part {
	if len(ms) == 0 {
		return &part{}
	}
	fams, ok := quickGather(ms)
	var err error
	if !ok {
		reg := prometheus.NewRegistry()
		if err := reg.Register(sliceCollector(ms)); err != nil {
			return &part{err: err} // cannot happen for an unchecked collector
		}
		fams, err = reg.Gather()
	}
	return reusePart(&part{fams: fams, err: err}, formats, prev)
}

// reusePart encodes p in formats, reusing what prev already encoded: most
// of a probe's families (limits, info, layout-derived series) are the same
// from one run to the next, and encoding them again each store was most of
// the store path's CPU and garbage. A family is reused only when its
// gathered form is equal to prev's field by field (sameFamily), so its
// bytes in any format are the same. When every family is equal, prev
// itself is returned: its encodings, compressed runs, and the renderer's
// merges keyed by part all stay valid. Otherwise the changed families are
// encoded, and the compressed runs of prev whose families are all reused
// at the same positions are kept.
func reusePart(p *part, formats []expfmt.Format, prev *part) *part {
	var same []int
	if p.err == nil && prev != nil && prev.err == nil {
		same = matchFamilies(prev.fams, p.fams)
	}
	if same != nil && len(prev.fams) == len(p.fams) && !slices.Contains(same, -1) {
		for _, f := range formats {
			prev.encoding(f)
		}
		return prev
	}
	for _, f := range formats {
		p.encodingFrom(f, prev, same)
	}
	return p
}

// matchFamilies returns, for each of fams, the index of the family of prev
// that is equal to it, or -1; nil if none is. Both are sorted by name, as
// Gather sorts them.
func matchFamilies(prev, fams []*dto.MetricFamily) []int {
	var same []int
	j := 0
	for i, f := range fams {
		for j < len(prev) && prev[j].GetName() < f.GetName() {
			j++
		}
		if j < len(prev) && sameFamily(prev[j], f) {
			if same == nil {
				same = make([]int, len(fams))
				for k := range i {
					same[k] = -1
				}
			}
			same[i] = j
		} else if same != nil {
			same[i] = -1
		}
	}
	return same
}

// sameFamily reports whether a and b encode to the same bytes in every
// format because they are equal in every field an encoder reads. Only
// gauges, untyped series and counters without exemplar or created time are
// compared; any other kind of family counts as changed and is encoded
// again, which costs time, never correctness. Values are compared by their
// bits: NaN equals NaN, and 0 differs from -0 (they print differently).
func sameFamily(a, b *dto.MetricFamily) bool {
	if a.GetName() != b.GetName() || a.GetHelp() != b.GetHelp() || a.GetType() != b.GetType() ||
		(a.Unit == nil) != (b.Unit == nil) || a.GetUnit() != b.GetUnit() || len(a.Metric) != len(b.Metric) {
		return false
	}
	for i, x := range a.Metric {
		y := b.Metric[i]
		if len(x.Label) != len(y.Label) || (x.TimestampMs == nil) != (y.TimestampMs == nil) || x.GetTimestampMs() != y.GetTimestampMs() {
			return false
		}
		for k, l := range x.Label {
			if l.GetName() != y.Label[k].GetName() || l.GetValue() != y.Label[k].GetValue() {
				return false
			}
		}
		var vx, vy float64
		switch {
		case x.Gauge != nil && y.Gauge != nil:
			vx, vy = x.Gauge.GetValue(), y.Gauge.GetValue()
		case x.Untyped != nil && y.Untyped != nil:
			vx, vy = x.Untyped.GetValue(), y.Untyped.GetValue()
		case x.Counter != nil && y.Counter != nil && x.Counter.Exemplar == nil && y.Counter.Exemplar == nil &&
			x.Counter.CreatedTimestamp == nil && y.Counter.CreatedTimestamp == nil:
			vx, vy = x.Counter.GetValue(), y.Counter.GetValue()
		default:
			return false
		}
		if math.Float64bits(vx) != math.Float64bits(vy) ||
			x.Summary != nil || y.Summary != nil || x.Histogram != nil || y.Histogram != nil {
			return false
		}
	}
	return true
}

// gatherPart is a part of what g gathers.
func gatherPart(g prometheus.Gatherer) *part {
	fams, err := g.Gather()
	return &part{fams: fams, err: err}
}

// encoding returns p's families in format f, encoding them on first use.
func (p *part) encoding(f expfmt.Format) *encoding { return p.encodingFrom(f, nil, nil) }

// encodingFrom is encoding, where family i of p is equal to family same[i]
// of prev when same[i] >= 0 (matchFamilies): its bytes are copied from
// prev's encoding in f, if prev has one without error, instead of encoding
// it again. The encoders write each family on its own, so the bytes of a
// family do not depend on its neighbours.
func (p *part) encodingFrom(f expfmt.Format, prev *part, same []int) *encoding {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.encs[f]; e != nil {
		return e
	}
	var pe *encoding
	var runs map[[2]int]gzipcat.Block
	if same != nil {
		pe, runs = prev.reusable(f, same)
	}
	e := &encoding{off: make([]int, 1, len(p.fams)+1), runs: runs}
	var buf bytes.Buffer
	if pe != nil {
		buf.Grow(len(pe.all))
	}
	enc := expfmt.NewEncoder(&buf, f)
	for i, mf := range p.fams {
		if pe != nil && same[i] >= 0 {
			buf.Write(pe.all[pe.off[same[i]]:pe.off[same[i]+1]])
		} else {
			e.fresh++
			if err := enc.Encode(mf); err != nil && e.err == nil {
				e.err = err
			}
		}
		e.off = append(e.off, buf.Len())
	}
	e.all = buf.Bytes()
	if p.encs == nil {
		p.encs = make(map[expfmt.Format]*encoding)
	}
	p.encs[f] = e
	return e
}

// reusable returns p's encoding in f if it has one without error, and
// those of its compressed runs that hold only families reused at the same
// index (same[k] == k for each family k of the run): their bytes, and so
// their blocks, are the same in the part that reuses them.
func (p *part) reusable(f expfmt.Format, same []int) (*encoding, map[[2]int]gzipcat.Block) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.encs[f]
	if e == nil || e.err != nil {
		return nil, nil
	}
	var runs map[[2]int]gzipcat.Block
	for k, b := range e.runs {
		if k[1] > len(same) {
			continue
		}
		ok := true
		for i := k[0]; i < k[1] && ok; i++ {
			ok = same[i] == i
		}
		if ok {
			if runs == nil {
				runs = make(map[[2]int]gzipcat.Block)
			}
			runs[k] = b
		}
	}
	return e, runs
}

// block returns families [i, j) of e, a encoding of p, compressed; the
// first call compresses, later ones reuse.
func (p *part) block(e *encoding, i, j int) gzipcat.Block {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := [2]int{i, j}
	if b, ok := e.runs[k]; ok {
		return b
	}
	b := gzipcat.Compress(e.all[e.off[i]:e.off[j]])
	if e.runs == nil {
		e.runs = make(map[[2]int]gzipcat.Block)
	}
	// A layout has a run or a few per part; more come from name[] filters,
	// which a client may vary without end: those are compressed each time.
	if len(e.runs) < maxRuns {
		e.runs[k] = b
	}
	return b
}

// maxRuns bounds the compressed runs a part keeps per format.
const maxRuns = 32

// errTie is a shared family with two series Registry.Gather would not order
// the same way every time (or would refuse as duplicates).
var errTie = errors.New("series that sort as equal")

// mergeFamily joins the series of one family that several parts export, as
// Registry.Gather does: one HELP and TYPE, the series sorted by label
// values. It refuses what Gather would refuse or order by chance: HELP,
// TYPE or unit that differ, and series that sort as equal.
func mergeFamily(fams []*dto.MetricFamily) (*dto.MetricFamily, error) {
	first := fams[0]
	n := 0
	for _, f := range fams {
		if f.GetHelp() != first.GetHelp() || f.GetType() != first.GetType() || f.GetUnit() != first.GetUnit() {
			return nil, errors.New("family " + first.GetName() + " differs in HELP, TYPE or unit between probes")
		}
		n += len(f.Metric)
	}
	ms := make([]*dto.Metric, 0, n)
	for _, f := range fams {
		ms = append(ms, f.Metric...)
	}
	slices.SortFunc(ms, func(a, b *dto.Metric) int {
		switch {
		case metricLess(a, b):
			return -1
		case metricLess(b, a):
			return 1
		}
		return 0
	})
	for i := 1; i < len(ms); i++ {
		if !metricLess(ms[i-1], ms[i]) {
			return nil, errTie
		}
	}
	return &dto.MetricFamily{Name: first.Name, Help: first.Help, Type: first.Type, Unit: first.Unit, Metric: ms}, nil
}

// metricLess is client_golang's internal.MetricSorter.Less, the order
// Registry.Gather sorts a family's series in.
func metricLess(a, b *dto.Metric) bool {
	if len(a.Label) != len(b.Label) {
		return len(a.Label) < len(b.Label)
	}
	for n, lp := range a.Label {
		if vi, vj := lp.GetValue(), b.Label[n].GetValue(); vi != vj {
			return vi < vj
		}
	}
	if a.TimestampMs == nil {
		return false
	}
	if b.TimestampMs == nil {
		return true
	}
	return a.GetTimestampMs() < b.GetTimestampMs()
}

// statusFamilies are the names and HELP of the status descriptors, which
// newStatusPart needs and a Desc does not export.
var statusFamilies = map[*prometheus.Desc][2]string{}

func init() {
	for _, d := range []struct {
		desc       *prometheus.Desc
		name, help string
	}{
		{successDesc, "hardware_probe_success", successHelp},
		{durationDesc, "hardware_probe_duration_seconds", durationHelp},
		{lastSuccessDesc, "hardware_probe_last_success_timestamp_seconds", lastSuccessHelp},
		{readErrorsDesc, "hardware_probe_read_errors", readErrorsHelp},
		{intervalDesc, "hardware_probe_interval_seconds", intervalHelp},
		{inventoryChangeDesc, "hardware_inventory_last_change_timestamp_seconds", inventoryChangeHelp},
		{restoredDesc, "hardware_probe_restored", restoredHelp},
	} {
		statusFamilies[d.desc] = [2]string{d.name, d.help}
	}
}

// newStatusPart is newPart for a probe's status series, without a
// registry: they are gauges of the descriptors above with one label, the
// probe's name, one series a family, which is all a Gather would check and
// sort. A registry costs more than the seven series (two 1000-slot
// channels and a goroutine), and every store builds a status part.
//
// prev is the status part this one replaces, or nil (see newPart).
func newStatusPart(ms []prometheus.Metric, formats []expfmt.Format, prev *part) *part {
	fams := make([]*dto.MetricFamily, 0, len(ms))
	for _, m := range ms {
		nh, ok := statusFamilies[m.Desc()]
		d := &dto.Metric{}
		if err := m.Write(d); !ok || err != nil || d.Gauge == nil {
			return newPart(ms, formats, prev) // not one of ours: let a registry judge it
		}
		fams = append(fams, &dto.MetricFamily{Name: &nh[0], Help: &nh[1], Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{d}})
	}
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return reusePart(&part{fams: fams}, formats, prev)
}

// descInfo is what a Desc says of its family and does not export: learned
// once per descriptor from a registry (learnDesc).
type descInfo struct {
	name, help string
	unit       *string
}

// descInfos maps descriptors to what they say. Probes' descriptors are
// package variables, learned once; a state file restore builds a few
// hundred at start, and the textfile probe may build new ones each run,
// hence the bound (the map starts over when full) and the budget of new
// descriptors a gather may learn (learnBudget).
var descInfos struct {
	sync.Mutex
	m map[*prometheus.Desc]*descInfo
}

const (
	maxDescInfos = 4096
	// learnBudget is how many unknown descriptors one quickGather learns,
	// one small registry each, before it leaves the whole result to one
	// registry instead: a probe with more descriptors is learned over its
	// first few runs, and a textfile probe's new descriptors of each run
	// cost at most this many small gathers beside the one it needs.
	learnBudget = 16
)

// learnDesc returns the name, HELP and unit of m's descriptor, gathering m
// on a registry the first time the descriptor is seen, while *budget
// lasts; nil if that gather reports an error or the budget is spent (the
// caller then lets a registry judge the whole part).
func learnDesc(m prometheus.Metric, budget *int) *descInfo {
	d := m.Desc()
	descInfos.Lock()
	info := descInfos.m[d]
	descInfos.Unlock()
	if info != nil {
		return info
	}
	if *budget <= 0 {
		return nil
	}
	*budget--
	reg := prometheus.NewRegistry()
	if reg.Register(sliceCollector{m}) != nil {
		return nil
	}
	fams, err := reg.Gather()
	if err != nil || len(fams) != 1 {
		return nil
	}
	info = &descInfo{name: fams[0].GetName(), help: fams[0].GetHelp(), unit: fams[0].Unit}
	descInfos.Lock()
	if descInfos.m == nil || len(descInfos.m) >= maxDescInfos {
		descInfos.m = make(map[*prometheus.Desc]*descInfo)
	}
	descInfos.m[d] = info
	descInfos.Unlock()
	return info
}

// quickGather is Registry.Gather for one probe's metrics without a
// registry (which costs two 1000-slot channels, a goroutine and a hash a
// series per store). It returns the same families in the same order when
// the metrics are well formed, and false on anything Gather could report or
// order by chance: a write error, HELP or type that differ within a family,
// label names out of order, repeated or invalid, label values not UTF-8, a
// quantile label on a summary, series that sort as equal (duplicates
// included), a suffix collision with a histogram or summary.
func quickGather(ms []prometheus.Metric) ([]*dto.MetricFamily, bool) {
	byName := make(map[string]*dto.MetricFamily)
	budget := learnBudget
	// One allocation for every series' dto.Metric rather than one each
	// (the minute probes' stores wrote about 500 a minute). The part keeps
	// them all as long as it lives, as it did one by one.
	ds := make([]dto.Metric, len(ms))
	var last *dto.MetricFamily // the family of the series before: a probe sends a family's series together
	for k, m := range ms {
		info := learnDesc(m, &budget)
		if info == nil {
			return nil, false
		}
		d := &ds[k]
		if m.Write(d) != nil {
			return nil, false
		}
		var typ dto.MetricType
		switch {
		case d.Gauge != nil:
			typ = dto.MetricType_GAUGE
		case d.Counter != nil:
			typ = dto.MetricType_COUNTER
		case d.Summary != nil:
			typ = dto.MetricType_SUMMARY
		case d.Untyped != nil:
			typ = dto.MetricType_UNTYPED
		case d.Histogram != nil:
			typ = dto.MetricType_HISTOGRAM
		default:
			return nil, false
		}
		prev := ""
		for i, l := range d.Label {
			n := l.GetName()
			if (i > 0 && n <= prev) || !model.UTF8Validation.IsValidLabelName(n) || strings.HasPrefix(n, model.ReservedLabelPrefix) ||
				(typ == dto.MetricType_SUMMARY && n == "quantile") || !utf8.ValidString(l.GetValue()) {
				return nil, false
			}
			prev = n
		}
		f := last
		if f == nil || f.GetName() != info.name {
			f = byName[info.name]
		}
		if f == nil {
			f = &dto.MetricFamily{Name: &info.name, Help: &info.help, Type: typ.Enum(), Unit: info.unit}
			byName[info.name] = f
		} else if f.GetHelp() != info.help || f.GetType() != typ {
			return nil, false
		}
		f.Metric = append(f.Metric, d)
		last = f
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		slices.SortFunc(f.Metric, func(a, b *dto.Metric) int {
			switch {
			case metricLess(a, b):
				return -1
			case metricLess(b, a):
				return 1
			}
			return 0
		})
		for i := 1; i < len(f.Metric); i++ {
			if !metricLess(f.Metric[i-1], f.Metric[i]) {
				return nil, false
			}
		}
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	srcs := make([]source, len(fams))
	p := &part{fams: fams}
	for i := range fams {
		srcs[i] = source{p: p, i: i}
	}
	if suffixCollision(srcs) {
		return nil, false
	}
	return fams, true
}
