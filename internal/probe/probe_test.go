package probe

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// Every registered probe, run on the fixture tree with a cancelled context,
// fails the run with an error wrapping context.Canceled and does not panic:
// the rule the Probe interface states. The scheduler discards the answer of
// a cancelled run anyway; this holds a probe to not working (starting a
// tool, walking a tree) for a run that is already over.
func TestProbeCancelled(t *testing.T) {
	names := Names()
	// The probes that had their own cancellation test before this one
	// covered them all: losing one from the registry must not pass silently.
	for _, want := range []string{"cpu", "hwmon", "memory", "system"} {
		if !slices.Contains(names, want) {
			t.Errorf("probe %q is not registered; registered: %v", want, names)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := Env{Paths: fixturePaths}
			p, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Probe with a cancelled context panicked: %v", r)
				}
			}()
			if _, err := p.Probe(ctx, env, NewSkips(nil)); !errors.Is(err, context.Canceled) {
				t.Errorf("Probe with a cancelled context: err = %v, want context.Canceled", err)
			}
		})
	}
}
