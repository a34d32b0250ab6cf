package probe

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// HELP goes out with every scrape of every series' family, so it says in a
// sentence or two what the series is and where it is read from. What each
// label value means, which driver prints what and other detail belongs in
// the descriptor's note (withNote), which docs/metrics.md shows. The bounds
// are on what a probe writes; newDesc appends scheduledHelp to it.
const (
	maxHelpChars     = 200
	maxHelpSentences = 2
)

// descHelp matches the HELP in a descriptor's String: client_golang has no
// accessor for it.
var descHelp = regexp.MustCompile(`help: ("(?:[^"\\]|\\.)*")`)

// sentenceEnd ends a sentence: a full stop (or ! or ?) at the end, or one
// followed by a word that does not start in lower case, so "t10. prefixed"
// goes on and "value 1. Serial" does not. Abbreviations are taken out first.
var (
	sentenceEnd   = regexp.MustCompile(`[.!?](\s+[^a-z\s]|\s*$)`)
	abbreviations = strings.NewReplacer("e.g.", "eg", "i.e.", "ie")
)

// sentences counts the sentences in help.
func sentences(help string) int {
	return len(sentenceEnd.FindAllString(abbreviations.Replace(help), -1))
}

// helpOf returns the HELP the probe wrote for d, without scheduledHelp.
func helpOf(t *testing.T, d *prometheus.Desc) string {
	t.Helper()
	m := descHelp.FindStringSubmatch(d.String())
	if m == nil {
		t.Fatalf("no help in %s", d)
	}
	help, err := strconv.Unquote(m[1])
	if err != nil {
		t.Fatalf("help of %s: %v", d, err)
	}
	return strings.TrimSuffix(help, scheduledHelp)
}

func TestHelpIsShort(t *testing.T) {
	if len(descNames) == 0 {
		t.Fatal("no descriptors declared with newDesc")
	}
	descs := make([]*prometheus.Desc, 0, len(descNames))
	for d := range descNames {
		descs = append(descs, d)
	}
	sort.Slice(descs, func(i, j int) bool { return descNames[descs[i]] < descNames[descs[j]] })
	for _, d := range descs {
		name, help := descNames[d], helpOf(t, d)
		n := utf8.RuneCountInString(help)
		s := sentences(help)
		if n > maxHelpChars || s > maxHelpSentences {
			t.Errorf("%s: HELP is %d characters in %d sentences, want at most %d in %d: move the detail into its note (withNote), for docs/metrics.md\n\t%s",
				name, n, s, maxHelpChars, maxHelpSentences, help)
		}
	}
}

// The counter the rule uses counts what a reader would.
func TestSentences(t *testing.T) {
	for help, want := range map[string]int{
		"Capacity of the block device.":                                            1,
		"Device, value 1. Serial is empty when none; wwn is prefixed t10. or naa.": 2,
		"0.5 of a fan, e.g. Fan1A, in the 1/6 s period.":                           1,
		"Power draw. No series without a meter! What? Yes.":                        4,
	} {
		if got := sentences(help); got != want {
			t.Errorf("sentences(%q) = %d, want %d", help, got, want)
		}
	}
}
