package pipeline

import (
	"fmt"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/transforms/ackgate"
	"github.com/beametrics/beametrics/transforms/cumulative"
	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/latepanes"
	"github.com/beametrics/beametrics/transforms/linesource"
	"github.com/beametrics/beametrics/transforms/metricagg"
	"github.com/beametrics/beametrics/transforms/pubsubread"
	"github.com/beametrics/beametrics/transforms/seriescap"
	"github.com/beametrics/beametrics/transforms/seriesorder"
)

func init() {
	register.DoFn4x0[beam.EventTime, string, aggregate.Acc, func(beam.EventTime, string, aggregate.Acc)](&keepMetricsFn{})
}

// Plan is everything Build needs, checked by the launcher.
type Plan struct {
	Source config.Source
	Config *config.Config
	Files  []linesource.File // replay; nil when streaming
	// ReplayMaxDelay is how far a local replay's watermark trails the
	// newest event time read, at least (metricagg.ReplayFn).
	ReplayMaxDelay time.Duration
	// SplitReading reads Files with Beam's splittable reader and
	// aggregates per bundle, as a batch job (Dataflow), instead of the
	// local replay.
	SplitReading bool
	PubSub       *pubsubread.Config // local streaming source
	DeadLetter   string
	Exporters    exporters.Settings
	// ReadRecords, when set, replaces the sources: it returns the
	// PCollection<pubsubread.Message> to aggregate (the Dataflow runner
	// reads with its native Pub/Sub source this way).
	ReadRecords func(s beam.Scope) beam.PCollection
	// WorkerSelfMetrics makes every worker process export its own
	// self-metrics, labelled with the worker (set for Dataflow, where the
	// launcher cannot see the workers' counts).
	WorkerSelfMetrics bool
}

// Build adds the beametrics transforms to s. Transform names are stable,
// so a running Dataflow job can be updated in place.
func Build(s beam.Scope, plan *Plan) error {
	var aggs, dead beam.PCollection
	switch {
	case plan.ReadRecords != nil:
		msgs := plan.ReadRecords(s.Scope("Read"))
		aggs, dead = beam.ParDo2(s.Scope("Aggregate"), metricagg.NewParseMessages(plan.Source, 0), msgs)
	case plan.Files != nil && plan.SplitReading:
		// Batch on a distributed runner: Beam's splittable reading
		// spreads files and byte ranges over the workers.
		lines := linesource.Read(s.Scope("Read"), plan.Files)
		aggs, dead = beam.ParDo2(s.Scope("Aggregate"), metricagg.NewParseLines(plan.Source), lines)
	case plan.Files != nil:
		// Local replay reads and aggregates in one DoFn, round by round
		// on every core, and moves the watermark as the input's time
		// passes; see metricagg.ReplayFn.
		in := beam.Create(s.Scope("Read"), metricagg.ReplayInput{Blocks: metricagg.Blocks(plan.Files)})
		aggs, dead = beam.ParDo2(s.Scope("Aggregate"), metricagg.NewReplay(plan.Source, plan.ReplayMaxDelay), in)
	case plan.PubSub != nil:
		msgs := pubsubread.Read(s.Scope("Read"), *plan.PubSub)
		lateAfter := plan.PubSub.MaxDelay + plan.Config.AllowedLateness
		parse := metricagg.NewParseMessages(plan.Source, lateAfter)
		parse.AckGate = plan.PubSub.AckGate
		aggs, dead = beam.ParDo2(s.Scope("Aggregate"), parse, msgs)
	default:
		return fmt.Errorf("pipeline: no source")
	}
	deadletter.Write(s.Scope("DeadLetters"), plan.DeadLetter, dead)
	return windowAndExport(s, plan, aggs)
}

// windowAndExport combines aggs, the parse step's partial aggregates, per
// series and window and exports them.
func windowAndExport(s beam.Scope, plan *Plan, aggs beam.PCollection) error {
	// One windowing per window size: Beam windows a PCollection one way.
	sizes := map[time.Duration][]int{}
	for i, m := range plan.Config.Metrics {
		sizes[m.Window] = append(sizes[m.Window], i)
	}
	order := make([]time.Duration, 0, len(sizes))
	for d := range sizes {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	var sinkInputs []beam.PCollection
	for _, size := range order {
		ws := s.Scope(fmt.Sprintf("Window%v", size))
		part := aggs
		if len(sizes) > 1 {
			part = beam.ParDo(ws, &keepMetricsFn{Metrics: sizes[size]}, aggs)
		}
		// Accumulating panes: a late pane carries the window's whole
		// total, so the last point written for a window is its value.
		windowInto := func(pc beam.PCollection) beam.PCollection {
			return beam.WindowInto(ws, window.NewFixedWindows(size), pc,
				beam.AllowedLateness(plan.Config.AllowedLateness), beam.PanesAccumulate())
		}
		var windowed beam.PCollection
		if capAcrossInstances(plan, sizes[size]) {
			windowed = seriescap.Apply(ws.Scope("MaxSeries"), seriescap.Limits(plan.Config), part, windowInto)
		} else {
			windowed = windowInto(part)
		}
		combined := beam.CombinePerKey(ws.Scope("Combine"), &metricagg.CombineFn{}, windowed)
		if plan.Config.AllowedLateness > 0 {
			combined = latepanes.Changed(ws.Scope("LatePanes"), combined)
		}
		combined, err := withAbsence(ws.Scope("Absence"), plan, sizes[size], combined)
		if err != nil {
			return err
		}
		// Running totals only where a metric asks for them, so that the
		// graph (and Dataflow's update compatibility) of other configs
		// stays as it was.
		var cumulativeMetrics []int
		for _, i := range sizes[size] {
			if plan.Config.Metrics[i].Kind == metricdata.Cumulative {
				cumulativeMetrics = append(cumulativeMetrics, i)
			}
		}
		if len(cumulativeMetrics) > 0 {
			var totals beam.PCollection
			combined, totals = cumulative.Apply(ws.Scope("Cumulative"), cumulativeMetrics, combined)
			exportsink.WriteTotals(ws.Scope("ExportCumulative"), plan.Source, plan.Exporters, plan.DeadLetter, totals,
				exportsink.WithWorkerSelfMetrics(plan.WorkerSelfMetrics))
			sinkInputs = append(sinkInputs, totals)
		}
		// Each series' windows reach the exporters in window order,
		// however prism fires and bundles them. Local runs only for now:
		// a new step would change a running Dataflow job's graph
		// (--update compatibility, docs/dataflow.md).
		if plan.ReadRecords == nil && !plan.SplitReading {
			combined = seriesorder.InWindowOrder(ws.Scope("Order"), size, combined)
		}
		exportsink.Write(ws.Scope("Export"), plan.Source, plan.Exporters, plan.DeadLetter, combined,
			exportsink.WithWorkerSelfMetrics(plan.WorkerSelfMetrics))
		sinkInputs = append(sinkInputs, combined)
	}
	if plan.PubSub != nil && plan.PubSub.AckGate != "" {
		// Ack after export: the source's acks wait for the watermark
		// after the sinks (see package ackgate).
		ackgate.Probe(s.Scope("AckGate"), plan.PubSub.AckGate, time.Second, sinkInputs...)
	}
	return nil
}

// capAcrossInstances reports whether max_series needs the seriescap step
// for these metrics: only a metric with dynamic labels can exceed it, and a
// local replay's parse instances already share one admission count
// (internal/engine), while a stream's or a distributed batch's do not.
func capAcrossInstances(plan *Plan, metrics []int) bool {
	if plan.Files != nil && !plan.SplitReading {
		return false
	}
	for _, i := range metrics {
		if len(plan.Config.Metrics[i].DynamicLabels) > 0 {
			return true
		}
	}
	return false
}

// keepMetricsFn passes the partial aggregates of some metrics only.
type keepMetricsFn struct {
	Metrics []int
	keep    map[int]bool
}

func (fn *keepMetricsFn) ProcessElement(t beam.EventTime, key string, acc aggregate.Acc, emit func(beam.EventTime, string, aggregate.Acc)) {
	if fn.keep == nil {
		fn.keep = map[int]bool{}
		for _, m := range fn.Metrics {
			fn.keep[m] = true
		}
	}
	if m, _, err := metricagg.ParseSeriesKey(key); err == nil && fn.keep[m] {
		emit(t, key, acc)
	}
}
