// Package seriescap holds each metric's max_series per window over every
// instance of the parse step. Each instance caps only the label sets it
// sees itself (a memory guard, see internal/engine), so a stream that the
// runner parses in N instances could let N times max_series series into a
// window. This step admits label sets per metric and window across all
// instances and renames the partial aggregates of the rest to the metric's
// overflow series, counting their events as overflowed; the combine after
// it then merges them as it merges any series.
//
// It runs before the combine, on partial aggregates, rather than after it
// on whole series: with accumulating late panes a refused series would
// otherwise have to be kept and subtracted pane after pane. Here every
// partial of a label set in a window gets the same answer, early or late:
// admitted sets stay admitted, a new one gets in while room remains.
package seriescap

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func init() {
	register.DoFn4x1[beam.EventTime, string, aggregate.Acc, func(beam.EventTime, string, []byte), error](&batchFn{})
	register.Emitter3[beam.EventTime, string, []byte]()
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, []byte, func(string, aggregate.Acc), error](&admitFn{})
	register.Emitter2[string, aggregate.Acc]()
}

// Apply caps partials, a PCollection<KV<string, aggregate.Acc>> keyed by
// metricagg.SeriesKey as the parse step emits it (in the global window,
// each stamped with its window's last instant). windowInto puts a
// PCollection into the metrics' fixed windows; the result is partials in
// those windows, ready for the combine.
//
// The admission state lives in the global window, keyed by metric and
// window, and a timer drops it once the window has expired: prism v2.77
// drops a stateful step's windowed state when the window ends, ignoring
// the allowed lateness, which would let late data fill a window again.
func Apply(s beam.Scope, limits []Limit, partials beam.PCollection, windowInto func(beam.PCollection) beam.PCollection) beam.PCollection {
	batches := beam.ParDo(s, &batchFn{}, partials)
	admitted := beam.ParDo(s, &admitFn{
		Limits:   limits,
		Admitted: state.MakeBagState[[]byte]("admitted"),
		Expire:   timers.InEventTime("expire"),
	}, batches)
	return windowInto(admitted)
}

// Limit is what the step needs of one metric. The step carries these, not
// the config: a DoFn's fields travel in the pipeline graph, and a config
// can be tens of megabytes.
type Limit struct {
	Name      string
	MaxSeries int
	Capped    bool // the metric has dynamic labels: more than one series
	// OverflowKey is the label key of the metric's overflow series.
	OverflowKey string
	// Keep is how long after a window's last instant its admitted label
	// sets are kept: the allowed lateness plus one window, past the
	// moment the combine drops a partial as late.
	Keep time.Duration
}

// Limits reads every metric's Limit from cfg.
func Limits(cfg *config.Config) []Limit {
	limits := make([]Limit, len(cfg.Metrics))
	for i, m := range cfg.Metrics {
		limits[i] = Limit{Name: m.Name, MaxSeries: m.MaxSeries, Capped: len(m.DynamicLabels) > 0,
			OverflowKey: engine.OverflowLabelKey(len(m.DynamicLabels)), Keep: cfg.AllowedLateness + m.Window}
	}
	return limits
}

// batchFn groups a bundle's partial aggregates by metric and window (the
// element time is the window's last instant) and emits one batch each when
// the bundle ends: admitFn's state then costs the runner a read and a
// write per batch instead of per series.
type batchFn struct {
	batches map[batchKey][]byte
}

type batchKey struct {
	metric int
	at     beam.EventTime
}

// stateKey is admitFn's key: the metric, then the window's last instant.
func stateKey(k batchKey) string {
	b := binary.LittleEndian.AppendUint16(nil, uint16(k.metric))
	return string(binary.LittleEndian.AppendUint64(b, uint64(k.at)))
}

func parseStateKey(key string) (batchKey, error) {
	if len(key) != 10 {
		return batchKey{}, fmt.Errorf("seriescap: bad key of %d bytes", len(key))
	}
	b := []byte(key)
	return batchKey{int(binary.LittleEndian.Uint16(b)), beam.EventTime(binary.LittleEndian.Uint64(b[2:]))}, nil
}

// A batch is a sequence of entries: uvarint length, label key, uvarint
// length, encoded aggregate.

func (fn *batchFn) ProcessElement(at beam.EventTime, key string, acc aggregate.Acc, _ func(beam.EventTime, string, []byte)) error {
	m, labels, err := metricagg.ParseSeriesKey(key)
	if err != nil {
		return err
	}
	if fn.batches == nil {
		fn.batches = map[batchKey][]byte{}
	}
	k := batchKey{m, at}
	b := appendBytes(fn.batches[k], []byte(labels))
	enc, err := acc.AppendBinary(nil)
	if err != nil {
		return err
	}
	fn.batches[k] = appendBytes(b, enc)
	return nil
}

// FinishBundle emits the batches. (Its emitter is ProcessElement's, which
// emits nothing.)
func (fn *batchFn) FinishBundle(emit func(beam.EventTime, string, []byte)) {
	for k, b := range fn.batches {
		emit(k.at, stateKey(k), b)
	}
	clear(fn.batches)
}

// admitFn decides, per metric and window (its key), which label sets are
// series. Admitted holds the label sets admitted so far, each batch's new
// ones appended as one entry, until Expire fires after the window expired.
type admitFn struct {
	Limits   []Limit
	Admitted state.Bag[[]byte]
	Expire   timers.EventTime
}

func (fn *admitFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, key string, batch []byte, emit func(string, aggregate.Acc)) error {
	k, err := parseStateKey(key)
	if err != nil {
		return err
	}
	metric := k.metric
	if metric >= len(fn.Limits) {
		return fmt.Errorf("seriescap: metric %d in a batch, the config has %d", metric, len(fn.Limits))
	}
	m := fn.Limits[metric]
	overflowKey := m.OverflowKey
	pass := func(labels string, acc []byte) error {
		a, err := aggregate.DecodeBinary(acc)
		if err != nil {
			return err
		}
		emit(metricagg.SeriesKey(metric, labels), *a)
		return nil
	}
	if !m.Capped {
		// One series per window: nothing to cap, no state to keep.
		return eachEntry(batch, pass)
	}
	raw, seen, err := fn.Admitted.Read(sp)
	if err != nil {
		return err
	}
	if !seen {
		// The window's first batch. Later than the window's expiry, the
		// combine drops a partial as late; the margin of one window
		// keeps this state past that for sure. No output waits for the
		// timer, so it holds no watermark.
		expiry := mtime.Time(k.at).ToTime().Add(m.Keep)
		fn.Expire.Set(tp, expiry, timers.WithNoOutputTimestamp())
	}
	admitted := map[string]bool{}
	for _, b := range raw {
		for len(b) > 0 {
			labels, rest, err := nextBytes(b)
			if err != nil {
				return fmt.Errorf("seriescap: admitted label sets of metric %d: %w", metric, err)
			}
			admitted[string(labels)] = true
			b = rest
		}
	}
	var added []byte
	var overflow aggregate.Acc
	refused := false
	err = eachEntry(batch, func(labels string, acc []byte) error {
		switch {
		case labels == overflowKey || admitted[labels]:
			// The parse step's own overflow series is not a label set
			// and takes no room, as in the engine.
		case len(admitted) < m.MaxSeries:
			admitted[labels] = true
			added = appendBytes(added, []byte(labels))
		default:
			a, err := aggregate.DecodeBinary(acc)
			if err != nil {
				return err
			}
			overflow.Merge(a)
			refused = true
			return nil
		}
		return pass(labels, acc)
	})
	if err != nil {
		return err
	}
	if len(added) > 0 {
		if err := fn.Admitted.Add(sp, added); err != nil {
			return err
		}
	}
	if refused {
		// Count is the number of events (or values) the refused partials
		// hold: each was an event the parse step counted as a series one.
		beam.NewCounter("beametrics", selfmetrics.BeamOverflowedPrefix+m.Name).Inc(ctx, overflow.Count)
		selfmetrics.OverflowedByMetric.Add(m.Name, overflow.Count)
		selfmetrics.Overflowed.Add(overflow.Count)
		emit(metricagg.SeriesKey(metric, overflowKey), overflow)
	}
	return nil
}

// OnTimer forgets an expired window's label sets.
func (fn *admitFn) OnTimer(_ context.Context, sp state.Provider, _ timers.Provider, _ string, timer timers.Context, _ func(string, aggregate.Acc)) error {
	if timer.Family != fn.Expire.Family {
		return fmt.Errorf("seriescap: unexpected timer %q", timer.Family)
	}
	return fn.Admitted.Clear(sp)
}

// eachEntry calls f with each entry of a batch.
func eachEntry(batch []byte, f func(labels string, acc []byte) error) error {
	for len(batch) > 0 {
		labels, rest, err := nextBytes(batch)
		if err != nil {
			return fmt.Errorf("seriescap: corrupt batch: %w", err)
		}
		acc, rest, err := nextBytes(rest)
		if err != nil {
			return fmt.Errorf("seriescap: corrupt batch: %w", err)
		}
		if err := f(string(labels), acc); err != nil {
			return err
		}
		batch = rest
	}
	return nil
}

func appendBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

func nextBytes(b []byte) (v, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, fmt.Errorf("bad length")
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}
