package statefile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// Snapshot is what is stored for one probe: its last run's status and its
// last good metrics.
type Snapshot struct {
	Probe string
	// Options fingerprints the settings the stored run read with (the
	// probe's options, its tool paths, the read roots): data read with
	// other settings is not restored. 0 in a version 1 file, which never
	// matches.
	Options     uint64
	Run         time.Time     // start of the stored run
	Success     bool          // whether that run succeeded
	Duration    time.Duration // how long it took
	ReadErrors  int           // inputs it skipped
	LastSuccess time.Time     // start of the last successful run; zero if none

	Inventory       uint64    // fingerprint of the inventory series; 0 if none
	InventoryChange time.Time // when Inventory last changed; zero if none

	Families []Family // the last good metrics
}

// Family is the samples of one metric name.
type Family struct {
	Name       string // fully qualified
	Help       string
	Type       Type
	LabelNames []string
	Samples    []Sample
}

// Sample is one series of a Family.
type Sample struct {
	LabelValues []string // in the order of Family.LabelNames
	Value       float64
}

// Type is a metric type. Only the types a const metric with a single value
// has are stored.
type Type uint8

const (
	Untyped Type = iota
	Gauge
	Counter
)

func (t Type) String() string {
	switch t {
	case Untyped:
		return "untyped"
	case Gauge:
		return "gauge"
	case Counter:
		return "counter"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Errors that Load wraps. Each means the file is ignored and replaced by
// the next write.
var (
	ErrCorrupt     = errors.New("corrupt state file")
	ErrVersion     = errors.New("state file of another format version")
	ErrForeignHost = errors.New("state file of another host")
)

// MaxSize bounds a state file. A probe's metrics are a few hundred KiB at
// most; anything larger is not ours to read into memory.
const MaxSize = 64 << 20

const (
	magic = "HWXSTATE"
	// version 2 added Snapshot.Options; version 1 files are still read
	// (with Options 0, so a restore skips them and says why).
	version    = 2
	headerSize = len(magic) + 4 + 4 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// noTime stands for the zero time.Time, whose UnixNano is undefined.
const noTime = math.MinInt64

// encode returns the file content for s on host.
func encode(host string, s Snapshot) ([]byte, error) {
	b := make([]byte, headerSize, headerSize+encodedSizeHint(s))
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[8:], version)

	b = appendString(b, host)
	b = appendString(b, s.Probe)
	b = binary.LittleEndian.AppendUint64(b, s.Options)
	b = appendTime(b, s.Run)
	b = append(b, boolByte(s.Success))
	b = binary.AppendVarint(b, int64(s.Duration))
	b = binary.AppendVarint(b, int64(s.ReadErrors))
	b = appendTime(b, s.LastSuccess)
	b = binary.LittleEndian.AppendUint64(b, s.Inventory)
	b = appendTime(b, s.InventoryChange)
	b = binary.AppendUvarint(b, uint64(len(s.Families)))
	for _, f := range s.Families {
		if f.Type > Counter {
			return nil, fmt.Errorf("family %s: unsupported type %v", f.Name, f.Type)
		}
		b = appendString(b, f.Name)
		b = appendString(b, f.Help)
		b = append(b, byte(f.Type))
		b = binary.AppendUvarint(b, uint64(len(f.LabelNames)))
		for _, n := range f.LabelNames {
			b = appendString(b, n)
		}
		b = binary.AppendUvarint(b, uint64(len(f.Samples)))
		for _, smp := range f.Samples {
			if len(smp.LabelValues) != len(f.LabelNames) {
				return nil, fmt.Errorf("family %s: a sample has %d label values for %d label names",
					f.Name, len(smp.LabelValues), len(f.LabelNames))
			}
			for _, v := range smp.LabelValues {
				b = appendString(b, v)
			}
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(smp.Value))
		}
	}

	body := len(b) - headerSize
	if len(b) > MaxSize {
		return nil, fmt.Errorf("snapshot of %d bytes exceeds the %d byte limit", len(b), MaxSize)
	}
	binary.LittleEndian.PutUint32(b[12:], uint32(body))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[headerSize:], castagnoli))
	return b, nil
}

// encodedSizeHint guesses the body size so that encode allocates once in
// the common case.
func encodedSizeHint(s Snapshot) int {
	n := 128 + len(s.Probe)
	for _, f := range s.Families {
		n += 8 + len(f.Name) + len(f.Help)
		for _, l := range f.LabelNames {
			n += 2 + len(l)
		}
		for _, smp := range f.Samples {
			n += 8
			for _, v := range smp.LabelValues {
				n += 2 + len(v)
			}
		}
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, noTime)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decode parses a file's content. It checks, in this order, the magic, the
// version, the length and checksum, then the body, and only then the host
// and probe name, so a damaged file is reported as corrupt rather than as
// another host's.
func decode(b []byte, host, probe string) (Snapshot, error) {
	if len(b) < headerSize || string(b[:len(magic)]) != magic {
		return Snapshot{}, fmt.Errorf("%w: no header", ErrCorrupt)
	}
	v := binary.LittleEndian.Uint32(b[8:])
	if v != version && v != 1 {
		return Snapshot{}, fmt.Errorf("%w: version %d, want %d", ErrVersion, v, version)
	}
	body := b[headerSize:]
	if n := binary.LittleEndian.Uint32(b[12:]); uint64(n) != uint64(len(body)) {
		return Snapshot{}, fmt.Errorf("%w: body is %d bytes, header says %d", ErrCorrupt, len(body), n)
	}
	if sum := binary.LittleEndian.Uint32(b[16:]); sum != crc32.Checksum(body, castagnoli) {
		return Snapshot{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}

	r := reader{b: body}
	storedHost := r.string()
	var s Snapshot
	s.Probe = r.string()
	if v >= 2 {
		s.Options = r.uint64()
	}
	s.Run = r.time()
	s.Success = r.bool()
	s.Duration = time.Duration(r.varint())
	s.ReadErrors = int(r.varint())
	s.LastSuccess = r.time()
	s.Inventory = r.uint64()
	s.InventoryChange = r.time()
	// Every family and sample takes a known least number of bytes, so
	// bounding counts by the bytes left bounds what a hostile count makes
	// us allocate.
	if n := r.count(minFamilySize); n > 0 {
		s.Families = make([]Family, n)
	}
	for i := range s.Families {
		f := &s.Families[i]
		f.Name = r.string()
		f.Help = r.string()
		f.Type = Type(r.byte())
		if f.Type > Counter && r.err == nil {
			r.err = fmt.Errorf("family %s: unknown type %d", f.Name, f.Type)
		}
		if n := r.count(1); n > 0 {
			f.LabelNames = make([]string, n)
		}
		for j := range f.LabelNames {
			f.LabelNames[j] = r.string()
		}
		nl := len(f.LabelNames)
		var values []string // of all samples: one allocation, not one a sample
		if n := r.count(8 + nl); n > 0 {
			f.Samples = make([]Sample, n)
			values = make([]string, n*nl)
		}
		for j := range f.Samples {
			smp := &f.Samples[j]
			if nl > 0 {
				smp.LabelValues = values[j*nl : (j+1)*nl : (j+1)*nl]
			}
			for k := range smp.LabelValues {
				smp.LabelValues[k] = r.string()
			}
			smp.Value = math.Float64frombits(r.uint64())
		}
		if r.err != nil {
			break
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the last family", len(r.b))
	}
	if r.err != nil {
		// The checksum matched, so this is a file we wrote wrongly or one
		// crafted to match; either way it is not restored.
		return Snapshot{}, fmt.Errorf("%w: %v", ErrCorrupt, r.err)
	}
	if storedHost != host {
		return Snapshot{}, fmt.Errorf("%w: written on host %s, this is %s", ErrForeignHost, short(storedHost), short(host))
	}
	if s.Probe != probe {
		return Snapshot{}, fmt.Errorf("%w: holds probe %q, want %q", ErrCorrupt, s.Probe, probe)
	}
	return s, nil
}

// short abbreviates a host identity for messages: enough to tell two apart.
func short(id string) string {
	if id == "" {
		return "(unknown)"
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// reader decodes a body. After the first error every read returns a zero
// value, so decode checks err once per family rather than per field.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("truncated %s", what)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// minFamilySize is the fewest bytes a family takes: name, help, type,
// label and sample counts.
const minFamilySize = 5

// count reads a number of items that each take at least size bytes.
func (r *reader) count(size int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/size) {
		r.fail("list")
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.count(1)
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail("byte")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	if r.err == nil {
		r.err = errors.New("flag is neither 0 nor 1")
	}
	return false
}

func (r *reader) uint64() uint64 {
	if len(r.b) < 8 {
		r.fail("value")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) time() time.Time {
	n := r.varint()
	if n == noTime || r.err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}
