package childtest

import (
	"io"
	"os"
	"strings"
	"testing"
)

const childEnv = "CHILDTEST_CHILD"

// TestStartPiped: the child sees its variable, writes to both outputs, and
// the parent reads them all once the child exits.
func TestStartPiped(t *testing.T) {
	if v := os.Getenv(childEnv); v != "" {
		os.Stdout.WriteString("out " + v + "\n")
		os.Stderr.WriteString("err " + v + "\n")
		os.Exit(3)
	}
	cmd := Command("TestStartPiped", childEnv+"=hello")
	out, stderr := StartPiped(t, cmd)
	b, err := io.ReadAll(out)
	out.Close()
	if err != nil || string(b) != "out hello\n" {
		t.Errorf("stdout %q, %v; want %q", b, err, "out hello\n")
	}
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("child: %v, want exit 3", err)
	}
	if !strings.HasPrefix(stderr.String(), "err hello\n") {
		t.Errorf("stderr %q, want it to start with %q", stderr.String(), "err hello\n")
	}
}
