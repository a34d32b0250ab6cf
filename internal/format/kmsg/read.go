package kmsg

import (
	"bytes"
	"context"
	"errors"
	"os"
	"syscall"
)

// DefaultMaxRecords is the bound Read uses when given maxRecords < 1.
const DefaultMaxRecords = 10000

// Cursor remembers how far Read got, so that each record is delivered once
// across runs. The zero value starts at the beginning of the ring buffer:
// the ring holds the history since boot (or as much of it as still fits), and
// counting it once when the exporter starts is what makes counters derived
// from it mean "since boot" rather than "since the exporter started".
//
// Sequence numbers restart at 0 on every boot, so a Cursor is only valid for
// the boot it was taken in; keep it in memory, not on disk.
type Cursor struct {
	// Next is the sequence number of the first record not yet delivered.
	Next uint64
}

// Stats says what one Read saw besides the records it delivered.
type Stats struct {
	Records   int // records passed to fn
	Skipped   int // records before the cursor, delivered by an earlier run
	Malformed int // records that did not parse or were longer than MaxRecordSize
	// Lost counts sequence numbers that were never seen: records the ring
	// overwrote before anyone read them (on the first run from a zero Cursor,
	// those overwritten since boot). A malformed record is a gap too.
	Lost uint64
	// Overruns counts EPIPE from read(2): the ring wrapped under an open reader.
	Overruns int
	// Limited is set when Read stopped at maxRecords; more records may wait.
	Limited bool
}

// Wrapped reports whether records were lost because the ring buffer wrapped.
func (s Stats) Wrapped() bool { return s.Lost > 0 || s.Overruns > 0 }

// Read drains the kernel log at path without blocking, calls fn for each
// well-formed record at or after from.Next in sequence order, and returns the
// cursor to pass to the next run. It stops at the end of the buffer (EAGAIN,
// or end of file), after maxRecords deliveries, or when ctx is done; the
// returned cursor is right in every case, errors included, since the
// records already passed to fn have been counted.
//
// On the character device every read(2) returns exactly one record. A
// regular file or FIFO (what tests use) does not keep read boundaries, so
// there the form is one record per line, each followed by its " KEY=VALUE"
// continuation lines; a record is complete when the next line starts with
// anything but a space, or at the end of the data.
func Read(ctx context.Context, path string, from Cursor, maxRecords int, fn func(Record)) (Cursor, Stats, error) {
	if maxRecords < 1 {
		maxRecords = DefaultMaxRecords
	}
	// A raw descriptor, not os.File: os.File would park a non-blocking
	// character device on the poller and turn EAGAIN into a wait for the
	// next kernel message, which is exactly what a drain must not do.
	fd, err := openNonblocking(path)
	if err != nil {
		return from, Stats{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return from, Stats{}, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	d := drain{ctx: ctx, next: from.Next, max: maxRecords, fn: fn}
	if st.Mode&syscall.S_IFMT == syscall.S_IFCHR {
		err = d.device(fd)
	} else {
		err = d.stream(fd)
	}
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = &os.PathError{Op: "read", Path: path, Err: errno}
		}
	}
	return Cursor{Next: d.next}, d.stats, err
}

func openNonblocking(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// errStop ends a drain early without being an error to the caller.
var errStop = errors.New("stop")

type drain struct {
	ctx   context.Context
	next  uint64
	max   int
	fn    func(Record)
	stats Stats
	seen  int // records examined, for the context checks
}

// device reads one record per read(2), as /dev/kmsg returns them.
func (d *drain) device(fd int) error {
	return d.records(func(buf []byte) (int, error) { return syscall.Read(fd, buf) })
}

// records runs the one-record-per-read loop over read; split out so tests can
// feed it the errors a character device gives (EPIPE) without one.
func (d *drain) records(read func([]byte) (int, error)) error {
	buf := make([]byte, MaxRecordSize)
	for {
		n, err := read(buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return nil
		case err == syscall.EPIPE:
			d.stats.Overruns++ // the kernel moved us to the oldest record left; the seq gap counts what was lost
			continue
		case err != nil:
			return err
		case n == 0:
			return nil
		}
		if err := d.handle(buf[:n], false); err != nil {
			return stopIsNil(err)
		}
	}
}

// stream splits a byte stream (a file or FIFO) into records.
func (d *drain) stream(fd int) error {
	buf := make([]byte, 64<<10)
	var s splitter
	emit := func(rec []byte, oversized bool) error { return d.handle(rec, oversized) }
	for {
		// Checked per chunk as well as per record: a long line without
		// newlines yields no records to check on.
		if err := d.ctx.Err(); err != nil {
			return err
		}
		n, err := syscall.Read(fd, buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == nil && n == 0:
			return stopIsNil(s.flush(emit))
		case err != nil:
			return err
		}
		if err := s.feed(buf[:n], emit); err != nil {
			return stopIsNil(err)
		}
	}
}

func stopIsNil(err error) error {
	if err == errStop {
		return nil
	}
	return err
}

// handle accounts for one record and delivers it when it is new.
func (d *drain) handle(b []byte, oversized bool) error {
	d.seen++
	if d.seen%64 == 0 {
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	if oversized {
		d.stats.Malformed++
		return nil
	}
	// Most records of a run were delivered by an earlier one; telling them
	// apart by the header alone keeps a quiet interval cheap.
	if seq, ok := peekSeq(b); ok && seq < d.next {
		d.stats.Skipped++
		return nil
	}
	r, err := ParseRecord(b)
	if err != nil {
		d.stats.Malformed++
		return nil
	}
	d.stats.Lost += r.Seq - d.next
	if d.fn != nil {
		d.fn(r)
	}
	d.stats.Records++
	d.next = r.Seq + 1
	if d.stats.Records >= d.max {
		d.stats.Limited = true
		return errStop
	}
	return nil
}

// peekSeq returns the sequence number in a record's header, the field after
// the first comma.
func peekSeq(b []byte) (uint64, bool) {
	i := bytes.IndexByte(b, ',')
	if i < 0 || i > 8 {
		return 0, false
	}
	var seq uint64
	n := 0
	for _, c := range b[i+1:] {
		if c == ',' {
			return seq, n > 0
		}
		if c < '0' || c > '9' || n == 19 { // 19 digits cannot overflow
			return 0, false
		}
		seq = seq*10 + uint64(c-'0')
		n++
	}
	return 0, false
}

// splitter cuts a stream into records: a line that does not start with a
// space begins a new record. It keeps at most MaxRecordSize bytes of a record
// and drops the rest, marking the record oversized, so a 1 MiB line costs
// 8 KiB of memory and one malformed count.
type splitter struct {
	cur       []byte
	oversized bool
	started   bool // cur holds the beginning of a record
	midLine   bool // the last byte fed was not a newline
}

func (s *splitter) feed(data []byte, emit func([]byte, bool) error) error {
	for len(data) > 0 {
		if !s.midLine {
			if data[0] != ' ' {
				if err := s.flush(emit); err != nil {
					return err
				}
			}
			s.started = true
		}
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
			s.midLine = false
		} else {
			data = nil
			s.midLine = true
		}
		if s.oversized || len(s.cur)+len(line) > MaxRecordSize {
			s.oversized = true
			continue
		}
		s.cur = append(s.cur, line...)
	}
	return nil
}

// flush emits the record in progress; a blank line is nothing, not a record.
func (s *splitter) flush(emit func([]byte, bool) error) error {
	if !s.started {
		return nil
	}
	rec, oversized := s.cur, s.oversized
	s.cur, s.oversized, s.started, s.midLine = s.cur[:0], false, false, false
	if !oversized && len(bytes.TrimSpace(rec)) == 0 {
		return nil
	}
	return emit(rec, oversized)
}
