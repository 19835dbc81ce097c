// Package seriesorder hands the windows of each series to the export sink
// in window order. A runner fires windows in no particular order when the
// watermark passes several at once (a replay, a catching-up stream) and
// runs sink bundles side by side, while Prometheus remote write and Cloud
// Monitoring refuse a point older than the series' last one.
//
// Points wait in the global window until the watermark has passed their
// window's last instant (and that of the latest point waiting with them),
// then leave sorted by window. The step is stateful
// and keyed by shard (a hash of the series key, so every point of a series
// is in one shard), and the sink fuses into its stage, so one series is in
// one bundle at a time and its points are exported before the next ones
// leave. Keying by shard rather than by series matters for speed: each
// key's state and timer cost the runner round trips per window, and a
// replay has thousands of series (per series, replay ran 75x slower).
// A late pane (allowed lateness) still leaves after the later windows it
// follows: its order is the runner's.
package seriesorder

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
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
	register.DoFn4x1[beam.Window, string, aggregate.Acc, func(beam.EventTime, int, []byte), error](&batchFn{})
	register.Emitter3[beam.EventTime, int, []byte]()
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, int, []byte, func(beam.EventTime, string, aggregate.Acc), error](&orderFn{})
	register.Emitter3[beam.EventTime, string, aggregate.Acc]()
}

// InWindowOrder returns combined, a PCollection<KV<string, aggregate.Acc>>
// keyed by series in fixed windows of size, with each series' windows in
// window order, in the same fixed windows.
func InWindowOrder(s beam.Scope, size time.Duration, combined beam.PCollection) beam.PCollection {
	s = s.Scope("seriesorder")
	// State is per key and window; the order spans windows, so it lives
	// in the global window, each element carrying its window's end.
	global := beam.WindowInto(s, window.NewGlobalWindows(), beam.ParDo(s, &batchFn{}, combined))
	ordered := beam.ParDo(s, &orderFn{
		Pending:   state.MakeBagState[[]byte]("pending"),
		NextFlush: state.MakeValueState[int64]("nextFlush"),
		Flush:     timers.InEventTime("flush"),
	}, global)
	return beam.WindowInto(s, window.NewFixedWindows(size), ordered)
}

// shards is how many keys the ordering state is spread over: enough for
// the cores of one machine to export in parallel, few enough that each
// key's state serves many series.
const shards = 4

// batchFn groups a bundle's points by their series' shard, each with its
// window's end and series key in front of the encoded aggregate, and emits
// one batch per shard when the bundle ends: the ordering state then costs
// the runner a few round trips per batch rather than per point. A batch
// starts with its latest window end, so that orderFn can set its timer
// without decoding the points.
type batchFn struct {
	batches        [shards][]byte // the entries
	oldest, newest [shards]int64  // the earliest and latest window end in each batch (mtime)
}

func (fn *batchFn) StartBundle(_ func(beam.EventTime, int, []byte)) {
	for i := range fn.batches {
		fn.batches[i] = fn.batches[i][:0]
	}
}

func (fn *batchFn) ProcessElement(w beam.Window, key string, acc aggregate.Acc, _ func(beam.EventTime, int, []byte)) error {
	iw, ok := w.(window.IntervalWindow)
	if !ok {
		return fmt.Errorf("seriesorder: element in %T, want fixed windows", w)
	}
	entry := binary.AppendVarint(nil, int64(iw.End))
	entry = binary.AppendUvarint(entry, uint64(len(key)))
	entry = append(entry, key...)
	entry, err := acc.AppendBinary(entry)
	if err != nil {
		return err
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	i := h.Sum32() % shards
	if end := int64(iw.End); len(fn.batches[i]) == 0 {
		fn.oldest[i], fn.newest[i] = end, end
	} else {
		fn.oldest[i], fn.newest[i] = min(fn.oldest[i], end), max(fn.newest[i], end)
	}
	fn.batches[i] = binary.AppendUvarint(fn.batches[i], uint64(len(entry)))
	fn.batches[i] = append(fn.batches[i], entry...)
	return nil
}

// FinishBundle stamps each batch with its earliest window's last instant,
// which holds the watermark after this step no further back than the
// points it carries. (Its emitter is ProcessElement's, which emits
// nothing.)
func (fn *batchFn) FinishBundle(emit func(beam.EventTime, int, []byte)) {
	for i, b := range fn.batches {
		if len(b) > 0 {
			emit(beam.EventTime(fn.oldest[i]-1), i, append(binary.AppendVarint(nil, fn.newest[i]), b...))
		}
	}
}

// orderFn keeps a shard's points until the watermark passes them.
type orderFn struct {
	Pending   state.Bag[[]byte]  // batches of points (see batchFn)
	NextFlush state.Value[int64] // when Flush is set to fire (mtime)
	Flush     timers.EventTime
}

func (fn *orderFn) ProcessElement(_ context.Context, sp state.Provider, tp timers.Provider, shard int, batch []byte, _ func(beam.EventTime, string, aggregate.Acc)) error {
	newest, n := binary.Varint(batch)
	if n <= 0 {
		return fmt.Errorf("seriesorder: shard %d: corrupt batch", shard)
	}
	if err := fn.Pending.Add(sp, batch); err != nil {
		return err
	}
	// The flush waits for the latest pending window's last instant. A
	// point is here only once its window has closed upstream, so the
	// watermark soon passes it; and once it has, every on-time point of
	// the windows up to it is here, so one flush releases them all.
	// (Flushing at the earliest instead releases one window per timer
	// and rewrites the rest each time: quadratic in a replay's backlog.)
	at := newest - 1
	next, set, err := fn.NextFlush.Read(sp)
	if err != nil {
		return err
	}
	if !set || at > next {
		fn.Flush.Set(tp, mtime.Time(at).ToTime())
		return fn.NextFlush.Write(sp, at)
	}
	return nil
}

type point struct {
	end    int64  // window end (mtime)
	series string // the series key
	acc    []byte // the encoded aggregate
	entry  []byte // the whole entry, as batched
}

// decodeBatch appends the points of a batch to points.
func decodeBatch(b []byte, points []point) ([]point, error) {
	_, n := binary.Varint(b) // the latest window end
	if n <= 0 {
		return nil, fmt.Errorf("corrupt batch")
	}
	b = b[n:]
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, fmt.Errorf("corrupt batch")
		}
		entry := b[n : n+int(l)]
		b = b[n+int(l):]
		end, m := binary.Varint(entry)
		if m <= 0 {
			return nil, fmt.Errorf("corrupt point")
		}
		kl, k := binary.Uvarint(entry[m:])
		if k <= 0 || uint64(len(entry)-m-k) < kl {
			return nil, fmt.Errorf("corrupt point")
		}
		start := m + k
		points = append(points, point{end: end, series: string(entry[start : start+int(kl)]), acc: entry[start+int(kl):], entry: entry})
	}
	return points, nil
}

func (fn *orderFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, shard int, timer timers.Context, emit func(beam.EventTime, string, aggregate.Acc)) error {
	if timer.Family != fn.Flush.Family {
		return fmt.Errorf("seriesorder: unexpected timer %q", timer.Family)
	}
	raw, _, err := fn.Pending.Read(sp)
	if err != nil {
		return err
	}
	var points []point
	for _, b := range raw {
		if points, err = decodeBatch(b, points); err != nil {
			return fmt.Errorf("seriesorder: shard %d: %w", shard, err)
		}
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
		emit(beam.EventTime(points[ready].end-1), points[ready].series, *acc)
		ready++
	}
	if err := fn.Pending.Clear(sp); err != nil {
		return err
	}
	rest := points[ready:]
	if len(rest) == 0 {
		return fn.NextFlush.Clear(sp)
	}
	at := rest[len(rest)-1].end - 1
	batch := binary.AppendVarint(nil, at+1)
	for _, p := range rest {
		batch = binary.AppendUvarint(batch, uint64(len(p.entry)))
		batch = append(batch, p.entry...)
	}
	if err := fn.Pending.Add(sp, batch); err != nil {
		return err
	}
	fn.Flush.Set(tp, mtime.Time(at).ToTime())
	return fn.NextFlush.Write(sp, at)
}
