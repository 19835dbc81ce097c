package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx" // registers the runners
	"gopkg.in/yaml.v3"

	"github.com/beametrics/beametrics/exporters"
	localexp "github.com/beametrics/beametrics/exporters/local"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/linesource"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

// ExitError carries the process exit code of a failed launch: 2 for bad
// configuration (nothing started), 1 for a failed run.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func usageError(err error) error           { return &ExitError{Code: 2, Err: err} }
func runError(err error) error             { return &ExitError{Code: 1, Err: err} }
func usageErrorf(f string, a ...any) error { return usageError(fmt.Errorf(f, a...)) }

// ReadConfigFile reads a config from a local path or gs://.
func ReadConfigFile(path string) ([]byte, error) {
	if !strings.Contains(path, "://") {
		return os.ReadFile(path)
	}
	ctx := context.Background()
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 16<<20))
}

// Prepare checks the options and the config and returns the plan, without
// starting anything. Every config problem is in the error.
func Prepare(ctx context.Context, o *Options) (*Plan, error) {
	name, text, err := o.configText(ReadConfigFile)
	if err != nil {
		return nil, usageError(err)
	}
	src := config.Source{Name: name, Text: text, Overrides: config.Overrides{
		ExportType: o.ExportType, EventTimeField: o.EventTimeField, EventTimeFormat: o.EventTimeFormat,
		AllowedLateness: o.AllowedLateness,
	}}
	if o.WindowSize < 0 {
		return nil, usageErrorf("--window-size must be a positive number of seconds")
	}
	src.Overrides.Window = time.Duration(o.WindowSize) * time.Second
	cfg, err := src.Load()
	if err != nil {
		return nil, usageError(err)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return nil, usageError(err)
	}
	settings, err := exporterSettings(cfg, o.Exporters)
	if err != nil {
		return nil, usageError(err)
	}
	descs := make([]metricdata.Descriptor, eng.NumMetrics())
	for i := range descs {
		descs[i] = eng.Descriptor(i)
		descs[i].Window = cfg.Metrics[i].Window
	}
	if err := settings.Validate(descs); err != nil {
		return nil, usageError(err)
	}
	if err := deadletter.Check(o.DeadLetter); err != nil {
		return nil, usageError(err)
	}
	plan := &Plan{Source: src, Config: cfg, DeadLetter: o.DeadLetter, Exporters: settings}
	switch {
	case len(o.Inputs) > 0 && o.Subscription != "":
		return nil, usageErrorf("give --input (replay files) or --subscription (stream), not both")
	case len(o.Inputs) > 0:
		if cfg.EventTimeField == "" {
			return nil, usageErrorf("--input needs an event time field: files have no time of their own (set event_time_field in the config or --event-time-field)")
		}
		if plan.Files, err = linesource.Expand(ctx, o.Inputs); err != nil {
			return nil, usageError(err)
		}
		if o.MaxDisorder < 0 {
			return nil, usageErrorf("--max-disorder must not be negative")
		}
		plan.ReplayMaxDelay = o.MaxDisorder
		var total int64
		for _, f := range plan.Files {
			total += f.Size
		}
		selfmetrics.BytesTotal.Store(total)
		selfmetrics.BytesRead.Store(0)
	case o.Subscription != "":
		pc := pubsubread.NewConfig(o.Subscription)
		pc.MaxDelay, pc.Pullers = o.MaxDelay, o.Pullers
		if err := pc.Validate(); err != nil {
			return nil, usageError(err)
		}
		plan.PubSub = &pc
	}
	return plan, nil
}

// exporterSettings decodes the config's exporters section and lays the
// flags over it.
func exporterSettings(cfg *config.Config, flags exporters.Settings) (exporters.Settings, error) {
	var fromFile exporters.Settings
	if cfg.Exporters != nil {
		b, err := yaml.Marshal(cfg.Exporters)
		if err != nil {
			return fromFile, err
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&fromFile); err != nil {
			return fromFile, fmt.Errorf("%s:%d:%d: exporters: %w", cfg.File, cfg.Exporters.Line, cfg.Exporters.Column, err)
		}
	}
	return fromFile.Override(flags), nil
}

// Run builds the pipeline o describes and runs it on o.Runner, waiting
// for the end of the run (on Dataflow: for the job's submission). It
// returns an *ExitError. It neither reads nor changes Beam's global flags
// nor handles signals: the caller (cmd/beametrics) does, and closes
// o.Drain to drain or cancels ctx to stop at once.
func Run(ctx context.Context, o *Options, stderr io.Writer) error {
	l, err := prepareLaunch(ctx, o, stderr)
	if err != nil {
		return err
	}
	if l.emb != nil {
		defer l.emb.Stop()
	}
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, l.plan); err != nil {
		return runError(err)
	}

	// (A context with a deadline would crash prism; only cancel is safe.)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers, runCtx, err := startWorkerProcs(runCtx, stderr)
	if err != nil {
		return runError(err)
	}
	drainTimedOut := watchDrain(runCtx, cancel, o, l.emb, workers, stderr)

	start := time.Now()
	rep := startReporting(runCtx, o, l, start, stderr)
	res, err := beam.Run(runCtx, l.runner, p)
	if werr := workers.finish(); werr != nil {
		err = werr
	}
	plan := l.plan
	if plan.PubSub != nil && plan.PubSub.AckGate != "" {
		// Only a run that ended by itself (drained) exported everything.
		if _, returned := pubsubread.FinishAcks(plan.PubSub.AckGate, err == nil); returned > 0 {
			fmt.Fprintf(stderr, "beametrics: %d messages not exported were handed back to %s for redelivery\n", returned, plan.PubSub.Subscription)
		}
	}
	rep.stop()
	closeErr := errors.Join(exportsink.CloseAll(), deadletter.CloseFiles())
	var totals selfmetrics.Totals
	if l.local {
		totals = rep.summarize(res, time.Since(start), stderr)
	} else if err == nil {
		fmt.Fprintf(stderr, "beametrics: job submitted to %s\n", l.runner)
	}

	switch {
	case drainTimedOut.Load():
		return runError(fmt.Errorf("stopped: the drain did not finish within %v (--drain-timeout), so the windows still open were not exported%s",
			o.DrainTimeout, redelivery(plan)))
	case ctx.Err() != nil:
		return runError(fmt.Errorf("stopped without drain: the windows still open were not exported%s", redelivery(plan)))
	case err != nil && !errors.Is(err, context.Canceled):
		return runError(err)
	case closeErr != nil:
		return runError(closeErr)
	}
	if n := localexp.LostToClosedOutput(); n > 0 {
		return &ExitError{Code: ExitLosses, Err: fmt.Errorf("the output was closed by its reader: %d points were not written (counted as export failures, code %s)", n, localexp.CodeOutputClosed)}
	}
	if l.local {
		return outcome(totals, plan.DeadLetter)
	}
	return nil
}

// launch is a checked plan and where it runs.
type launch struct {
	runner string
	local  bool // prism
	plan   *Plan
	emb    *Embedded // the in-process Pub/Sub of a run with no source; nil otherwise
}

// prepareLaunch checks everything before anything starts (the embedded
// server last), says on stderr what will run, and decides what depends on
// the runner: worker self-metrics, the subscription check, ack after
// export.
func prepareLaunch(ctx context.Context, o *Options, stderr io.Writer) (_ *launch, err error) {
	l := &launch{runner: o.Runner}
	if l.runner == "" {
		l.runner = "prism"
	}
	l.local = l.runner == "prism"
	embedded := o.Subscription == "" && len(o.Inputs) == 0
	if embedded && !l.local {
		return nil, usageErrorf("--runner=%s needs --subscription or --input", l.runner)
	}
	if l.plan, err = Prepare(ctx, o); err != nil {
		return nil, err
	}
	plan := l.plan
	if l.runner == "dataflow" {
		if err := prepareDataflow(ctx, plan, o); err != nil {
			return nil, err
		}
	}
	if l.local {
		if err := checkCredentials(plan); err != nil {
			return nil, err
		}
	}
	if embedded {
		if l.emb, err = StartEmbedded(ctx, 50); err != nil {
			return nil, runError(fmt.Errorf("embedded Pub/Sub: %w", err))
		}
		defer func() {
			if err != nil {
				l.emb.Stop()
			}
		}()
		pc := pubsubread.NewConfig(l.emb.Subscription)
		pc.Pullers = o.Pullers
		pc.Endpoint, pc.Insecure = l.emb.Addr, true
		pc.MaxDelay = 2 * time.Second
		pc.PollInterval = 200 * time.Millisecond
		plan.PubSub = &pc
		fmt.Fprintf(stderr, "beametrics: no --subscription or --input: streaming generated web-app logs from an in-process Pub/Sub server (%s)\n", l.emb.Addr)
	}
	for _, w := range plan.Config.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	mode := "replaying"
	if plan.PubSub != nil {
		mode = "streaming from " + plan.PubSub.Subscription
	}
	if plan.Files != nil {
		mode = fmt.Sprintf("replaying %d file(s)", len(plan.Files))
	}
	fmt.Fprintf(stderr, "beametrics: runner %s%s, %s, %d metric(s)\n", l.runner,
		map[bool]string{true: " (local)", false: ""}[l.local], mode, len(plan.Config.Metrics))

	if l.local && processWorkers() && plan.Files == nil {
		// This process sees none of the workers' counts: each worker
		// exports its own self-metrics, as on Dataflow.
		enableWorkerSelfMetrics(plan)
	}
	if plan.PubSub != nil && l.local {
		if err := pubsubread.Check(ctx, *plan.PubSub); err != nil {
			var subErr *pubsubread.SubscriptionError
			if errors.As(err, &subErr) {
				return nil, usageError(err)
			}
			fmt.Fprintf(stderr, "beametrics: warning: could not check %s, starting anyway (pulls are retried): %v\n", plan.PubSub.Subscription, err)
		}
		// Ack after export: a crash loses nothing (see package ackgate).
		// In-process only: with worker processes the source and the
		// sinks do not share this process's registry.
		if !processWorkers() {
			plan.PubSub.AckGate = fmt.Sprintf("run-%d-%d", os.Getpid(), time.Now().UnixNano())
		}
	}
	return l, nil
}

// watchDrain drains the run when o.Drain closes or the output's reader
// goes away: the sources stop, every open window fires and is exported,
// and the run ends by itself. After o.DrainTimeout it cancels the run
// instead, and the returned flag says so.
func watchDrain(runCtx context.Context, cancel func(), o *Options, emb *Embedded, workers *workerProcs, stderr io.Writer) *atomic.Bool {
	var timedOut atomic.Bool
	go func() {
		select {
		case <-o.Drain:
		case <-localexp.OutputClosed(): // `beametrics | head`: drain as on Ctrl-C
			fmt.Fprintln(stderr, "beametrics: standard output was closed by its reader; draining")
		case <-runCtx.Done():
			return
		}
		pubsubread.StopAll()
		workers.drain()
		if emb != nil {
			emb.cancel()
		}
		if o.DrainTimeout <= 0 {
			return
		}
		// A drain waits for every open window to be exported; a hung
		// exporter would hold it for ever, and a signal must end the
		// process in bounded time.
		timer := time.NewTimer(o.DrainTimeout)
		defer timer.Stop()
		select {
		case <-timer.C:
			timedOut.Store(true)
			fmt.Fprintf(stderr, "beametrics: the drain did not finish within %v (--drain-timeout); stopping\n", o.DrainTimeout)
			cancel()
		case <-runCtx.Done():
		}
	}()
	return &timedOut
}

// reporting is a run's progress line and local self-metrics.
type reporting struct {
	sinceStart func() selfmetrics.Totals
	stop       func()
}

func startReporting(runCtx context.Context, o *Options, l *launch, start time.Time, stderr io.Writer) *reporting {
	progressEvery := o.ProgressInterval
	if !l.local {
		// On a remote runner the work happens elsewhere: the counters of
		// this process stay at zero, so print nothing rather than zeros.
		progressEvery = 0
	}
	// The live line reads this process's counters (prism's workers run in
	// it by default); the summary reads the job's Beam counters, which are
	// right wherever the workers ran.
	before := selfmetrics.ProcessTotals()
	sinceStart := func() selfmetrics.Totals { return selfmetrics.ProcessTotals().Sub(before) }
	stopProgress := selfmetrics.StartProgress(stderr, progressEvery, start, sinceStart)
	stopSelfMetrics := func() {}
	if l.local && l.plan.Files == nil && !l.plan.WorkerSelfMetrics {
		// Self-metrics follow the processing clock: they describe a
		// streaming job's health. A replay's summary line says the same.
		stopSelfMetrics = selfmetrics.StartLocal(runCtx, selfmetrics.LocalOptions(l.plan.Config, l.plan.Exporters, stderr), stderr)
	}
	return &reporting{sinceStart: sinceStart, stop: func() { stopProgress(); stopSelfMetrics() }}
}

// summarize prints a local run's summary and returns its totals: the
// job's Beam counters, or this process's when the runner reported none.
func (r *reporting) summarize(res beam.PipelineResult, took time.Duration, stderr io.Writer) selfmetrics.Totals {
	here := r.sinceStart()
	totals, ok := selfmetrics.ResultTotals(res)
	from := ""
	if !ok {
		totals, from = here, "this process's counts: the runner reported none"
	}
	// Only this process saw the event times it read.
	totals.OldestEventTime, totals.NewestEventTime = here.OldestEventTime, here.NewestEventTime
	fmt.Fprintln(stderr, selfmetrics.Summary(totals, took, from))
	return totals
}

// redelivery says what becomes of a stopped run's unexported data: on a
// local stream its messages were not acked and come back to the next run;
// a replay must be run again.
func redelivery(plan *Plan) string {
	if plan.PubSub != nil && plan.PubSub.AckGate != "" {
		return "; their messages were not acked, so Pub/Sub redelivers them to the next run"
	}
	if plan.Files != nil {
		return "; run the replay again"
	}
	return ""
}
