package selfmetrics

// The Reporter exports a process's own counts (counters.go) as the
// beametrics/... self-metrics, every window of the config's default
// window, through the exporters the metrics use. A local run has one
// reporter, in the launcher; on Dataflow every worker process has its own,
// and its points carry a worker label so that workers never write the same
// series.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/all"
	"github.com/beametrics/beametrics/exporters/promscrape"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// Options say what a Reporter reports and where.
type Options struct {
	// Config is the metrics' config: its default window is the
	// self-metrics' window, and its metrics name the export types to use
	// (and names a self-metric must not take).
	Config   *config.Config
	Settings exporters.Settings
	// Worker, when set, is the value of the WorkerLabel on
	// every point (see WorkerID). Empty on a local run: one process, and
	// the series stay as they always were.
	Worker string
	// Scrape also feeds the process's /metrics endpoint when
	// Settings.PrometheusListen is set (local runs only).
	Scrape bool
	// SinceProcessStart counts from the process's zero rather than from the
	// reporter's start: a worker starts its reporter when a sink is set up,
	// after it may have read events already, and those are its own.
	SinceProcessStart bool
	// NewExporter makes the exporter of an export type; nil means all.New.
	NewExporter NewExporterFunc
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf reports problems (one message, without a trailing newline);
	// nil means standard error.
	Logf func(format string, args ...any)
}

// NewExporterFunc makes the exporter of an export type (all.New, or a
// test's fake).
type NewExporterFunc func(ctx context.Context, exportType string, s exporters.Settings) (exporters.Exporter, error)

// WorkerID names this process for the worker label: host name and process
// id. Dataflow runs one Go SDK process per worker VM, whose host name is the
// VM's; the process id tells a restarted process from the one before.
func WorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// Reporter exports the self-metrics of one process. Use Start, or New then
// Run (tests drive Export with their own clock).
type Reporter struct {
	window  time.Duration
	now     func() time.Time
	logf    func(string, ...any)
	labels  []metricdata.Label // on every point: the worker, if any
	targets []target
	prev    Snapshot  // running totals at the last export
	lastEnd time.Time // end of the last exported window
	started time.Time
}

type target struct {
	name string // export type, or the scrape endpoint's name
	exp  exporters.Exporter
}

// descriptors returns the self-metrics' descriptors for one export type.
func (o Options) descriptors(exportType string) []metricdata.Descriptor {
	if o.Worker != "" {
		return Descriptors(o.Config.Window, exportType, WorkerLabel)
	}
	return Descriptors(o.Config.Window, exportType)
}

// Check refuses self-metrics that cannot be exported next to the config's
// metrics (a metric named beametrics/events_read would collide; a window
// too short for Cloud Monitoring) and returns the export types in use,
// sorted. A launcher calls it before submitting a job whose workers report.
func Check(o Options) ([]string, error) {
	if o.Config == nil || o.Config.Window <= 0 {
		return nil, errors.New("the config has no default window")
	}
	eng, err := engine.New(o.Config)
	if err != nil {
		return nil, err
	}
	var metrics []metricdata.Descriptor
	typeSet := map[string]bool{}
	for i := 0; i < eng.NumMetrics(); i++ {
		d := eng.Descriptor(i)
		d.Window = o.Config.Metrics[i].Window
		metrics = append(metrics, d)
		typeSet[d.ExportType] = true
	}
	types := make([]string, 0, len(typeSet))
	for t := range typeSet {
		types = append(types, t)
	}
	sort.Strings(types)
	// One export type at a time: each type has its own copy of the
	// self-metrics, which would otherwise count as declared twice.
	var errs []error
	for _, t := range types {
		if err := o.Settings.Validate(append(append([]metricdata.Descriptor(nil), metrics...), o.descriptors(t)...)); err != nil {
			errs = append(errs, fmt.Errorf("with export type %s: %w", t, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return types, nil
}

// New checks the self-metrics (Check) and starts one exporter per export
// type the metrics use, plus the scrape endpoint if asked. An exporter
// that cannot start is left out with a message; none at all is an error.
func New(ctx context.Context, o Options) (*Reporter, error) {
	types, err := Check(o)
	if err != nil {
		return nil, err
	}
	if o.NewExporter == nil {
		o.NewExporter = all.New
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "beametrics: "+f+"\n", a...) }
	}
	t := o.Now()
	r := &Reporter{window: o.Config.Window, now: o.Now, logf: o.Logf, started: t,
		lastEnd: time.Unix(0, engine.WindowStart(t.UnixNano(), int64(o.Config.Window))).UTC()}
	if !o.SinceProcessStart {
		r.prev = progressTotals()
	}
	if o.Worker != "" {
		r.labels = []metricdata.Label{{Name: WorkerLabel, Value: o.Worker}}
	}
	var errs []error
	for _, typ := range types {
		e, err := o.NewExporter(ctx, typ, o.Settings)
		if err == nil {
			if err = e.Start(ctx, o.descriptors(typ)); err != nil {
				_ = e.Close()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", typ, err))
			continue
		}
		r.targets = append(r.targets, target{typ, e})
	}
	if o.Scrape {
		scrape, err := all.Scrape(o.Settings)
		if err == nil && scrape != nil {
			err = scrape.Start(ctx, o.descriptors(promscrape.ExporterName))
		}
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("prometheus scrape endpoint: %w", err))
		case scrape != nil:
			r.targets = append(r.targets, target{promscrape.ExporterName, scrape})
		}
	}
	if len(r.targets) == 0 {
		if len(errs) == 0 {
			return nil, errors.New("no exporter")
		}
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		r.logf("self-metrics not exported to %v", err)
	}
	return r, nil
}

// Start makes a Reporter and runs it until stop is called or ctx is
// cancelled. stop exports the last window so far, closes the exporters
// and returns once that is done; calling it again does nothing.
func Start(ctx context.Context, o Options) (stop func(), err error) {
	r, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		r.Run(ctx, done)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}, nil
}

// nextEnd returns the end of the window to export next: the next boundary,
// aligned to the epoch like the metrics' windows. Every export ends on a
// boundary, so consecutive points of a series are a whole window apart
// (never closer than Cloud Monitoring's 5 s, which the config's window
// already respects).
func (r *Reporter) nextEnd() time.Time {
	w := int64(r.window)
	return time.Unix(0, engine.WindowStart(r.lastEnd.UnixNano(), w)+w).UTC()
}

// Run exports at every window boundary until done is closed or ctx is
// cancelled, then exports the last window so far and closes the
// exporters.
func (r *Reporter) Run(ctx context.Context, done <-chan struct{}) {
	defer r.Close()
	for {
		next := r.nextEnd()
		timer := time.NewTimer(next.Sub(r.now()))
		select {
		case <-timer.C:
			r.Export(ctx, next)
		case <-done:
			timer.Stop()
			r.exportLast(ctx)
			return
		case <-ctx.Done():
			timer.Stop()
			r.exportLast(ctx)
			return
		}
	}
}

// Export sends what happened between the last export and end, as the
// window [last end, end). Points an exporter loses are counted like lost
// metric points (and so show in the next window) and logged; they never
// stop anything.
func (r *Reporter) Export(ctx context.Context, end time.Time) {
	end = end.UTC()
	if !end.After(r.lastEnd) {
		return
	}
	cur := progressTotals()
	snap := Delta(r.prev, cur)
	// Lag: how far the newest exported window end trails the clock (or
	// the window end, if that is earlier); until a window is exported, the
	// time since the start. A drain exports open windows with their ends
	// ahead of the clock: no lag, never a negative one.
	newest := r.started
	if n := LatestWindowEnd.Load(); n > 0 {
		newest = time.Unix(0, n)
	}
	at := end
	if now := r.now(); now.Before(at) {
		at = now
	}
	snap.WatermarkLag = max(at.Sub(newest), 0)
	points := snap.Points(r.lastEnd, end, r.labels...)
	for _, t := range r.targets {
		if err := t.exp.Export(ctx, points); err != nil {
			lost := CountLost(ctx, t.name, len(points), err)
			r.logf("self-metrics to %s: %d of %d points lost: %v", t.name, lost, len(points), err)
		}
	}
	r.prev, r.lastEnd = cur, end
}

// Close closes the exporters.
func (r *Reporter) Close() {
	for _, t := range r.targets {
		if err := t.exp.Close(); err != nil {
			r.logf("self-metrics to %s: close: %v", t.name, err)
		}
	}
}

// progressTotals reads the process's running totals.
func progressTotals() Snapshot {
	return Snapshot{
		EventsRead:       Events.Load(),
		DeadLetters:      DeadLettersByReason.Snapshot(),
		DroppedValues:    DroppedByMetric.Snapshot(),
		SeriesOverflowed: OverflowedByMetric.Snapshot(),
		WindowsExported:  WindowsByExporter.Snapshot(),
		PointsExported:   PointsByExporter.Snapshot(),
		ExportFailures:   FailuresByExporter.Snapshot(),
	}
}

// lastExportTimeout bounds the export of the last window: a run
// that is stopping must not wait on a hung exporter for its self-metrics
// (what does not get through in time is counted and logged as lost).
const lastExportTimeout = 10 * time.Second

// exportLast exports what happened since the last export as the window
// that holds the clock, under that window's aligned end, as a drain
// exports the metrics' open windows: the counts so far, never a point
// with a window end of its own.
func (r *Reporter) exportLast(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastExportTimeout)
	defer cancel()
	end, now := r.nextEnd(), r.now()
	for end.Before(now) { // the timer of a passed boundary lost the race with done
		end = end.Add(r.window)
	}
	r.Export(ctx, end)
}
