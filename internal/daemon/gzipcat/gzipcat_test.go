package gzipcat

import (
	"bytes"
	"compress/gzip"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"
)

// TestCombineCRC checks CombineCRC against the CRC of the concatenation, on
// random texts of random lengths, empty ones and long ones included.
func TestCombineCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lengths := []int{0, 1, 2, 3, 7, 8, 9, 255, 256, 4096, 65537, 1 << 20}
	for i := range 300 {
		la, lb := rng.IntN(3000), rng.IntN(3000)
		if i < len(lengths)*len(lengths) {
			la, lb = lengths[i/len(lengths)], lengths[i%len(lengths)]
		}
		a, b := make([]byte, la), make([]byte, lb)
		for j := range a {
			a[j] = byte(rng.Uint32())
		}
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte(nil), a...), b...))
		if got := CombineCRC(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(lb)); got != want {
			t.Fatalf("lengths %d+%d: CombineCRC = %08x, crc32 of the concatenation = %08x", la, lb, got, want)
		}
	}
}

// TestJoin checks that joined blocks are one gzip member that decodes to
// the concatenated texts, whatever the blocks' sizes (none at all, empty
// ones, ones larger than deflate's window).
func TestJoin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sizes := range [][]int{nil, {0}, {0, 0}, {1}, {10, 0, 10}, {100000, 3, 70000}, {5, 5, 5, 5, 5, 5}} {
		var text []byte
		var blocks []Block
		for _, n := range sizes {
			p := make([]byte, n)
			for j := range p {
				p[j] = "ab\n# HELP hardware_x 1.5"[rng.IntN(24)]
			}
			text = append(text, p...)
			blocks = append(blocks, Compress(p))
		}
		gz := Join(nil, blocks)
		if len(gz) != Size(blocks) {
			t.Errorf("%v: Size = %d, Join wrote %d", sizes, Size(blocks), len(gz))
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false) // one member must hold everything
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%v: %v", sizes, err)
		}
		if !bytes.Equal(got, text) {
			t.Fatalf("%v: decoded %d bytes, want %d", sizes, len(got), len(text))
		}
		// Nothing after the one member.
		if n, _ := zr.Read(make([]byte, 1)); n != 0 {
			t.Fatalf("%v: bytes after the member", sizes)
		}
	}
}
