package confval

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDurationRoundTrip(t *testing.T) {
	for _, s := range []string{"30s", "1m", "6h", "1d", "1h30m"} {
		var d Duration
		if err := yaml.Unmarshal([]byte(s), &d); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got := d.String(); got != s {
			t.Errorf("format(parse(%q)) = %q", s, got)
		}
	}
}

func TestValuesRefuseBadInput(t *testing.T) {
	var d Duration
	var r Regexp
	var p Path
	for _, tc := range []struct {
		doc string
		v   any
	}{
		{"-5m", &d}, {"soon", &d}, {"[1]", &d},
		{"(a", &r}, {"{a: 1}", &r},
		{"relative/path", &p}, {`""`, &p}, {"[a]", &p},
	} {
		if err := yaml.Unmarshal([]byte(tc.doc), tc.v); err == nil {
			t.Errorf("%T accepted %q", tc.v, tc.doc)
		}
	}
	if err := yaml.Unmarshal([]byte(`""`), &r); err != nil || r.Regexp != nil || !r.MatchOr("x", true) || r.MatchOr("x", false) {
		t.Errorf("empty regexp: err %v, %+v; want no filter", err, r)
	}
	if err := yaml.Unmarshal([]byte("/opt//x/../bin/tool"), &p); err != nil || p != "/opt/bin/tool" {
		t.Errorf("path = %q, %v; want it cleaned", p, err)
	}
}
