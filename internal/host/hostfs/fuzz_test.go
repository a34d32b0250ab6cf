package hostfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzName reads fuzzed names below a tree with links of every kind: no
// name may return bytes from outside the root, and openat2 and os.Root must
// agree on what each name reads.
func FuzzName(f *testing.F) {
	base := f.TempDir()
	outside := filepath.Join(base, "outside")
	root := filepath.Join(base, "root")
	for name, content := range map[string]string{
		outside + "/secret":                      "SECRET",
		root + "/devices/platform/x/temp1_input": "42000\n",
		root + "/devices/platform/x/name":        "\xffcoretemp\n",
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for name, target := range map[string]string{
		"class/hwmon/hwmon0": "../../devices/platform/x",
		"class/hwmon/abs":    outside,
		"class/hwmon/up":     "../../../outside",
		"class/hwmon/self":   "../hwmon",
		"loop":               "loop",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			f.Fatal(err)
		}
	}
	for _, seed := range []string{
		"class/hwmon/hwmon0/temp1_input", "class/hwmon/self/hwmon0/name", "class/hwmon/abs/secret",
		"class/hwmon/up/secret", "../outside/secret", "/etc/passwd", "loop", "", ".", "class//hwmon/./hwmon0/name",
		"class/hwmon/hwmon0/../../../outside/secret", "a\x00b",
	} {
		f.Add(seed)
	}
	beneath, walked := New(root), New(root)
	walked.noOpenat2 = true
	f.Fuzz(func(t *testing.T, name string) {
		a, errA := beneath.ReadFile(name, 1<<10)
		b, errB := walked.ReadFile(name, 1<<10)
		if bytes.Contains(a, []byte("SECRET")) || bytes.Contains(b, []byte("SECRET")) {
			t.Fatalf("ReadFile(%q) read outside the root", name)
		}
		if (errA == nil) != (errB == nil) || !bytes.Equal(a, b) {
			t.Fatalf("ReadFile(%q): openat2 gave %q, %v; os.Root gave %q, %v", name, a, errA, b, errB)
		}
		if _, err := beneath.Stat(name); errA == nil && err != nil {
			t.Fatalf("ReadFile(%q) worked but Stat says %v", name, err)
		}
		beneath.ReadDir(name)
		beneath.Readlink(name)
	})
}
