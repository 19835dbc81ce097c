// Command beametrics turns structured logs into windowed metrics.
//
// Where the first argument is a flag (or there is none), it runs the metrics
// pipeline; the Beam worker and the Dataflow template launcher call it that
// way. Otherwise the first argument names a subcommand.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// subcommand is one named job of the binary. run receives the arguments after
// the subcommand's name and returns the process exit code.
type subcommand struct {
	summary string
	run     func(args []string) int
}

// subcommands is filled by the init functions of the cmd_*.go files, one file
// per job, so that each job's wiring stays next to nothing else.
var subcommands = map[string]subcommand{}

func register(name, summary string, run func(args []string) int) {
	if _, dup := subcommands[name]; dup {
		panic("beametrics: subcommand registered twice: " + name)
	}
	subcommands[name] = subcommand{summary: summary, run: run}
}

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		switch {
		case helpAsked(args):
			printMainHelp(os.Stdout)
			return 0
		case len(args) == 0: // the quick start on the embedded default
		case args[0] == "--help-beam" || args[0] == "-help-beam":
			printBeamHelp(os.Stdout)
			return 0
		case args[0] == "--version" || args[0] == "-version":
			return subcommands["version"].run(args[1:])
		}
		// A mistyped flag gets the flag package's one-line error and
		// this, not the ~90 flags of Beam's flag set.
		flag.CommandLine.Usage = func() {
			fmt.Fprintln(os.Stderr, "run 'beametrics --help' for the flags")
		}
		quietBeamLogs()
		return runPipeline(args)
	}
	if args[0] == "help" {
		printMainHelp(os.Stdout)
		return 0
	}
	sc, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "beametrics: unknown subcommand %q; 'beametrics --help' lists them\n", args[0])
		return 2
	}
	return sc.run(args[1:])
}
