package statefile

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// HostIdentity names this host for state files: a hash of the machine-id
// under rootfs (etc/machine-id) and the DMI product UUID under sysfs
// (class/dmi/id/product_uuid), each where readable and well formed. A disk
// image cloned onto other hardware keeps its machine-id but not the
// product UUID, so its donor's serial numbers are not served; a reinstall
// on the same hardware gets a new machine-id. It is "" when neither can be
// read.
//
// product_uuid is readable by root only on most kernels, so an exporter
// running unprivileged is identified by its machine-id alone.
//
// The parts are hashed rather than stored: systemd asks that machine-id not
// be exposed, and the hash is all a comparison needs.
func HostIdentity(rootfs, sysfs string) string {
	var parts []string
	if id := machineID(readSmall(filepath.Join(rootfs, "etc", "machine-id"))); id != "" {
		parts = append(parts, "machine-id="+id)
	}
	if u := productUUID(readSmall(filepath.Join(sysfs, "class", "dmi", "id", "product_uuid"))); u != "" {
		parts = append(parts, "product_uuid="+u)
	}
	if len(parts) == 0 {
		return ""
	}
	h := sha256.New()
	io.WriteString(h, "hardware_exporter state host\n")
	io.WriteString(h, strings.Join(parts, "\n"))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// maxIdentitySize bounds reading an identity file: both hold one short line.
const maxIdentitySize = 4096

// readSmall returns the content of a small regular file, or nil. The open
// is non-blocking so that a FIFO in a fixture or a hostile rootfs cannot
// hang the start-up; any error leaves that part of the identity out.
func readSmall(path string) []byte {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxIdentitySize+1))
	if err != nil || len(b) > maxIdentitySize {
		return nil
	}
	return b
}

// machineID returns a machine-id's 32 hex digits in lower case, or "" for
// anything else, such as the "uninitialized" that systemd writes until the
// first boot completes.
func machineID(b []byte) string {
	s := strings.ToLower(strings.TrimSpace(string(b)))
	if len(s) != 32 || !isHex(s) || strings.Trim(s, "0") == "" {
		return ""
	}
	return s
}

// productUUID returns a DMI UUID in lower case, or "" when it is malformed
// or one of the placeholders that firmware ships on many boards alike.
func productUUID(b []byte) string {
	s := strings.ToLower(strings.TrimSpace(string(b)))
	if len(s) != 36 {
		return ""
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return ""
			}
		} else if !isHex(string(c)) {
			return ""
		}
	}
	digits := strings.ReplaceAll(s, "-", "")
	if strings.Trim(digits, "0") == "" || strings.Trim(digits, "f") == "" {
		return ""
	}
	// Left unset by the board vendor and shipped on many machines alike.
	if s == "03000200-0400-0500-0006-000700080009" {
		return ""
	}
	return s
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
