//go:build !linux

package ethtool

import (
	"context"
	"errors"
)

// Reader is unavailable off Linux.
type Reader struct{}

// Open fails: module memory is read through Linux interfaces only.
func Open() (*Reader, error) { return nil, errors.New("module memory is read on Linux only") }

// Method names no method.
func (*Reader) Method() string { return "" }

// Close does nothing.
func (*Reader) Close() error { return nil }

// Module fails.
func (*Reader) Module(context.Context, string) ([]byte, error) {
	return nil, errors.New("module memory is read on Linux only")
}
