package ipmitool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The stdout of `ipmitool exec` on ExecScript's file, as ipmitool prints
// it (echo adds a space after each word; the commands' output follows with
// nothing between them): no real capture of exec was found, so it is put
// together here from real captures of each command and ipmitool's source
// (src/ipmishell.c, ipmi_echo_main and ipmi_exec_main, at be11d94).
func TestExecScriptAndSplit(t *testing.T) {
	cmds := [][]string{{"sdr", "elist"}, {"dcmi", "power", "reading"}, {"chassis", "status"}}
	script, err := ExecScript(cmds)
	if err != nil {
		t.Fatal(err)
	}
	want := "echo ==hardware_exporter_section_0==\nsdr elist\n" +
		"echo ==hardware_exporter_section_1==\ndcmi power reading\n" +
		"echo ==hardware_exporter_section_2==\nchassis status\n"
	if string(script) != want {
		t.Errorf("script:\n%s\nwant:\n%s", script, want)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	sdr, dcmi, chassis := read("sdr_elist_fixture_r750.txt"), read("dcmi_power_rabe.txt"), read("chassis_status_supermicro_x10.txt")
	out := "==hardware_exporter_section_0== \n" + sdr + "==hardware_exporter_section_1== \n" + dcmi +
		"==hardware_exporter_section_2== \n" + chassis
	got := SplitExec([]byte(out), 3)
	for i, w := range []string{sdr, dcmi, chassis} {
		if string(got[i]) != w {
			t.Errorf("section %d = %q, want %q", i, got[i], w)
		}
	}
	if s, errs := ParseSDR(got[0]); len(s) == 0 || len(errs) != 0 {
		t.Errorf("sdr section: %d sensors, errors %v", len(s), errs)
	}
	if _, err := ParseDCMIPowerReading(got[1]); err != nil {
		t.Errorf("dcmi section: %v", err)
	}
	if _, err := ParseChassisStatus(got[2]); err != nil {
		t.Errorf("chassis section: %v", err)
	}
}

func TestSplitExecMissingAndEmpty(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []string // "<nil>" for a missing section
	}{
		{"nothing printed", "", []string{"<nil>", "<nil>", "<nil>"}},
		{"stopped after the first", "==hardware_exporter_section_0== \nx | 1\n", []string{"x | 1\n", "<nil>", "<nil>"}},
		{"empty middle", "==hardware_exporter_section_0== \na\n==hardware_exporter_section_1== \n==hardware_exporter_section_2== \nc", []string{"a\n", "", "c"}},
		{"out of order stays put", "==hardware_exporter_section_1== \nb\n==hardware_exporter_section_0== \na\n", []string{"a\n", "<nil>", "<nil>"}},
		{"no exec: usage text", "Invalid command: exec\n", []string{"<nil>", "<nil>", "<nil>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitExec([]byte(tt.out), 3)
			for i, w := range tt.want {
				g := string(got[i])
				if got[i] == nil {
					g = "<nil>"
				}
				if g != w {
					t.Errorf("section %d = %q, want %q", i, g, w)
				}
			}
		})
	}
}

func TestExecScriptRejectsWhatExecWouldSplit(t *testing.T) {
	for _, c := range [][]string{{}, {"fru", "print", "0 1"}, {"sdr", "#x"}, {"sdr", ""}, {"a'b"}} {
		if _, err := ExecScript([][]string{c}); err == nil || !strings.Contains(err.Error(), "command 0") {
			t.Errorf("ExecScript(%q) err = %v, want one naming command 0", c, err)
		}
	}
}
