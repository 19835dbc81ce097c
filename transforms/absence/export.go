package absence

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/all"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func init() {
	register.DoFn4x1[context.Context, beam.Window, string, float64, error](&sinceSinkFn{})
}

// SinceSuffix names the derived gauge of a metric with absent::
// "pipeline-liveness/seconds_since_last_seen" (Prometheus:
// pipeline_liveness_seconds_since_last_seen).
const SinceSuffix = "/seconds_since_last_seen"

// SinceDescriptor describes the derived gauge of the metric d.
func SinceDescriptor(d exporters.Descriptor) exporters.Descriptor {
	return exporters.Descriptor{
		Name: d.Name + SinceSuffix, Aggregation: "latest", ValueType: exporters.Double, Kind: exporters.Gauge,
		Unit: "s", LabelNames: d.LabelNames, ExportType: d.ExportType, Window: d.Window,
		Description: fmt.Sprintf("Seconds since %s last received data, per series (0 in windows with data).", d.Name),
	}
}

// ExportSince writes the PCollection<KV<string, float64>> returned by Apply
// as the derived gauges, through the exporter of each metric's export type.
func ExportSince(s beam.Scope, cfg config.Source, settings exporters.Settings, since beam.PCollection) {
	beam.ParDo0(s.Scope("absence.ExportSince"), &sinceSinkFn{Config: cfg, Settings: settings}, since)
}

// sinceExporters holds this package's exporters per process and export
// type: they are started with the derived gauges' descriptors.
var sinceExporters exportsink.Registry

// CloseAll flushes and closes the exporters of the derived gauges. Call it
// after the pipeline has finished, next to exportsink.CloseAll.
func CloseAll() error { return sinceExporters.CloseAll() }

type sinceSinkFn struct {
	Config   config.Source
	Settings exporters.Settings

	eng       *engine.Engine
	exporters map[string]exporters.Exporter
	scrape    exporters.Exporter
	batches   map[string][]exporters.Point
}

func (fn *sinceSinkFn) Setup(ctx context.Context) error {
	cfg, err := fn.Config.Load()
	if err != nil {
		return err
	}
	if fn.eng, err = engine.New(cfg); err != nil {
		return err
	}
	byType := map[string][]exporters.Descriptor{}
	var every []exporters.Descriptor
	for i, m := range cfg.Metrics {
		if m.Absent == nil {
			continue
		}
		d := fn.eng.Descriptor(i)
		d.Window = m.Window
		sd := SinceDescriptor(d)
		byType[sd.ExportType] = append(byType[sd.ExportType], sd)
		every = append(every, sd)
	}
	if fn.scrape, err = all.Scrape(fn.Settings); err != nil {
		return fmt.Errorf("prometheus scrape endpoint: %v", err)
	}
	if fn.scrape != nil {
		if err := fn.scrape.Start(ctx, every); err != nil {
			return fmt.Errorf("prometheus scrape endpoint: %v", err)
		}
	}
	fn.exporters = map[string]exporters.Exporter{}
	for typ, descs := range byType {
		e, err := sinceExporters.Get(ctx, typ, fn.Settings, descs)
		if err != nil {
			return err
		}
		fn.exporters[typ] = e
	}
	return nil
}

func (fn *sinceSinkFn) StartBundle(context.Context) { fn.batches = map[string][]exporters.Point{} }

func (fn *sinceSinkFn) ProcessElement(_ context.Context, w beam.Window, key string, secs float64) error {
	metric, labelKey, err := metricagg.ParseSeriesKey(key)
	if err != nil || metric >= fn.eng.NumMetrics() {
		return fmt.Errorf("absence: bad series key %q", key)
	}
	iw, ok := w.(window.IntervalWindow)
	if !ok {
		return fmt.Errorf("absence: element in %T, want fixed windows", w)
	}
	labels, err := fn.eng.Labels(metric, labelKey)
	if err != nil {
		return err
	}
	m := fn.eng.Metric(metric)
	fn.batches[m.ExportType] = append(fn.batches[m.ExportType], exporters.Point{
		Metric: m.Name + SinceSuffix, Labels: labels,
		Start: iw.Start.ToTime().UTC(), End: iw.End.ToTime().UTC(),
		Type: exporters.Double, Double: secs,
	})
	return nil
}

func (fn *sinceSinkFn) FinishBundle(ctx context.Context) error {
	for typ, points := range fn.batches {
		if fn.scrape != nil {
			if err := fn.scrape.Export(ctx, points); err != nil {
				log.Errorf(ctx, "prometheus scrape endpoint: %v", err)
			}
		}
		if err := fn.exporters[typ].Export(ctx, points); err != nil {
			// The exporter has retried already; losing points must be
			// loud, but must not stop the pipeline.
			lost := len(points)
			var exportErr *exporters.ExportError
			if errors.As(err, &exportErr) {
				lost = len(exportErr.Failed)
			}
			beam.NewCounter("beametrics", "export_failures/"+typ).Inc(ctx, int64(lost))
			log.Errorf(ctx, "export %s: %d of %d seconds_since_last_seen points lost: %v", typ, lost, len(points), err)
			fmt.Fprintf(os.Stderr, "beametrics: export %s: %d of %d seconds_since_last_seen points lost: %v\n", typ, lost, len(points), err)
		}
	}
	return nil
}
