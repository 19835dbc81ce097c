// Package cumulative turns the per-window aggregates of metrics with
// `kind: cumulative` into running totals: each series' total since a fixed
// start, kept in Beam state, emitted once per window in window order.
//
// Cloud Monitoring refuses a cumulative point whose start is more than
// 25 h before its end, so a series restarts its total (from that window's
// value, with the window's start as the new fixed start) as soon as it
// would span more than MaxAge. Exporters show the restart as a counter
// reset, which Prometheus' rate() and Cloud Monitoring's aligners handle.
package cumulative

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

// MaxAge is the longest span of one running total: an hour under Cloud
// Monitoring's limit of 25 h, so that a point is never refused for its
// start, even written late.
const MaxAge = 24 * time.Hour

func init() {
	beam.RegisterCoder(reflect.TypeOf(Total{}), encodeTotal, decodeTotal)
	register.DoFn5x0[beam.Window, string, aggregate.Acc, func(string, aggregate.Acc), func(string, Total)](&splitFn{})
	register.Emitter2[string, aggregate.Acc]()
	register.Emitter2[string, Total]()
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, Total, func(string, Total), error](&runningTotalFn{})
}

// Total is one window of one series. Going into the running total it holds
// the window's own aggregate (Start == WindowStart); coming out, Acc is
// the running total since Start. Times are Unix nanoseconds.
type Total struct {
	Start       int64 // the running total's fixed start
	WindowStart int64
	WindowEnd   int64
	Acc         aggregate.Acc
}

// StartTime returns the fixed start as a time.
func (t Total) StartTime() time.Time { return time.Unix(0, t.Start).UTC() }

func encodeTotal(t Total) ([]byte, error) {
	b := make([]byte, 0, 64)
	b = binary.AppendVarint(b, t.Start)
	b = binary.AppendVarint(b, t.WindowStart)
	b = binary.AppendVarint(b, t.WindowEnd)
	return t.Acc.AppendBinary(b)
}

func decodeTotal(b []byte) (Total, error) {
	var t Total
	for _, f := range []*int64{&t.Start, &t.WindowStart, &t.WindowEnd} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return Total{}, fmt.Errorf("cumulative: corrupt total")
		}
		*f, b = v, b[n:]
	}
	acc, err := aggregate.DecodeBinary(b)
	if err != nil {
		return Total{}, err
	}
	t.Acc = *acc
	return t, nil
}

// Apply splits combined, a PCollection<KV<string, aggregate.Acc>> of
// series keyed by metricagg.SeriesKey in fixed windows, into the series of
// the given (cumulative) metrics and the rest. It returns the rest
// unchanged and a PCollection<KV<string, Total>> of running totals, in the
// global window, one per series and input window.
func Apply(s beam.Scope, metrics []int, combined beam.PCollection) (rest, totals beam.PCollection) {
	s = s.Scope("cumulative")
	// Late panes need the combine's windowing: with accumulating panes a
	// late pane repeats the window's earlier values.
	ws := combined.WindowingStrategy()
	panes := Panes{Accumulating: ws.AccumulationMode == window.Accumulating,
		AllowedLateness: time.Duration(ws.AllowedLateness) * time.Millisecond}
	rest, windows := beam.ParDo2(s, &splitFn{Metrics: metrics}, combined)
	// State is per key and window: the running total must outlive the
	// fixed windows, so it lives in the global window. Each element
	// carries its window in its value.
	global := beam.WindowInto(s, window.NewGlobalWindows(), windows)
	return rest, RunningTotals(s, global, panes)
}

// Panes describes the panes of the windows given to RunningTotals.
type Panes struct {
	// Accumulating: each pane of a window holds the window's whole value
	// so far (beam.PanesAccumulate); otherwise only what is new.
	Accumulating bool
	// AllowedLateness is how long after a window's end late panes come.
	AllowedLateness time.Duration
}

// RunningTotals turns a PCollection<KV<string, Total>> of windows in the
// global window, each stamped with its window's last instant, into running
// totals (Apply's second step).
func RunningTotals(s beam.Scope, windows beam.PCollection, panes Panes) beam.PCollection {
	return beam.ParDo(s, &runningTotalFn{
		Accumulating:    panes.Accumulating,
		AllowedLateness: int64(panes.AllowedLateness),
		Total:           state.MakeValueState[aggregate.Acc]("total"),
		Start:           state.MakeValueState[int64]("start"),
		LastEnd:         state.MakeValueState[int64]("lastEnd"),
		Pending:         state.MakeBagState[Total]("pending"),
		NextFlush:       state.MakeValueState[int64]("nextFlush"),
		Added:           state.MakeMapState[int64, aggregate.Acc]("added"),
		Flush:           timers.InEventTime("flush"),
	}, windows)
}

// splitFn sends the cumulative metrics' series, with their window, to the
// second output and passes every other series through.
type splitFn struct {
	Metrics []int
	want    map[int]bool
}

func (fn *splitFn) ProcessElement(w beam.Window, key string, acc aggregate.Acc, rest func(string, aggregate.Acc), cum func(string, Total)) {
	if fn.want == nil {
		fn.want = map[int]bool{}
		for _, m := range fn.Metrics {
			fn.want[m] = true
		}
	}
	m, _, err := metricagg.ParseSeriesKey(key)
	iw, fixed := w.(window.IntervalWindow)
	if err != nil || !fn.want[m] || !fixed {
		// Not ours (or not readable): the export sink reports it.
		rest(key, acc)
		return
	}
	start, end := iw.Start.ToTime().UnixNano(), iw.End.ToTime().UnixNano()
	cum(key, Total{Start: start, WindowStart: start, WindowEnd: end, Acc: acc})
}

// runningTotalFn keeps one series' running total. Windows arrive in any
// order (a replay fires many at once), so each waits in Pending until the
// watermark passes its end, then the waiting windows are added and emitted
// in time order: every emitted total is at least the one before.
//
// A late pane (allowed lateness) of a window already emitted is added to
// the total and shows in the series' next point; it cannot be written for
// its own window, as points of a series must move forward in time. With
// accumulating panes only its difference from the window's earlier pane
// is added, so Added remembers what each recent window added.
type runningTotalFn struct {
	Accumulating    bool
	AllowedLateness int64 // nanoseconds

	Total     state.Value[aggregate.Acc]
	Start     state.Value[int64] // the total's fixed start, Unix nanos
	LastEnd   state.Value[int64] // end of the newest window emitted
	Pending   state.Bag[Total]   // windows waiting for the watermark
	NextFlush state.Value[int64] // when Flush is set to fire, Unix nanos
	// Added holds, by window end, the pane last added for each window
	// that may still get late panes (accumulating panes only).
	Added state.Map[int64, aggregate.Acc]
	Flush timers.EventTime
}

func (fn *runningTotalFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, key string, w Total, _ func(string, Total)) error {
	lastEnd, _, err := fn.LastEnd.Read(sp)
	if err != nil {
		return err
	}
	if w.WindowEnd <= lastEnd {
		return fn.addLate(ctx, sp, w)
	}
	if err := fn.Pending.Add(sp, w); err != nil {
		return err
	}
	// The window's element holds the watermark at its last instant
	// (end - 1 ms): once the watermark passes it, every on-time window
	// up to this one is here.
	at := w.WindowEnd - int64(time.Millisecond)
	next, set, err := fn.NextFlush.Read(sp)
	if err != nil {
		return err
	}
	if !set || at < next {
		fn.Flush.Set(tp, time.Unix(0, at))
		return fn.NextFlush.Write(sp, at)
	}
	return nil
}

func (fn *runningTotalFn) addLate(ctx context.Context, sp state.Provider, w Total) error {
	beam.NewCounter("beametrics", "cumulative_late_panes").Inc(ctx, 1)
	total, _, err := fn.Total.Read(sp)
	if err != nil {
		return err
	}
	add := w.Acc
	if fn.Accumulating {
		prev, ok, err := fn.Added.Get(sp, w.WindowEnd)
		if err != nil {
			return err
		}
		d, valid := minus(w.Acc, prev)
		if !ok || !valid {
			// Nothing known of the window's earlier pane (or a pane that
			// shrank): adding it could count values twice.
			beam.NewCounter("beametrics", "cumulative_late_panes_unmatched").Inc(ctx, 1)
			log.Errorf(ctx, "cumulative: late pane of the window ending %v not added to the running total: no earlier pane of it is known",
				time.Unix(0, w.WindowEnd).UTC())
			return nil
		}
		if err := fn.Added.Put(sp, w.WindowEnd, w.Acc); err != nil {
			return err
		}
		add = d
	}
	total.Merge(&add)
	return fn.Total.Write(sp, total)
}

// minus returns what an accumulating pane a holds beyond the window's
// earlier pane b: counts, sums and buckets subtract; the range is a's
// (merging it again changes nothing). It reports false if a holds less
// than b, which accumulating panes never do.
func minus(a, b aggregate.Acc) (aggregate.Acc, bool) {
	d := *a.Clone()
	d.Count -= b.Count
	d.Sum -= b.Sum
	if d.Count < 0 || len(b.Buckets) > len(d.Buckets) {
		return aggregate.Acc{}, false
	}
	for i, n := range b.Buckets {
		if d.Buckets[i] -= n; d.Buckets[i] < 0 {
			return aggregate.Acc{}, false
		}
	}
	return d, true
}

func (fn *runningTotalFn) OnTimer(ctx context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, key string, timer timers.Context, emit func(string, Total)) error {
	if timer.Family != fn.Flush.Family {
		return fmt.Errorf("cumulative: unexpected timer %q", timer.Family)
	}
	pending, _, err := fn.Pending.Read(sp)
	if err != nil {
		return err
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].WindowEnd < pending[j].WindowEnd })
	now := ts.ToTime().UnixNano()
	ready := 0
	for ready < len(pending) && pending[ready].WindowEnd-int64(time.Millisecond) <= now {
		ready++
	}
	if ready > 0 {
		if err := fn.emitTotals(sp, key, pending[:ready], emit); err != nil {
			return err
		}
	}
	if err := fn.Pending.Clear(sp); err != nil {
		return err
	}
	rest := pending[ready:]
	if len(rest) == 0 {
		return fn.NextFlush.Clear(sp)
	}
	for _, w := range rest {
		if err := fn.Pending.Add(sp, w); err != nil {
			return err
		}
	}
	at := rest[0].WindowEnd - int64(time.Millisecond)
	fn.Flush.Set(tp, time.Unix(0, at))
	return fn.NextFlush.Write(sp, at)
}

// emitTotals adds windows, sorted by end, to the running total and emits
// the total after each.
func (fn *runningTotalFn) emitTotals(sp state.Provider, key string, windows []Total, emit func(string, Total)) error {
	total, _, err := fn.Total.Read(sp)
	if err != nil {
		return err
	}
	start, started, err := fn.Start.Read(sp)
	if err != nil {
		return err
	}
	if fn.Accumulating {
		windows = lastPanes(windows)
	}
	for _, w := range windows {
		if !started || w.WindowEnd-start > int64(MaxAge) {
			start, started, total = w.WindowStart, true, aggregate.Acc{}
		}
		total.Merge(&w.Acc)
		// The emitted value must not share buckets or sketches with the
		// total, which the next window changes.
		emit(key, Total{Start: start, WindowStart: w.WindowStart, WindowEnd: w.WindowEnd, Acc: *total.Clone()})
	}
	if fn.Accumulating && fn.AllowedLateness > 0 {
		if err := fn.rememberAdded(sp, windows); err != nil {
			return err
		}
	}
	if err := fn.Total.Write(sp, total); err != nil {
		return err
	}
	if err := fn.Start.Write(sp, start); err != nil {
		return err
	}
	return fn.LastEnd.Write(sp, windows[len(windows)-1].WindowEnd)
}

// lastPanes keeps, of several accumulating panes of one window waiting
// together, the latest: the one with the most values.
func lastPanes(sorted []Total) []Total {
	out := sorted[:0:0]
	for _, w := range sorted {
		if n := len(out); n > 0 && out[n-1].WindowEnd == w.WindowEnd {
			if w.Acc.Count > out[n-1].Acc.Count {
				out[n-1] = w
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

// rememberAdded records the panes just added, for late panes to come, and
// forgets windows past their allowed lateness.
func (fn *runningTotalFn) rememberAdded(sp state.Provider, windows []Total) error {
	for _, w := range windows {
		if err := fn.Added.Put(sp, w.WindowEnd, w.Acc); err != nil {
			return err
		}
	}
	newest := windows[len(windows)-1].WindowEnd
	ends, _, err := fn.Added.Keys(sp)
	if err != nil {
		return err
	}
	for _, end := range ends {
		// A window gets late panes until the watermark passes its end
		// plus the allowed lateness; newest trails the watermark.
		if end+fn.AllowedLateness < newest-fn.AllowedLateness {
			if err := fn.Added.Remove(sp, end); err != nil {
				return err
			}
		}
	}
	return nil
}
