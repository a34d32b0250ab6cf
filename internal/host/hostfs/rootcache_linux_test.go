package hostfs

import (
	"golang.org/x/sys/unix"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A kept root descriptor follows its path: a root replaced at the same path
// (a remount, a recreated directory) is read anew once rechecked, and the
// old descriptor is closed.
func TestRootReplacedAtItsPath(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "sys")
	write := func(content string) {
		t.Helper()
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "a"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("old\n")
	// Start from an empty cache: earlier tests of the package fill it.
	roots.mu.Lock()
	for _, r := range roots.m {
		if r.users == 0 {
			_ = unix.Close(r.fd)
		}
	}
	roots.m = map[string]*rootFD{}
	roots.mu.Unlock()
	fsys := New(root)
	if b, err := fsys.ReadAttr("a"); err != nil || string(b) != "old\n" {
		t.Fatalf("first read = %q, %v", b, err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	write("new\n")

	defer func(d time.Duration) { rootRecheck = d }(rootRecheck)
	rootRecheck = 0
	if b, err := fsys.ReadAttr("a"); err != nil || string(b) != "new\n" {
		t.Errorf("after the root was replaced: %q, %v; want the new root's file", b, err)
	}
	roots.mu.Lock()
	defer roots.mu.Unlock()
	if r := roots.m[root]; r == nil || r.users != 0 || r.stale {
		t.Errorf("kept root after the reads: %+v, want one, idle and current", r)
	}
}
