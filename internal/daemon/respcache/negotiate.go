package respcache

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// key is everything that changes the bytes promhttp writes for a request.
// Two requests with equal keys get equal responses from the same metric
// state, so one may be answered with the other's bytes. There is no method:
// only GET and HEAD are cached, and promhttp writes the same for both.
type key struct {
	path     string        // URL path
	names    string        // canonical name[] filter; "" when there is none
	format   expfmt.Format // negotiated content type, including escaping=
	encoding string        // negotiated content coding, "identity" when none
}

// keyFor computes r's key the way the wrapped promhttp handler will decide
// each part, so that no two requests that promhttp would answer differently
// share a key. A key that splits finer than promhttp does costs only a render;
// one that splits coarser would serve wrong bytes, hence the check in render.
func (c *Cache) keyFor(r *http.Request) key {
	neg := c.negotiate(r.Header)
	k := key{format: neg.format, encoding: neg.encoding}
	if r.URL != nil {
		k.path = r.URL.Path
		if r.URL.RawQuery != "" {
			k.names = canonicalNames(r.URL.Query()["name[]"])
		}
	}
	return k
}

// negotiation is what content negotiation decided for a request.
type negotiation struct {
	format   expfmt.Format
	encoding string
}

// negotiationInput is everything content negotiation reads: the first Accept
// value (expfmt reads only that), the Accept-Encoding value, and the default
// escaping, a process-wide variable that expfmt appends when Accept names none.
type negotiationInput struct {
	accept, acceptEncoding string
	escaping               model.EscapingScheme
}

// Negotiation results are remembered per header pair, because parsing a
// scraper's Accept header is most of what a hit would otherwise cost, and a
// scraper sends the same headers every time. The memo only grows to
// maxMemo entries of short headers, so odd clients cannot grow it; past that,
// new header pairs are negotiated on every request, which is only slower.
const (
	maxMemo       = 256
	maxMemoHeader = 512
)

func (c *Cache) negotiate(h http.Header) negotiation {
	in := negotiationInput{accept: h.Get("Accept"), escaping: model.NameEscapingScheme}
	ae := h["Accept-Encoding"]
	memo := len(ae) <= 1 && len(in.accept) <= maxMemoHeader
	if len(ae) == 1 {
		in.acceptEncoding = ae[0]
		memo = memo && len(ae[0]) <= maxMemoHeader
	}
	if memo {
		if n, ok := c.memo.Load(in); ok {
			return n.(negotiation)
		}
	}
	n := negotiation{
		format:   expfmt.NegotiateAccept(h, c.formats...),
		encoding: negotiateEncoding(h, c.compressions),
	}
	if n.encoding == "" {
		n.encoding = "identity" // promhttp's fallback when nothing is acceptable
	}
	if memo && c.memoLen.Load() < maxMemo {
		if _, loaded := c.memo.LoadOrStore(in, n); !loaded {
			c.memoLen.Add(1)
		}
	}
	return n
}

// canonicalNames encodes a name[] filter so that equal sets give equal
// strings: promhttp filters by set membership, so order and repeats do not
// change the output. A filter that is present but holds only "" still filters
// everything out, unlike no filter at all, so the two must encode differently;
// length prefixes keep names containing any byte unambiguous.
func canonicalNames(names []string) string {
	if len(names) == 0 {
		return ""
	}
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(strconv.Itoa(len(n)))
		b.WriteByte(':')
		b.WriteString(n)
	}
	return b.String()
}

// namesFromKey inverts canonicalNames, for rebuilding a request in Warm.
func namesFromKey(s string) []string {
	var names []string
	for s != "" {
		i := strings.IndexByte(s, ':')
		n, _ := strconv.Atoi(s[:i])
		names = append(names, s[i+1:i+1+n])
		s = s[i+1+n:]
	}
	return names
}

// queryFor is the query string of a request with the key's name[] filter.
func queryFor(k key) string {
	if k.names == "" {
		return ""
	}
	return url.Values{"name[]": namesFromKey(k.names)}.Encode()
}

// negotiateEncoding picks the content coding among offers for a request with
// header h, with the same result as the negotiation promhttp vendors (gddo's
// httputil.NegotiateContentEncoding), whose package is internal and cannot be
// imported. Its quirks are kept on purpose, since the key must agree with the
// coding promhttp will actually use: codings compare case-sensitively ("GZIP"
// is not "gzip"), the highest q wins and ties go to the earlier offer, and a
// best q of exactly 0 yields "", which promhttp answers as identity. With no
// offers promhttp never compresses.
func negotiateEncoding(h http.Header, offers []string) string {
	if len(offers) == 0 {
		return "identity"
	}
	specs := parseAcceptEncoding(h["Accept-Encoding"])
	best, bestQ := "identity", -1.0
	for _, offer := range offers {
		for _, s := range specs {
			if s.q > bestQ && (s.coding == "*" || s.coding == offer) {
				best, bestQ = offer, s.q
			}
		}
	}
	if bestQ == 0 {
		return ""
	}
	return best
}

type codingSpec struct {
	coding string
	q      float64
}

// parseAcceptEncoding reads Accept-Encoding values as gddo's header.ParseAccept
// does. It is lenient in the same places: a malformed element ends the parse of
// that header line (keeping what came before), a parameter other than q drops
// its element, and q is read as 0 or 1 followed by any number of digits.
func parseAcceptEncoding(values []string) []codingSpec {
	var specs []codingSpec
	for _, s := range values {
		for {
			i := 0
			for i < len(s) && (isTokenByte(s[i]) || s[i] == '/') {
				i++
			}
			if i == 0 {
				break
			}
			spec := codingSpec{coding: s[:i], q: 1}
			s = trimSpace(s[i:])
			if strings.HasPrefix(s, ";") {
				s = trimSpace(s[1:])
				if !strings.HasPrefix(s, "q=") {
					break
				}
				spec.q, s = parseQ(s[2:])
				if spec.q < 0 {
					break
				}
			}
			specs = append(specs, spec)
			s = trimSpace(s)
			if !strings.HasPrefix(s, ",") {
				break
			}
			s = trimSpace(s[1:])
		}
	}
	return specs
}

// parseQ reads a qvalue; -1 means malformed. Digits after the point are not
// limited to three and the arithmetic may overflow on absurd input: that is
// what promhttp does, and agreeing with it matters more than being right.
func parseQ(s string) (float64, string) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return -1, ""
	}
	q := float64(s[0] - '0')
	s = s[1:]
	if !strings.HasPrefix(s, ".") {
		return q, s
	}
	s = s[1:]
	n, d, i := 0, 1, 0
	for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
		d *= 10
	}
	return q + float64(n)/float64(d), s[i:]
}

// isTokenByte reports whether b may appear in an RFC 2616 token: a visible
// US-ASCII character that is not a separator.
func isTokenByte(b byte) bool {
	return b > ' ' && b < 0x7f && !strings.ContainsRune("\"(),/:;<=>?@[]\\{}", rune(b))
}

func trimSpace(s string) string {
	return strings.TrimLeft(s, " \t\r\n")
}

// noCache reports whether the client asked for a fresh render: Cache-Control
// no-cache, or the HTTP/1.0 Pragma: no-cache when Cache-Control is absent.
func noCache(h http.Header) bool {
	cc, ok := h["Cache-Control"]
	if !ok {
		cc = h["Pragma"]
	}
	for _, v := range cc {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-cache") {
				return true
			}
		}
	}
	return false
}

// etagMatches reports whether an If-None-Match field matches etag under the
// weak comparison RFC 9110 §13.1.2 prescribes: "*" matches any current
// representation, and W/"x" matches "x". A malformed member ends the parse.
func etagMatches(values []string, etag string) bool {
	for _, s := range values {
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			if s[0] == '*' {
				return true
			}
			s = strings.TrimPrefix(s, "W/")
			if s == "" || s[0] != '"' {
				break
			}
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				break
			}
			if s[:end+2] == etag {
				return true
			}
			s = s[end+2:]
		}
	}
	return false
}
