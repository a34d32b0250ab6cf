// Package lines splits a tool's output into lines under a length bound.
// It is the one loop the parsers of line-oriented tool output share
// (ipmitool's sdr, fru and key-value listings, nvidia-smi's CSV and nvlink
// counters), so that an overlong or hostile line costs that line only and
// every parser numbers lines the same way.
package lines

import (
	"bytes"
	"fmt"
	"iter"
)

// Line is one line of output.
type Line struct {
	// N is the line's number, counted from 1.
	N int
	// Text is the line without its "\n" and a trailing "\r"; empty when
	// the line is Overlong.
	Text string
	// Overlong says the line was longer than the bound All was given; its
	// bytes are skipped unread.
	Overlong bool
	max      int
}

// Err describes an overlong line for a parser's list of errors.
func (l Line) Err() error {
	return fmt.Errorf("line %d: longer than %d bytes", l.N, l.max)
}

// All yields the lines of out in order, each line longer than max bytes
// as an Overlong Line with no text. A final line without "\n" is yielded
// too; output ending in "\n" has no empty line after it.
func All(out []byte, max int) iter.Seq[Line] {
	return func(yield func(Line) bool) {
		for n := 1; len(out) > 0; n++ {
			raw, rest, _ := bytes.Cut(out, []byte{'\n'})
			out = rest
			l := Line{N: n, max: max}
			if len(raw) > max {
				l.Overlong = true
			} else {
				l.Text = string(bytes.TrimSuffix(raw, []byte{'\r'}))
			}
			if !yield(l) {
				return
			}
		}
	}
}
