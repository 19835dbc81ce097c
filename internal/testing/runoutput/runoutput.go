// Package runoutput reads, for tests, the files a beametrics run writes:
// the local exporter's points and the dead letters. One place knows the
// shape of their JSON lines, so that the tests check values, not parsing,
// and a change of either contract shows in them.
package runoutput

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// decodeStrict decodes one JSON line into v; a field v does not name is an
// error.
func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// readLines parses every line of the file at path. A file that cannot be
// read, a last line without its newline or a line parse refuses fails t;
// unless killed: the writers were killed, so a line one of them was
// writing may be cut short, and a line parse refuses is left out.
func readLines[T any](t testing.TB, path string, killed bool, parse func([]byte) (T, error)) []T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(b, []byte("\n"))
	if last := lines[len(lines)-1]; len(last) > 0 && !killed {
		t.Fatalf("%s: the last line has no newline: %s", path, last)
	}
	lines = lines[:len(lines)-1] // after the final newline, or cut short
	out := make([]T, 0, len(lines))
	for _, l := range lines {
		v, err := parse(l)
		if err != nil {
			if killed {
				continue
			}
			t.Fatalf("%s: line %s: %v", path, l, err)
		}
		out = append(out, v)
	}
	return out
}
