//go:build nvml && linux

// Package nvmltest builds the fake libnvidia-ml the tests load instead of
// the host's (internal/host/nvml/testdata/fakenvml.c) and drives its faults.
package nvmltest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ebitengine/purego"
)

// Fake is one built copy of the fake library. Each Build is a file of its
// own, so dlopen loads it apart from every other copy and its state
// starts fresh.
type Fake struct {
	Path string
	h    uintptr
}

// Source is the fake library's C file.
func Source() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "fakenvml.c")
}

// Build compiles the fake library into a test's temporary directory.
func Build(t testing.TB) *Fake {
	t.Helper()
	path := filepath.Join(t.TempDir(), "libnvidia-ml.so.1")
	Compile(t, Source(), path)
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		t.Fatal(err)
	}
	return &Fake{Path: path, h: h}
}

// Compile builds a shared library from one C file with gcc.
func Compile(t testing.TB, src, out string) {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc builds the fake libnvidia-ml these tests load (deploy/ci/install-tools.sh installs it): %v", err)
	}
	cmd := exec.Command(gcc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
}

func (f *Fake) call(name string, args ...int32) int32 {
	var fn func(int32) int32
	var get func() int32
	if len(args) == 0 {
		purego.RegisterLibFunc(&get, f.h, name)
		return get()
	}
	purego.RegisterLibFunc(&fn, f.h, name)
	return fn(args[0])
}

// SetInitReturn makes nvmlInit_v2 return r (0: succeed).
func (f *Fake) SetInitReturn(r int32) { f.call("fake_set_init_return", r) }

// SetDeviceReturn makes every per-device call return r (0: answer).
func (f *Fake) SetDeviceReturn(r int32) { f.call("fake_set_device_return", r) }

// SetTemperatureReturn makes nvmlDeviceGetTemperature alone return r.
func (f *Fake) SetTemperatureReturn(r int32) { f.call("fake_set_temp_return", r) }

// SetCount sets how many GPUs the library lists (at most 8).
func (f *Fake) SetCount(n int32) { f.call("fake_set_count", n) }

// SetRetiredPages makes the GPU support page retirement and report n
// single-bit retired pages.
func (f *Fake) SetRetiredPages(n int32) { f.call("fake_set_retired_pages", n) }

// Inits counts nvmlInit_v2 calls; Initialised is how many are not yet
// shut down.
func (f *Fake) Inits() int       { return int(f.call("fake_inits")) }
func (f *Fake) Initialised() int { return int(f.call("fake_initialised")) }
