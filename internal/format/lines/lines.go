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
	"strings"
)

// Line is one line of output.
type Line struct {
	// N is the line's number, counted from 1.
	N int
	// Text is the line without its "\n" and a trailing "\r".
	Text string
}

// All yields the lines of out in order. A line longer than max bytes is
// skipped unread; when errs is not nil, an error naming it is appended
// there ("line N: longer than MAX bytes"), so a parser that reports bad
// lines and one that drops them share the loop. A final line without "\n"
// is yielded too; output ending in "\n" has no empty line after it.
func All(out []byte, max int, errs *[]error) iter.Seq[Line] {
	return func(yield func(Line) bool) {
		for n := 1; len(out) > 0; n++ {
			raw, rest, _ := bytes.Cut(out, []byte{'\n'})
			out = rest
			if len(raw) > max {
				if errs != nil {
					*errs = append(*errs, fmt.Errorf("line %d: longer than %d bytes", n, max))
				}
				continue
			}
			if !yield(Line{N: n, Text: string(bytes.TrimSuffix(raw, []byte{'\r'}))}) {
				return
			}
		}
	}
}

// NonBlank is All without the lines that are empty or white space only.
func NonBlank(out []byte, max int, errs *[]error) iter.Seq[Line] {
	return func(yield func(Line) bool) {
		for l := range All(out, max, errs) {
			if strings.TrimSpace(l.Text) == "" {
				continue
			}
			if !yield(l) {
				return
			}
		}
	}
}
