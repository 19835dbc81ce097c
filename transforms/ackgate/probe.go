package ackgate

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn4x0[beam.EventTime, beam.X, beam.Y, func(int, int64)](&markFn{})
	register.DoFn4x1[state.Provider, timers.Provider, int, int64, error](&probeFn{})
	register.Emitter2[int, int64]()
}

// Probe reports the exported-through point of the sinks that consume
// sinkInputs (each a KV PCollection) to the gate of key: every step of
// event time, once the watermark after those sinks has passed it.
//
// It marks each input with a sibling DoFn, which prism fuses into the stage
// of the sink consuming the same PCollection: that stage's output
// watermark passes t only after every bundle holding an element before t
// has finished, the sink's export included. A stateful DoFn on the marks
// reads that watermark through an event-time timer. Until the first mark
// (the first exported window) nothing is reported.
func Probe(s beam.Scope, key string, step time.Duration, sinkInputs ...beam.PCollection) {
	s = s.Scope("ackgate.Probe")
	marks := make([]beam.PCollection, len(sinkInputs))
	for i, in := range sinkInputs {
		marks[i] = beam.ParDo(s, &markFn{}, in)
	}
	all := beam.Flatten(s, marks...)
	global := beam.WindowInto(s, window.NewGlobalWindows(), all)
	beam.ParDo0(s, &probeFn{Key: key, Step: int64(step),
		Tick: timers.InEventTime("tick"), Next: state.MakeValueState[int64]("next")}, global)
}

// markFn emits, under one key, the end of the window of each element's
// timestamp (a pane's timestamp is its window's last instant), once per
// run of equal timestamps.
type markFn struct {
	last beam.EventTime
	any  bool
}

func (fn *markFn) ProcessElement(ts beam.EventTime, _ beam.X, _ beam.Y, emit func(int, int64)) {
	if fn.any && ts == fn.last {
		return
	}
	fn.last, fn.any = ts, true
	emit(0, (ts + 1).ToTime().UnixNano())
}

// probeFn keeps one event-time timer: at the earliest mark it has not yet
// passed, then every Step. When the timer fires, the watermark has passed
// it, and the gate learns so. It stops stepping once it is ahead of the
// clock, so that a drained pipeline (watermark at +inf) ends.
type probeFn struct {
	Key  string
	Step int64 // nanoseconds

	Tick timers.EventTime
	Next state.Value[int64] // the pending timer, Unix ns
}

func (fn *probeFn) ProcessElement(sp state.Provider, tp timers.Provider, _ int, end int64) error {
	next, ok, err := fn.Next.Read(sp)
	if err != nil {
		return err
	}
	if ok && next <= end {
		return nil // an earlier timer will step up to it
	}
	fn.set(sp, tp, end)
	return nil
}

func (fn *probeFn) OnTimer(_ context.Context, _ beam.EventTime, sp state.Provider, tp timers.Provider, _ int, _ timers.Context) error {
	fired, ok, err := fn.Next.Read(sp)
	if err != nil || !ok {
		return err
	}
	Open(fn.Key).ExportedThrough(time.Unix(0, fired))
	next := fired + fn.Step
	if next > time.Now().UnixNano()+fn.Step {
		fn.Next.Clear(sp)
		return nil
	}
	fn.set(sp, tp, next)
	return nil
}

// set arms the timer at the first millisecond (the runner's resolution)
// not before at.
func (fn *probeFn) set(sp state.Provider, tp timers.Provider, at int64) {
	at = (at + int64(time.Millisecond) - 1) / int64(time.Millisecond) * int64(time.Millisecond)
	fn.Tick.Set(tp, time.Unix(0, at))
	fn.Next.Write(sp, at)
}
