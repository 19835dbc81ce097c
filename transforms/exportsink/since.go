package exportsink

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// SinceSuffix names the derived gauge of a metric with absent::
// "pipeline-liveness/seconds_since_last_seen" (Prometheus:
// pipeline_liveness_seconds_since_last_seen).
const SinceSuffix = "/seconds_since_last_seen"

// SinceDescriptor describes the derived gauge of the metric d.
func SinceDescriptor(d metricdata.Descriptor) metricdata.Descriptor {
	return metricdata.Descriptor{
		Name: d.Name + SinceSuffix, Aggregation: "latest", ValueType: metricdata.Double, Kind: metricdata.Gauge,
		Unit: "s", LabelNames: d.LabelNames, ExportType: d.ExportType, Window: d.Window,
		Description: fmt.Sprintf("Seconds since %s last received data, per series (0 in windows with data).", d.Name),
	}
}

// WriteSince exports the seconds since each series last had data, the
// PCollection<KV<string, float64>> of absence.Apply keyed as
// metricagg.SeriesKey in fixed windows, as the gauges SinceDescriptor
// describes, through the same exporters (and dead letters) as Write.
func WriteSince(s beam.Scope, cfg config.Source, settings exporters.Settings, deadLetter string, since beam.PCollection, opts ...Option) {
	// The step keeps the name it had in package absence, so that running
	// Dataflow jobs stay update-compatible (docs/dataflow.md).
	beam.ParDo0(s.Scope("absence.ExportSince"), &WriteSinceFn{newSink(cfg, settings, deadLetter, opts)}, since)
}

// WriteSinceFn is the sink DoFn of seconds-since-last-seen gauges.
type WriteSinceFn struct {
	sink
}

func (fn *WriteSinceFn) Setup(ctx context.Context) error        { return fn.setup(ctx) }
func (fn *WriteSinceFn) StartBundle(context.Context)            { fn.startBundle() }
func (fn *WriteSinceFn) FinishBundle(ctx context.Context) error { return fn.finishBundle(ctx) }
func (fn *WriteSinceFn) Teardown() error                        { return fn.teardown() }

func (fn *WriteSinceFn) ProcessElement(_ context.Context, w beam.Window, key string, secs float64) error {
	metric, labelKey, iw, err := fn.seriesIn(key, w)
	if err != nil {
		return err
	}
	labels, err := fn.eng.Labels(metric, labelKey)
	if err != nil {
		return err
	}
	m := fn.eng.Metric(metric)
	// Not counted as an exported window: the metric's own point is.
	fn.batches[m.ExportType] = append(fn.batches[m.ExportType], metricdata.Point{
		Metric: m.Name + SinceSuffix, Labels: labels,
		Start: iw.Start.ToTime().UTC(), End: iw.End.ToTime().UTC(),
		Type: metricdata.Double, Double: secs,
	})
	return nil
}
