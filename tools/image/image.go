// Package image builds the exporter's OCI image without a container
// runtime: one layer holding the static binary and a passwd/group entry for
// its non-root user, on an empty base (FROM scratch), for each
// architecture, joined by an image index and written as an OCI layout in a
// tar file (an "oci-archive", which podman and skopeo load).
//
// Everything that goes into the bytes is an input: file contents, modes,
// owners and one timestamp (SOURCE_DATE_EPOCH), so two builds of the same
// commit give the same digests.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user. 65532 is distroless' "nonroot", which Kubernetes
// policies and scanners recognise; a numeric user lets runAsNonRoot verify
// it without reading /etc/passwd.
const (
	UID      = 65532
	User     = "hardware_exporter"
	Binary   = "/usr/bin/hardware_exporter"
	Port     = "9816/tcp"
	StateDir = "/var/lib/hardware_exporter"
)

// Options say what goes into the image.
type Options struct {
	// Binaries maps a GOARCH (amd64, arm64) to a static linux binary.
	Binaries map[string][]byte
	Version  string
	Revision string
	Created  time.Time // from SOURCE_DATE_EPOCH
	Source   string    // org.opencontainers.image.source
}

// Build returns the multi-arch index, one image per architecture in
// sorted order.
func Build(o Options) (v1.ImageIndex, error) {
	if len(o.Binaries) == 0 {
		return nil, fmt.Errorf("no binaries given")
	}
	if o.Version == "" {
		return nil, fmt.Errorf("no version given")
	}
	arches := make([]string, 0, len(o.Binaries))
	for a := range o.Binaries {
		arches = append(arches, a)
	}
	sort.Strings(arches)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range arches {
		img, err := archImage(o, arch)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arch, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx, nil
}

func labels(o Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "hardware_exporter",
		"org.opencontainers.image.description": "Prometheus exporter for hardware inventory and health",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     o.Created.UTC().Format(time.RFC3339),
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	if o.Source != "" {
		l["org.opencontainers.image.source"] = o.Source
	}
	return l
}

func archImage(o Options, arch string) (v1.Image, error) {
	bin := o.Binaries[arch]
	if err := checkELF(bin, arch); err != nil {
		return nil, err
	}
	content, err := layerTar(bin, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: o.Created},
			CreatedBy: "tools/cmd/mkimage: " + Binary + ", /etc/passwd, /etc/group, " + StateDir,
			Comment:   "static binary, CGO_ENABLED=0, -trimpath",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", UID, UID),
		Entrypoint:   []string{Binary},
		ExposedPorts: map[string]struct{}{Port: {}},
		WorkingDir:   "/",
		Labels:       labels(o),
		// The state files' default place, writable by the user; mount a
		// volume there to keep them across container restarts.
		Volumes: map[string]struct{}{StateDir: {}},
	}
	return mutate.ConfigFile(img, cf)
}

// checkELF refuses what is not a static Linux binary for arch: a dynamic
// one would not start on an empty base, and an arm64 binary in the amd64
// image would fail only when run.
func checkELF(b []byte, arch string) error {
	if len(b) < 20 || string(b[:4]) != "\x7fELF" {
		return fmt.Errorf("not an ELF binary")
	}
	machine := uint16(b[18]) | uint16(b[19])<<8 // little endian on both arches
	want := map[string]uint16{"amd64": 62, "arm64": 183}[arch]
	if want == 0 {
		return fmt.Errorf("unsupported architecture %q", arch)
	}
	if machine != want {
		return fmt.Errorf("ELF machine %d, want %d for %s", machine, want, arch)
	}
	if bytes.Contains(b, []byte("/lib64/ld-linux")) || bytes.Contains(b, []byte("/lib/ld-linux-aarch64")) {
		return fmt.Errorf("dynamically linked (build with CGO_ENABLED=0)")
	}
	return nil
}

// layerTar is the one layer: directories, passwd and group, the binary.
// Owners and modes are fixed here, not taken from the build machine.
func layerTar(bin []byte, mtime time.Time) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", User, UID, UID, User, StateDir)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", User, UID)
	type entry struct {
		name     string
		mode     int64
		uid      int
		data     []byte
		typeflag byte
	}
	entries := []entry{
		{name: "etc/", mode: 0o755, typeflag: tar.TypeDir},
		{name: "etc/group", mode: 0o644, data: []byte(group), typeflag: tar.TypeReg},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd), typeflag: tar.TypeReg},
		{name: "tmp/", mode: 0o1777, typeflag: tar.TypeDir},
		{name: "usr/", mode: 0o755, typeflag: tar.TypeDir},
		{name: "usr/bin/", mode: 0o755, typeflag: tar.TypeDir},
		{name: strings.TrimPrefix(Binary, "/"), mode: 0o755, data: bin, typeflag: tar.TypeReg},
		{name: "var/", mode: 0o755, typeflag: tar.TypeDir},
		{name: "var/lib/", mode: 0o755, typeflag: tar.TypeDir},
		// Owned by the user: the exporter creates state/ below it (0700).
		{name: strings.TrimPrefix(StateDir, "/") + "/", mode: 0o755, uid: UID, typeflag: tar.TypeDir},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Typeflag: e.typeflag,
			Uid: e.uid, Gid: e.uid, Size: int64(len(e.data)),
			ModTime: mtime, Format: tar.FormatPAX,
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteArchive writes idx as an OCI layout (index.json naming it with the
// tag refName) into a tar file at out, with fixed owners and mtime so the
// file's bytes, not only the digests, are reproducible.
func WriteArchive(idx v1.ImageIndex, refName, out string, mtime time.Time) error {
	dir, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": refName,
	})); err != nil {
		return err
	}
	var files []string
	err = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, path := range files {
		info, err := os.Stat(path)
		if err != nil {
			f.Close()
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Format: tar.FormatPAX, Mode: 0o644, Typeflag: tar.TypeReg}
		if info.IsDir() {
			h.Name += "/"
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		} else {
			h.Size = info.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		if !info.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				f.Close()
				return err
			}
			if _, err := tw.Write(b); err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
