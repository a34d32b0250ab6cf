package lines

import (
	"strings"
	"testing"
)

func TestAll(t *testing.T) {
	out := []byte("a | b\r\n" + strings.Repeat("x", 11) + "\n\nlast")
	var got []Line
	for l := range All(out, 10) {
		got = append(got, l)
	}
	want := []Line{
		{N: 1, Text: "a | b"},
		{N: 2, Overlong: true},
		{N: 3, Text: ""},
		{N: 4, Text: "last"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].N != want[i].N || got[i].Text != want[i].Text || got[i].Overlong != want[i].Overlong {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if err := got[1].Err(); err == nil || err.Error() != "line 2: longer than 10 bytes" {
		t.Errorf("Err() = %v", err)
	}
}

// A line of exactly max bytes is read; "\n" at the end adds no empty line;
// a caller that stops early gets no more lines.
func TestAllBoundsAndStop(t *testing.T) {
	var n int
	for l := range All([]byte("0123456789\nabc\n"), 10) {
		n++
		if l.Overlong {
			t.Errorf("line %d of %d bytes called overlong", l.N, len(l.Text))
		}
	}
	if n != 2 {
		t.Errorf("%d lines, want 2", n)
	}
	n = 0
	for range All([]byte("a\nb\nc\n"), 10) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("the loop went on after break: %d", n)
	}
	for l := range All(nil, 10) {
		t.Errorf("empty output yielded %+v", l)
	}
}

func FuzzAll(f *testing.F) {
	f.Add([]byte("a\r\nb\n\n"), 4)
	f.Fuzz(func(t *testing.T, out []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		var total, prev int
		for l := range All(out, max) {
			if l.N != prev+1 {
				t.Fatalf("line %d after %d", l.N, prev)
			}
			prev = l.N
			if (l.Overlong && l.Text != "") || len(l.Text) > max || strings.Contains(l.Text, "\n") {
				t.Fatalf("line %+v, bound %d", l, max)
			}
			total++
		}
		want := strings.Count(string(out), "\n")
		if len(out) > 0 && out[len(out)-1] != '\n' {
			want++
		}
		if total != want {
			t.Fatalf("%d lines, want %d", total, want)
		}
	})
}
