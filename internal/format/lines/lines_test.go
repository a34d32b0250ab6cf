package lines

import (
	"slices"
	"strings"
	"testing"
)

func TestAll(t *testing.T) {
	out := []byte("a | b\r\n" + strings.Repeat("x", 11) + "\n \n\nlast")
	var errs []error
	got := slices.Collect(All(out, 10, &errs))
	want := []Line{{1, "a | b"}, {3, " "}, {4, ""}, {5, "last"}}
	if !slices.Equal(got, want) {
		t.Errorf("All = %+v, want %+v", got, want)
	}
	if len(errs) != 1 || errs[0].Error() != "line 2: longer than 10 bytes" {
		t.Errorf("errs = %v, want line 2 named", errs)
	}
	errs = nil
	got = slices.Collect(NonBlank(out, 10, &errs))
	if want := []Line{{1, "a | b"}, {5, "last"}}; !slices.Equal(got, want) || len(errs) != 1 {
		t.Errorf("NonBlank = %+v (errs %v), want %+v and line 2's error", got, errs, want)
	}
	// nil errs: the overlong line is dropped silently.
	if got := slices.Collect(All(out, 10, nil)); len(got) != 4 {
		t.Errorf("All with nil errs = %+v", got)
	}
}

// A line of exactly max bytes is read; "\n" at the end adds no empty line;
// a caller that stops early gets no more lines.
func TestAllBoundsAndStop(t *testing.T) {
	var errs []error
	if got := slices.Collect(All([]byte("0123456789\nabc\n"), 10, &errs)); len(got) != 2 || len(errs) != 0 {
		t.Errorf("lines %+v, errs %v; want 2 lines, no error", got, errs)
	}
	n := 0
	for range NonBlank([]byte("a\nb\nc\n"), 10, nil) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("the loop went on after break: %d", n)
	}
	for l := range All(nil, 10, nil) {
		t.Errorf("empty output yielded %+v", l)
	}
}

func FuzzAll(f *testing.F) {
	f.Add([]byte("a\r\nb\n\n"), 4)
	f.Fuzz(func(t *testing.T, out []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		var errs []error
		total, prev := 0, 0
		for l := range All(out, max, &errs) {
			if l.N <= prev {
				t.Fatalf("line %d after %d", l.N, prev)
			}
			prev = l.N
			if len(l.Text) > max || strings.Contains(l.Text, "\n") {
				t.Fatalf("line %+v, bound %d", l, max)
			}
			total++
		}
		want := strings.Count(string(out), "\n")
		if len(out) > 0 && out[len(out)-1] != '\n' {
			want++
		}
		if total+len(errs) != want {
			t.Fatalf("%d lines and %d overlong, want %d in all", total, len(errs), want)
		}
	})
}
