//go:build !linux

package hostfs

// withBeneath has no openat2 to use outside Linux; os.Root does the work.
func withBeneath[T any](string, func(resolver) (T, error)) (T, error) {
	var zero T
	return zero, errNoOpenat2
}
