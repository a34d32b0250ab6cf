package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// `make image-check` passes these for the archive `make image` wrote.
var (
	archive     = flag.String("archive", "", "image tar written by make image")
	wantVersion = flag.String("version", "", "the VERSION the image must carry")
	withPodman  = flag.Bool("podman", false, "also run the image with podman on the fixture host")
	podmanFlags = flag.String("podman-run-flags", "--runtime=runc --ulimit=nofile=1024:1024 --ulimit=nproc=1024:1024",
		"extra podman run flags (see the Makefile's PODMAN_RUN_FLAGS)")
)

// untar unpacks the archive (an OCI layout) into a new directory.
func untar(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, dir+string(filepath.Separator)) {
			t.Fatalf("archive entry %q escapes the layout", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(name, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(io.LimitReader(tr, 1<<30))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestArchive checks the image `make image` wrote, through the
// go-containerregistry API, and with -podman runs it.
func TestArchive(t *testing.T) {
	if *archive == "" {
		t.Skip("no -archive: `make image-check` runs this on the image it builds")
	}
	if *wantVersion == "" {
		t.Fatal("-version is required with -archive")
	}
	root, err := layout.ImageIndexFromPath(untar(t, *archive))
	if err != nil {
		t.Fatal(err)
	}
	rm, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want the one multi-arch index", len(rm.Manifests))
	}
	ref := "hardware_exporter:" + *wantVersion
	if got := rm.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != ref {
		t.Errorf("ref.name %q, want %q", got, ref)
	}
	idx, err := root.ImageIndex(rm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var arches []string
	for _, d := range im.Manifests {
		arch := d.Platform.Architecture
		arches = append(arches, d.Platform.OS+"/"+arch)
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if c.User != "65532:65532" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != Binary || len(c.ExposedPorts) != 1 {
			t.Errorf("%s: user %q, entrypoint %q, ports %v", arch, c.User, c.Entrypoint, c.ExposedPorts)
		}
		if _, ok := c.ExposedPorts[Port]; !ok {
			t.Errorf("%s: port %s not exposed", arch, Port)
		}
		if v := c.Labels["org.opencontainers.image.version"]; v != *wantVersion {
			t.Errorf("%s: version label %q", arch, v)
		}
		files := layerFiles(t, img)
		bin := []byte(files[strings.TrimPrefix(Binary, "/")].PAXRecords["content"])
		if err := checkELF(bin, arch); err != nil {
			t.Errorf("%s: %v", arch, err)
		}
		layers, _ := img.Layers()
		var compressed int64
		for _, l := range layers {
			s, _ := l.Size()
			compressed += s
		}
		t.Logf("%s: %s, %d layer(s), %d bytes compressed, binary %d bytes", arch, d.Digest, len(layers), compressed, len(bin))
		// The binary in the image is the release build: it says the
		// version, and runs with nothing else from the image.
		if arch == runtime.GOARCH {
			p := filepath.Join(t.TempDir(), "hardware_exporter")
			if err := os.WriteFile(p, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(p, "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "version "+*wantVersion) {
				t.Errorf("%s --version: %v\n%s", arch, err, out)
			}
		}
	}
	if strings.Join(arches, " ") != "linux/amd64 linux/arm64" {
		t.Errorf("platforms %v, want linux/amd64 linux/arm64", arches)
	}
	if *withPodman {
		t.Run("podman", func(t *testing.T) { runPodman(t, ref) })
	}
}

// runPodman loads the archive, runs the image for this machine's
// architecture on the fixture host (mounted read-only at /host, so no host
// /sys or /proc is read), and scrapes it on loopback.
func runPodman(t *testing.T, ref string) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Fatal("podman is not on PATH: deploy/ci/install-tools.sh --podman installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pm := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, podman, args...).CombinedOutput()
		return string(out), err
	}
	out, err := pm("load", "-i", *archive)
	if err != nil {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	loaded := "localhost/" + ref
	if !strings.Contains(out, "Loaded image: "+loaded) {
		t.Fatalf("podman load did not name the image %s:\n%s", loaded, out)
	}
	t.Cleanup(func() { exec.Command(podman, "rmi", "-f", loaded).Run() })

	tree := filepath.Join(t.TempDir(), "host")
	mat := exec.CommandContext(ctx, "go", "run", "./internal/test/fixture/materialize", "internal/probe/testdata/server", tree)
	mat.Dir = filepath.Join("..", "..")
	if out, err := mat.CombinedOutput(); err != nil {
		t.Fatalf("materialize the fixture host: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	name := fmt.Sprintf("hardware_exporter-test-%d", os.Getpid())
	args := []string{"run", "-d", "--name", name, "--network=host", "-v", tree + ":/host:ro"}
	args = append(args, strings.Fields(*podmanFlags)...)
	args = append(args, loaded, "--web.listen-address="+addr,
		"--path.sysfs=/host/sys", "--path.procfs=/host/proc", "--path.rootfs=/host/root")
	// Registered first: a failed start can leave a created container.
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command(podman, "logs", name).CombinedOutput()
			t.Logf("container log:\n%s", logs)
		}
		exec.Command(podman, "rm", "-f", "-t", "5", name).Run()
	})
	out, err = pm(args...)
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	// The process in the container is the image's user, not root.
	pid, err := pm("inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		t.Fatalf("podman inspect: %v %s", err, pid)
	}
	status, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !uidIs(string(status), UID) {
		t.Errorf("the container's process is not uid %d:\n%s", UID, status)
	}

	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 60s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	for _, want := range []string{
		`version="` + *wantVersion + `"`,
		`product_name="PowerEdge R750"`, // the fixture's DMI, not this machine's
		`hardware_probe_success{probe="system"} 1`,
		`hardware_probe_success{probe="cpu"} 1`,
		`hardware_probe_success{probe="storage"} 1`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics from the container lacks %s", want)
		}
	}
	t.Logf("/metrics from the container: %d bytes, %d lines", len(body), bytes.Count(body, []byte("\n")))
	// For the DaemonSet's memory request and limit; a number, not asserted.
	if status, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/status"); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "VmHWM:") {
				t.Logf("container process %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
}

func uidIs(status string, uid int) bool {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 5 && f[0] == "Uid:" {
			return f[1] == fmt.Sprint(uid) && f[2] == fmt.Sprint(uid)
		}
	}
	return false
}
