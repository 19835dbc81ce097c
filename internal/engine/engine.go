// Package engine turns events into partial metric aggregates: it parses each
// event once, runs every metric's filter, reads its labels and value, and
// adds it to the aggregate of its (metric, window, label set). It has no
// Beam dependency; the pipeline runs one Processor per worker and bundle.
package engine

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/beametrics/beametrics/filters"
	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/event"
	"github.com/beametrics/beametrics/internal/eventtime"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// OverflowValue replaces every dynamic label value of events beyond a
// metric's max_series.
const OverflowValue = "__overflow__"

// OverflowLabelKey returns the overflow series label key of a metric with
// this many dynamic labels: every value is OverflowValue. "" for a metric
// without dynamic labels, which has one series and never overflows.
func OverflowLabelKey(dynamicLabels int) string {
	return string(appendOverflowLabels(nil, dynamicLabels))
}

func appendOverflowLabels(key []byte, labels int) []byte {
	for range labels {
		key = binary.AppendUvarint(key, uint64(len(OverflowValue)))
		key = append(key, OverflowValue...)
	}
	return key
}

// ReasonBadEventTime names records whose configured event-time field is
// missing or unreadable, where the source has no time of its own to use.
const ReasonBadEventTime = "bad_event_time"

// Engine is a compiled config. It is immutable and safe to share.
type Engine struct {
	cfg        *config.Config
	metrics    []*metric
	timeField  *event.Path
	timeFormat eventtime.Format
	// schema is every path the config reads: events are projected onto it
	// in one pass instead of being parsed whole.
	schema *event.Schema
	// filterErrorsLogged counts, per metric, the filter errors logged by
	// every Processor of the engine: the first few are logged to log, all
	// counted.
	filterErrorsLogged []atomic.Int64
	log                *slog.Logger
	// admission holds max_series for all the engine's Processors.
	admission *admission
}

// SetFilterErrorLog sets where the first few filter errors of each metric
// are logged (slog's default logger unless set; nil logs none, for callers
// that report Stats.FilterErrorReasons themselves). Call it before making
// Processors.
func (e *Engine) SetFilterErrorLog(l *slog.Logger) { e.log = l }

type metric struct {
	index     int
	cfg       *config.Metric
	typ       aggregate.Type
	pred      filters.Predicate // the filter-conditions; nil when there are none
	expr      *filters.Expr     // the filter expression; nil when there is none
	field     event.Path
	static    []metricdata.Label // sorted
	dynNames  []string           // sorted
	dynPaths  []event.Path       // same order as dynNames
	window    int64              // nanoseconds
	bounds    []float64
	maxSeries int
	fast      bool
	fresh     config.Freshness
	tolerance int64 // freshness: nanoseconds
	stale     int64
}

// New compiles a checked config.
func New(cfg *config.Config) (*Engine, error) {
	e := &Engine{cfg: cfg, timeFormat: cfg.EventTimeFormat, schema: event.NewSchema(), log: slog.Default()}
	if cfg.EventTimeField != "" {
		p, err := event.ParsePath(cfg.EventTimeField)
		if err != nil {
			return nil, err
		}
		e.schema.Add(&p)
		e.timeField = &p
	}
	if len(cfg.Metrics) > 1<<15 {
		return nil, fmt.Errorf("too many metrics: %d", len(cfg.Metrics))
	}
	for i := range cfg.Metrics {
		mc := &cfg.Metrics[i]
		m := &metric{index: i, cfg: mc, typ: mc.Type, window: int64(mc.Window), bounds: mc.Buckets,
			maxSeries: mc.MaxSeries, fast: true, fresh: mc.Freshness,
			tolerance: int64(mc.FutureTolerance), stale: int64(mc.StaleAfter)}
		// The config compiled the filters when it checked them; binding
		// copies them onto this engine's schema.
		var preds []filters.Predicate
		for _, c := range mc.Conditions {
			if c.Pred == nil {
				return nil, fmt.Errorf("metric %q: filter condition on %q was not compiled (configs come from config.Parse)", mc.Name, c.Field)
			}
			preds = append(preds, c.Pred)
		}
		if len(preds) > 0 {
			m.pred = filters.Bind(filters.All(preds...), e.schema)
		}
		if mc.Filter != "" {
			if mc.FilterExpr == nil {
				return nil, fmt.Errorf("metric %q: filter was not compiled (configs come from config.Parse)", mc.Name)
			}
			m.expr = filters.Bind(mc.FilterExpr, e.schema).(*filters.Expr)
			m.fast = filters.IsFast(m.expr)
		}
		if mc.Type.NeedsField() && mc.Freshness == config.NotFreshness {
			p, err := event.ParsePath(mc.Field)
			if err != nil {
				return nil, fmt.Errorf("metric %q: %w", mc.Name, err)
			}
			e.schema.Add(&p)
			m.field = p
		}
		for k, v := range mc.Labels {
			m.static = append(m.static, metricdata.Label{Name: k, Value: v})
		}
		sort.Slice(m.static, func(a, b int) bool { return m.static[a].Name < m.static[b].Name })
		for k := range mc.DynamicLabels {
			m.dynNames = append(m.dynNames, k)
		}
		sort.Strings(m.dynNames)
		for _, k := range m.dynNames {
			p, err := event.ParsePath(mc.DynamicLabels[k])
			if err != nil {
				return nil, fmt.Errorf("metric %q: %w", mc.Name, err)
			}
			e.schema.Add(&p)
			m.dynPaths = append(m.dynPaths, p)
		}
		e.metrics = append(e.metrics, m)
	}
	e.filterErrorsLogged = make([]atomic.Int64, len(e.metrics))
	e.admission = newAdmission(len(e.metrics), int64(cfg.AllowedLateness))
	return e, nil
}

// Config returns the config the engine was built from.
func (e *Engine) Config() *config.Config { return e.cfg }

// NumMetrics returns the number of metrics.
func (e *Engine) NumMetrics() int { return len(e.metrics) }

// Metric returns metric i's declaration.
func (e *Engine) Metric(i int) *config.Metric { return e.metrics[i].cfg }

// FastFilter reports whether metric i's filter runs on the allocation-free
// path.
func (e *Engine) FastFilter(i int) bool { return e.metrics[i].fast }

// WindowStart returns the start of the window of size w holding t; windows
// are aligned to multiples of their size since the Unix epoch.
func WindowStart(t, w int64) int64 {
	s := t - t%w
	if t < 0 && t%w != 0 {
		s -= w
	}
	return s
}

// Labels decodes a series' label set: static labels and the dynamic values
// encoded in labelKey, sorted by name.
func (e *Engine) Labels(metricIndex int, labelKey string) ([]metricdata.Label, error) {
	m := e.metrics[metricIndex]
	out := make([]metricdata.Label, 0, len(m.static)+len(m.dynNames))
	out = append(out, m.static...)
	b := []byte(labelKey)
	for _, name := range m.dynNames {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("engine: corrupt label key for metric %q", m.cfg.Name)
		}
		out = append(out, metricdata.Label{Name: name, Value: string(b[k : k+int(n)])})
		b = b[k+int(n):]
	}
	sort.Slice(out, func(a, c int) bool { return out[a].Name < out[c].Name })
	return out, nil
}

// Descriptor describes metric i for exporters.
func (e *Engine) Descriptor(i int) metricdata.Descriptor {
	m := e.metrics[i]
	vt := metricdata.Double
	switch m.typ {
	case aggregate.Count, aggregate.Distinct:
		vt = metricdata.Int64
	case aggregate.Distribution:
		vt = metricdata.Distribution
	}
	return metricdata.Descriptor{
		Name: m.cfg.Name, Aggregation: m.typ.String(), ValueType: vt, Kind: m.cfg.Kind,
		Unit: m.cfg.Unit, Description: m.cfg.Description, LabelNames: m.cfg.LabelNames(),
		Buckets: m.bounds, ExportType: m.cfg.ExportType,
	}
}

// Point builds the exporter point of one aggregated series.
func (e *Engine) Point(s Series, acc *aggregate.Acc) (metricdata.Point, error) {
	m := e.metrics[s.Metric]
	labels, err := e.Labels(s.Metric, s.LabelKey)
	if err != nil {
		return metricdata.Point{}, err
	}
	p := metricdata.Point{Metric: m.cfg.Name, Labels: labels,
		Start: time.Unix(0, s.WindowStart).UTC(), End: time.Unix(0, s.WindowStart+m.window).UTC()}
	switch m.typ {
	case aggregate.Count, aggregate.Distinct:
		p.Type, p.Int = metricdata.Int64, acc.Int(m.typ)
	case aggregate.Distribution:
		d := &metricdata.DistributionValue{Count: acc.Count, Sum: acc.Sum, Min: acc.Min, Max: acc.Max,
			Bounds: m.bounds, BucketCounts: acc.Buckets}
		if d.BucketCounts == nil {
			d.BucketCounts = make([]int64, len(m.bounds)+1)
		}
		p.Type, p.Dist = metricdata.Distribution, d
	default:
		p.Type, p.Double = metricdata.Double, acc.Float(m.typ)
	}
	return p, nil
}
