package exampleconfigs

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestListsTheShippedExamples: quickstart.yaml ships with a test file;
// the config is listed, its test is not.
func TestListsTheShippedExamples(t *testing.T) {
	var names []string
	for _, f := range List(t) {
		names = append(names, filepath.Base(f))
	}
	if !slices.Contains(names, "quickstart.yaml") || slices.Contains(names, "quickstart_test.yaml") {
		t.Errorf("List = %q, want quickstart.yaml and no *_test.yaml", names)
	}
}
