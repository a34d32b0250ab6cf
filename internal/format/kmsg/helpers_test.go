package kmsg

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dmesgMessage strips what dmesg, journalctl and syslog put before a kernel
// message ("May  7 06:45:12 errol kernel: [21584690.529862] ",
// "[Mon Jan 27 19:27:15 2020] ", "[   84.977164] "), leaving the text
// /dev/kmsg carries after ';'.
func dmesgMessage(line string) string {
	if _, after, ok := strings.Cut(line, "kernel: "); ok {
		line = after
	}
	line = strings.TrimLeft(line, " ")
	if strings.HasPrefix(line, "[") {
		if i := strings.Index(line, "] "); i > 0 && i < 40 {
			line = line[i+2:]
		}
	}
	return strings.TrimLeft(line, " ")
}

// captureLines returns the lines of a dmesg-style capture under testdata/captures.
func captureLines(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func writeBenchFile(b *testing.B, path string, n int) {
	b.Helper()
	if err := os.WriteFile(path, []byte(records(0, n)), 0o600); err != nil {
		b.Fatal(err)
	}
}
