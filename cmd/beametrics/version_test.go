package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionBeamIsGoMod: the Beam version printed is the one go.mod
// requires, read from go.mod itself.
func TestVersionBeamIsGoMod(t *testing.T) {
	want := requiredVersion(t, "../../go.mod", beamModule)
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("skipping: this test binary carries no build information")
	}
	var b bytes.Buffer
	printVersion(&b, info)
	if !strings.Contains(b.String(), "\nbeam       "+want+"\n") {
		t.Errorf("go.mod requires Beam %s; version says:\n%s", want, b.String())
	}
	code, out, errOut := runChild(t, "--version")
	if code != 0 || errOut != "" || !strings.Contains(out, "\nbeam       "+want+"\n") || !strings.HasPrefix(out, "beametrics ") {
		t.Errorf("--version: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

// TestVersionSaysWhatTheBuildRecorded: a commit when VCS stamping recorded
// one, "unknown" when it did not; nothing is guessed.
func TestVersionSaysWhatTheBuildRecorded(t *testing.T) {
	stamped := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/beametrics/beametrics", Version: "v1.2.3"},
		Deps: []*debug.Module{{Path: "cloud.google.com/go", Version: "v0.1.0"}, {Path: beamModule, Version: "v2.77.0"}},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		},
	}
	bare := &debug.BuildInfo{Main: debug.Module{Path: "github.com/beametrics/beametrics", Version: "(devel)"}}
	for _, c := range []struct {
		info *debug.BuildInfo
		want []string
	}{
		{stamped, []string{"beametrics v1.2.3", "commit     0123abc (2026-12-01T10:00:00Z), with uncommitted changes", "beam       v2.77.0"}},
		{bare, []string{"beametrics (devel)", "commit     unknown (not recorded", "beam       unknown (not in the build's dependencies)"}},
		{nil, []string{"beametrics unknown", "commit     unknown", "beam       unknown (no build information)"}},
	} {
		var b bytes.Buffer
		printVersion(&b, c.info)
		lines := strings.Split(b.String(), "\n")
		if len(lines) != 5 || !strings.HasPrefix(lines[2], "go         go1.") {
			t.Errorf("want 4 lines with the Go version third:\n%s", b.String())
			continue
		}
		for i, w := range c.want {
			if k := []int{0, 1, 3}[i]; !strings.HasPrefix(lines[k], w) {
				t.Errorf("line %d: %q, want it to start %q", k+1, lines[k], w)
			}
		}
	}
}

// requiredVersion reads module's version from a require line of go.mod
// (inside a require block or a single-line require).
func requiredVersion(t *testing.T, gomod, module string) string {
	t.Helper()
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(s.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1]
		}
	}
	t.Fatalf("%s does not require %s", gomod, module)
	return ""
}
