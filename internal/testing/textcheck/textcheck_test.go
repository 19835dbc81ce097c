package textcheck

import (
	"fmt"
	"testing"
)

// recorder counts failures instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}

func TestContains(t *testing.T) {
	r := &recorder{TB: t}
	Contains(r, "output", "summary: 3 changed\nfailed: 2", "3 changed", "failed: 2", "skipped", "4 changed")
	want := []string{"output lacks \"skipped\":\nsummary: 3 changed\nfailed: 2", "output lacks \"4 changed\":\nsummary: 3 changed\nfailed: 2"}
	if fmt.Sprint(r.errors) != fmt.Sprint(want) {
		t.Errorf("failures %q, want %q", r.errors, want)
	}
}
