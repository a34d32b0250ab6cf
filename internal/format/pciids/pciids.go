// Package pciids reads the pci.ids database (https://pci-ids.ucw.cz/) that
// lspci names devices from: vendors, devices, and classes with their
// subclasses and programming interfaces. Subsystem names are not kept.
package pciids

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxSize bounds what Parse reads. The database is about 1.5 MB and grows
// by a few percent a year; a file many times that is not pci.ids, and must
// not make the reader allocate without bound.
const MaxSize = 16 << 20

// ErrTooLarge is returned when the input goes on past MaxSize.
var ErrTooLarge = errors.New("pci.ids larger than the size cap")

// DB holds the names read. The zero value has no names.
type DB struct {
	vendors    map[uint16]string
	devices    map[uint32]string // vendor<<16 | device
	classes    map[uint8]string
	subclasses map[uint16]string // class<<8 | subclass
	progIfs    map[uint32]string // class<<16 | subclass<<8 | prog-if
}

// Vendor names vendor ID v, "" when the database lacks it.
func (db *DB) Vendor(v uint16) string { return db.vendors[v] }

// Device names device d of vendor v, "" when the database lacks it.
func (db *DB) Device(v, d uint16) string { return db.devices[uint32(v)<<16|uint32(d)] }

// Class names a 24-bit class code as lspci does: the subclass name (or the
// class name when pci.ids has no subclass entry), then the programming
// interface's in parentheses when it has one ("SATA controller (AHCI 1.0)").
func (db *DB) Class(code uint32) string {
	name := db.subclasses[uint16(code>>8)]
	if name == "" {
		name = db.classes[uint8(code>>16)]
	}
	if name == "" {
		return ""
	}
	if pi := db.progIfs[code]; pi != "" {
		name += " (" + pi + ")"
	}
	return name
}

// ctxCheckLines is how many lines Parse reads between looks at its context:
// often enough to stop within a millisecond, rarely enough to cost nothing.
const ctxCheckLines = 256

// Parse reads a pci.ids file:
//
//	vendor  vendor_name
//		device  device_name
//			subvendor subdevice  subsystem_name
//	C class  class_name
//		subclass  subclass_name
//			prog-if  prog-if_name
//
// with # comments and blank lines between. A malformed line is passed
// over, and so are the lines nested below it, since they would otherwise
// be filed under the wrong parent; the returned error counts them and
// quotes the first. Reading stops with an error at MaxSize bytes, at a line
// longer than bufio's token limit, and when ctx is done. The database holds
// what could be read in every case.
func Parse(ctx context.Context, r io.Reader) (*DB, error) {
	db := &DB{
		vendors:    map[uint16]string{},
		devices:    map[uint32]string{},
		classes:    map[uint8]string{},
		subclasses: map[uint16]string{},
		progIfs:    map[uint32]string{},
	}
	const (
		none = iota
		inVendor
		inClass
	)
	var (
		section          = none
		vendor           uint16
		class, subclass  uint8
		haveSubclass     bool
		bad, firstBadNum int
		firstBad         string
	)
	malformed := func(n int, line string) {
		if bad == 0 {
			firstBadNum, firstBad = n, line
		}
		bad++
	}
	// One byte past the cap tells a file of exactly MaxSize from a longer one.
	lr := &io.LimitedReader{R: r, N: MaxSize + 1}
	sc := bufio.NewScanner(lr)
	for n := 1; sc.Scan(); n++ {
		if n%ctxCheckLines == 0 {
			if err := ctx.Err(); err != nil {
				return db, err
			}
		}
		line := sc.Text()
		body := strings.TrimLeft(line, "\t")
		depth := len(line) - len(body)
		if strings.TrimSpace(body) == "" || strings.HasPrefix(body, "#") {
			continue
		}
		switch {
		case depth == 0 && strings.HasPrefix(body, "C "):
			id, name, ok := idLine(strings.TrimPrefix(body, "C "), 2)
			if !ok {
				malformed(n, line)
				section = none
				continue
			}
			section, class, haveSubclass = inClass, uint8(id), false
			db.classes[class] = name
		case depth == 0:
			id, name, ok := idLine(body, 4)
			if !ok {
				malformed(n, line)
				section = none
				continue
			}
			section, vendor = inVendor, uint16(id)
			db.vendors[vendor] = name
		case section == inVendor && depth == 1:
			id, name, ok := idLine(body, 4)
			if !ok {
				malformed(n, line)
				continue
			}
			db.devices[uint32(vendor)<<16|uint32(id)] = name
		case section == inVendor && depth == 2:
			// Subsystem names are not kept.
		case section == inClass && depth == 1:
			id, name, ok := idLine(body, 2)
			if !ok {
				malformed(n, line)
				haveSubclass = false
				continue
			}
			subclass, haveSubclass = uint8(id), true
			db.subclasses[uint16(class)<<8|uint16(subclass)] = name
		case section == inClass && depth == 2 && haveSubclass:
			id, name, ok := idLine(body, 2)
			if !ok {
				malformed(n, line)
				continue
			}
			db.progIfs[uint32(class)<<16|uint32(subclass)<<8|uint32(id)] = name
		case section == none || section == inClass && depth == 2:
			// Below a malformed line: already counted.
		default:
			malformed(n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return db, err
	}
	if lr.N == 0 {
		return db, fmt.Errorf("%w (%d bytes)", ErrTooLarge, MaxSize)
	}
	if bad > 0 {
		return db, fmt.Errorf("%d malformed lines, the first line %d: %q", bad, firstBadNum, firstBad)
	}
	return db, nil
}

// idLine splits "id  name" with id of digits hex digits.
func idLine(s string, digits int) (uint64, string, bool) {
	id, name, ok := strings.Cut(s, " ")
	name = strings.TrimSpace(name)
	if !ok || len(id) != digits || name == "" {
		return 0, "", false
	}
	v, err := strconv.ParseUint(id, 16, digits*4)
	if err != nil {
		return 0, "", false
	}
	return v, name, true
}
