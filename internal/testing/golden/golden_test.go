package golden

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps failures instead of failing; Fatal
// ends the goroutine, as it ends a test.
type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = append(r.failed, "error") }
func (r *recorder) Fatalf(string, ...any) {
	r.failed = append(r.failed, "fatal")
	runtime.Goexit()
}

// check runs Check and returns the failures it reported.
func check(t *testing.T, path, got string) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Check(r, path, []byte(got))
	}()
	<-done
	return strings.Join(r.failed, ",")
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.golden")
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		got  string
		want string
	}{
		{"a\nb\n", ""},
		{"a\nc\n", "error"},
		{"a\n", "error"},
	} {
		if got := check(t, path, tc.got); got != tc.want {
			t.Errorf("Check(%q): failures %q, want %q", tc.got, got, tc.want)
		}
	}
	if got := check(t, filepath.Join(t.TempDir(), "missing.golden"), "x"); got != "fatal" {
		t.Errorf("missing file: failures %q, want fatal", got)
	}
}

func TestFirstDiff(t *testing.T) {
	if got := firstDiff("a\nb\nc", "a\nX\nc"); !strings.Contains(got, "line 2") || !strings.Contains(got, "got: b") || !strings.Contains(got, "want: X") {
		t.Errorf("firstDiff = %q, want line 2: b vs X", got)
	}
	if got := firstDiff("a", "a\nb"); got != "1 lines, want 2" {
		t.Errorf("firstDiff = %q", got)
	}
}
