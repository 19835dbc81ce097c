package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/beametrics/beametrics/pipeline"
)

// runPipeline runs the streaming or replay pipeline. Its flags share the
// process's flag set with Beam's own (--runner, --project, ...), and a Beam
// worker started with --worker never returns from beam.Init.
func runPipeline(args []string) int {
	var o pipeline.Options
	o.RegisterFlags(flag.CommandLine)
	if err := flag.CommandLine.Parse(args); err != nil {
		return 2
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "beametrics: unexpected argument %q (flags only; subcommands go first)\n", flag.Arg(0))
		return 2
	}
	if f := flag.Lookup("worker"); f != nil && f.Value.String() == "true" {
		// A Beam worker process: the SDK prints messages of its own to
		// standard output, where the local exporter writes points (it
		// keeps the real one); send theirs to standard error.
		os.Stdout = os.Stderr
		dieWithParent()
	}
	beam.Init()
	// BEAMETRICS_CPUPROFILE=FILE profiles a local run, for finding where
	// replay time goes; it is for developers, so it is not a flag.
	if path := os.Getenv("BEAMETRICS_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	err := pipeline.Run(context.Background(), &o, os.Stderr)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, err)
	var exit *pipeline.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	return 1
}
