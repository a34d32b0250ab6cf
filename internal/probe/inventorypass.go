package probe

import (
	"sync/atomic"
	"time"
)

// Tool probes split what changes only with the hardware (FRU data, a
// controller's configuration, a GPU's identity) from the readings they
// take every run: the first is read on an inventory interval and its
// parsed result is kept on the probe and re-emitted by the runs between,
// so that a run costs one tool process, not five. A probe restored from
// its state file starts with nothing kept, so its first run reads the
// inventory.

// inventoryHints counts hints that parts of this host may have been
// swapped (a SEL entry of a hot-swap sensor type); a tool probe whose
// count differs from the one at its last inventory pass reads the
// inventory again. Process-wide, as the probes that see a hint are not
// those that act on it; tests give their probe a counter of their own.
var inventoryHints atomic.Uint64

// hintInventory says that parts may have changed.
func hintInventory() { inventoryHints.Add(1) }

// inventoryPass says when a tool probe reads its inventory again.
type inventoryPass struct {
	at   time.Time // the last pass that read; zero: none yet, or it failed
	hint uint64    // inventoryHints then
}

// due reports whether the inventory is to be read now: never read, read
// every or longer ago (or in the future: the clock was set back), or a
// hint came since.
func (c *inventoryPass) due(now time.Time, every time.Duration, hint uint64) bool {
	return c.at.IsZero() || now.Sub(c.at) >= every || now.Before(c.at) || hint != c.hint
}

// done records a pass that read the inventory.
func (c *inventoryPass) done(now time.Time, hint uint64) { c.at, c.hint = now, hint }

// reset forgets the last pass, so that the next run reads again.
func (c *inventoryPass) reset() { *c = inventoryPass{} }
