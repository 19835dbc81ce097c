// Package absence makes silence visible: it adds an explicit zero
// aggregate for every window in which an expected series received
// nothing, and a seconds-since-last-seen value per series and window.
//
// It works per series key with Beam state and event-time timers, so it runs
// the same on prism and Dataflow. Windows are decided when the watermark
// passes their end, that is after the combined value of the window (if any)
// has arrived.
//
// Two modes, per metric:
//   - expected: a fixed list of series. A series gets a zero in every
//     window in which some series of its metric received data and it did
//     not. When the whole metric is silent nothing is written: that is the
//     metric's absence, which the silence alerts look for.
//   - learn: every series seen; after each window with data the series is
//     decided window by window, with zeros, until it has been silent for
//     longer than the learning period. Then its state is dropped.
package absence

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func init() {
	beam.RegisterCoder(reflect.TypeOf(Observation{}), encodeObservation, decodeObservation)
	register.DoFn5x0[beam.Window, string, aggregate.Acc, func(string, Observation), func(beam.EventTime, string, aggregate.Acc)](&tagFn{})
	register.DoFn6x1[state.Provider, timers.Provider, string, Observation, func(beam.EventTime, string, aggregate.Acc), func(beam.EventTime, string, float64), error](&fillFn{})
	register.Emitter2[string, Observation]()
	register.Emitter3[beam.EventTime, string, aggregate.Acc]()
	register.Emitter3[beam.EventTime, string, float64]()
}

// Spec is the absent: setting of one metric, with its expected series as
// series keys (metricagg.SeriesKey). []byte because keys are binary and
// DoFn fields travel as JSON.
type Spec struct {
	Metric   int
	Expected [][]byte
	LearnMs  int64 // 0 in expected mode
}

// SpecFor builds the Spec of metric i of cfg, which must have absent: set.
// labelNames are the metric's dynamic label names; the expected label
// sets are encoded the way the engine encodes label keys.
func SpecFor(cfg *config.Config, i int) (Spec, error) {
	m := &cfg.Metrics[i]
	if m.Absent == nil {
		return Spec{}, fmt.Errorf("absence: metric %q has no absent: setting", m.Name)
	}
	sp := Spec{Metric: i, LearnMs: m.Absent.Learn.Milliseconds()}
	names := make([]string, 0, len(m.DynamicLabels))
	for k := range m.DynamicLabels {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, set := range m.Absent.Expected {
		values := make([]string, len(names))
		for j, n := range names {
			v, ok := set[n]
			if !ok {
				return Spec{}, fmt.Errorf("absence: metric %q: an expected label set lacks %q", m.Name, n)
			}
			values[j] = v
		}
		sp.Expected = append(sp.Expected, []byte(metricagg.SeriesKey(i, LabelKey(values))))
	}
	return sp, nil
}

// LabelKey encodes dynamic label values, given in sorted label-name order,
// as the engine does: each value uvarint length-prefixed.
func LabelKey(values []string) string {
	var b []byte
	for _, v := range values {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return string(b)
}

// Observation is what the stateful step sees of one series and window:
// the combined aggregate (Data), or a marker saying that the metric was
// alive in the window (expected series only).
type Observation struct {
	WindowStart int64 // Unix milliseconds
	Data        bool
	Acc         aggregate.Acc
}

func encodeObservation(o Observation) ([]byte, error) {
	b := binary.AppendVarint(nil, o.WindowStart)
	if !o.Data {
		return append(b, 0), nil
	}
	return o.Acc.AppendBinary(append(b, 1))
}

func decodeObservation(b []byte) (Observation, error) {
	start, n := binary.Varint(b)
	if n <= 0 || len(b) < n+1 {
		return Observation{}, fmt.Errorf("absence: corrupt observation")
	}
	o := Observation{WindowStart: start, Data: b[n] == 1}
	if o.Data {
		acc, err := aggregate.DecodeBinary(b[n+1:])
		if err != nil {
			return Observation{}, err
		}
		o.Acc = *acc
	}
	return o, nil
}

// Apply adds zeros for silent series of the metrics in specs. combined is
// the PCollection<KV<string, aggregate.Acc>> of one window size, keyed by
// metricagg.SeriesKey, in fixed windows of size w with the given allowed
// lateness. It returns the same collection with the zeros added, and a
// PCollection<KV<string, float64>> of seconds since each series of those
// metrics last had data, one value per series and window (0 in windows
// with data), in the same windows.
func Apply(s beam.Scope, specs []Spec, w, allowedLateness time.Duration, combined beam.PCollection) (filled, sinceLastSeen beam.PCollection) {
	s = s.Scope("absence.Apply")
	obs, other := beam.ParDo2(s, &tagFn{Specs: specs}, combined)
	global := beam.WindowInto(s, window.NewGlobalWindows(), obs)
	out, since := beam.ParDo2(s, &fillFn{
		Specs:    specs,
		WindowMs: w.Milliseconds(),
		Had:      state.MakeSetState[int64]("had"),
		LastSeen: state.MakeValueState[int64]("lastSeen"),
		Decide:   timers.InEventTime("decide"),
	}, global)
	fixed := func(c beam.PCollection) beam.PCollection {
		return beam.WindowInto(s, window.NewFixedWindows(w), c, beam.AllowedLateness(allowedLateness))
	}
	return beam.Flatten(s, fixed(out), other), fixed(since)
}

// tagFn sends the series of the metrics with absent: to the stateful step,
// with their window, plus a marker for every expected series of the
// metric; everything else passes straight through.
type tagFn struct {
	Specs []Spec

	byMetric map[int]*Spec
	marked   map[string]bool // markers sent in this bundle
}

func (fn *tagFn) StartBundle(func(string, Observation), func(beam.EventTime, string, aggregate.Acc)) {
	if fn.byMetric == nil {
		fn.byMetric = map[int]*Spec{}
		for i := range fn.Specs {
			fn.byMetric[fn.Specs[i].Metric] = &fn.Specs[i]
		}
	}
	fn.marked = map[string]bool{}
}

func (fn *tagFn) ProcessElement(w beam.Window, key string, acc aggregate.Acc, obs func(string, Observation), other func(beam.EventTime, string, aggregate.Acc)) {
	metric, _, err := metricagg.ParseSeriesKey(key)
	sp := fn.byMetric[metric]
	iw, ok := w.(window.IntervalWindow)
	if err != nil || sp == nil || !ok {
		other(w.MaxTimestamp(), key, acc)
		return
	}
	start := int64(iw.Start)
	obs(key, Observation{WindowStart: start, Data: true, Acc: acc})
	for _, e := range sp.Expected {
		mk := strconv.FormatInt(start, 10) + string(e)
		if !fn.marked[mk] {
			fn.marked[mk] = true
			obs(string(e), Observation{WindowStart: start})
		}
	}
}

// fillFn decides, per series, the windows after its data: each window is
// decided by an event-time timer tagged with the window's start, which
// fires once the watermark has passed the window's end.
type fillFn struct {
	Specs    []Spec
	WindowMs int64

	Had      state.Set[int64]   // starts of undecided windows that had data
	LastSeen state.Value[int64] // end of the last window with data
	Decide   timers.EventTime

	byMetric map[int]*Spec
	expected map[string]bool
}

func (fn *fillFn) setup() {
	if fn.byMetric != nil {
		return
	}
	fn.byMetric = map[int]*Spec{}
	fn.expected = map[string]bool{}
	for i := range fn.Specs {
		fn.byMetric[fn.Specs[i].Metric] = &fn.Specs[i]
		for _, e := range fn.Specs[i].Expected {
			fn.expected[string(e)] = true
		}
	}
}

func (fn *fillFn) end(start int64) beam.EventTime { return mtime.Time(start + fn.WindowMs - 1) }

// decide schedules the decision of the window starting at start.
func (fn *fillFn) decide(tp timers.Provider, start int64) {
	fn.Decide.Set(tp, mtime.Time(start+fn.WindowMs).ToTime(),
		timers.WithTag(strconv.FormatInt(start, 10)),
		timers.WithOutputTimestamp(fn.end(start).ToTime()))
}

func (fn *fillFn) ProcessElement(sp state.Provider, tp timers.Provider, key string, o Observation,
	emit func(beam.EventTime, string, aggregate.Acc), since func(beam.EventTime, string, float64)) error {
	fn.setup()
	metric, _, err := metricagg.ParseSeriesKey(key)
	if err != nil {
		return err
	}
	spec := fn.byMetric[metric]
	if spec == nil {
		return fmt.Errorf("absence: series of metric %d has no absent: setting", metric)
	}
	if spec.LearnMs == 0 && !fn.expected[key] {
		// Expected mode: other series pass through untouched.
		if o.Data {
			emit(fn.end(o.WindowStart), key, o.Acc)
		}
		return nil
	}
	last, seen, err := fn.LastSeen.Read(sp)
	if err != nil {
		return err
	}
	if !o.Data {
		// A marker: the metric was alive in this window, so this
		// expected series must report in it, with data or a zero.
		if !seen {
			// Never seen: count its silence from here.
			if err := fn.LastSeen.Write(sp, o.WindowStart); err != nil {
				return err
			}
		}
		fn.decide(tp, o.WindowStart)
		return nil
	}
	emit(fn.end(o.WindowStart), key, o.Acc)
	since(fn.end(o.WindowStart), key, 0)
	if end := o.WindowStart + fn.WindowMs; !seen || end > last {
		if err := fn.LastSeen.Write(sp, end); err != nil {
			return err
		}
	}
	if err := fn.Had.Add(sp, o.WindowStart); err != nil {
		return err
	}
	fn.decide(tp, o.WindowStart)
	if spec.LearnMs > 0 {
		fn.decide(tp, o.WindowStart+fn.WindowMs)
	}
	return nil
}

func (fn *fillFn) OnTimer(_ context.Context, _ beam.EventTime, sp state.Provider, tp timers.Provider, key string, t timers.Context,
	emit func(beam.EventTime, string, aggregate.Acc), since func(beam.EventTime, string, float64)) error {
	fn.setup()
	if t.Family != fn.Decide.Family {
		return fmt.Errorf("absence: unexpected timer family %q", t.Family)
	}
	start, err := strconv.ParseInt(t.Tag, 10, 64)
	if err != nil {
		return fmt.Errorf("absence: bad timer tag %q", t.Tag)
	}
	had, err := fn.Had.Contains(sp, start)
	if err != nil {
		return err
	}
	if had {
		return fn.Had.Remove(sp, start)
	}
	metric, _, _ := metricagg.ParseSeriesKey(key)
	spec := fn.byMetric[metric]
	last, seen, err := fn.LastSeen.Read(sp)
	if err != nil {
		return err
	}
	end := start + fn.WindowMs
	if spec.LearnMs > 0 && (!seen || end-last > spec.LearnMs) {
		// Silent past the learning period: forget the series.
		return fn.LastSeen.Clear(sp)
	}
	emit(fn.end(start), key, aggregate.Acc{})
	if seen {
		since(fn.end(start), key, float64(end-last)/1000)
	}
	if spec.LearnMs > 0 {
		fn.decide(tp, end)
	}
	return nil
}
