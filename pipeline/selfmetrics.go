package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/beametrics/beametrics/exporters/all"
	"github.com/beametrics/beametrics/internal/selfreport"
)

// Self-metrics of a local run: every window of the config's default window
// the process's own counts for that window go out through the exporters
// the metrics use, named beametrics/..., so that a broken beametrics is
// visible where its metrics are (internal/selfreport does the work).
//
// On Dataflow the counts live on the workers, and this process only
// launches the job: there each worker reports its own counts, labelled
// with the worker (Plan.WorkerSelfMetrics, started by the export sink).

// These are variables so that tests can watch what is exported.
var (
	newSelfMetricsExporter           = all.New
	selfMetricsLog         io.Writer = os.Stderr
)

// startSelfMetrics starts exporting self-metrics for a local run and
// returns the function that stops it: stop exports the last, partial
// window and closes the exporters. Problems are written to stderr; they
// never stop the pipeline. On Dataflow (plan.ReadRecords set) it does
// nothing.
func startSelfMetrics(ctx context.Context, plan *Plan) (stop func()) {
	if plan.ReadRecords != nil {
		return func() {}
	}
	stop, err := selfreport.Start(ctx, localSelfMetrics(plan, time.Now))
	if err != nil {
		fmt.Fprintf(selfMetricsLog, "beametrics: self-metrics off: %v\n", err)
		return func() {}
	}
	return stop
}

// newSelfMetrics makes the reporter of a local run without starting it.
func newSelfMetrics(ctx context.Context, plan *Plan, now func() time.Time) (*selfreport.Reporter, error) {
	return selfreport.New(ctx, localSelfMetrics(plan, now))
}

// localSelfMetrics are the options of a local run: one process, so no
// worker label, and the scrape endpoint too.
func localSelfMetrics(plan *Plan, now func() time.Time) selfreport.Options {
	return selfreport.Options{
		Config: plan.Config, Settings: plan.Exporters, Scrape: true,
		NewExporter: newSelfMetricsExporter, Now: now,
		Logf: func(f string, a ...any) { fmt.Fprintf(selfMetricsLog, "beametrics: "+f+"\n", a...) },
	}
}
