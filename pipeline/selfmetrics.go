package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/beametrics/beametrics/engine"
	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/all"
	"github.com/beametrics/beametrics/exporters/promscrape"
	"github.com/beametrics/beametrics/exporters/selfmetrics"
	"github.com/beametrics/beametrics/internal/progress"
)

// Self-metrics of a local run: every window of the config's default window
// the process's own counts (internal/progress) for that window go out
// through the exporters the metrics use, named beametrics/..., so that a
// broken beametrics is visible where its metrics are.
//
// On Dataflow the counts live on the workers, and this process only
// launches the job: there the same counts are the job's Beam counters
// (namespace "beametrics"), shown and alertable in Dataflow's own
// monitoring (Cloud Monitoring's dataflow.googleapis.com/job/user_counter).

// These are variables so that tests can watch what is exported.
var (
	newSelfMetricsExporter           = all.New
	selfMetricsScrape                = all.Scrape
	selfMetricsLog         io.Writer = os.Stderr
)

// cloudMonitoringMinGap is Cloud Monitoring's shortest gap between two
// points of a series.
const cloudMonitoringMinGap = 5 * time.Second

// startSelfMetrics starts exporting self-metrics for a local run and
// returns the function that stops it: stop exports the last, partial
// window and closes the exporters. Problems are written to stderr; they
// never stop the pipeline. On Dataflow (plan.ReadRecords set) it does
// nothing.
func startSelfMetrics(ctx context.Context, plan *Plan) (stop func()) {
	if plan.ReadRecords != nil {
		return func() {}
	}
	sm, err := newSelfMetrics(ctx, plan, time.Now)
	if err != nil {
		fmt.Fprintf(selfMetricsLog, "beametrics: self-metrics off: %v\n", err)
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sm.loop(ctx, done)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

type selfExporter struct {
	name string // export type, or the scrape endpoint's name
	exp  exporters.Exporter
}

type selfMetrics struct {
	window  time.Duration
	now     func() time.Time
	targets []selfExporter
	prev    selfmetrics.Snapshot // running totals at the last export
	lastEnd time.Time            // end of the last exported window
	started time.Time
}

// newSelfMetrics checks the self-metrics against the metrics (a metric
// named beametrics/... would collide) and starts one exporter per export
// type in use, plus the scrape endpoint if one is set.
func newSelfMetrics(ctx context.Context, plan *Plan, now func() time.Time) (*selfMetrics, error) {
	window := plan.Config.Window
	if window <= 0 {
		return nil, fmt.Errorf("the config has no default window")
	}
	eng, err := engine.New(plan.Config)
	if err != nil {
		return nil, err
	}
	var descs []exporters.Descriptor
	typeSet := map[string]bool{}
	for i := 0; i < eng.NumMetrics(); i++ {
		d := eng.Descriptor(i)
		d.Window = plan.Config.Metrics[i].Window
		descs = append(descs, d)
		typeSet[d.ExportType] = true
	}
	types := make([]string, 0, len(typeSet))
	for t := range typeSet {
		types = append(types, t)
		descs = append(descs, selfmetrics.Descriptors(window, t)...)
	}
	sort.Strings(types)
	if err := plan.Exporters.Validate(descs); err != nil {
		return nil, err
	}
	t := now()
	sm := &selfMetrics{window: window, now: now, started: t, prev: progressTotals(),
		lastEnd: time.Unix(0, engine.WindowStart(t.UnixNano(), int64(window))).UTC()}
	var errs []error
	for _, typ := range types {
		e, err := newSelfMetricsExporter(ctx, typ, plan.Exporters)
		if err == nil {
			err = e.Start(ctx, selfmetrics.Descriptors(window, typ))
			if err != nil {
				_ = e.Close()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", typ, err))
			continue
		}
		sm.targets = append(sm.targets, selfExporter{typ, e})
	}
	scrape, err := selfMetricsScrape(plan.Exporters)
	if err == nil && scrape != nil {
		err = scrape.Start(ctx, selfmetrics.Descriptors(window, promscrape.ExporterName))
	}
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("prometheus scrape endpoint: %v", err))
	case scrape != nil:
		sm.targets = append(sm.targets, selfExporter{promscrape.ExporterName, scrape})
	}
	if len(sm.targets) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		fmt.Fprintf(selfMetricsLog, "beametrics: self-metrics not exported to %v\n", err)
	}
	return sm, nil
}

// loop exports at every window boundary (aligned to the epoch, like the
// metrics' windows) until done is closed or ctx is cancelled, then exports
// the partial last window and closes the exporters.
func (sm *selfMetrics) loop(ctx context.Context, done <-chan struct{}) {
	defer sm.close()
	for {
		next := sm.lastEnd.Add(sm.window)
		timer := time.NewTimer(next.Sub(sm.now()))
		select {
		case <-timer.C:
			sm.export(ctx, next)
		case <-done:
			timer.Stop()
			sm.export(context.WithoutCancel(ctx), sm.now())
			return
		case <-ctx.Done():
			timer.Stop()
			sm.export(context.WithoutCancel(ctx), sm.now())
			return
		}
	}
}

// export sends what happened between the last export and end, as the
// window [lastEnd, end).
func (sm *selfMetrics) export(ctx context.Context, end time.Time) {
	end = end.UTC()
	if !end.After(sm.lastEnd) {
		return
	}
	cur := progressTotals()
	snap := selfmetrics.Delta(sm.prev, cur)
	// Lag: how far the newest exported window end trails the clock; until
	// a window is exported, the time since the start.
	newest := sm.started
	if n := progress.LatestWindowEnd.Load(); n > 0 {
		newest = time.Unix(0, n)
	}
	snap.WatermarkLag = end.Sub(newest)
	points := snap.Points(sm.lastEnd, end)
	for _, t := range sm.targets {
		if t.name == exporters.TypeCloudMonitoring && end.Sub(sm.lastEnd) < cloudMonitoringMinGap {
			// Only a last, partial window can be this short: Cloud
			// Monitoring would refuse it, the summary line has the counts.
			continue
		}
		if err := t.exp.Export(ctx, points); err != nil {
			lost := countSelfFailures(t.name, len(points), err)
			fmt.Fprintf(selfMetricsLog, "beametrics: self-metrics to %s: %d of %d points lost: %v\n", t.name, lost, len(points), err)
		}
	}
	sm.prev, sm.lastEnd = cur, end
}

func (sm *selfMetrics) close() {
	for _, t := range sm.targets {
		if err := t.exp.Close(); err != nil {
			fmt.Fprintf(selfMetricsLog, "beametrics: self-metrics to %s: close: %v\n", t.name, err)
		}
	}
}

// countSelfFailures counts lost self-metric points like lost metric
// points, so that the next window reports them.
func countSelfFailures(exporter string, total int, err error) int {
	var exportErr *exporters.ExportError
	if !errors.As(err, &exportErr) {
		progress.FailuresByExporter.Add(progress.Failure{Exporter: exporter, Code: "unknown"}, int64(total))
		progress.ExportFailures.Add(int64(total))
		return total
	}
	for _, f := range exportErr.Failed {
		progress.FailuresByExporter.Add(progress.Failure{Exporter: exporter, Code: f.Code}, 1)
	}
	progress.ExportFailures.Add(int64(len(exportErr.Failed)))
	return len(exportErr.Failed)
}

// progressTotals reads the process's running totals.
func progressTotals() selfmetrics.Snapshot {
	fails := map[exporters.FailureKey]int64{}
	for k, v := range progress.FailuresByExporter.Snapshot() {
		fails[exporters.FailureKey{Exporter: k.Exporter, Code: k.Code}] = v
	}
	return selfmetrics.Snapshot{
		EventsRead:       progress.Events.Load(),
		DeadLetters:      progress.DeadLettersByReason.Snapshot(),
		DroppedValues:    progress.DroppedByMetric.Snapshot(),
		SeriesOverflowed: progress.OverflowedByMetric.Snapshot(),
		WindowsExported:  progress.WindowsByExporter.Snapshot(),
		PointsExported:   progress.PointsByExporter.Snapshot(),
		ExportFailures:   fails,
	}
}
