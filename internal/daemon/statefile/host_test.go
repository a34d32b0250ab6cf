package statefile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostTree builds a rootfs/sysfs pair in a temp dir; an empty value leaves
// that file out.
func hostTree(t *testing.T, machineID, uuid string) (rootfs, sysfs string) {
	t.Helper()
	root := t.TempDir()
	rootfs, sysfs = filepath.Join(root, "root"), filepath.Join(root, "sys")
	for path, content := range map[string]string{
		filepath.Join(rootfs, "etc", "machine-id"):                 machineID,
		filepath.Join(sysfs, "class", "dmi", "id", "product_uuid"): uuid,
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if content != "" {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rootfs, sysfs
}

// The captures in testdata are read to their exact values.
func TestCapturedIdentityFiles(t *testing.T) {
	for _, tc := range []struct{ host, machineID, uuid string }{
		{"sosreport-master1", "49ee1b2a3a2d42b8ba6d98842d463447", "6a32167a-e2c9-43a3-bc5b-ad14ced54f67"},
		{"warpnix", "8c35da9edeb34a15b6ed6431db07160d", "e1a4ceca-5a17-9544-8673-46dedbe2d412"},
	} {
		root := filepath.Join("testdata", tc.host)
		if got := machineID(readSmall(filepath.Join(root, "etc", "machine-id"))); got != tc.machineID {
			t.Errorf("%s machine-id: %q, want %q", tc.host, got, tc.machineID)
		}
		if got := productUUID(readSmall(filepath.Join(root, "sys", "class", "dmi", "id", "product_uuid"))); got != tc.uuid {
			t.Errorf("%s product_uuid: %q, want %q", tc.host, got, tc.uuid)
		}
	}
}

func TestHostIdentityTellsHostsApart(t *testing.T) {
	master := HostIdentity("testdata/sosreport-master1", "testdata/sosreport-master1/sys")
	warpnix := HostIdentity("testdata/warpnix", "testdata/warpnix/sys")
	// The master's disk image cloned onto the other machine.
	clone := HostIdentity("testdata/sosreport-master1", "testdata/warpnix/sys")
	// The master as an unprivileged user sees it: product_uuid is 0400.
	unprivileged := HostIdentity("testdata/sosreport-master1", "testdata/nonexistent")
	ids := map[string]string{"master": master, "warpnix": warpnix, "clone": clone, "unprivileged": unprivileged}
	seen := map[string]string{}
	for name, id := range ids {
		if len(id) != 32 || !isHex(id) {
			t.Errorf("%s: identity %q is not 32 hex digits", name, id)
		}
		if other, ok := seen[id]; ok {
			t.Errorf("%s and %s have the same identity %s", name, other, id)
		}
		seen[id] = name
	}
	if again := HostIdentity("testdata/sosreport-master1", "testdata/sosreport-master1/sys"); again != master {
		t.Errorf("identity changed between calls: %s then %s", master, again)
	}
	if id := HostIdentity("testdata/nonexistent", "testdata/nonexistent"); id != "" {
		t.Errorf("no identity files: got %q, want \"\"", id)
	}
	// The hash does not reveal the machine-id.
	if strings.Contains(master, "49ee1b2a") {
		t.Errorf("identity %s contains the machine-id", master)
	}
}

// Formatting differences of one id are the same host; junk is left out.
func TestHostIdentityNormalizesAndLeavesOutJunk(t *testing.T) {
	want := HostIdentity(hostTree(t, "49ee1b2a3a2d42b8ba6d98842d463447\n", "6a32167a-e2c9-43a3-bc5b-ad14ced54f67\n"))
	if got := HostIdentity(hostTree(t, "  49EE1B2A3A2D42B8BA6D98842D463447  ", "6A32167A-E2C9-43A3-BC5B-AD14CED54F67")); got != want {
		t.Errorf("upper case and spaces: %s, want %s", got, want)
	}
	onlyMachine := HostIdentity(hostTree(t, "49ee1b2a3a2d42b8ba6d98842d463447\n", ""))
	for _, uuid := range []string{
		"00000000-0000-0000-0000-000000000000\n",
		"ffffffff-ffff-ffff-ffff-ffffffffffff\n",
		"03000200-0400-0500-0006-000700080009\n", // a placeholder shipped on many boards
		"Not Settable\n",
		"6a32167a-e2c9-43a3-bc5b-ad14ced54f6\n",    // a digit short
		"6a32167a+e2c9-43a3-bc5b-ad14ced54f67\n",   // not a dash
		"6a32167a-e2c9-43a3-bc5b-ad14ced54fg7\n",   // not hex
		"6a32167a-e2c9-43a3-bc5b-ad14ced54f67\x00", // trailing NUL is not a UUID
	} {
		if got := HostIdentity(hostTree(t, "49ee1b2a3a2d42b8ba6d98842d463447\n", uuid)); got != onlyMachine {
			t.Errorf("product_uuid %q was not left out", uuid)
		}
	}
	onlyUUID := HostIdentity(hostTree(t, "", "6a32167a-e2c9-43a3-bc5b-ad14ced54f67\n"))
	for _, id := range []string{
		"uninitialized\n", // systemd's, until the first boot completes
		"00000000000000000000000000000000\n",
		"49ee1b2a3a2d42b8ba6d98842d46344\n",
		"49ee1b2a3a2d42b8ba6d98842d463447\n49ee1b2a3a2d42b8ba6d98842d463447\n",
		"49ee1b2a-3a2d-42b8-ba6d-98842d463447\n",
	} {
		if got := HostIdentity(hostTree(t, id, "6a32167a-e2c9-43a3-bc5b-ad14ced54f67\n")); got != onlyUUID {
			t.Errorf("machine-id %q was not left out", id)
		}
	}
}

func TestHostIdentityReadsHostileFilesSafely(t *testing.T) {
	rootfs, sysfs := hostTree(t, "", "")
	// A FIFO nobody writes to: a blocking open would hang for ever.
	if err := syscall.Mkfifo(filepath.Join(rootfs, "etc", "machine-id"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Huge: only the bound is read, and it is left out.
	big := strings.Repeat("6a32167a-e2c9-43a3-bc5b-ad14ced54f67\n", 1<<12)
	if err := os.WriteFile(filepath.Join(sysfs, "class", "dmi", "id", "product_uuid"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() { done <- HostIdentity(rootfs, sysfs) }()
	select {
	case id := <-done:
		if id != "" {
			t.Errorf("got %q from a FIFO and an oversized file", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("HostIdentity hangs on a FIFO")
	}
	// A directory where a file belongs.
	rootfs, sysfs = hostTree(t, "", "")
	if err := os.Mkdir(filepath.Join(rootfs, "etc", "machine-id"), 0o755); err != nil {
		t.Fatal(err)
	}
	if id := HostIdentity(rootfs, sysfs); id != "" {
		t.Errorf("got %q from a directory", id)
	}
}
