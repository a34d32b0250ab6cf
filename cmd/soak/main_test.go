package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The soak's exporter keeps its state files in the soak's own work
// directory: a run as root must never write the host's default state
// directory (/var/lib/hardware_exporter/state), which a real service may own.
func TestHostileHostKeepsItsOwnState(t *testing.T) {
	t.Chdir(filepath.Join("..", "..")) // hostileHost finds the fixture from the repository root
	work := t.TempDir()
	path, err := hostileHost(work)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		State struct {
			Path string `yaml:"path"`
		} `yaml:"state"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.State.Path == "" || !strings.HasPrefix(cfg.State.Path, work+string(filepath.Separator)) {
		t.Errorf("soak config state.path = %q, want a directory below the soak's work directory %s", cfg.State.Path, work)
	}
}
