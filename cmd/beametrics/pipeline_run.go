package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

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
	return exitCode(launch(context.Background(), &o, os.Stderr))
}

// launch sets up what belongs to the process, not the pipeline: Beam's
// global flags (the runner, the worker binary) and the signals, then runs
// the pipeline.
func launch(ctx context.Context, o *pipeline.Options, stderr io.Writer) error {
	o.Runner = resolveRunner()
	if o.Runner == "dataflow" {
		if err := defaultWorkerBinary(); err != nil {
			return &pipeline.ExitError{Code: 2, Err: err}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	drain := make(chan struct{})
	o.Drain = drain
	stop := onSignals(stderr, func() { close(drain) }, cancel)
	defer stop()
	return pipeline.Run(ctx, o, stderr)
}

func exitCode(err error) int {
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

// resolveRunner returns the runner Beam's --runner names, with "direct"
// and "" meaning prism: the legacy Go direct runner cannot stream, and
// prism is Beam's own local runner, which does everything it did. The
// flag is set to match, for Beam code that reads it.
func resolveRunner() string {
	f := flag.Lookup("runner")
	if f == nil {
		return "prism"
	}
	if v := f.Value.String(); v != "" && v != "direct" {
		return v
	}
	_ = f.Value.Set("prism")
	return "prism"
}

// defaultWorkerBinary points --worker_binary at the running executable when
// it is not given. Without it the SDK tries to `go build` the program from
// source, which cannot work inside a flex template launcher image.
func defaultWorkerBinary() error {
	f := flag.Lookup("worker_binary")
	if f == nil {
		return errors.New("--runner=dataflow: this binary has no --worker_binary flag (Beam's jobopts package is not linked in)")
	}
	if f.Value.String() != "" {
		return nil
	}
	// Dataflow workers run linux/amd64; another executable would be
	// staged and then fail on every worker.
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return fmt.Errorf("--runner=dataflow: this beametrics is built for %s/%s but Dataflow workers run linux/amd64: give --worker_binary=PATH to a linux/amd64 build (deploy/build-linux-amd64.sh)", runtime.GOOS, runtime.GOARCH)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--runner=dataflow: cannot find the running executable for --worker_binary (%w); give --worker_binary=PATH", err)
	}
	return f.Value.Set(exe)
}

// onSignals makes Ctrl-C or SIGTERM drain (drain is called once) and a
// second signal stop at once (stopNow). The returned function stops
// listening.
func onSignals(stderr io.Writer, drain, stopNow func()) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "beametrics: draining: no more pulls; flushing open windows (signal again to stop at once)")
		drain()
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "beametrics: stopping without drain")
			stopNow()
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
