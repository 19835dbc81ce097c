// Package childtest runs the test binary again as a child process, for
// tests of what only a real process shows: a standard output whose reader
// goes away (SIGPIPE), exit codes, the environment a process starts with.
package childtest

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// Command returns a command that runs only the test named test of this
// test binary, with env ("NAME=value") added to the environment; that test
// finds its variable set and plays the child's part.
func Command(test string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// StartPiped starts cmd with its standard output a pipe, as a shell
// pipeline gives it, and returns the pipe's read end and the buffer that
// collects cmd's standard error. Closing the read end is how a test acts
// like `| head`; the caller waits for cmd.
func StartPiped(t testing.TB, cmd *exec.Cmd) (*os.File, *bytes.Buffer) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatal(err)
	}
	// Only the child may hold the write end, so that the reader sees the
	// end of the output when the child exits.
	w.Close()
	return r, stderr
}
