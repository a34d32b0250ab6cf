package deploy

import (
	"bytes"
	"os/exec"
	"testing"
)

func commandWithStdin(t *testing.T, stdin []byte, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	return cmd
}
