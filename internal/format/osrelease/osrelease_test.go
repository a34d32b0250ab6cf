package osrelease

import (
	"os"
	"testing"
)

// node_exporter's capture of Ubuntu 20.04's file.
func TestParseCapture(t *testing.T) {
	b, err := os.ReadFile("testdata/node_exporter-os-release")
	if err != nil {
		t.Fatal(err)
	}
	kv := Parse(b)
	for k, v := range map[string]string{
		"NAME": "Ubuntu", "VERSION": "20.04.2 LTS (Focal Fossa)", "ID": "ubuntu", "ID_LIKE": "debian",
		"PRETTY_NAME": "Ubuntu 20.04.2 LTS", "VERSION_ID": "20.04", "VERSION_CODENAME": "focal",
		"PRIVACY_POLICY_URL": "https://www.ubuntu.com/legal/terms-and-policies/privacy-policy",
	} {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q", k, kv[k], v)
		}
	}
	if len(kv) != 12 {
		t.Errorf("%d keys, want 12", len(kv))
	}
}

func TestParseQuoting(t *testing.T) {
	in := `# comment
NAME="Debian GNU/Linux"
ID=debian
PRETTY_NAME='Single "quoted"'
VERSION="12 \"bookworm\" \\ \$HOME"
not an assignment
EMPTY=
`
	want := map[string]string{
		"NAME":        "Debian GNU/Linux",
		"ID":          "debian",
		"PRETTY_NAME": `Single "quoted"`,
		"VERSION":     `12 "bookworm" \ $HOME`,
		"EMPTY":       "",
	}
	got := Parse([]byte(in))
	if len(got) != len(want) {
		t.Errorf("parsed %d keys, want %d: %q", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/node_exporter-os-release")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("VERSION=\"12 \\\"bookworm\\\"\"\nPRETTY_NAME='x'\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range Parse(b) {
			if k == "" {
				t.Error("empty key")
			}
		}
	})
}
