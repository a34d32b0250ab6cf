// Package procfile parses the text files the Linux kernel writes under
// /proc (mdstat, cpuinfo, meminfo, swaps, stat) and the one-line state files
// of /sys/devices/system/cpu/vulnerabilities, which it formats the same way.
//
// It takes bytes and returns plain structs: reading the file (bounded, below
// a configured root) is the caller's job, through internal/host/hostfs, and each
// file's size bound is declared here beside its parser. The bytes are
// untrusted: a malformed entry costs that entry and is counted in the
// returned error, the entries that parsed are returned with it, and the
// parsers of files that grow with the host (cpuinfo, stat, mdstat) stop
// when their context ends.
package procfile

import "context"

// ctxCheckEvery is how many lines a parser reads between looks at its
// context: often enough to stop within microseconds, rarely enough to cost
// nothing.
const ctxCheckEvery = 256

// lineCounter checks ctx every ctxCheckEvery calls.
type lineCounter struct {
	ctx context.Context
	n   int
}

func (c *lineCounter) done() error {
	if c.n++; c.n%ctxCheckEvery == 0 {
		return c.ctx.Err()
	}
	return nil
}
