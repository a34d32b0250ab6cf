package metriccache

import (
	"bytes"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/gzipcat"
)

// Renderer writes /metrics bodies from the parts the cache encoded when
// results were stored: no Registry.Gather, no encoding of families that did
// not change, and for gzip no compression of blocks that did not change.
// The body is the one promhttp would write for a registry holding the cache
// and the static collectors: families in name order, a family several
// probes export (the hardware_probe_* status, an inventory family fed by
// many probes) merged into one with its series sorted as Gather sorts them.
// Where it cannot promise that (a gather or encoding error, families that
// disagree, series that tie), Render says so and the caller renders through
// promhttp, which logs and counts the error as it always did.
type Renderer struct {
	cache *Cache

	// collMu guards collectors: the static collectors' part and each
	// dynamic collector's (WithDynamic).
	collMu     sync.Mutex
	collectors []*collectorPart

	mu     sync.Mutex
	merged map[mergedKey]*mergedFamily
	tails  map[expfmt.Format]*tail
}

type mergedKey struct {
	name   string
	format expfmt.Format
}

// mergedFamily is a shared family as last rendered, with the parts it was
// merged from: while they are the same, so are its bytes.
type mergedFamily struct {
	from []source
	text []byte
	err  error

	// block is text compressed, on first use. A merge that comes out
	// the same as the last one (the status families whose values did not
	// move, though the parts they come from are new each store) takes
	// the last one's block instead of compressing again.
	block    gzipcat.Block
	hasBlock bool
}

// tail is what a format's encoder writes on Close (OpenMetrics' "# EOF").
type tail struct {
	text  []byte
	block gzipcat.Block
}

// source is family i of a part.
type source struct {
	p *part
	e *encoding
	i int
}

// maxMerged bounds the remembered shared families (names × formats).
const maxMerged = 4096

// NewRenderer returns a Renderer of c and of static, collectors whose
// metrics never change (build info): gathered once, at the first render.
func (c *Cache) NewRenderer(static ...prometheus.Collector) *Renderer {
	r := &Renderer{cache: c, merged: make(map[mergedKey]*mergedFamily), tails: make(map[expfmt.Format]*tail)}
	r.addCollectors(func() uint64 { return 0 }, static...)
	return r
}

// WithDynamic adds c to what r renders: a collector whose series change
// between the cache's stores (the device guard's baselines move on an
// accept), gathered again at the first render after generation moves, not
// at every render. It returns r.
func (r *Renderer) WithDynamic(c prometheus.Collector, generation func() uint64) *Renderer {
	r.addCollectors(generation, c)
	return r
}

// collectorPart is collectors outside the cache, as one part: gathered
// again when gen moves from at.
type collectorPart struct {
	reg *prometheus.Registry
	gen func() uint64 // nil: registering failed, p holds the error
	at  uint64
	p   *part
}

func (r *Renderer) addCollectors(gen func() uint64, cs ...prometheus.Collector) {
	cp := &collectorPart{reg: prometheus.NewRegistry(), gen: gen}
	for _, c := range cs {
		if err := cp.reg.Register(c); err != nil {
			cp.p, cp.gen = &part{err: err}, nil
			break
		}
	}
	r.collMu.Lock()
	r.collectors = append(r.collectors, cp)
	r.collMu.Unlock()
}

// ownParts returns the collectors' parts, gathering again those whose
// generation moved since their last gather.
func (r *Renderer) ownParts() []*part {
	r.collMu.Lock()
	defer r.collMu.Unlock()
	out := make([]*part, 0, len(r.collectors))
	for _, cp := range r.collectors {
		if cp.gen != nil {
			// The generation is read before the gather: a change during
			// it moves the generation again, and the next render gathers.
			if g := cp.gen(); cp.p == nil || g != cp.at {
				cp.at, cp.p = g, gatherPart(cp.reg)
			}
		}
		out = append(out, cp.p)
	}
	return out
}

// useFormat adds f to the formats Store encodes in, so that the next
// results are encoded before a render asks.
func (c *Cache) useFormat(f expfmt.Format) {
	for {
		old := c.formats.Load()
		if old != nil && slices.Contains(*old, f) {
			return
		}
		var n []expfmt.Format
		if old != nil {
			n = slices.Clone(*old)
		}
		if len(n) >= maxFormats {
			return // odd clients: encode theirs on demand
		}
		n = append(n, f)
		if c.formats.CompareAndSwap(old, &n) {
			return
		}
	}
}

// maxFormats bounds the formats encoded at store; a scraper uses one, and
// the negotiable ones (format × escaping) are few.
const maxFormats = 8

func (c *Cache) storeFormats() []expfmt.Format {
	if f := c.formats.Load(); f != nil {
		return *f
	}
	return nil
}

// parts returns the parts of every snapshot.
func (c *Cache) parts(dst []*part) []*part {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, s := range c.snapshots {
		if s.data != nil {
			dst = append(dst, s.data)
		}
		dst = append(dst, s.statusPart)
	}
	return dst
}

// Render returns the body promhttp would write for format, coding
// ("identity" or "gzip") and a name[] filter (names nil: no filter), and
// false where it cannot promise that.
func (r *Renderer) Render(format expfmt.Format, coding string, names []string) ([]byte, bool) {
	gz := coding == "gzip"
	if !gz && coding != "identity" {
		return nil, false
	}
	r.cache.useFormat(format)
	parts := r.cache.parts(r.ownParts())

	n := 0
	for _, p := range parts {
		n += len(p.fams)
	}
	srcs := make([]source, 0, n)
	for _, p := range parts {
		if p.err != nil {
			return nil, false
		}
		e := p.encoding(format)
		if e.err != nil {
			return nil, false
		}
		for i := range p.fams {
			srcs = append(srcs, source{p, e, i})
		}
	}
	slices.SortFunc(srcs, func(a, b source) int { return strings.Compare(a.name(), b.name()) })
	if suffixCollision(srcs) {
		return nil, false
	}
	var filter map[string]bool
	if names != nil {
		filter = make(map[string]bool, len(names))
		for _, n := range names {
			filter[n] = true
		}
	}

	// Segments in name order: runs of consecutive families of one part,
	// and shared families merged.
	var (
		text   []byte
		blocks []gzipcat.Block
		run    struct {
			p    *part
			e    *encoding
			i, j int
		}
	)
	flush := func() {
		if run.p == nil {
			return
		}
		if gz {
			blocks = append(blocks, run.p.block(run.e, run.i, run.j))
		} else {
			text = append(text, run.e.all[run.e.off[run.i]:run.e.off[run.j]]...)
		}
		run.p = nil
	}
	if !gz {
		n := 0
		for _, s := range srcs {
			n += s.e.off[s.i+1] - s.e.off[s.i]
		}
		text = make([]byte, 0, n+64)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < len(srcs); {
		j := i + 1
		for j < len(srcs) && srcs[j].name() == srcs[i].name() {
			j++
		}
		group := srcs[i:j]
		i = j
		if filter != nil && !filter[group[0].name()] {
			flush()
			continue
		}
		if len(group) == 1 {
			s := group[0]
			if run.p != nil && run.p == s.p && run.e == s.e && run.j == s.i {
				run.j++
				continue
			}
			flush()
			run.p, run.e, run.i, run.j = s.p, s.e, s.i, s.i+1
			continue
		}
		if run.p != nil {
			flush()
		}
		m := r.mergedLocked(format, group)
		if m.err != nil {
			return nil, false
		}
		if gz {
			// Each shared family is a block of its own: of the status
			// families only duration and last success change every
			// store, and the others' blocks are reused.
			if !m.hasBlock {
				m.block, m.hasBlock = gzipcat.Compress(m.text), true
			}
			blocks = append(blocks, m.block)
		} else {
			text = append(text, m.text...)
		}
	}
	flush()
	t := r.tailLocked(format)
	if !gz {
		return append(text, t.text...), true
	}
	if len(t.text) > 0 {
		blocks = append(blocks, t.block)
	}
	return gzipcat.Join(make([]byte, 0, gzipcat.Size(blocks)), blocks), true
}

func (s source) name() string { return s.p.fams[s.i].GetName() }

// mergedLocked returns the shared family group (one source per part, same
// name) merged and encoded, reusing the last merge while its parts are the
// same.
func (r *Renderer) mergedLocked(format expfmt.Format, group []source) *mergedFamily {
	k := mergedKey{group[0].name(), format}
	if m := r.merged[k]; m != nil && sameSources(m.from, group) {
		return m
	}
	last := r.merged[k]
	m := &mergedFamily{from: slices.Clone(group)}
	if text, ok, err := spliceLines(format, group); ok {
		m.text, m.err = text, err
		m.reuseBlock(last)
		r.keepLocked(k, m)
		return m
	}
	fams := make([]*dto.MetricFamily, len(group))
	for i, s := range group {
		fams[i] = s.p.fams[s.i]
	}
	mf, err := mergeFamily(fams)
	if err == nil {
		var buf bytes.Buffer
		err = expfmt.NewEncoder(&buf, format).Encode(mf)
		m.text = buf.Bytes()
	}
	m.err = err
	m.reuseBlock(last)
	r.keepLocked(k, m)
	return m
}

// reuseBlock takes last's compressed block when m's text is the same.
func (m *mergedFamily) reuseBlock(last *mergedFamily) {
	if last != nil && last.hasBlock && m.err == nil && last.err == nil && bytes.Equal(last.text, m.text) {
		m.block, m.hasBlock = last.block, true
	}
}

func (r *Renderer) keepLocked(k mergedKey, m *mergedFamily) {
	if len(r.merged) >= maxMerged {
		clear(r.merged)
	}
	r.merged[k] = m
}

// spliceLines merges a shared family in a text format (text, OpenMetrics)
// from the lines each part encoded at store, where every part contributes
// one single-line series of a gauge or untyped family (the status
// families): the header of one, then each part's series line in Gather's
// order. The text encoders write a family as its header lines and then
// each series on its own, so this is byte for byte what encoding the
// merged family writes, without merging, sorting and encoding it again
// each render. ok is false where it does not apply; headers that differ
// go the general way too, which reports them.
func spliceLines(format expfmt.Format, group []source) (text []byte, ok bool, err error) {
	switch format.FormatType() {
	case expfmt.TypeTextPlain, expfmt.TypeOpenMetrics:
	default:
		return nil, false, nil
	}
	type line struct {
		m *dto.Metric
		b []byte
	}
	var header []byte
	lines := make([]line, 0, len(group))
	n := 0
	for _, s := range group {
		f := s.p.fams[s.i]
		if len(f.Metric) != 1 || (f.GetType() != dto.MetricType_GAUGE && f.GetType() != dto.MetricType_UNTYPED) {
			return nil, false, nil
		}
		b := s.e.all[s.e.off[s.i]:s.e.off[s.i+1]]
		if len(b) < 2 || b[len(b)-1] != '\n' {
			return nil, false, nil
		}
		cut := bytes.LastIndexByte(b[:len(b)-1], '\n') + 1
		if cut == 0 {
			return nil, false, nil
		}
		if header == nil {
			header = b[:cut]
		} else if !bytes.Equal(header, b[:cut]) {
			return nil, false, nil
		}
		lines = append(lines, line{f.Metric[0], b[cut:]})
		n += len(b) - cut
	}
	slices.SortFunc(lines, func(a, b line) int {
		switch {
		case metricLess(a.m, b.m):
			return -1
		case metricLess(b.m, a.m):
			return 1
		}
		return 0
	})
	text = make([]byte, 0, len(header)+n)
	text = append(text, header...)
	for i, l := range lines {
		if i > 0 && !metricLess(lines[i-1].m, l.m) {
			return nil, true, errTie
		}
		text = append(text, l.b...)
	}
	return text, true, nil
}

// sameSources reports whether a and b hold the same families of the same
// parts, in any order (the sort that groups them is not stable, and the
// snapshots are listed in map order).
func sameSources(a, b []source) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		if !slices.ContainsFunc(a, func(y source) bool { return x.p == y.p && x.i == y.i }) {
			return false
		}
	}
	return true
}

// tailLocked returns what format's encoder writes when closed.
func (r *Renderer) tailLocked(format expfmt.Format) *tail {
	if t := r.tails[format]; t != nil {
		return t
	}
	var buf bytes.Buffer
	if c, ok := expfmt.NewEncoder(&buf, format).(expfmt.Closer); ok {
		_ = c.Close()
	}
	t := &tail{text: buf.Bytes()}
	t.block = gzipcat.Compress(t.text)
	r.tails[format] = t
	return t
}

// suffixCollision reports whether srcs (sorted by name) hold families that
// Registry.Gather's checkSuffixCollisions refuses: a histogram or summary x
// beside a family x_count or x_sum, or a histogram x beside x_bucket.
func suffixCollision(srcs []source) bool {
	find := func(name string) (dto.MetricType, bool) {
		i, ok := slices.BinarySearchFunc(srcs, name, func(s source, n string) int { return strings.Compare(s.name(), n) })
		if !ok {
			return 0, false
		}
		return srcs[i].p.fams[srcs[i].i].GetType(), true
	}
	for _, s := range srcs {
		name := s.name()
		switch s.p.fams[s.i].GetType() {
		case dto.MetricType_HISTOGRAM:
			for _, suf := range []string{"_count", "_sum", "_bucket"} {
				if _, ok := find(name + suf); ok {
					return true
				}
			}
		case dto.MetricType_SUMMARY:
			for _, suf := range []string{"_count", "_sum"} {
				if _, ok := find(name + suf); ok {
					return true
				}
			}
		}
	}
	return false
}
