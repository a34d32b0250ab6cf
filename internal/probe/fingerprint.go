package probe

import (
	"hash/fnv"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// Fingerprint hashes what a run of a probe reads with: the roots and the
// probe's options (tool paths, filters), as the config would spell them.
// A state file records it, so that data read with other settings (another
// smartctl, other include filters) is not restored after a restart. It is
// never 0, which stands for "unknown" in state files.
func (e Env) Fingerprint() uint64 {
	h := fnv.New64a()
	for _, p := range []string{e.Paths.ProcFS, e.Paths.SysFS, e.Paths.RootFS} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	if e.Options != nil {
		// YAML, not %v: options hold pointers and compiled regexps, whose
		// MarshalYAML gives the text the user wrote.
		b, err := yaml.Marshal(e.Options)
		if err != nil {
			b = []byte("unencodable: " + err.Error())
		}
		h.Write(b)
	}
	return h.Sum64() | 1
}

// MayExport returns a test of whether p may export a family of the given
// name: one of the names p Describes, and for the textfile probe, which
// passes through names it learns from files, every name it would accept.
// A state file's families are filtered with it on restore, so a forged or
// outdated file (a metric that moved to another probe) cannot serve a
// family that collides with another probe's or with the daemon's own.
func MayExport(p Probe) func(name string) bool {
	names := map[string]bool{}
	ch := make(chan *prometheus.Desc)
	go func() {
		p.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		if n, ok := descNames[d]; ok {
			names[n] = true
		}
	}
	if _, ok := p.(*textfileProbe); ok {
		return func(name string) bool { return names[name] || textfileMayPass(name) }
	}
	return func(name string) bool { return names[name] }
}
