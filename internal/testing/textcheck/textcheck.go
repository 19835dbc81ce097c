// Package textcheck holds the check the tests of commands make most: that
// an output holds each of several lines or phrases.
package textcheck

import (
	"strings"
	"testing"
)

// Contains fails t once for each of wants that text lacks, naming text as
// what and showing it whole.
func Contains(t testing.TB, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}
