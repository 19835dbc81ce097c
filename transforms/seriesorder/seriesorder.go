// Package seriesorder hands the windows of each series to the export sink
// in window order. A runner fires windows in no particular order when the
// watermark passes several at once (a replay, a catching-up stream) and
// runs sink bundles side by side, while Prometheus remote write and Cloud
// Monitoring refuse a point older than the series' last one.
//
// Points wait, per series, in the global window until the watermark has
// passed their window's last instant, then leave sorted by window. The
// step is stateful and keyed by series, and the sink fuses into its stage,
// so one series is in one bundle at a time and its points are exported
// before the next ones leave. A late pane (allowed lateness) still leaves
// after the later windows it follows: its order is the runner's.
package seriesorder

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/aggregate"
)

func init() {
	register.DoFn4x1[beam.Window, string, aggregate.Acc, func(string, []byte), error](&toGlobalFn{})
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, []byte, func(beam.EventTime, string, aggregate.Acc), error](&orderFn{})
	register.Emitter2[string, []byte]()
	register.Emitter3[beam.EventTime, string, aggregate.Acc]()
}

// InWindowOrder returns combined, a PCollection<KV<string, aggregate.Acc>>
// keyed by series in fixed windows of size, with each series' windows in
// window order, in the same fixed windows.
func InWindowOrder(s beam.Scope, size time.Duration, combined beam.PCollection) beam.PCollection {
	s = s.Scope("seriesorder")
	// State is per key and window; the order spans windows, so it lives
	// in the global window, each element carrying its window's end.
	global := beam.WindowInto(s, window.NewGlobalWindows(), beam.ParDo(s, &toGlobalFn{}, combined))
	ordered := beam.ParDo(s, &orderFn{
		Pending:   state.MakeBagState[[]byte]("pending"),
		NextFlush: state.MakeValueState[int64]("nextFlush"),
		Flush:     timers.InEventTime("flush"),
	}, global)
	return beam.WindowInto(s, window.NewFixedWindows(size), ordered)
}

// toGlobalFn puts the window's end in front of the encoded aggregate.
type toGlobalFn struct{}

func (fn *toGlobalFn) ProcessElement(w beam.Window, key string, acc aggregate.Acc, emit func(string, []byte)) error {
	iw, ok := w.(window.IntervalWindow)
	if !ok {
		return fmt.Errorf("seriesorder: element in %T, want fixed windows", w)
	}
	b := binary.AppendVarint(nil, int64(iw.End))
	b, err := acc.AppendBinary(b)
	if err != nil {
		return err
	}
	emit(key, b)
	return nil
}

// orderFn keeps a series' points until the watermark passes them.
type orderFn struct {
	Pending   state.Bag[[]byte]  // window end (mtime, varint) + aggregate
	NextFlush state.Value[int64] // when Flush is set to fire (mtime)
	Flush     timers.EventTime
}

func (fn *orderFn) ProcessElement(_ context.Context, sp state.Provider, tp timers.Provider, key string, b []byte, _ func(beam.EventTime, string, aggregate.Acc)) error {
	end, n := binary.Varint(b)
	if n <= 0 {
		return fmt.Errorf("seriesorder: corrupt point of %q", key)
	}
	if err := fn.Pending.Add(sp, b); err != nil {
		return err
	}
	// The point's window's last instant: once the watermark passes it,
	// every on-time window of the series up to this one is here.
	at := end - 1
	next, set, err := fn.NextFlush.Read(sp)
	if err != nil {
		return err
	}
	if !set || at < next {
		fn.Flush.Set(tp, mtime.Time(at).ToTime())
		return fn.NextFlush.Write(sp, at)
	}
	return nil
}

type point struct {
	end int64 // mtime
	acc []byte
}

func (fn *orderFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, key string, timer timers.Context, emit func(beam.EventTime, string, aggregate.Acc)) error {
	if timer.Family != fn.Flush.Family {
		return fmt.Errorf("seriesorder: unexpected timer %q", timer.Family)
	}
	raw, _, err := fn.Pending.Read(sp)
	if err != nil {
		return err
	}
	points := make([]point, 0, len(raw))
	for _, b := range raw {
		end, n := binary.Varint(b)
		if n <= 0 {
			return fmt.Errorf("seriesorder: corrupt point of %q", key)
		}
		points = append(points, point{end, b[n:]})
	}
	sort.SliceStable(points, func(i, j int) bool { return points[i].end < points[j].end })
	ready := 0
	for ready < len(points) && points[ready].end-1 <= int64(ts) {
		acc, err := aggregate.DecodeBinary(points[ready].acc)
		if err != nil {
			return err
		}
		// Stamped with its window's last instant, so that the fixed
		// windows after this step put it back in its window.
		emit(beam.EventTime(points[ready].end-1), key, *acc)
		ready++
	}
	if err := fn.Pending.Clear(sp); err != nil {
		return err
	}
	rest := points[ready:]
	if len(rest) == 0 {
		return fn.NextFlush.Clear(sp)
	}
	for _, p := range rest {
		if err := fn.Pending.Add(sp, append(binary.AppendVarint(nil, p.end), p.acc...)); err != nil {
			return err
		}
	}
	at := rest[0].end - 1
	fn.Flush.Set(tp, mtime.Time(at).ToTime())
	return fn.NextFlush.Write(sp, at)
}
