package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The documents a newcomer reads. README's rule is that every claim in it is
// something a test or a run shows; these tests catch the drift that is cheap
// to catch: a cited test that was renamed, a path that moved, a make target
// that went away, an alert the README does not list. docs/adding-a-probe.md
// walks through a made-up probe, watchdog, whose files and tests do not
// exist: names with "watchdog" in them are skipped (madeUp).
var checkedDocs = []string{"README.md", "ARCHITECTURE.md", "CHANGELOG.md", "docs/runbook.md", "docs/benchmarks.md", "docs/adding-a-probe.md"}

func madeUp(name string) bool { return strings.Contains(strings.ToLower(name), "watchdog") }

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testFuncs returns the names of every Test, Benchmark and Fuzz function in
// the repository's _test.go files (tools/ included).
func testFuncs(t *testing.T) map[string]bool {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)\w+)\(`)
	names := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no test functions found")
	}
	return names
}

// TestDocsCiteExistingTests: every backticked test name the documents cite
// as proof (README's Failure model cites dozens) is a function in some
// _test.go file.
func TestDocsCiteExistingTests(t *testing.T) {
	funcs := testFuncs(t)
	cited := regexp.MustCompile("`((?:Test|Benchmark|Fuzz)[A-Z]\\w*)")
	for _, doc := range checkedDocs {
		for _, m := range cited.FindAllStringSubmatch(readDoc(t, doc), -1) {
			if !funcs[m[1]] && !madeUp(m[1]) {
				t.Errorf("%s cites %s, which no _test.go file declares", doc, m[1])
			}
		}
	}
}

// TestDocsNameExistingPaths: every repository path the documents name in
// backticks or as a link target exists. Placeholders (NAME, ..., globs,
// braces) are skipped; a path under tools/ may be written without it
// (tools/cmd/mkimage is "cmd/mkimage" in tools' own terms).
func TestDocsNameExistingPaths(t *testing.T) {
	pathRe := regexp.MustCompile("(?:`|\\]\\()((?:internal|cmd|deploy|docs|configs|tools)/[^`)\\s,]*)")
	for _, doc := range checkedDocs {
		for _, m := range pathRe.FindAllStringSubmatch(readDoc(t, doc), -1) {
			p := strings.TrimSuffix(m[1], "/")
			if strings.ContainsAny(p, "*{<") || strings.Contains(p, "NAME") || strings.Contains(p, "...") || madeUp(p) {
				continue
			}
			p, _, _ = strings.Cut(p, "#")
			if fileExists(filepath.Join(repoRoot, p)) || fileExists(filepath.Join(repoRoot, "tools", p)) {
				continue
			}
			t.Errorf("%s names %s, which does not exist", doc, m[1])
		}
	}
}

// TestDocsNameExistingMakeTargets: every `make TARGET` the documents show is
// a target of the Makefile.
func TestDocsNameExistingMakeTargets(t *testing.T) {
	makefile := readDoc(t, "Makefile")
	targetRe := regexp.MustCompile("`make ([a-z][a-z0-9-]*)")
	for _, doc := range checkedDocs {
		for _, m := range targetRe.FindAllStringSubmatch(readDoc(t, doc), -1) {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).MatchString(makefile) {
				t.Errorf("%s names `make %s`, which the Makefile has no target for", doc, m[1])
			}
		}
	}
}

// TestReadmeListsEveryAlert: README's Alerts section has a row for every
// alert of the shipped rule files, and no row for an alert that is gone.
func TestReadmeListsEveryAlert(t *testing.T) {
	readme := readDoc(t, "README.md")
	start := strings.Index(readme, "\n## Alerts\n")
	if start < 0 {
		t.Fatal("README has no Alerts section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	rowRe := regexp.MustCompile(`(?m)^\| (Hardware\w+(?: / Hardware\w+)*) \|`)
	rows := map[string]bool{}
	for _, m := range rowRe.FindAllStringSubmatch(section, -1) {
		for _, name := range strings.Split(m[1], " / ") {
			rows[name] = true
		}
	}
	alerts := map[string]bool{}
	for path, f := range ruleFiles(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				alerts[r.Alert] = true
				if !rows[r.Alert] {
					t.Errorf("%s: alert %s has no row in README's Alerts table", path, r.Alert)
				}
			}
		}
	}
	for name := range rows {
		if !alerts[name] {
			t.Errorf("README's Alerts table lists %s, which no rule file defines", name)
		}
	}
}
