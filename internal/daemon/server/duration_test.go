package server

import (
	"testing"
	"time"
)

// A refresh reply names how long the run took in a form a person can
// read: three significant digits, so a 300µs sysfs probe is not "0s" and a
// 83.4s BMC run is not "1m23.412345678s".
func TestTookRoundsToThreeDigits(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{312 * time.Nanosecond, "312ns"},
		{312456 * time.Nanosecond, "312µs"},
		{12345678 * time.Nanosecond, "12.3ms"},
		{1234567890 * time.Nanosecond, "1.23s"},
		{83412345678 * time.Nanosecond, "1m23.4s"},
	} {
		if got := took(c.d); got != c.want {
			t.Errorf("took(%d) = %q, want %q", c.d, got, c.want)
		}
	}
}
