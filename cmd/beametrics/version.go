package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// beamModule is the Beam Go SDK's module path, as go.mod requires it.
const beamModule = "github.com/apache/beam/sdks/v2"

func init() {
	register("version", "print the module version, commit, Go and Beam versions", func(args []string) int {
		if len(args) > 0 && isHelpFlag(args[0]) {
			fmt.Fprintln(os.Stdout, "usage: beametrics version   (also: beametrics --version)")
			return 0
		}
		if len(args) > 0 {
			fmt.Fprintln(os.Stderr, "usage: beametrics version   (takes no arguments)")
			return 2
		}
		info, _ := debug.ReadBuildInfo() // nil when the binary has none
		printVersion(os.Stdout, info)
		return 0
	})
}

// printVersion writes what the build recorded about itself. A build
// without VCS stamping (go run, -buildvcs=false, a build outside the git
// checkout) has no commit: it says so rather than guess.
func printVersion(w io.Writer, info *debug.BuildInfo) {
	version, commit, beam := "unknown", "unknown (not recorded: built by go run, with -buildvcs=false or outside a git checkout)", "unknown (no build information)"
	if info != nil {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		var rev, when, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			commit = rev
			if when != "" {
				commit += " (" + when + ")"
			}
			if modified == "true" {
				commit += ", with uncommitted changes"
			}
		}
		beam = "unknown (not in the build's dependencies)"
		for _, d := range info.Deps {
			if d.Path != beamModule {
				continue
			}
			beam = d.Version
			if d.Replace != nil {
				beam = d.Replace.Version + " (replaced: " + d.Replace.Path + ")"
			}
		}
	}
	fmt.Fprintf(w, "beametrics %s\n", version)
	fmt.Fprintf(w, "commit     %s\n", commit)
	fmt.Fprintf(w, "go         %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "beam       %s\n", beam)
}
