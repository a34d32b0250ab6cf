// Package gunzip decodes a gzip body with every decoder a test can run
// here: Go's compress/gzip, Python's zlib and curl --compressed, which
// stops after the first member of a multi-member stream (so a body must be
// one member to decode whole). Tests compare each result with the
// identity body.
package gunzip

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// pythonDecode inflates stdin as one gzip member and fails unless the
// member ends exactly at the end of the input.
const pythonDecode = `import sys, zlib
d = zlib.decompressobj(31)
out = d.decompress(sys.stdin.buffer.read())
if not d.eof or d.unused_data:
    sys.exit("not exactly one whole gzip member: eof=%s, %d bytes after it" % (d.eof, len(d.unused_data)))
sys.stdout.buffer.write(out)`

var warnOnce sync.Map

// skipped logs once per test binary that a decoder is not available.
func skipped(t testing.TB, name, why string) {
	if _, done := warnOnce.LoadOrStore(name, true); !done {
		t.Logf("gzip decoder %s skipped: %s", name, why)
	}
}

// Decode returns gz decoded by each decoder available, by name ("go",
// "python3-zlib", "curl"). A decoder that fails fails the test.
func Decode(t testing.TB, gz []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}

	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("go gzip: %v", err)
	}
	zr.Multistream(false) // one member must hold the whole text
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("go gzip: %v", err)
	}
	if rest, _ := io.ReadAll(zr); len(rest) > 0 {
		t.Fatalf("go gzip: %d bytes after the first member", len(rest))
	}
	out["go"] = b

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if py, err := exec.LookPath("python3"); err != nil {
		skipped(t, "python3-zlib", "python3 not found")
	} else {
		cmd := exec.CommandContext(ctx, py, "-c", pythonDecode)
		cmd.Stdin = bytes.NewReader(gz)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3 zlib: %v: %s", err, stderr.String())
		}
		out["python3-zlib"] = b
	}

	if curl, err := exec.LookPath("curl"); err != nil {
		skipped(t, "curl", "curl not found")
	} else {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz)
		}))
		defer srv.Close()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, curl, "-sS", "--fail", "--max-time", "20", "--compressed", srv.URL)
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl --compressed: %v: %s", err, stderr.String())
		}
		out["curl"] = b
	}
	return out
}
