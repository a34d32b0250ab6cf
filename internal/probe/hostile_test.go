package probe

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bytes that are not UTF-8 in any file the system and cpu probes read (an
// unprogrammed DMI field is often 0xFF-filled; a vendor's cpuinfo model or a
// driver's governor may hold Latin-1) cost nothing: every label value passes
// one helper (constMetric), so the probe neither panics nor fails, and the
// stray bytes become U+FFFD.
func TestNonUTF8CostsNothing(t *testing.T) {
	paths := copyServerFixture(t)
	poisoned := 0
	for _, root := range []string{paths.ProcFS, paths.SysFS, paths.RootFS} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			// Into every line, so that cpuinfo's model name and each
			// os-release value carry it; numbers become unparsable, which
			// costs their own series.
			lines := strings.Split(string(b), "\n")
			for i, l := range lines {
				if l != "" {
					lines[i] = l + "\xff\xc3\x28"
				}
			}
			poisoned++
			return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if poisoned < 60 {
		t.Fatalf("poisoned only %d files; the fixture copy shrank?", poisoned)
	}
	for _, name := range []string{"system", "cpu"} {
		t.Run(name, func(t *testing.T) {
			p, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := p.Probe(context.Background(), Env{Paths: paths}, NewSkips(nil))
			if err != nil {
				t.Fatalf("probe failed on non-UTF-8 input: %v", err)
			}
			text := string(exposition(t, collected{p: p, metrics: ms}))
			if !strings.Contains(text, "\uFFFD") {
				t.Errorf("no label carries the replacement character:\n%s", text)
			}
		})
	}
}
