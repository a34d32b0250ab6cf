package probe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/hardware-exporter/hardware_exporter/internal/host/ethtool"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// testOptics is the fixture host's module images: an SFP+ LR, an SFP DAC
// without DOM, a QSFP28 and a QSFP-DD (see testdata/README.md).
var testOptics = func() string {
	dir, err := filepath.Abs(filepath.Join("testdata", "optics"))
	if err != nil {
		panic(err)
	}
	return dir
}()

func init() {
	fixtureOptions["optics"] = &OpticsOptions{Images: confval.Path(testOptics)}
	// No test asks the host's kernel for its modules.
	opticsOpen = func() (opticsModules, error) { return nil, errors.New("tests read no host modules") }
}

// The probe on the fixture host's images, against testdata/optics.golden.
func TestOpticsGolden(t *testing.T) { checkGolden(t, "optics") }

// fakeModules serves images by interface, as the kernel reader would.
type fakeModules struct {
	images map[string]string // interface -> image file below testOptics
	errs   map[string]error
	asked  []string
	closed bool
}

func (f *fakeModules) Module(_ context.Context, name string) ([]byte, error) {
	f.asked = append(f.asked, name)
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	file, ok := f.images[name]
	if !ok {
		return nil, ethtool.ErrNoModule
	}
	return os.ReadFile(filepath.Join(testOptics, file))
}

func (f *fakeModules) Close() error { f.closed = true; return nil }

func withFakeModules(t *testing.T, f *fakeModules) {
	t.Helper()
	old := opticsOpen
	opticsOpen = func() (opticsModules, error) { return f, nil }
	t.Cleanup(func() { opticsOpen = old })
}

func runOptics(t *testing.T, o *OpticsOptions) ([]prometheus.Metric, *Skips) {
	t.Helper()
	skips := NewSkips(nil)
	ms, err := opticsProbe{}.Probe(context.Background(), Env{Paths: fixturePaths, Options: o}, skips)
	if err != nil {
		t.Fatal(err)
	}
	return ms, skips
}

func interfacesOf(t *testing.T, ms []prometheus.Metric) []string {
	t.Helper()
	var out []string
	for _, m := range ms {
		if m.Desc() != opticsModuleInfo {
			continue
		}
		out = append(out, labelOf(t, m, "interface"))
	}
	slices.Sort(out)
	return out
}

// The kernel path: the physical interfaces of sysfs are asked (not lo,
// bond0 or bonding_masters); an RJ45 port (ErrNoModule) costs nothing, a
// failing read one skip, and the reader is closed.
func TestOpticsKernelPath(t *testing.T) {
	f := &fakeModules{
		images: map[string]string{"ens1f0np0": "ens1f0np0.bin", "ens3f1np1": "ens3f1np1.bin"},
		errs:   map[string]error{"ens3f0np0": syscall.EIO},
	}
	withFakeModules(t, f)
	ms, skips := runOptics(t, newOpticsOptions())
	if got := interfacesOf(t, ms); !slices.Equal(got, []string{"ens1f0np0", "ens3f1np1"}) {
		t.Errorf("modules on %v, want ens1f0np0 ens3f1np1", got)
	}
	want := []string{"eno8303", "eno8403", "ens1f0np0", "ens1f1np1", "ens3f0np0", "ens3f1np1", "ib0"}
	if !slices.Equal(f.asked, want) {
		t.Errorf("asked %v, want the physical interfaces %v", f.asked, want)
	}
	if skips.Count() != 1 {
		t.Errorf("%d skips, want 1 (ens3f0np0's EIO)", skips.Count())
	}
	if !f.closed {
		t.Error("module reader not closed")
	}
}

// include/exclude filter before any read: a filtered interface is not
// asked at all.
func TestOpticsFilters(t *testing.T) {
	f := &fakeModules{images: map[string]string{"ens1f0np0": "ens1f0np0.bin", "ens3f0np0": "ens3f0np0.bin"}}
	withFakeModules(t, f)
	o := newOpticsOptions()
	o.Include = confval.Regexp{Regexp: regexp.MustCompile("^ens")}
	o.Exclude = confval.Regexp{Regexp: regexp.MustCompile("^ens3")}
	ms, _ := runOptics(t, o)
	if got := interfacesOf(t, ms); !slices.Equal(got, []string{"ens1f0np0"}) {
		t.Errorf("modules on %v, want ens1f0np0", got)
	}
	if !slices.Equal(f.asked, []string{"ens1f0np0", "ens1f1np1"}) {
		t.Errorf("asked %v, want only ens1f0np0 ens1f1np1", f.asked)
	}
}

// The flag tags the generic --probe.optics.* flags are made from.
func TestOpticsFlagTags(t *testing.T) {
	for field, want := range map[string]string{"Include": "device-include", "Exclude": "device-exclude"} {
		f, _ := reflect.TypeFor[OpticsOptions]().FieldByName(field)
		if got := f.Tag.Get("flag"); got != want {
			t.Errorf("%s flag tag %q, want %q", field, got, want)
		}
	}
}

// A reader that cannot open fails the run (hardware_probe_success 0),
// which keeps the last good metrics.
func TestOpticsOpenFails(t *testing.T) {
	old := opticsOpen
	opticsOpen = func() (opticsModules, error) { return nil, errors.New("no netlink") }
	t.Cleanup(func() { opticsOpen = old })
	_, err := opticsProbe{}.Probe(context.Background(), Env{Paths: fixturePaths, Options: newOpticsOptions()}, NewSkips(nil))
	if err == nil || !strings.Contains(err.Error(), "no netlink") {
		t.Errorf("err %v, want the reader's", err)
	}
}

// Bad images cost their own module: garbage, an unknown identifier, an
// oversized file, an empty one; a missing images directory fails the run.
func TestOpticsBadImages(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(testOptics, "ens3f0np0.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"good.bin":    good,
		"garbage.bin": []byte("not a module"),
		"cxp.bin":     append([]byte{0x0E}, make([]byte, 255)...),
		"huge.bin":    make([]byte, 1<<20),
		"empty.bin":   nil,
		"notes.txt":   []byte("ignored"),
	} {
		writeFile(t, filepath.Join(dir, name), string(b))
	}
	ms, skips := runOptics(t, &OpticsOptions{Images: confval.Path(dir)})
	if got := interfacesOf(t, ms); !slices.Equal(got, []string{"good"}) {
		t.Errorf("modules %v, want good", got)
	}
	if skips.Count() != 4 {
		t.Errorf("%d skips, want 4", skips.Count())
	}
	_, err = opticsProbe{}.Probe(context.Background(), Env{Paths: fixturePaths, Options: &OpticsOptions{Images: confval.Path(filepath.Join(dir, "nope"))}}, NewSkips(nil))
	if err == nil {
		t.Error("a missing images directory did not fail the run")
	}
}

// The series a module costs, by type (the numbers README's probe notes
// give): info, DOM flag, wavelength, temperature, voltage, 3 per lane and
// 20 thresholds; a module without DOM costs 2.
func TestOpticsSeriesPerModule(t *testing.T) {
	ms, _ := runOptics(t, fixtureOptions["optics"].(*OpticsOptions))
	per := map[string]int{}
	for _, m := range ms {
		per[labelOf(t, m, "interface")]++
	}
	want := map[string]int{"ens1f0np0": 28, "ens1f1np1": 2, "ens3f0np0": 37, "ens3f1np1": 37}
	for k, v := range want {
		if per[k] != v {
			t.Errorf("%s: %d series, want %d", k, per[k], v)
		}
	}
	if n := testutil.CollectAndCount(collected{p: opticsProbe{}, metrics: ms}); n != 104 {
		t.Errorf("%d series in all, want 104", n)
	}
}

// labelOf returns a series' value of label name.
func labelOf(t *testing.T, m prometheus.Metric, name string) string {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	for _, l := range d.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// BenchmarkOptics is one run on the fixture host's four module images:
// the probe's own cost (reading files, decoding, mapping), without the
// I2C time a kernel read adds (tens of milliseconds a page).
func BenchmarkOptics(b *testing.B) { benchmarkProbes(b, "optics") }

// A hostile images directory costs nothing but its own files: a FIFO
// named like an image does not block, a link (to /dev/zero, or to a file
// outside the directory) is not followed, a sparse 1 GiB file is refused
// after the decoder's largest image; the good image is still exported.
func TestOpticsHostileImages(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(testOptics, "ens1f0np0.bin"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "good.bin"), string(good))
	secret := secretOutside(t)
	for name, plant := range map[string]func(string) error{
		"fifo.bin":   fifo,
		"zero.bin":   symlinkTo("/dev/zero"),
		"secret.bin": symlinkTo(secret),
		"sparse.bin": sparse(1 << 30),
	} {
		if err := plant(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	ms, skips := runOptics(t, &OpticsOptions{Images: confval.Path(dir)})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %v", d)
	}
	if got := interfacesOf(t, ms); !slices.Equal(got, []string{"good"}) {
		t.Errorf("modules %v, want good only", got)
	}
	if skips.Count() != 1 {
		t.Errorf("%d skips, want 1 (the sparse file; FIFO and links are not images)", skips.Count())
	}
}
