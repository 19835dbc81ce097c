// Command beametrics turns structured logs into windowed metrics.
//
// Where the first argument is a flag (or there is none), it runs the metrics
// pipeline; the Beam worker and the Dataflow template launcher call it that
// way. Otherwise the first argument names a subcommand.
package main

import (
	"fmt"
	"os"
	"sort"
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
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			usage()
		}
		return runPipeline(args)
	}
	if args[0] == "help" {
		usage()
		return 0
	}
	sc, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "beametrics: unknown subcommand %q\n\n", args[0])
		usage()
		return 2
	}
	return sc.run(args[1:])
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: beametrics --config FILE [flags]   run the metrics pipeline")
	fmt.Fprintln(os.Stderr, "       beametrics SUBCOMMAND [args]        run a job; SUBCOMMAND -h for its flags")
	fmt.Fprintln(os.Stderr, "\nsubcommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, subcommands[n].summary)
	}
}
