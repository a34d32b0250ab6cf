// Package gzipcat builds one gzip member out of blocks compressed apart.
//
// Each Block is raw deflate that ends with a sync flush (byte aligned, no
// final block) and carries the CRC-32 and length of its uncompressed bytes.
// Join writes a gzip header, the blocks in order, a final empty block and a
// trailer whose CRC-32 covers the whole text, combined from the blocks' CRCs
// (CombineCRC). The result is a single gzip member, so every decoder reads
// all of it: curl's --compressed, unlike Go, Python and Prometheus, stops
// after the first member of a multi-member stream. A block that did not
// change is reused as it is; only changed blocks are compressed again.
//
// Back-references never cross blocks (each is compressed on its own), which
// costs some ratio on small blocks; callers make blocks of whole runs of
// text rather than of single lines.
package gzipcat

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Level is the deflate level blocks are compressed at: klauspost's level 1
// compresses a scrape body about 3.5 times faster than compress/gzip's
// default level for about 17 % more bytes (docs/benchmarks.md).
const Level = 1

// Block is one sync-flushed run of raw deflate and what it decodes to.
type Block struct {
	Deflated []byte // raw deflate, ending in a sync flush
	CRC      uint32 // CRC-32 (IEEE) of the uncompressed bytes
	Len      int64  // length of the uncompressed bytes
}

var writers = sync.Pool{New: func() any {
	w, err := flate.NewWriter(nil, Level)
	if err != nil {
		panic(err) // only for a bad level, a constant here
	}
	return w
}}

// Compress returns p as a Block.
func Compress(p []byte) Block {
	var buf bytes.Buffer
	buf.Grow(len(p)/3 + 64)
	w := writers.Get().(*flate.Writer)
	w.Reset(&buf)
	// Writes to a bytes.Buffer cannot fail.
	_, _ = w.Write(p)
	_ = w.Flush() // a sync flush: ends byte aligned with an empty stored block
	writers.Put(w)
	return Block{Deflated: bytes.Clone(buf.Bytes()), CRC: crc32.ChecksumIEEE(p), Len: int64(len(p))}
}

// header is a gzip member header: no name, no time, XFL 4 (fastest), OS
// unknown.
var header = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff}

// finalBlock is an empty final block with fixed Huffman codes (BFINAL=1,
// BTYPE=01, end-of-block), as zlib writes on a finish with nothing pending.
var finalBlock = []byte{0x03, 0x00}

// Size returns the length of Join's output for blocks.
func Size(blocks []Block) int {
	n := len(header) + len(finalBlock) + 8
	for _, b := range blocks {
		n += len(b.Deflated)
	}
	return n
}

// Join appends to dst one gzip member whose content is the concatenation of
// the blocks' texts, and returns the extended slice.
func Join(dst []byte, blocks []Block) []byte {
	dst = append(dst, header...)
	var crc uint32
	var n int64
	for _, b := range blocks {
		dst = append(dst, b.Deflated...)
		crc = CombineCRC(crc, b.CRC, b.Len)
		n += b.Len
	}
	dst = append(dst, finalBlock...)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return binary.LittleEndian.AppendUint32(dst, uint32(n)) // ISIZE is the length mod 2^32
}

// CombineCRC returns the CRC-32 (IEEE) of A followed by B given crc1 of A,
// crc2 of B and len2, the length of B. It is zlib's crc32_combine, the GF(2)
// method: appending a zero byte to A is a linear map over GF(2), a 32×32 bit
// matrix, and appending len2 zero bytes is its len2-th power. The powers
// 2^k are computed once (zeroOps), so a combine is one matrix-vector
// product per set bit of len2 rather than zlib's squarings on every call.
func CombineCRC(crc1, crc2 uint32, len2 int64) uint32 {
	for k := 0; len2 > 0; k, len2 = k+1, len2>>1 {
		if len2&1 != 0 {
			crc1 = gf2Times(&zeroOps[k], crc1)
		}
	}
	return crc1 ^ crc2
}

// zeroOps[k] is the operator that appends 2^k zero bytes to a CRC-32.
var zeroOps = func() (ops [63][32]uint32) {
	// The operator for one zero bit: shift right, and xor the reflected
	// polynomial in when the bit shifted out was set.
	var bit [32]uint32
	bit[0] = 0xedb88320
	for n := 1; n < 32; n++ {
		bit[n] = 1 << (n - 1)
	}
	var two, four [32]uint32
	gf2Square(&two, &bit)
	gf2Square(&four, &two)
	gf2Square(&ops[0], &four) // eight zero bits: one zero byte
	for k := 1; k < len(ops); k++ {
		gf2Square(&ops[k], &ops[k-1])
	}
	return ops
}()

// gf2Times multiplies the 32×32 GF(2) matrix mat by the vector vec.
func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

// gf2Square sets square to mat×mat.
func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
