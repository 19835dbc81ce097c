package engine

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine is the core: it must not depend on an output layer, so that
// exporters can change without touching it.
func TestNoExporterDependency(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH: cannot list the engine's dependencies")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/beametrics/beametrics/exporters") {
			t.Errorf("the engine depends on %s", pkg)
		}
	}
}
