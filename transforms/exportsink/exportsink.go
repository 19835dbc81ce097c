// Package exportsink writes each window's combined metric values through the
// exporters named by the metrics' export_type. It batches per bundle,
// creates its exporters once per worker, and counts and logs every point
// that is lost after the exporters' own retries.
package exportsink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/aggregate"
	"github.com/beametrics/beametrics/config"
	"github.com/beametrics/beametrics/engine"
	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/all"
	"github.com/beametrics/beametrics/internal/progress"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func init() {
	register.DoFn4x1[context.Context, beam.Window, string, aggregate.Acc, error](&WriteFn{})
}

// Write exports a PCollection<KV<string, aggregate.Acc>> of combined series,
// keyed as metricagg.SeriesKey, in fixed windows.
func Write(s beam.Scope, cfg config.Source, settings exporters.Settings, combined beam.PCollection) {
	beam.ParDo0(s.Scope("exportsink.Write"), &WriteFn{Config: cfg, Settings: settings}, combined)
}

// NewExporter makes the exporter of one export type. It is a variable so
// that the program can install the full set of exporters and tests a fake.
var NewExporter = all.New

// WriteFn is the sink DoFn.
type WriteFn struct {
	Config   config.Source
	Settings exporters.Settings

	eng       *engine.Engine
	exporters map[string]exporters.Exporter
	scrape    exporters.Exporter // every point, when --prometheus-listen is set
	batches   map[string][]exporters.Point
	windows   map[windowKey]bool
}

type windowKey struct {
	metric int
	end    time.Time
}

// shared holds exporters per process and export type: prism runs many
// instances of the DoFn in one process, and they should share one
// connection pool (and one stdout) rather than open their own.
var shared = struct {
	sync.Mutex
	m map[string]exporters.Exporter
}{m: map[string]exporters.Exporter{}}

func (fn *WriteFn) Setup(ctx context.Context) error {
	cfg, err := fn.Config.Load()
	if err != nil {
		return err
	}
	if fn.eng, err = engine.New(cfg); err != nil {
		return err
	}
	byType := map[string][]exporters.Descriptor{}
	for i := 0; i < fn.eng.NumMetrics(); i++ {
		d := fn.eng.Descriptor(i)
		byType[d.ExportType] = append(byType[d.ExportType], d)
	}
	fn.exporters = map[string]exporters.Exporter{}
	if fn.scrape, err = all.Scrape(fn.Settings); err != nil {
		return fmt.Errorf("prometheus scrape endpoint: %v", err)
	}
	shared.Lock()
	defer shared.Unlock()
	for typ, descs := range byType {
		if e, ok := shared.m[typ]; ok {
			fn.exporters[typ] = e
			continue
		}
		e, err := NewExporter(ctx, typ, fn.Settings)
		if err != nil {
			return fmt.Errorf("exporter %s: %v", typ, err)
		}
		if err := e.Start(ctx, descs); err != nil {
			return fmt.Errorf("exporter %s: %v", typ, err)
		}
		shared.m[typ] = e
		fn.exporters[typ] = e
	}
	return nil
}

func (fn *WriteFn) StartBundle(context.Context) {
	fn.batches = map[string][]exporters.Point{}
	fn.windows = map[windowKey]bool{}
}

func (fn *WriteFn) ProcessElement(ctx context.Context, w beam.Window, key string, acc aggregate.Acc) error {
	metric, labelKey, err := metricagg.ParseSeriesKey(key)
	if err != nil || metric >= fn.eng.NumMetrics() {
		return fmt.Errorf("exportsink: bad series key %q", key)
	}
	iw, ok := w.(window.IntervalWindow)
	if !ok {
		return fmt.Errorf("exportsink: element in %T, want fixed windows", w)
	}
	p, err := fn.eng.Point(engine.Series{Metric: metric, WindowStart: iw.Start.ToTime().UnixNano(), LabelKey: labelKey}, &acc)
	if err != nil {
		return err
	}
	typ := fn.eng.Metric(metric).ExportType
	fn.batches[typ] = append(fn.batches[typ], p)
	fn.windows[windowKey{metric, p.End}] = true
	return nil
}

func (fn *WriteFn) FinishBundle(ctx context.Context) error {
	for typ, points := range fn.batches {
		if fn.scrape != nil {
			if err := fn.scrape.Export(ctx, points); err != nil {
				log.Errorf(ctx, "prometheus scrape endpoint: %v", err)
			}
		}
		err := fn.exporters[typ].Export(ctx, points)
		lost := 0
		var exportErr *exporters.ExportError
		switch {
		case err == nil:
		case errors.As(err, &exportErr):
			lost = len(exportErr.Failed)
		default:
			lost = len(points)
		}
		if lost > 0 {
			// The exporter has retried already; losing points must be
			// loud, but must not stop the pipeline.
			beam.NewCounter("beametrics", "export_failures/"+typ).Inc(ctx, int64(lost))
			progress.ExportFailures.Add(int64(lost))
			log.Errorf(ctx, "export %s: %d of %d points lost: %v", typ, lost, len(points), err)
			fmt.Fprintf(os.Stderr, "beametrics: export %s: %d of %d points lost: %v\n", typ, lost, len(points), err)
		}
		beam.NewCounter("beametrics", "points_exported/"+typ).Inc(ctx, int64(len(points)-lost))
		progress.PointsExported.Add(int64(len(points) - lost))
	}
	for wk := range fn.windows {
		progress.WindowsExported.Add(1)
		progress.ObserveWindowEnd(wk.end)
	}
	beam.NewCounter("beametrics", "windows_exported").Inc(ctx, int64(len(fn.windows)))
	return nil
}

// CloseAll flushes and closes the process's exporters. Call it after the
// pipeline has finished.
func CloseAll() error {
	shared.Lock()
	defer shared.Unlock()
	var errs []error
	for typ, e := range shared.m {
		if err := e.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", typ, err))
		}
		delete(shared.m, typ)
	}
	return errors.Join(errs...)
}
