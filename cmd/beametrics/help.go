package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/beametrics/beametrics/pipeline"
)

// Help for the pipeline lists beametrics' own flags first, in the groups of
// README's flag table, and points to --help-beam for the ~60 flags Beam and
// its Dataflow runner register on the same flag set.

// flagGroup is one group of README's flag table (its bold rows; a test
// keeps the two equal). A flag belongs to the first
// group naming it or one of its prefixes; names keep README's order.
type flagGroup struct {
	title    string
	names    []string
	prefixes []string
}

var pipelineFlagGroups = []flagGroup{
	{title: "What to measure", names: []string{"config", "metrics", "metric-name", "metric-type", "metric-field", "metric-labels", "dynamic-labels", "filter-conditions"}},
	{title: "Where records come from", names: []string{"subscription", "input", "max-delay", "pullers", "max-disorder"}},
	{title: "Windows and event time", names: []string{"window-size", "allowed-lateness", "event-time-field", "event-time-format"}},
	{title: "Where metrics and refused records go", names: []string{"export-type", "dead-letter"}, prefixes: []string{"monitoring-", "prometheus-", "local-"}},
	{title: "The run itself", names: []string{"drain-timeout", "progress-interval", "verbose"}},
	{title: "Compatibility", names: []string{"dataflow-template-type", "project-id"}},
}

// beamUsageFixes replaces Beam's descriptions that mislead on a local run:
// "(required)" on flags only Dataflow (or a portable job server) needs, and
// a runner flag that does not say what the default is.
var beamUsageFixes = map[string]string{
	"runner":           "Beam runner: prism (the default: Beam's own local runner, in this process) or dataflow; direct means prism",
	"region":           "GCP region of the Dataflow job (Dataflow only; required there)",
	"staging_location": "GCS location where Dataflow stages the worker binary (Dataflow only; required there)",
	"endpoint":         "job service endpoint of a portable runner (not used by prism or Dataflow)",
}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// helpAsked reports whether args ask for help: -h, -help or --help before
// any "--" (after it, arguments belong to someone else).
func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

// pipelineFlags returns a flag set holding only beametrics' own pipeline
// flags: the ones runPipeline adds to Beam's.
func pipelineFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("beametrics", flag.ContinueOnError)
	var o pipeline.Options
	o.RegisterFlags(fs)
	fs.Var(verboseFlag{}, "verbose", verboseUsage)
	return fs
}

// printMainHelp writes the usage, the subcommands and beametrics' own flags,
// grouped, then the pointer to Beam's flags.
func printMainHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: beametrics --config FILE [flags]   run the metrics pipeline (flags only)")
	fmt.Fprintln(w, "       beametrics SUBCOMMAND [args]        run a job; beametrics SUBCOMMAND -h for its flags")
	fmt.Fprintln(w, "       beametrics --version | --help-beam")
	fmt.Fprintln(w, "\nsubcommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, subcommands[n].summary)
	}

	own := pipelineFlags()
	grouped := map[string]bool{}
	for _, g := range pipelineFlagGroups {
		printFlagGroup(w, g.title, g.flags(own, grouped), nil)
	}
	var rest []*flag.Flag // a flag added without a group still shows
	own.VisitAll(func(f *flag.Flag) {
		if !grouped[f.Name] {
			rest = append(rest, f)
		}
	})
	printFlagGroup(w, "Other", rest, nil)

	fmt.Fprintln(w, "\nBeam runner flags (Beam's own, on the same command line):")
	if f := flag.Lookup("runner"); f != nil {
		printFlag(w, f, beamUsageFixes)
	}
	fmt.Fprintln(w, "  Dataflow's flags (--project, --region, --staging_location, --temp_location, ...) are")
	fmt.Fprintln(w, "  needed only with --runner=dataflow (docs/dataflow.md).")
	fmt.Fprintf(w, "  beametrics --help-beam lists all %d of Beam's flags.\n", len(beamFlags()))
}

// printBeamHelp lists the flags Beam and its runners registered.
func printBeamHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: beametrics --config FILE [beametrics flags] [Beam flags]")
	fmt.Fprintln(w, "\nBeam runner flags: Beam's and Dataflow's own; local runs (prism) need none of them.")
	fmt.Fprintln(w, "beametrics' own flags: beametrics --help.")
	printFlagGroup(w, "Beam", beamFlags(), beamUsageFixes)
}

// beamFlags are the process flag set's flags that are not beametrics' own.
func beamFlags() []*flag.Flag {
	own := pipelineFlags()
	var fs []*flag.Flag
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if own.Lookup(f.Name) == nil {
			fs = append(fs, f)
		}
	})
	return fs
}

// flags returns the group's flags of fs in README's order, then those its
// prefixes match, marking them in taken so no flag shows twice.
func (g flagGroup) flags(fs *flag.FlagSet, taken map[string]bool) []*flag.Flag {
	var in []*flag.Flag
	for _, n := range g.names {
		if f := fs.Lookup(n); f != nil && !taken[n] {
			in = append(in, f)
			taken[n] = true
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		for _, p := range g.prefixes {
			if strings.HasPrefix(f.Name, p) && !taken[f.Name] {
				in = append(in, f)
				taken[f.Name] = true
			}
		}
	})
	return in
}

func printFlagGroup(w io.Writer, title string, fs []*flag.Flag, fixes map[string]string) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, f := range fs {
		printFlag(w, f, fixes)
	}
}

// printFlag writes one flag as the flag package does, with two dashes.
func printFlag(w io.Writer, f *flag.Flag, fixes map[string]string) {
	kind, usage := flag.UnquoteUsage(f)
	if fix, ok := fixes[f.Name]; ok {
		usage = fix
	}
	line := "  --" + f.Name
	if kind != "" {
		line += " " + kind
	}
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
	default:
		if !strings.Contains(usage, "(default") {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
	}
	fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
}

// parseSubcommandFlags parses a subcommand's flags the same way for every
// subcommand: -h prints the usage and the flags once, to stdout, and exits
// 0; a bad flag prints the flag package's one-line error and the usage line
// to stderr and exits 2. ok is false when the caller should return code.
func parseSubcommandFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // the error line is enough; -h is answered below
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		printSubcommandHelp(fs, usage, stdout)
		return 0, false
	}
	fmt.Fprintln(stderr, usage)
	return 2, false
}

func printSubcommandHelp(fs *flag.FlagSet, usage string, w io.Writer) {
	fmt.Fprintln(w, usage)
	var any bool
	fs.VisitAll(func(*flag.Flag) { any = true })
	if any {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// helpWriter is where a job that writes its usage to stderr should write
// it: stdout when help was asked for, so `beametrics JOB -h | less` works.
func helpWriter(args []string) io.Writer {
	if helpAsked(args) {
		return os.Stdout
	}
	return os.Stderr
}
