package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/config/configtest"
	"github.com/beametrics/beametrics/pipeline"
)

func init() {
	register("validate", "check a metrics config and print what each metric means", func(args []string) int {
		return runValidate(args, os.Stdout, os.Stderr)
	})
	register("test", "run a config's unit tests: input events and expected metric values", func(args []string) int {
		return runConfigTest(args, os.Stdout, os.Stderr)
	})
}

// loadConfigOrReport loads a config, printing every error as FILE:LINE:COL.
func loadConfigOrReport(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := loadConfigFile(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, false
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	return cfg, true
}

const validateUsage = `usage: beametrics validate CONFIG [run flags]

Checks CONFIG with the run's own check and the same run flags (those of
'beametrics --help': exporter settings, overrides, --input files,
--subscription's form, --dead-letter), and prints what each metric means.
Exit 0: the run's checks pass; 2: every problem is listed. Not checked:
whether the subscription exists and Google Cloud credentials are found
(the run checks both when it starts), and Dataflow's flags, which are
accepted and ignored like all of Beam's.`

func runValidate(args []string, stdout, stderr io.Writer) int {
	if helpAsked(args) {
		fmt.Fprintln(stdout, validateUsage)
		return 0
	}
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	var o pipeline.Options
	o.RegisterFlags(fs)
	acceptBeamFlags(fs)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	// CONFIG may come first or among the flags: parse on after it.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			fmt.Fprintln(stderr, "usage: beametrics validate CONFIG [run flags]   (beametrics validate -h)")
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(positional) == 1 && o.Config == "":
		o.Config = positional[0]
	case len(positional) == 0 && o.Config != "":
	default:
		fmt.Fprintln(stderr, "usage: beametrics validate CONFIG [run flags]   (one CONFIG; beametrics validate -h)")
		return 2
	}
	// The run's own check: pipeline.Prepare is what the run calls before
	// starting, so "validate passed" means "the run will start".
	plan, err := pipeline.Prepare(context.Background(), &o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg := plan.Config
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if cfg.EventTimeField != "" {
		fmt.Fprintf(stdout, "event time: field %s (%s)\n", cfg.EventTimeField, cfg.EventTimeFormat)
	} else {
		fmt.Fprintln(stdout, "event time: the source's time (Pub/Sub publish time)")
	}
	for i := range cfg.Metrics {
		fmt.Fprintln(stdout, cfg.Metrics[i].Describe())
	}
	return 0
}

// acceptBeamFlags lets fs take every flag of Beam's flag set, ignoring
// them, so that a run's whole command line validates unchanged.
func acceptBeamFlags(fs *flag.FlagSet) {
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) != nil {
			return
		}
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		fs.Var(ignoredFlag{isBool: ok && b.IsBoolFlag()}, f.Name, f.Usage)
	})
}

// ignoredFlag takes a value and drops it.
type ignoredFlag struct{ isBool bool }

func (ignoredFlag) String() string     { return "" }
func (ignoredFlag) Set(string) error   { return nil }
func (f ignoredFlag) IsBoolFlag() bool { return f.isBool }

func runConfigTest(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: beametrics test CONFIG TESTFILE   (README: Config tests)"
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	if code, ok := parseSubcommandFlags(fs, args, usage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	cfg, ok := loadConfigOrReport(fs.Arg(0), stderr)
	if !ok {
		return 2
	}
	failed, err := configtest.Run(cfg, fs.Arg(1), stdout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if failed > 0 {
		return 1
	}
	return 0
}
