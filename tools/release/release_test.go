// Package release holds the check `make release` runs on what it wrote to
// dist/: the artifact set, the checksums, the tarballs' content and the
// SBOMs. It has no code of its own.
package release

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var (
	dist     = flag.String("dist", "", "the dist/ directory make release wrote")
	version  = flag.String("version", "", "VERSION")
	arches   = flag.String("arches", "amd64 arm64", "architectures released")
	packages = flag.Bool("packages", true, "whether the .deb and .rpm packages are part of the release")
)

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// wanted is the release's artifact set.
func wanted() []string {
	v := *version
	names := []string{"hardware_exporter-" + v + "-image.tar"}
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}
	for _, a := range strings.Fields(*arches) {
		names = append(names,
			fmt.Sprintf("hardware_exporter-%s.linux-%s.tar.gz", v, a),
			fmt.Sprintf("hardware_exporter-%s.linux-%s.cdx.json", v, a))
		if *packages {
			names = append(names,
				fmt.Sprintf("hardware_exporter_%s_%s.deb", v, a),
				fmt.Sprintf("hardware_exporter-%s-1.%s.rpm", v, rpmArch[a]))
		}
	}
	sort.Strings(names)
	return names
}

func TestRelease(t *testing.T) {
	if *dist == "" {
		t.Skip("no -dist: `make release` runs this on what it built")
	}
	if *version == "" {
		t.Fatal("-version is required with -dist")
	}
	// SHA256SUMS names exactly the artifacts, and each sum is right.
	f, err := os.Open(filepath.Join(*dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var listed []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not sha256sum's format", sc.Text())
		}
		listed = append(listed, name)
		if got := sha256File(t, filepath.Join(*dist, name)); got != sum {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", name, got, sum)
		}
	}
	sort.Strings(listed)
	if strings.Join(listed, " ") != strings.Join(wanted(), " ") {
		t.Errorf("SHA256SUMS lists\n  %v\nwant\n  %v", listed, wanted())
	}
	for _, a := range strings.Fields(*arches) {
		t.Run(a, func(t *testing.T) {
			binSum := checkTarball(t, a)
			checkSBOM(t, a, binSum)
		})
	}
}

// checkTarball checks one architecture's tarball and returns the sha256
// of the binary in it.
func checkTarball(t *testing.T, arch string) string {
	name := fmt.Sprintf("hardware_exporter-%s.linux-%s", *version, arch)
	f, err := os.Open(filepath.Join(*dist, name+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header carries a time (%v) or name (%q): not reproducible", zr.ModTime, zr.Name)
	}
	tr := tar.NewReader(zr)
	seen := map[string]bool{}
	var binSum string
	var mtime int64 = -1
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, name+"/") {
			t.Errorf("%s is outside the top directory %s/", h.Name, name)
		}
		rel := strings.TrimPrefix(h.Name, name+"/")
		seen[rel] = true
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" && h.Uname != "root" {
			t.Errorf("%s: owner %d:%d %q, want 0:0", rel, h.Uid, h.Gid, h.Uname)
		}
		if mtime == -1 {
			mtime = h.ModTime.Unix()
		} else if h.ModTime.Unix() != mtime {
			t.Errorf("%s: mtime %v differs from the others' (SOURCE_DATE_EPOCH)", rel, h.ModTime)
		}
		if strings.HasSuffix(rel, "_test.go") || strings.HasPrefix(rel, "deploy/ci/") {
			t.Errorf("%s is a test or CI file", rel)
		}
		if rel == "hardware_exporter" {
			if h.Mode&0o111 == 0 {
				t.Errorf("binary mode %o is not executable", h.Mode)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			s := sha256.Sum256(b)
			binSum = hex.EncodeToString(s[:])
			checkELF(t, b, arch)
		}
	}
	for _, want := range []string{
		"hardware_exporter", "LICENSE", "README.md", "hardware_exporter.yml",
		"deploy/systemd/hardware_exporter.service", "deploy/sysusers/hardware_exporter.conf",
		"deploy/udev/60-hardware_exporter.rules", "deploy/prometheus/rules/hardware_alerts.yml",
		"deploy/kubernetes/daemonset.yaml", "deploy/kubernetes/prometheusrule.yaml",
	} {
		if !seen[want] {
			t.Errorf("%s.tar.gz has no %s", name, want)
		}
	}
	return binSum
}

func checkELF(t *testing.T, b []byte, arch string) {
	t.Helper()
	ef, err := elf.NewFile(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("binary: %v", err)
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if ef.Machine != want {
		t.Errorf("binary is for %v, want %v", ef.Machine, want)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary is dynamically linked (PT_INTERP): CGO_ENABLED=0 was lost")
		}
	}
}

// checkSBOM: a CycloneDX document for this version and architecture,
// about the binary in the tarball, listing the modules linked in it.
func checkSBOM(t *testing.T, arch, binSum string) {
	b, err := os.ReadFile(filepath.Join(*dist, fmt.Sprintf("hardware_exporter-%s.linux-%s.cdx.json", *version, arch)))
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Component struct {
				Name, Version string
			} `json:"component"`
			Properties []struct{ Name, Value string } `json:"properties"`
		} `json:"metadata"`
		Components []struct{ Name, Version string } `json:"components"`
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion == "" {
		t.Errorf("bomFormat %q specVersion %q", bom.BOMFormat, bom.SpecVersion)
	}
	if c := bom.Metadata.Component; c.Name != "github.com/hardware-exporter/hardware_exporter" || c.Version != "v"+*version {
		t.Errorf("main component %s@%s, want version v%s", c.Name, c.Version, *version)
	}
	props := map[string]string{}
	for _, p := range bom.Metadata.Properties {
		props[p.Name] = p.Value
	}
	if props["cdx:gomod:build:env:GOARCH"] != arch || props["cdx:gomod:build:env:CGO_ENABLED"] != "0" {
		t.Errorf("SBOM build properties %v, want GOARCH=%s CGO_ENABLED=0", props, arch)
	}
	if got := props["cdx:gomod:binary:hash:SHA-256"]; got != binSum {
		t.Errorf("SBOM describes binary %s, the tarball holds %s", got, binSum)
	}
	mods := map[string]bool{}
	for _, c := range bom.Components {
		mods[c.Name] = true
	}
	for _, m := range []string{"github.com/prometheus/client_golang", "github.com/prometheus/procfs", "gopkg.in/yaml.v3", "std"} {
		if !mods[m] {
			t.Errorf("SBOM lists no %s", m)
		}
	}
	if mods["github.com/google/go-containerregistry"] || mods["k8s.io/api"] {
		t.Error("SBOM lists a tools/ module: it must describe the daemon only")
	}
}
