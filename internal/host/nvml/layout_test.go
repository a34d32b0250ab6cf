//go:build nvml && linux

package nvml

import (
	"errors"
	"path/filepath"
	"testing"
	"unsafe"
)

// The structs the library writes into have nvml.h's sizes (x86-64 and
// arm64 alike), so it never writes past them.
func TestStructLayouts(t *testing.T) {
	for name, got := range map[string]uintptr{
		"nvmlPciInfo_t":     unsafe.Sizeof(pciInfo{}),
		"nvmlMemory_t":      unsafe.Sizeof(memoryV1{}),
		"nvmlMemory_v2_t":   unsafe.Sizeof(memoryV2{}),
		"nvmlFieldValue_t":  unsafe.Sizeof(fieldValue{}),
		"nvmlUtilization_t": unsafe.Sizeof(utilization{}),
	} {
		want := map[string]uintptr{"nvmlPciInfo_t": 68, "nvmlMemory_t": 24, "nvmlMemory_v2_t": 40, "nvmlFieldValue_t": 40, "nvmlUtilization_t": 8}[name]
		if got != want {
			t.Errorf("%s: %d bytes, nvml.h has %d", name, got, want)
		}
	}
	if memoryV2Version != uint32(unsafe.Sizeof(memoryV2{}))|2<<24 {
		t.Errorf("nvmlMemory_v2 version %#x", memoryV2Version)
	}
}

// dlopen's failure text is not always there (it came back empty in the
// daemon): a bare soname that does not load is absent whatever it says; a
// path is absent only when there is no such file.
func TestIsNotFound(t *testing.T) {
	empty := errors.New("dlopen libnvidia-ml.so.1: ")
	if !isNotFound("libnvidia-ml.so.1", empty) {
		t.Error("bare soname with an empty dlerror: not taken as absent")
	}
	if isNotFound("/dev/null", empty) {
		t.Error("an existing file that is not a library taken as absent")
	}
	if !isNotFound(filepath.Join(t.TempDir(), "libnvidia-ml.so.1"), empty) {
		t.Error("a path with no file: not taken as absent")
	}
}
