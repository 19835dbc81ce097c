// Package exampleconfigs lists the example configs the repository ships
// (examples/*.yaml), for the tests that must hold for every one of them.
package exampleconfigs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// List returns the paths of the example configs, leaving out their tests
// (*_test.yaml). It fails t when it finds none: a test over no examples
// proves nothing.
func List(t testing.TB) []string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	all, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var configs []string
	for _, f := range all {
		if !strings.HasSuffix(f, "_test.yaml") {
			configs = append(configs, f)
		}
	}
	if len(configs) == 0 {
		t.Fatalf("no example configs in %s", filepath.Join(root, "examples"))
	}
	return configs
}

// moduleRoot is the nearest directory above the test's own (where go test
// runs it) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
