package image

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fakeELF is enough of an ELF header for checkELF: magic and e_machine.
func fakeELF(machine uint16, extra string) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[18], b[19] = byte(machine), byte(machine>>8)
	return append(b, extra...)
}

var epoch = time.Unix(1700000000, 0).UTC()

func testOptions() Options {
	return Options{
		Binaries: map[string][]byte{"amd64": fakeELF(62, "amd64 binary"), "arm64": fakeELF(183, "arm64 binary")},
		Version:  "1.2.3", Revision: "abc", Created: epoch,
	}
}

// layerFiles returns the one layer's entries of img by name.
func layerFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 (FROM scratch plus one layer)", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		h.PAXRecords = map[string]string{"content": string(data)}
		files[h.Name] = h
	}
	return files
}

func TestBuild(t *testing.T) {
	idx, err := Build(testOptions())
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s", im.MediaType)
	}
	var arches []string
	for _, d := range im.Manifests {
		arches = append(arches, d.Platform.OS+"/"+d.Platform.Architecture)
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != d.Platform.Architecture || cf.OS != "linux" {
			t.Errorf("config says %s/%s under %s", cf.OS, cf.Architecture, d.Platform.Architecture)
		}
		c := cf.Config
		if c.User != "65532:65532" {
			t.Errorf("user %q, want a numeric non-root user", c.User)
		}
		if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/bin/hardware_exporter" {
			t.Errorf("entrypoint %q", c.Entrypoint)
		}
		if _, ok := c.ExposedPorts["9816/tcp"]; !ok || len(c.ExposedPorts) != 1 {
			t.Errorf("exposed ports %v, want 9816/tcp", c.ExposedPorts)
		}
		if c.Labels["org.opencontainers.image.version"] != "1.2.3" || c.Labels["org.opencontainers.image.licenses"] != "Apache-2.0" {
			t.Errorf("labels %v", c.Labels)
		}
		if !cf.Created.Equal(epoch) {
			t.Errorf("created %v, want SOURCE_DATE_EPOCH %v", cf.Created, epoch)
		}
		files := layerFiles(t, img)
		bin := files["usr/bin/hardware_exporter"]
		if bin == nil || bin.Mode != 0o755 || bin.Uid != 0 {
			t.Fatalf("binary entry %+v: want root-owned 0755 (the user must not be able to replace it)", bin)
		}
		if want := string(testOptions().Binaries[d.Platform.Architecture]); bin.PAXRecords["content"] != want {
			t.Errorf("%s image holds the wrong binary", d.Platform.Architecture)
		}
		if p := files["etc/passwd"]; p == nil || !strings.Contains(p.PAXRecords["content"], "hardware_exporter:x:65532:65532:") {
			t.Errorf("passwd has no entry for uid 65532: %v", p)
		}
		if g := files["etc/group"]; g == nil || !strings.Contains(g.PAXRecords["content"], "hardware_exporter:x:65532:") {
			t.Errorf("group has no entry for gid 65532")
		}
		if s := files["var/lib/hardware_exporter/"]; s == nil || s.Uid != UID || s.Typeflag != tar.TypeDir {
			t.Errorf("state parent %+v: want a directory owned by %d", s, UID)
		}
		for name, h := range files {
			if !h.ModTime.Equal(epoch) {
				t.Errorf("%s: mtime %v, want SOURCE_DATE_EPOCH", name, h.ModTime)
			}
		}
	}
	if strings.Join(arches, " ") != "linux/amd64 linux/arm64" {
		t.Errorf("platforms %v", arches)
	}
}

// Two builds of the same inputs are the same bytes, down to the archive.
func TestReproducible(t *testing.T) {
	dir := t.TempDir()
	var sums [2][]byte
	for i := range sums {
		idx, err := Build(testOptions())
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "image.tar")
		if err := WriteArchive(idx, "hardware_exporter:1.2.3", out, epoch); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = b
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Error("two builds of the same inputs differ")
	}
	o := testOptions()
	o.Created = epoch.Add(time.Second)
	a, _ := Build(testOptions())
	b, _ := Build(o)
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da == db {
		t.Error("the timestamp does not reach the image: the test above proves nothing")
	}
}

func TestBuildRefuses(t *testing.T) {
	for name, bins := range map[string]map[string][]byte{
		"arm64 binary as amd64": {"amd64": fakeELF(183, "")},
		"dynamic binary":        {"amd64": fakeELF(62, "/lib64/ld-linux-x86-64.so.2")},
		"not ELF":               {"amd64": []byte("#!/bin/sh\necho hi\n")},
		"unknown arch":          {"riscv64": fakeELF(243, "")},
		"nothing":               {},
	} {
		o := testOptions()
		o.Binaries = bins
		if _, err := Build(o); err == nil {
			t.Errorf("%s: built an image", name)
		}
	}
}
