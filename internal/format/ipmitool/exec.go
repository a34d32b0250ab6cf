package ipmitool

import (
	"bytes"
	"fmt"
	"strings"
)

// ipmitool can run several commands in one process: `ipmitool exec FILE`
// reads FILE line by line, splits each line on spaces (a '#' starts a
// comment) and runs it as if it were given on the command line; its exit
// status is the last non-zero one of those commands. The commands' output
// follows on stdout, with nothing between them, so the script echoes a
// marker before each (`echo` is an ipmitool command for scripts; it prints
// each argument followed by a space, then a newline). Stderr cannot be told
// apart by command. Source: ipmitool/ipmitool src/ipmishell.c
// (ipmi_exec_main, ipmi_echo_main) and src/ipmitool.c's command table.
// One process for several commands opens the device and reads the SDR
// cache once, not once a command.

// execMarker is the line echoed before the output of command i.
func execMarker(i int) string { return fmt.Sprintf("==hardware_exporter_section_%d==", i) }

// ExecScript is the file `ipmitool exec` reads to run cmds in order, each
// after its marker. A command's words must hold no space, quote or '#',
// which the exec parser would split or cut.
func ExecScript(cmds [][]string) ([]byte, error) {
	var b bytes.Buffer
	for i, c := range cmds {
		if len(c) == 0 {
			return nil, fmt.Errorf("command %d is empty", i)
		}
		for _, w := range c {
			if w == "" || strings.ContainsAny(w, " \t\r\n#'\"") {
				return nil, fmt.Errorf("command %d: word %q cannot be written to an exec file", i, w)
			}
		}
		fmt.Fprintf(&b, "echo %s\n%s\n", execMarker(i), strings.Join(c, " "))
	}
	return b.Bytes(), nil
}

// SplitExec splits the stdout of `ipmitool exec` on an ExecScript of n
// commands into each command's output. A command whose marker is missing
// (ipmitool stopped before it, or printed something else) has a nil
// section; one that printed nothing has an empty, non-nil one. Markers
// must come in order: a marker out of order is left in the section it
// falls in, so a command cannot claim another's output.
func SplitExec(out []byte, n int) [][]byte {
	sections := make([][]byte, n)
	next, cur := 0, -1
	start := 0
	for pos := 0; pos < len(out); {
		end := bytes.IndexByte(out[pos:], '\n')
		lineEnd := len(out)
		if end >= 0 {
			lineEnd = pos + end
		}
		if next < n && string(bytes.TrimSpace(out[pos:lineEnd])) == execMarker(next) {
			if cur >= 0 {
				sections[cur] = out[start:pos:pos]
			}
			cur, next = next, next+1
			start = min(lineEnd+1, len(out))
		}
		pos = lineEnd + 1
	}
	if cur >= 0 {
		sections[cur] = out[start:len(out):len(out)]
	}
	return sections
}
