package sysfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// One attribute's rules: missing and empty are unset without an error,
// content is trimmed, a number that is not one and a file that is not
// regular are errors.
func TestAttribute(t *testing.T) {
	root := t.TempDir()
	plant(t, root, map[string]string{"empty": "\n", "num": " 42\n", "word": "none\n"})
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	fsys := hostfs.New(root)
	for _, tt := range []struct {
		name   string
		s      string
		ok     bool
		v      uint64
		vok    bool
		strErr bool
		numErr bool
	}{
		{name: "missing"},
		{name: "empty"},
		{name: "num", s: "42", ok: true, v: 42, vok: true},
		{name: "word", s: "none", ok: true, numErr: true},
		{name: "dir", strErr: true, numErr: true},
	} {
		s, ok, err := String(fsys, tt.name)
		if s != tt.s || ok != tt.ok || (err != nil) != tt.strErr {
			t.Errorf("String(%s) = %q, %v, %v", tt.name, s, ok, err)
		}
		if err != nil && errors.Is(err, fs.ErrNotExist) {
			t.Errorf("String(%s): a missing file must not be an error: %v", tt.name, err)
		}
		v, ok, err := Uint(fsys, tt.name)
		if v != tt.v || ok != tt.vok || (err != nil) != tt.numErr {
			t.Errorf("Uint(%s) = %d, %v, %v", tt.name, v, ok, err)
		}
	}
}
