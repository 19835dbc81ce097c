// Package metricagg holds the Beam transforms around the metric engine:
// turning records into partial aggregates keyed by metric and label set,
// and combining them per window.
//
// Each worker runs one engine Processor per bundle and emits one partial
// aggregate per series at the end of the bundle, so the shuffle carries a
// few series instead of every event.
package metricagg

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/event"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/transforms/ackgate"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

func init() {
	beam.RegisterCoder(reflect.TypeOf(aggregate.Acc{}), encodeAcc, decodeAcc)
	beam.RegisterType(reflect.TypeOf(DeadLetter{}))
	register.DoFn4x1[context.Context, []byte, func(beam.EventTime, string, aggregate.Acc), func(DeadLetter), error](&ParseLinesFn{})
	register.DoFn4x1[context.Context, pubsubread.Message, func(beam.EventTime, string, aggregate.Acc), func(DeadLetter), error](&ParseMessagesFn{})
	register.Emitter1[DeadLetter]()
	register.Emitter3[beam.EventTime, string, aggregate.Acc]()
	register.Combiner3[aggregate.Acc, aggregate.Acc, aggregate.Acc](&CombineFn{})
}

func encodeAcc(a aggregate.Acc) ([]byte, error) { return a.AppendBinary(nil) }

func decodeAcc(b []byte) (aggregate.Acc, error) {
	a, err := aggregate.DecodeBinary(b)
	if err != nil {
		return aggregate.Acc{}, err
	}
	return *a, nil
}

// DeadLetter is a record that could not be read, with the reason.
type DeadLetter struct {
	Reason string    // a stable identifier, e.g. invalid_json
	Detail string    // the parser's message
	Data   []byte    // the original bytes
	Source string    // where it came from: a message ID or a file
	Time   time.Time // when it was refused
}

// SeriesKey is the key of a partial aggregate: the metric's index and the
// encoded dynamic label values. The window travels as the element's window.
func SeriesKey(metric int, labelKey string) string {
	b := binary.LittleEndian.AppendUint16(make([]byte, 0, 2+len(labelKey)), uint16(metric))
	return string(append(b, labelKey...))
}

// ParseSeriesKey splits a SeriesKey.
func ParseSeriesKey(k string) (metric int, labelKey string, err error) {
	if len(k) < 2 {
		return 0, "", fmt.Errorf("metricagg: short series key")
	}
	return int(binary.LittleEndian.Uint16([]byte(k[:2]))), k[2:], nil
}

// base is what both parse DoFns share: the engine and its per-bundle
// Processor. The config travels as its source text and is compiled again
// on each worker in Setup.
type base struct {
	Config config.Source
	// LateAfter is how long after its window's end a streaming value is
	// dropped by the runner as late: the source's watermark delay plus the
	// allowed lateness. Zero for replay, where nothing is late. It is an
	// estimate from the clock, used where the source's own watermark is
	// not known in this process (worker processes).
	LateAfter time.Duration

	// sourceWatermark, when set, gives the source's watermark as the
	// runner's windows see it: a value is late exactly when its window
	// ends, plus the allowed lateness, before it.
	sourceWatermark func() (time.Time, bool)

	eng  *engine.Engine
	proc *engine.Processor
	seen engine.Stats // counters already reported to Beam
}

func (b *base) setup() error {
	cfg, err := b.Config.Load()
	if err != nil {
		return err
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return err
	}
	b.eng = eng
	return nil
}

func (b *base) startBundle(requireTime bool) {
	if b.proc == nil {
		b.proc = b.eng.NewProcessor()
		b.proc.RequireEventTime = requireTime
	}
}

// finishBundle emits every series aggregated in the bundle, stamped with
// the last instant of its window so that WindowInto puts it back in that
// window and the watermark is held no further back than needed.
func (b *base) finishBundle(ctx context.Context, emit func(beam.EventTime, string, aggregate.Acc)) {
	var late int64
	now := time.Now().UnixNano()
	// The runner drops a value whose window's last instant plus the
	// allowed lateness is behind the watermark: count what it will drop,
	// since nothing may vanish silently.
	isLate := func(end int64, ts mtime.Time) bool {
		return b.LateAfter > 0 && now-end > int64(b.LateAfter)
	}
	if b.sourceWatermark != nil {
		wm, known := b.sourceWatermark()
		lateness := mtime.FromDuration(b.eng.Config().AllowedLateness)
		isLate = func(_ int64, ts mtime.Time) bool { return known && ts+lateness < mtime.FromTime(wm) }
	}
	b.proc.Flush(func(s engine.Series, acc *aggregate.Acc) {
		end := s.WindowStart + int64(b.eng.Metric(s.Metric).Window)
		ts := mtime.FromTime(time.Unix(0, end)) - 1
		if isLate(end, ts) {
			late += acc.Count
		}
		// The Processor forgets the entry after this call, so acc can
		// be handed on without a copy.
		emit(ts, SeriesKey(s.Metric, s.LabelKey), *acc)
	})
	if late > 0 {
		beam.NewCounter("beametrics", "late_values").Inc(ctx, late)
		selfmetrics.Late.Add(late)
		log.Warnf(ctx, "%d values arrived after their window closed (watermark delay plus allowed lateness) and are dropped as late; raise --allowed-lateness or --max-delay", late)
	}
	b.reportStats(ctx)
}

// reportStats adds what the Processor counted since the last report to
// Beam counters and to the process-wide progress counters.
func (b *base) reportStats(ctx context.Context) {
	st := &b.proc.Stats
	inc := func(name string, now int64, before *int64) int64 {
		d := now - *before
		if d != 0 {
			beam.NewCounter("beametrics", name).Inc(ctx, d)
			*before = now
		}
		return d
	}
	selfmetrics.Events.Add(inc("events", st.Events, &b.seen.Events))
	inc("event_time_fallbacks", st.TimeFallbacks, &b.seen.TimeFallbacks)
	if b.seen.DeadLetters == nil {
		b.seen.DeadLetters = map[string]int64{}
		b.seen.Matched = make([]int64, len(st.Matched))
		b.seen.Dropped = make([]int64, len(st.Dropped))
		b.seen.Overflowed = make([]int64, len(st.Overflowed))
		b.seen.FilterErrors = make([]int64, len(st.FilterErrors))
	}
	for reason, n := range st.DeadLetters {
		before := b.seen.DeadLetters[reason]
		d := inc("dead_letters/"+reason, n, &before)
		b.seen.DeadLetters[reason] = before
		if d != 0 {
			if reason == "" {
				reason = "error" // as refuse names it
			}
			selfmetrics.DeadLettersByReason.Add(reason, d)
		}
	}
	for i := range st.Dropped {
		name := b.eng.Metric(i).Name
		if d := inc("dropped_values/"+name, st.Dropped[i], &b.seen.Dropped[i]); d != 0 {
			selfmetrics.DroppedByMetric.Add(name, d)
			selfmetrics.Dropped.Add(d)
		}
		if d := inc("overflowed/"+name, st.Overflowed[i], &b.seen.Overflowed[i]); d != 0 {
			selfmetrics.OverflowedByMetric.Add(name, d)
			selfmetrics.Overflowed.Add(d)
		}
		if d := inc("filter_errors/"+name, st.FilterErrors[i], &b.seen.FilterErrors[i]); d != 0 {
			selfmetrics.FilterErrorsByMetric.Add(name, d)
			selfmetrics.FilterErrors.Add(d)
		}
		inc("matched/"+name, st.Matched[i], &b.seen.Matched[i])
	}
}

// refuse turns a Processor error into a dead letter.
func refuse(err error, data []byte, source string) DeadLetter {
	reason := event.Reason(err)
	if reason == "" {
		reason = "error"
	}
	selfmetrics.DeadLetters.Add(1)
	return DeadLetter{Reason: reason, Detail: err.Error(), Data: append([]byte(nil), data...),
		Source: source, Time: time.Now().UTC()}
}

// NewParseLines returns the DoFn for file records.
func NewParseLines(src config.Source) *ParseLinesFn { return &ParseLinesFn{base{Config: src}} }

// NewParseMessages returns the DoFn for Pub/Sub messages. lateAfter is the
// source's watermark delay plus the allowed lateness.
func NewParseMessages(src config.Source, lateAfter time.Duration) *ParseMessagesFn {
	return &ParseMessagesFn{base: base{Config: src, LateAfter: lateAfter}}
}

// ParseLinesFn reads newline-delimited JSON records (file replay). Files
// have no time of their own, so the config must name an event-time field,
// and a record without a readable one is a dead letter.
type ParseLinesFn struct {
	base
}

func (fn *ParseLinesFn) Setup() error { return fn.setup() }

func (fn *ParseLinesFn) StartBundle(_ context.Context, _ func(beam.EventTime, string, aggregate.Acc), _ func(DeadLetter)) {
	fn.startBundle(true)
}

// ProcessElement only aggregates; the partial aggregates leave in
// FinishBundle, through the same emitter.
func (fn *ParseLinesFn) ProcessElement(_ context.Context, line []byte, _ func(beam.EventTime, string, aggregate.Acc), dead func(DeadLetter)) error {
	if err := fn.proc.Process(line, nil, 0); err != nil {
		dead(refuse(err, line, "file"))
	}
	return nil
}

func (fn *ParseLinesFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, string, aggregate.Acc), _ func(DeadLetter)) {
	fn.finishBundle(ctx, emit)
}

// ParseMessagesFn reads Pub/Sub messages. A record without a readable
// event-time field takes its publish time, and is counted.
type ParseMessagesFn struct {
	base
	// AckGate, when set, names the ackgate.Gate told the last window end
	// of each message's event time (local streaming, ack after export).
	AckGate string

	gate  *ackgate.Gate
	sizes []time.Duration
}

func (fn *ParseMessagesFn) Setup() error {
	if err := fn.setup(); err != nil {
		return err
	}
	if fn.AckGate != "" {
		fn.gate = ackgate.Open(fn.AckGate)
		// The source runs in this process and reports its watermark to
		// the gate: late values are counted against it, not estimated.
		fn.sourceWatermark = fn.gate.Watermark
		for i := 0; i < fn.eng.NumMetrics(); i++ {
			fn.sizes = append(fn.sizes, fn.eng.Metric(i).Window)
		}
	}
	return nil
}

func (fn *ParseMessagesFn) StartBundle(_ context.Context, _ func(beam.EventTime, string, aggregate.Acc), _ func(DeadLetter)) {
	fn.startBundle(false)
}

func (fn *ParseMessagesFn) ProcessElement(ctx context.Context, m pubsubread.Message, _ func(beam.EventTime, string, aggregate.Acc), dead func(DeadLetter)) error {
	err := fn.proc.Process(m.Data, m.Attributes, m.PublishTime.UnixNano())
	if err != nil {
		d := refuse(err, m.Data, "pubsub message "+m.ID)
		log.Debugf(ctx, "dead letter %s: %s", d.Reason, d.Detail)
		dead(d)
	}
	if fn.gate != nil {
		t := m.PublishTime
		if err == nil {
			et, _ := fn.proc.EventTime(t.UnixNano())
			t = time.Unix(0, et)
		}
		fn.gate.Seen(m.ID, ackgate.LastWindowEnd(t, fn.sizes))
	}
	return nil
}

func (fn *ParseMessagesFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, string, aggregate.Acc), _ func(DeadLetter)) {
	fn.finishBundle(ctx, emit)
}

// CombineFn merges partial aggregates of one series and window.
type CombineFn struct{}

func (CombineFn) CreateAccumulator() aggregate.Acc { return aggregate.Acc{} }

func (CombineFn) AddInput(a, in aggregate.Acc) aggregate.Acc {
	a.Merge(&in)
	return a
}

func (CombineFn) MergeAccumulators(a, b aggregate.Acc) aggregate.Acc {
	a.Merge(&b)
	return a
}

func (CombineFn) ExtractOutput(a aggregate.Acc) aggregate.Acc { return a }
