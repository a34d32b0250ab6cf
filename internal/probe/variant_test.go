package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
	"github.com/hardware-exporter/hardware_exporter/internal/test/fixture"
)

// The fabric variant is the fixture server grown into a GPU node: its two
// ens3 ports at 100G, each with the fixture's QSFP28 module, eight InfiniBand HCAs (the fixture's mlx5_2 and seven
// clones, one port each, as on an 8-GPU training node) and four AMD GPUs
// (the fixture's Vega and three clones). Issue 20 asks for each new family's
// series count and run cost on such a host; TestFabricVariantSeries and
// BenchmarkFabricVariant give them (go test -run FabricVariant -v -bench
// FabricVariant ./internal/probe).

const (
	ibDevice  = "sys/devices/pci0000:c9/0000:c9:02.0/0000:ca:00.0"
	amdDevice = "sys/devices/pci0000:00/0000:00:01.0/0000:09:00.0"
)

// fabricVariant materializes the fixture server into dir and adds the
// clones. It returns the tree's Paths.
func fabricVariant(tb testing.TB, dir string) Paths {
	tb.Helper()
	root := filepath.Join(dir, "server")
	if err := fixture.Materialize(filepath.Join("testdata", "server"), root); err != nil {
		tb.Fatal(err)
	}
	for i := 1; i < 8; i++ {
		addr := fmt.Sprintf("0000:ca:00.%d", i)
		hca, netdev := fmt.Sprintf("mlx5_%d", 2+i), fmt.Sprintf("ib%d", i)
		cloneDevice(tb, root, ibDevice, map[string]string{"0000:ca:00.0": addr, "mlx5_2": hca, "ib0": netdev})
		dev := filepath.Join("..", "..", filepath.Dir(ibDevice[len("sys/"):]), addr)
		symlink(tb, filepath.Join(dev, "infiniband", hca), filepath.Join(root, "sys/class/infiniband", hca))
		symlink(tb, filepath.Join(dev, "net", netdev), filepath.Join(root, "sys/class/net", netdev))
		symlink(tb, filepath.Join("..", dev), filepath.Join(root, "sys/bus/pci/devices", addr))
	}
	for i := 1; i < 4; i++ {
		addr := fmt.Sprintf("0000:%02x:00.0", 9+i)
		card, hwmon := fmt.Sprintf("card%d", 10+i), fmt.Sprintf("hwmon%d", 100+i)
		cloneDevice(tb, root, amdDevice, map[string]string{"0000:09:00.0": addr, "card1": card, "hwmon7": hwmon})
		dev := filepath.Join("..", "..", filepath.Dir(amdDevice[len("sys/"):]), addr)
		symlink(tb, filepath.Join(dev, "drm", card), filepath.Join(root, "sys/class/drm", card))
		symlink(tb, filepath.Join(dev, "hwmon", hwmon), filepath.Join(root, "sys/class/hwmon", hwmon))
		symlink(tb, filepath.Join("..", dev), filepath.Join(root, "sys/bus/pci/devices", addr))
	}
	images := filepath.Join(dir, "optics")
	if err := os.CopyFS(images, os.DirFS(testOptics)); err != nil {
		tb.Fatal(err)
	}
	qsfp28, err := os.ReadFile(filepath.Join(testOptics, "ens3f0np0.bin"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(images, "ens3f1np1.bin"), qsfp28, 0o644); err != nil {
		tb.Fatal(err)
	}
	for _, port := range []string{"ens3f0np0", "ens3f1np1"} {
		if err := os.WriteFile(filepath.Join(root, "sys/class/net", port, "speed"), []byte("100000\n"), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return Paths{ProcFS: filepath.Join(root, "proc"), SysFS: filepath.Join(root, "sys"), RootFS: filepath.Join(root, "root")}
}

// fabricOptions are the options each fabric probe runs with on the variant
// made in dir: the fixture's, but the optics images are the variant's.
func fabricOptions(name, dir string) any {
	if name == "optics" {
		return &OpticsOptions{Images: confval.Path(filepath.Join(dir, "optics"))}
	}
	return fixtureOptions[name]
}

// cloneDevice copies the device directory rel below root to a sibling,
// replacing each key of rename by its value in names and symlink targets.
func cloneDevice(tb testing.TB, root, rel string, rename map[string]string) {
	tb.Helper()
	replace := func(s string) string {
		for from, to := range rename {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}
	if err := fixture.CopyTree(filepath.Join(root, rel), filepath.Join(root, replace(rel)), replace); err != nil {
		tb.Fatal(err)
	}
}

func symlink(tb testing.TB, target, link string) {
	tb.Helper()
	if err := os.Symlink(target, link); err != nil {
		tb.Fatal(err)
	}
}

// fabricProbes are the probes whose output the variant grows.
var fabricProbes = []string{"network", "optics", "gpu", "hwmon", "pci"}

// seriesByFamily runs the probe on paths and counts its series per family.
func seriesByFamily(t *testing.T, name string, paths Paths, options any) map[string]int {
	t.Helper()
	p, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := p.Probe(context.Background(), Env{Paths: paths, Options: options}, NewSkips(nil))
	if err != nil {
		t.Fatalf("probe %s: %v", name, err)
	}
	out := map[string]int{}
	for _, mf := range gather(t, collected{p: p, metrics: ms}) {
		out[mf.GetName()] = len(mf.GetMetric())
	}
	if lp, ok := p.(layoutProbe); ok {
		// Every value the variant's probes re-read each minute fits the
		// probe's descriptor budget: none falls back to a read by name.
		if n := lp.kept(); n >= maxKeptPerProbe {
			t.Errorf("%s keeps %d descriptors, the whole budget: some values are read by name", name, n)
		} else {
			t.Logf("%s keeps %d descriptors", name, n)
		}
		lp.Close()
	}
	return out
}

// TestFabricVariantSeries checks that the clones are read as devices of
// their own (eight HCAs' counters, four AMD GPUs, 100G ports) and logs each
// family's series count on the fixture server and on the variant.
func TestFabricVariantSeries(t *testing.T) {
	dir := t.TempDir()
	variant := fabricVariant(t, dir)
	base := map[string]int{}
	grown := map[string]int{}
	for _, name := range fabricProbes {
		for f, n := range seriesByFamily(t, name, fixturePaths, fixtureOptions[name]) {
			base[f] += n
		}
		for f, n := range seriesByFamily(t, name, variant, fabricOptions(name, dir)) {
			grown[f] += n
		}
	}
	// Families that grow with the cloned devices, and by how much: eight
	// HCAs of one port for one, four AMD GPUs for one.
	for family, factor := range map[string]int{
		"hardware_network_infiniband_port_active":          8,
		"hardware_network_infiniband_port_errors_total":    8,
		"hardware_network_infiniband_port_hw_events_total": 8,
		"hardware_network_infiniband_device_info":          8,
		"hardware_gpu_amd_info":                            4,
		"hardware_gpu_amd_utilization_ratio":               4,
		"hardware_gpu_amd_ras_errors_total":                4,
	} {
		if base[family] == 0 {
			t.Errorf("%s: no series on the fixture server", family)
			continue
		}
		if grown[family] != factor*base[family] {
			t.Errorf("%s: %d series on the variant, want %d×%d", family, grown[family], factor, base[family])
		}
	}
	var families []string
	for f := range grown {
		families = append(families, f)
	}
	sort.Strings(families)
	var total, totalBase int
	for _, f := range families {
		if grown[f] != base[f] {
			t.Logf("%-60s %5d %5d", f, base[f], grown[f])
		}
		total += grown[f]
		totalBase += base[f]
	}
	t.Logf("%-60s %5d %5d  (probes %s; changed families listed)", "total", totalBase, total, strings.Join(fabricProbes, ", "))
}

// BenchmarkFabricVariant is one run of each fabric probe on the variant,
// BenchmarkFabricBase the same on the fixture server, side by side.
func BenchmarkFabricVariant(b *testing.B) {
	dir := b.TempDir()
	paths := fabricVariant(b, dir)
	benchmarkFabric(b, paths, func(name string) any { return fabricOptions(name, dir) })
}

func BenchmarkFabricBase(b *testing.B) {
	benchmarkFabric(b, fixturePaths, func(name string) any { return fixtureOptions[name] })
}

func benchmarkFabric(b *testing.B, paths Paths, options func(string) any) {
	for _, name := range fabricProbes {
		b.Run(name, func(b *testing.B) { benchmarkProbesOn(b, paths, options, name) })
	}
}
