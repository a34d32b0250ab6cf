//go:build !(nvml && linux)

package nvml

// Built reports whether this binary can load NVML at all.
const Built = false

// Reader is never made in a binary built without the nvml tag.
type Reader struct{}

// Open returns ErrNotBuilt: see the package comment for why NVML needs the
// nvml build tag.
func Open(string) (*Reader, error) { return nil, ErrNotBuilt }

// Close does nothing.
func (*Reader) Close() error { return nil }

// Read returns ErrNotBuilt.
func (*Reader) Read() (*Snapshot, error) { return nil, ErrNotBuilt }
