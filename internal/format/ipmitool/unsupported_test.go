package ipmitool

import (
	"errors"
	"testing"
)

// An optional command (chassis status, mc info, dcmi) that the BMC does
// not implement answers with a completion code ipmitool prints in words
// (lib/ipmi_strings.c, completion_code_vals); that is an absent feature,
// not a failed read. A real failure ("Unspecified error", ff; no answer)
// is not.
func TestUnsupported(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want bool
	}{
		// ipmitool's formats (lib/ipmi_chassis.c, lib/ipmi_mc.c) with c1.
		{"Error sending Chassis Status command: Invalid command\n", true},
		{"Get Device ID command failed: Invalid command\n", true},
		{"Get Device ID command failed: 0xc1 Invalid command\n", true},
		{"Error sending Chassis Status command: Invalid command on LUN\n", true},
		{"Error sending Chassis Status command: Command not supported in present state\n", true},
		{"Error sending Chassis Status command: Cannot execute command, command disabled\n", true},
		{"    DCMI request failed because: Invalid command (c1)\n", true},
		// Real failures, as others captured them: openbmc/openbmc#1913,
		// and `ipmitool mc info` in a linux-kernel thread (2022).
		{"Error sending Chassis Status command: Unspecified error\n", false},
		{"No valid response received\nGet Device ID command failed: Unspecified error\n", false},
		{"Get Device ID command failed\n", false},
		{"Could not open device at /dev/ipmi0 or /dev/ipmi/0 or /dev/ipmidev/0: No such file or directory\n", false},
		{"", false},
		// Words in a value, not in a failure line.
		{"Product Name          : Invalid command\n", false},
	} {
		err := Unsupported([]byte(tc.out))
		if got := errors.Is(err, ErrUnsupported); got != tc.want {
			t.Errorf("Unsupported(%q) = %v, want unsupported %v", tc.out, err, tc.want)
		}
	}
}
