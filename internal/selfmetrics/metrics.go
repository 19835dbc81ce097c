// Package selfmetrics owns beametrics' account of itself: the process-wide
// counters that the transforms add to (counters.go), the beametrics/...
// self-metrics made from them and exported through the same exporters as
// the metrics it computes (metrics.go, reporter.go, worker.go), and the
// progress line and run summary (progress.go). Every self-metric name starts
// with "beametrics/"; Prometheus sees them as beametrics_events_read and so
// on.
package selfmetrics

import (
	"sort"
	"time"

	"github.com/beametrics/beametrics/internal/metricdata"
)

// Prefix starts every self-metric name.
const Prefix = "beametrics/"

// Metric names. Counts are per window (what happened between the window's
// start and end), exported as INT64 gauges.
const (
	MetricEventsRead       = Prefix + "events_read"       // no labels
	MetricDeadLetters      = Prefix + "dead_letters"      // label reason
	MetricDroppedValues    = Prefix + "dropped_values"    // label metric
	MetricSeriesOverflowed = Prefix + "series_overflowed" // label metric
	MetricWindowsExported  = Prefix + "windows_exported"  // label exporter
	MetricPointsExported   = Prefix + "points_exported"   // label exporter
	MetricExportFailures   = Prefix + "export_failures"   // labels code, exporter
	MetricWatermarkLag     = Prefix + "watermark_lag"     // seconds, DOUBLE, no labels
)

// WorkerLabel names the process that counted, on runners with many
// worker processes (Dataflow): each worker writes its own series, which
// would otherwise collide, and readers sum over it.
const WorkerLabel = "worker"

// Descriptors returns the self-metrics' descriptors for the given window
// and export type, to pass to Settings.Validate and Exporter.Start.
// extraLabels are labels every self-metric carries besides its own (such
// as WorkerLabel); Points must then be given values for them.
func Descriptors(window time.Duration, exportType string, extraLabels ...string) []metricdata.Descriptor {
	count := func(name, desc string, labels ...string) metricdata.Descriptor {
		return metricdata.Descriptor{Name: name, Aggregation: "count", ValueType: metricdata.Int64, Kind: metricdata.Gauge,
			Unit: "1", Description: desc, LabelNames: withNames(labels, extraLabels), ExportType: exportType, Window: window}
	}
	return []metricdata.Descriptor{
		count(MetricEventsRead, "beametrics: events read from the source in the window"),
		count(MetricDeadLetters, "beametrics: records sent to the dead-letter output in the window, by reason", "reason"),
		count(MetricDroppedValues, "beametrics: values dropped in the window, by metric", "metric"),
		count(MetricSeriesOverflowed, "beametrics: series refused for exceeding a metric's series limit in the window, by metric", "metric"),
		count(MetricWindowsExported, "beametrics: windows exported in the window, by exporter", "exporter"),
		count(MetricPointsExported, "beametrics: points exported in the window, by exporter", "exporter"),
		count(MetricExportFailures, "beametrics: points lost after retries in the window, by exporter and code", "code", "exporter"),
		{Name: MetricWatermarkLag, Aggregation: "latest", ValueType: metricdata.Double, Kind: metricdata.Gauge, Unit: "s",
			Description: "beametrics: wall clock minus the output watermark at the window end", LabelNames: withNames(nil, extraLabels),
			ExportType: exportType, Window: window},
	}
}

// withNames returns own and extra label names together, sorted (as
// descriptors want them); nil when there are none.
func withNames(own, extra []string) []string {
	if len(own)+len(extra) == 0 {
		return nil
	}
	out := append(append([]string(nil), own...), extra...)
	sort.Strings(out)
	return out
}

// withLabels returns own and extra labels together, sorted by name (as
// points want them).
func withLabels(own, extra []metricdata.Label) []metricdata.Label {
	if len(extra) == 0 {
		return own
	}
	out := append(append([]metricdata.Label(nil), own...), extra...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Snapshot is what happened in one window. Map entries become one series
// each (zero values included); nil maps give no series.
type Snapshot struct {
	EventsRead       int64
	DeadLetters      map[string]int64 // by reason
	DroppedValues    map[string]int64 // by metric
	SeriesOverflowed map[string]int64 // by metric
	WindowsExported  map[string]int64 // by exporter
	PointsExported   map[string]int64 // by exporter
	ExportFailures   map[Failure]int64
	WatermarkLag     time.Duration
}

// Points returns the snapshot's points for the window [start, end). extra
// labels (such as the WorkerLabel) go on every point; they must have been
// declared to Descriptors.
func (s Snapshot) Points(start, end time.Time, extra ...metricdata.Label) []metricdata.Point {
	var pts []metricdata.Point
	add := func(name string, v int64, labels ...metricdata.Label) {
		pts = append(pts, metricdata.Point{Metric: name, Labels: withLabels(labels, extra), Start: start, End: end, Type: metricdata.Int64, Int: v})
	}
	byLabel := func(name, label string, m map[string]int64) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(name, m[k], metricdata.Label{Name: label, Value: k})
		}
	}
	add(MetricEventsRead, s.EventsRead)
	byLabel(MetricDeadLetters, "reason", s.DeadLetters)
	byLabel(MetricDroppedValues, "metric", s.DroppedValues)
	byLabel(MetricSeriesOverflowed, "metric", s.SeriesOverflowed)
	byLabel(MetricWindowsExported, "exporter", s.WindowsExported)
	byLabel(MetricPointsExported, "exporter", s.PointsExported)
	keys := make([]Failure, 0, len(s.ExportFailures))
	for k := range s.ExportFailures {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Exporter != keys[j].Exporter {
			return keys[i].Exporter < keys[j].Exporter
		}
		return keys[i].Code < keys[j].Code
	})
	for _, k := range keys {
		add(MetricExportFailures, s.ExportFailures[k], metricdata.Label{Name: "code", Value: k.Code}, metricdata.Label{Name: "exporter", Value: k.Exporter})
	}
	pts = append(pts, metricdata.Point{Metric: MetricWatermarkLag, Labels: withLabels(nil, extra), Start: start, End: end,
		Type: metricdata.Double, Double: s.WatermarkLag.Seconds()})
	return pts
}

// Delta returns what happened between two running totals (cur minus prev),
// for callers that keep cumulative counters such as Beam's. Entries missing
// from prev count from zero; WatermarkLag is cur's.
func Delta(prev, cur Snapshot) Snapshot {
	sub := func(p, c map[string]int64) map[string]int64 {
		if c == nil {
			return nil
		}
		out := make(map[string]int64, len(c))
		for k, v := range c {
			out[k] = v - p[k]
		}
		return out
	}
	var fails map[Failure]int64
	if cur.ExportFailures != nil {
		fails = make(map[Failure]int64, len(cur.ExportFailures))
		for k, v := range cur.ExportFailures {
			fails[k] = v - prev.ExportFailures[k]
		}
	}
	return Snapshot{
		EventsRead:       cur.EventsRead - prev.EventsRead,
		DeadLetters:      sub(prev.DeadLetters, cur.DeadLetters),
		DroppedValues:    sub(prev.DroppedValues, cur.DroppedValues),
		SeriesOverflowed: sub(prev.SeriesOverflowed, cur.SeriesOverflowed),
		WindowsExported:  sub(prev.WindowsExported, cur.WindowsExported),
		PointsExported:   sub(prev.PointsExported, cur.PointsExported),
		ExportFailures:   fails,
		WatermarkLag:     cur.WatermarkLag,
	}
}
