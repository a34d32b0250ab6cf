// Package kmsg reads the kernel's log ring buffer (/dev/kmsg) and recognises
// the lines that report hardware errors: machine checks, APEI/GHES
// firmware-first records, EDAC memory errors, PCIe AER, NVIDIA Xid, NVMe
// controller timeouts and resets, and block-layer I/O errors.
//
// Reading and classifying are separate so that a probe can count each record
// once (Read, with a Cursor) and map the Events Classify returns to metrics.
// Nothing here knows about Prometheus.
package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// MaxRecordSize bounds one record, header, message and dictionary together.
// The kernel's own limit for a /dev/kmsg read is 8 KiB (a message is at most
// about 1 KiB); anything longer did not come from the kernel and is dropped
// whole, so a hostile writer costs its own record and no more memory.
const MaxRecordSize = 8192

// maxDictEntries bounds the KEY=VALUE continuation lines kept per record; the
// kernel writes two or three (SUBSYSTEM, DEVICE).
const maxDictEntries = 16

// Record is one entry of the kernel log as /dev/kmsg presents it.
type Record struct {
	Facility int // syslog facility; 0 (LOG_KERN) only for the kernel's own messages
	Level    int // syslog level, 0 (emerg) to 7 (debug)
	Seq      uint64
	// Timestamp is the monotonic time since boot at which the kernel logged
	// the record (microsecond resolution).
	Timestamp time.Duration
	// Message is the text after ';' as the kernel wrote it: non-printable
	// bytes and '\' stay escaped as \xNN, so it is always one line.
	Message string
	// Dict holds the continuation lines (" SUBSYSTEM=pci", " DEVICE=+pci:0000:00:1c.0"),
	// nil when the record has none.
	Dict map[string]string
}

// Device is the record's DEVICE= dictionary value ("+pci:0000:00:1c.0",
// "b8:0", "n2", "c189:1"), or "" when the kernel attached none.
func (r Record) Device() string { return r.Dict["DEVICE"] }

// ErrMalformed is wrapped by every ParseRecord error.
var ErrMalformed = errors.New("malformed kmsg record")

// ParseRecord parses one record: "prio,seq,timestamp_us,flags[,more];message\n"
// followed by optional " KEY=VALUE\n" continuation lines. Unknown header
// fields after the flags are ignored, as the kernel's ABI document asks.
func ParseRecord(b []byte) (Record, error) {
	if len(b) > MaxRecordSize {
		return Record{}, fmt.Errorf("%w: %d bytes, over %d", ErrMalformed, len(b), MaxRecordSize)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	header, message, ok := bytes.Cut(first, []byte(";"))
	if !ok {
		return Record{}, fmt.Errorf("%w: no ';' after the header", ErrMalformed)
	}
	fields := bytes.Split(header, []byte(","))
	if len(fields) < 4 {
		return Record{}, fmt.Errorf("%w: header %.40q has %d fields, want prio,seq,timestamp,flags", ErrMalformed, header, len(fields))
	}
	prio, err := strconv.ParseUint(string(fields[0]), 10, 16)
	if err != nil || prio > 2047 { // 3 bits of level, 8 of facility
		return Record{}, fmt.Errorf("%w: priority %.20q", ErrMalformed, fields[0])
	}
	seq, err := strconv.ParseUint(string(fields[1]), 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("%w: sequence number %.24q", ErrMalformed, fields[1])
	}
	usec, err := strconv.ParseUint(string(fields[2]), 10, 64)
	if err != nil || usec > math.MaxInt64/uint64(time.Microsecond) {
		return Record{}, fmt.Errorf("%w: timestamp %.24q", ErrMalformed, fields[2])
	}
	r := Record{
		Facility:  int(prio >> 3),
		Level:     int(prio & 7),
		Seq:       seq,
		Timestamp: time.Duration(usec) * time.Microsecond,
		Message:   string(message),
	}
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		if len(line) == 0 || line[0] != ' ' {
			return Record{}, fmt.Errorf("%w: line %.40q after the message is not a continuation line", ErrMalformed, line)
		}
		key, value, ok := bytes.Cut(line[1:], []byte("="))
		if !ok || !isDictKey(key) || len(r.Dict) >= maxDictEntries {
			continue // the message itself is still good; a bad pair costs only itself
		}
		if r.Dict == nil {
			r.Dict = make(map[string]string, 2)
		}
		r.Dict[string(key)] = string(value)
	}
	return r, nil
}

func isDictKey(k []byte) bool {
	if len(k) == 0 || len(k) > 32 {
		return false
	}
	for _, c := range k {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
