package deadletter_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

// TestNewFilesAreOwnerOnly: dead letters hold raw log lines, so a new file
// is created 0600, by Check and by the writer, whatever the umask allows.
func TestNewFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0) // the most permissive umask
	defer syscall.Umask(old)
	dir := t.TempDir()
	checked := filepath.Join(dir, "checked.jsonl")
	if err := deadletter.Check(checked); err != nil {
		t.Fatal(err)
	}
	written := filepath.Join(dir, "written.jsonl")
	w, err := deadletter.NewWriter(context.Background(), written)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), metricagg.DeadLetter{Reason: "invalid_json", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := deadletter.CloseFiles(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{checked, written} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), m)
		}
	}
}
