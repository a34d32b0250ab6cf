// Package statefile keeps each probe's last stored result on disk, so that
// a restarted exporter serves its last good data at once instead of an
// empty or partial /metrics until every probe has run again.
//
// # Layout: a directory, one file per probe
//
// The state path is a directory (default /var/lib/hardware_exporter/state)
// holding NAME.state for each probe. Probes finish at different times and
// run concurrently; with one file per probe a run rewrites only its own
// snapshot (a sensors run does not re-serialize a chassis' worth of SMART
// data), writers of different probes need no common lock, and a damaged
// file costs one probe's restore, not all of them. A write is one per probe
// run, never on the scrape path.
//
// Writes are atomic: the snapshot goes to .NAME.tmp in the same directory,
// is fsynced, renamed over NAME.state, and the directory is fsynced. A
// crash at any point leaves the old file or the new one at NAME.state,
// never a mix. The temp name is fixed per probe, so a crash's leftover is
// truncated by that probe's next write; Open removes the leftovers of all
// probes.
//
// # Encoding: a small binary format of our own
//
//	offset 0   8 bytes  magic "HWXSTATE"
//	offset 8   uint32   format version (little endian), now 2
//	offset 12  uint32   body length
//	offset 16  uint32   CRC-32C (Castagnoli) of the body
//	offset 20  body     host identity, probe name, options fingerprint,
//	                    status, families
//
// Version 1 lacked the options fingerprint; such files are still read,
// with a fingerprint of 0 that no configuration has.
//
// Inside the body, integers are varints, strings are a length and bytes,
// and sample values are the 8 bytes of math.Float64bits, so NaN payloads
// and ±Inf come back bit for bit. A family stores its name, help, type and
// label names once and each sample only its label values and value.
//
// Why not client_model's dto.MetricFamily protobuf: it repeats every label
// name in every sample (1.9x the bytes on a probe with 1500 samples
// and four labels here) and pays protobuf's reflection on decode, for no
// gain in exactness; a plain Go struct is also what the metric cache wants
// to rebuild const metrics from. JSON cannot carry NaN or ±Inf. CRC-32C
// catches torn and flipped bytes and is hardware accelerated; the file is
// not a security boundary (it lives in a directory only the exporter's user
// can write), so a cryptographic hash would buy nothing.
//
// # What is refused
//
// Load returns a snapshot only when the magic, version, checksum, probe
// name and host identity all match. Otherwise it returns an error wrapping
// ErrCorrupt, ErrVersion or ErrForeignHost, which the caller logs once and
// then overwrites with its next write. A missing file is an error wrapping
// fs.ErrNotExist. Files larger than MaxSize are refused unread.
package statefile
