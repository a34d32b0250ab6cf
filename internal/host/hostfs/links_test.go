package hostfs

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

type fixtureLink struct{ name, target string }

// fixtureLinks reads testdata/procfs-fixtures-symlinks.tsv: the links of one
// tree (sys or proc), relative to it.
func fixtureLinks(t *testing.T, tree string) []fixtureLink {
	f, err := os.Open("testdata/procfs-fixtures-symlinks.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var links []fixtureLink
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, target, ok := strings.Cut(s.Text(), "\t")
		rel, inTree := strings.CutPrefix(name, "fixtures/"+tree+"/")
		if ok && inTree {
			links = append(links, fixtureLink{rel, target})
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return links
}

// buildLinkTree makes every link, and a directory at each in-tree target
// that no other link stands for, so most links resolve as on a real host.
func buildLinkTree(t *testing.T, links []fixtureLink) string {
	root := t.TempDir()
	isLink := map[string]bool{}
	for _, l := range links {
		isLink[l.name] = true
	}
	underLink := func(p string) bool {
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if isLink[q] {
				return true
			}
		}
		return false
	}
	for _, l := range links {
		dirs := []string{path.Dir(l.name)}
		if !path.IsAbs(l.target) {
			dirs = append(dirs, path.Join(path.Dir(l.name), l.target))
		}
		for _, d := range dirs {
			if d == "." || strings.HasPrefix(d, "../") || underLink(d) {
				continue
			}
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, l := range links {
		if err := os.Symlink(l.target, filepath.Join(root, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestFixtureLinks checks, on every link of a published sysfs and procfs
// tree, that confined resolution agrees with the kernel's own whenever the
// kernel's stays below the root, and refuses it otherwise.
func TestFixtureLinks(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) FS) {
		for _, tree := range []string{"sys", "proc"} {
			links := fixtureLinks(t, tree)
			root := buildLinkTree(t, links)
			realRoot, err := filepath.EvalSymlinks(root)
			if err != nil {
				t.Fatal(err)
			}
			fsys := open(root)
			var resolved, refused, dangling int
			for _, l := range links {
				if got, err := fsys.Readlink(l.name); err != nil || got != l.target {
					t.Errorf("Readlink(%s) = %q, %v; want %q", l.name, got, err, l.target)
				}
				fi, err := fsys.Stat(l.name)
				if path.IsAbs(l.target) {
					// Not followed here, so the host's own files are not touched.
					if !errors.Is(err, ErrOutsideRoot) {
						t.Errorf("Stat(%s -> %s) = %v, want ErrOutsideRoot", l.name, l.target, err)
					}
					refused++
					continue
				}
				real, evalErr := filepath.EvalSymlinks(filepath.Join(root, l.name))
				switch {
				case evalErr != nil && strings.HasPrefix(path.Join(path.Dir(l.name), l.target), "../"):
					// The kernel climbed past "/" and found nothing; below a
					// root that is an escape.
					if !errors.Is(err, ErrOutsideRoot) {
						t.Errorf("Stat(%s -> %s) = %v, want ErrOutsideRoot", l.name, l.target, err)
					}
					refused++
				case evalErr != nil:
					if !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("Stat(%s -> %s) = %v, want fs.ErrNotExist as the kernel says %v", l.name, l.target, err, evalErr)
					}
					dangling++
				case real != realRoot && !strings.HasPrefix(real, realRoot+"/"):
					if !errors.Is(err, ErrOutsideRoot) {
						t.Errorf("Stat(%s -> %s) = %v, want ErrOutsideRoot for %s", l.name, l.target, err, real)
					}
					refused++
				default:
					want, werr := os.Stat(real)
					if err != nil || werr != nil || !os.SameFile(fi, want) {
						t.Errorf("Stat(%s -> %s) = %v, %v; want %s", l.name, l.target, fi, err, real)
					}
					resolved++
				}
			}
			t.Logf("%s: %d links resolved below the root, %d refused, %d dangling", tree, resolved, refused, dangling)
			// Pinned, so a change in how the tree is built or resolved shows.
			if want := map[string][3]int{"sys": {315, 6, 0}, "proc": {13, 5, 0}}[tree]; [3]int{resolved, refused, dangling} != want {
				t.Errorf("%s: resolved, refused, dangling = %d, %d, %d; want %v", tree, resolved, refused, dangling, want)
			}
			if resolved < len(links)*3/4-refused {
				t.Errorf("%s: only %d of %d links resolved; the tree was not built as meant", tree, resolved, len(links))
			}
		}
	})
}
