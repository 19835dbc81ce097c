// Package golden compares a test's output with a file kept next to the
// test (a golden file), and rewrites that file when the tests run with
// -update-golden, so a reviewer sees an intended change of output as a
// diff. (Not -update: Beam's Dataflow runner, linked into some test
// binaries, defines that flag.)
package golden

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update-golden", false, "rewrite the golden files with the tests' output")

// Check fails t unless got is the content of the file at path; with
// -update-golden it first writes got there.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update-golden creates it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (go test -update-golden rewrites it), %s; the output:\n%s", path, firstDiff(string(got), string(want)), got)
	}
}

// firstDiff names the first line where got and want differ.
func firstDiff(got, want string) string {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if gl[i] != wl[i] {
			return fmt.Sprintf("first at line %d:\n got: %.200s\nwant: %.200s\n", i+1, gl[i], wl[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(gl), len(wl))
}
