// Package exportsink writes each window's combined metric values through the
// exporters named by the metrics' export_type. It batches per bundle,
// creates its exporters once per worker, and counts and logs every point
// that is lost after the exporters' own retries.
package exportsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/all"
	"github.com/beametrics/beametrics/exporters/local"
	"github.com/beametrics/beametrics/exporters/promscrape"
	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/transforms/cumulative"
	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func init() {
	register.DoFn4x1[context.Context, beam.Window, string, aggregate.Acc, error](&WriteFn{})
	register.DoFn3x1[context.Context, string, cumulative.Total, error](&WriteTotalsFn{})
	register.DoFn4x1[context.Context, beam.Window, string, float64, error](&WriteSinceFn{})
}

// Write exports a PCollection<KV<string, aggregate.Acc>> of combined series,
// keyed as metricagg.SeriesKey, in fixed windows.
// Points lost after the exporters' retries go to deadLetter ("" for none)
// as local JSON lines, with the exporter and code as the reason.
func Write(s beam.Scope, cfg config.Source, settings exporters.Settings, deadLetter string, combined beam.PCollection, opts ...Option) {
	beam.ParDo0(s.Scope("exportsink.Write"), &WriteFn{newSink(cfg, settings, deadLetter, opts)}, combined)
}

// WriteTotals exports the running totals of cumulative metrics, a
// PCollection<KV<string, cumulative.Total>> from cumulative.Apply: each
// point's Start is its total's fixed start, its End the window end.
func WriteTotals(s beam.Scope, cfg config.Source, settings exporters.Settings, deadLetter string, totals beam.PCollection, opts ...Option) {
	beam.ParDo0(s.Scope("exportsink.WriteTotals"), &WriteTotalsFn{newSink(cfg, settings, deadLetter, opts)}, totals)
}

func newSink(cfg config.Source, settings exporters.Settings, deadLetter string, opts []Option) sink {
	s := sink{Config: cfg, Settings: settings, DeadLetter: deadLetter}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// Option changes what Write and WriteTotals build.
type Option func(*sink)

// WithWorkerSelfMetrics(true) makes the sink start this process's
// self-metrics reporter when it is set up (selfmetrics.StartWorker; for
// jobs on many worker processes, such as Dataflow's).
func WithWorkerSelfMetrics(on bool) Option {
	return func(s *sink) { s.WorkerSelfMetrics = on }
}

// NewExporter makes the exporter of one export type. It is a variable so
// that the program can install the full set of exporters and tests a fake.
var NewExporter = all.New

// WriteFn is the sink DoFn of per-window values.
type WriteFn struct {
	sink
}

// WriteTotalsFn is the sink DoFn of cumulative running totals.
type WriteTotalsFn struct {
	sink
}

// sink is what both sink DoFns share: the engine, the exporters and the
// bundle's batches.
type sink struct {
	Config     config.Source
	Settings   exporters.Settings
	DeadLetter string // where lost points go; "" for nowhere but the log
	// WorkerSelfMetrics starts the process's worker self-metrics at Setup
	// (selfmetrics.StartWorker); set for Dataflow jobs.
	WorkerSelfMetrics bool

	dead      *deadletter.Writer
	eng       *engine.Engine
	exporters map[string]exporters.Exporter
	scrape    exporters.Exporter // every point, when --prometheus-listen is set
	batches   map[string][]metricdata.Point
	windows   map[windowKey]bool
}

type windowKey struct {
	metric int
	end    time.Time
}

// shared holds exporters per process and export type: prism runs many
// instances of the DoFn in one process, and they should share one
// connection pool (and one stdout) rather than open their own.
var (
	shared        Registry
	scrapeMu      sync.Mutex
	scrapeStarted = map[string]bool{} // by listen address
)

func (fn *WriteFn) Setup(ctx context.Context) error       { return fn.setup(ctx) }
func (fn *WriteTotalsFn) Setup(ctx context.Context) error { return fn.setup(ctx) }

func (fn *WriteFn) StartBundle(context.Context)       { fn.startBundle() }
func (fn *WriteTotalsFn) StartBundle(context.Context) { fn.startBundle() }

func (fn *WriteFn) FinishBundle(ctx context.Context) error       { return fn.finishBundle(ctx) }
func (fn *WriteTotalsFn) FinishBundle(ctx context.Context) error { return fn.finishBundle(ctx) }

func (fn *WriteFn) Teardown() error       { return fn.teardown() }
func (fn *WriteTotalsFn) Teardown() error { return fn.teardown() }

func (fn *sink) setup(ctx context.Context) error {
	if fn.DeadLetter != "" {
		w, err := deadletter.NewWriter(ctx, fn.DeadLetter)
		if err != nil {
			return err
		}
		fn.dead = w
	}
	cfg, err := fn.Config.Load()
	if err != nil {
		return err
	}
	if fn.eng, err = engine.New(cfg); err != nil {
		return err
	}
	// Every DoFn of the sink starts the exporters with every metric it
	// may write, so that whichever instance comes first defines them all.
	byType := map[string][]metricdata.Descriptor{}
	var every []metricdata.Descriptor
	for i := 0; i < fn.eng.NumMetrics(); i++ {
		d := fn.eng.Descriptor(i)
		descs := []metricdata.Descriptor{d}
		if m := cfg.Metrics[i]; m.Absent != nil {
			d.Window = m.Window
			descs = append(descs, SinceDescriptor(d))
		}
		byType[d.ExportType] = append(byType[d.ExportType], descs...)
		every = append(every, descs...)
	}
	fn.exporters = map[string]exporters.Exporter{}
	if fn.scrape, err = all.Scrape(fn.Settings); err != nil {
		return fmt.Errorf("prometheus scrape endpoint: %w", err)
	}
	scrapeMu.Lock()
	if fn.scrape != nil && !scrapeStarted[fn.Settings.PrometheusListen] {
		// The endpoint refuses points of metrics it was not told about.
		// Once per process: defining a metric again empties its series.
		if err := fn.scrape.Start(ctx, every); err != nil {
			scrapeMu.Unlock()
			return fmt.Errorf("prometheus scrape endpoint: %w", err)
		}
		scrapeStarted[fn.Settings.PrometheusListen] = true
	}
	scrapeMu.Unlock()
	for typ, descs := range byType {
		e, err := shared.Get(ctx, typ, fn.Settings, descs)
		if err != nil {
			return err
		}
		fn.exporters[typ] = e
	}
	if fn.WorkerSelfMetrics {
		selfmetrics.StartWorker(cfg, fn.Settings, NewExporter)
	}
	return nil
}

func (fn *sink) startBundle() {
	fn.batches = map[string][]metricdata.Point{}
	fn.windows = map[windowKey]bool{}
}

// seriesIn reads an element's series key and fixed window.
func (fn *sink) seriesIn(key string, w beam.Window) (metric int, labelKey string, iw window.IntervalWindow, err error) {
	metric, labelKey, err = metricagg.ParseSeriesKey(key)
	if err != nil || metric >= fn.eng.NumMetrics() {
		return 0, "", iw, fmt.Errorf("exportsink: bad series key %q", key)
	}
	iw, ok := w.(window.IntervalWindow)
	if !ok {
		return 0, "", iw, fmt.Errorf("exportsink: element in %T, want fixed windows", w)
	}
	return metric, labelKey, iw, nil
}

func (fn *WriteFn) ProcessElement(ctx context.Context, w beam.Window, key string, acc aggregate.Acc) error {
	metric, labelKey, iw, err := fn.seriesIn(key, w)
	if err != nil {
		return err
	}
	p, err := fn.eng.Point(engine.Series{Metric: metric, WindowStart: iw.Start.ToTime().UnixNano(), LabelKey: labelKey}, &acc)
	if err != nil {
		return err
	}
	fn.add(metric, p)
	return nil
}

func (fn *WriteTotalsFn) ProcessElement(ctx context.Context, key string, t cumulative.Total) error {
	metric, labelKey, err := metricagg.ParseSeriesKey(key)
	if err != nil || metric >= fn.eng.NumMetrics() {
		return fmt.Errorf("exportsink: bad series key %q", key)
	}
	if t.Start >= t.WindowEnd {
		return fmt.Errorf("exportsink: running total of %s starts at %v, not before its window end %v",
			fn.eng.Metric(metric).Name, t.StartTime(), time.Unix(0, t.WindowEnd).UTC())
	}
	p, err := fn.eng.Point(engine.Series{Metric: metric, WindowStart: t.WindowStart, LabelKey: labelKey}, &t.Acc)
	if err != nil {
		return err
	}
	p.Start = t.StartTime()
	fn.add(metric, p)
	return nil
}

// add batches one point of a metric for the end of the bundle.
func (fn *sink) add(metric int, p metricdata.Point) {
	typ := fn.eng.Metric(metric).ExportType
	fn.batches[typ] = append(fn.batches[typ], p)
	fn.windows[windowKey{metric, p.End}] = true
}

func (fn *sink) finishBundle(ctx context.Context) error {
	for typ, points := range fn.batches {
		if fn.scrape != nil {
			if err := fn.scrape.Export(ctx, points); err != nil {
				lost := selfmetrics.CountLost(ctx, promscrape.ExporterName, len(points), err)
				log.Errorf(ctx, "beametrics: prometheus scrape endpoint: %d of %d points refused: %v", lost, len(points), err)
			}
		}
		err := fn.exporters[typ].Export(ctx, points)
		lost := 0
		if err != nil {
			// The exporter has retried already; losing points must be
			// loud, but must not stop the pipeline.
			lost = selfmetrics.CountLost(ctx, typ, len(points), err)
			log.Errorf(ctx, "beametrics: export %s: %d of %d points lost: %v", typ, lost, len(points), err)
			fn.deadLetter(ctx, typ, points, err)
		}
		selfmetrics.CountExported(ctx, typ, int64(len(points)-lost))
	}
	perType := map[string]int64{}
	var newest time.Time
	for wk := range fn.windows {
		perType[fn.eng.Metric(wk.metric).ExportType]++
		if wk.end.After(newest) {
			newest = wk.end
		}
	}
	selfmetrics.CountWindows(ctx, perType, newest)
	return nil
}

// deadLetter writes the points an Export call lost to the dead-letter
// output, as local JSON lines, so that they can be looked at and replayed.
func (fn *sink) deadLetter(ctx context.Context, exporter string, points []metricdata.Point, err error) {
	if fn.dead == nil {
		return
	}
	var lost []exporters.PointFailure
	var exportErr *exporters.ExportError
	if errors.As(err, &exportErr) {
		lost = exportErr.Failed
	} else {
		for _, p := range points {
			lost = append(lost, exporters.PointFailure{Point: p, Code: "unknown", Reason: err.Error()})
		}
	}
	for _, f := range lost {
		line, encErr := local.AppendLine(nil, f.Point)
		if encErr != nil {
			line = []byte(fmt.Sprintf("%+v", f.Point))
		}
		d := metricagg.DeadLetter{Reason: "export_failed/" + exporter + "/" + f.Code, Detail: f.Reason,
			Data: bytes.TrimSuffix(line, []byte("\n")), Source: "exporter " + exporter, Time: time.Now().UTC()}
		if werr := fn.dead.Write(ctx, d); werr != nil {
			// Counted as lost already; the log keeps the point itself.
			log.Errorf(ctx, "dead letter of a lost point: %v; the point: %s", werr, line)
		}
	}
	failed, werr := fn.dead.Flush(ctx)
	for _, d := range failed {
		log.Errorf(ctx, "dead letter of a lost point: %v; the point: %s", werr, d.Data)
	}
}

// teardown releases the dead-letter writer (its Pub/Sub client).
func (fn *sink) teardown() error {
	if fn.dead == nil {
		return nil
	}
	err := fn.dead.Close()
	fn.dead = nil
	return err
}

// CloseAll flushes and closes the process's exporters, the worker
// self-metrics' too. Call it after the pipeline has finished.
func CloseAll() error {
	selfmetrics.StopWorker()
	return shared.CloseAll()
}
