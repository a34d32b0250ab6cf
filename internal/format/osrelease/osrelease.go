// Package osrelease parses os-release(5), the file that names the
// operating system (/etc/os-release, or /usr/lib/os-release).
package osrelease

import (
	"bytes"
	"strings"
)

// MaxSize bounds an os-release file: a dozen short lines in practice.
const MaxSize = 64 << 10

// Parse returns the shell-compatible KEY=value assignments of an os-release
// file, unquoted. Lines that are not assignments are ignored, as systemd
// does, so a malformed line costs that line only.
func Parse(b []byte) map[string]string {
	kv := map[string]string{}
	for line := range bytes.Lines(b) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		key, value, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			continue
		}
		kv[key] = unquoteShell(value)
	}
	return kv
}

// unquoteShell undoes the quoting os-release(5) allows: single quotes taken
// literally, double quotes with backslash escapes of ", \, $ and `.
func unquoteShell(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
			i++
		}
		sb.WriteByte(v[i])
	}
	return sb.String()
}
