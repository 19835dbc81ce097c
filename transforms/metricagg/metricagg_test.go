package metricagg_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func TestMain(m *testing.M) {
	ptest.Main(m)
}

func init() {
	register.Function1x1(toBytes)
	register.DoFn3x0[string, aggregate.Acc, func(string, aggregate.Acc)](&countPartialsFn{})
	register.Emitter2[string, aggregate.Acc]()
	register.DoFn3x1[beam.Window, string, aggregate.Acc, string](&formatFn{})
}

func toBytes(s string) []byte { return []byte(s) }

// partials counts, per test and series key, the partial aggregates that
// left ParseLinesFn; prism runs in this process.
var partials = struct {
	sync.Mutex
	n map[string]map[string]int
}{n: map[string]map[string]int{}}

type countPartialsFn struct{ Test string }

func (f *countPartialsFn) ProcessElement(key string, acc aggregate.Acc, emit func(string, aggregate.Acc)) {
	partials.Lock()
	if partials.n[f.Test] == nil {
		partials.n[f.Test] = map[string]int{}
	}
	partials.n[f.Test][key]++
	partials.Unlock()
	emit(key, acc)
}

// formatFn writes one combined series as "metric labels window = value",
// reading the raw accumulator (not engine.Point), so that the test checks
// what the combiner produced.
type formatFn struct {
	Config config.Source
	eng    *engine.Engine
}

func (f *formatFn) Setup() error {
	cfg, err := f.Config.Load()
	if err != nil {
		return err
	}
	f.eng, err = engine.New(cfg)
	return err
}

func (f *formatFn) ProcessElement(w beam.Window, key string, acc aggregate.Acc) string {
	m, labelKey, err := metricagg.ParseSeriesKey(key)
	if err != nil {
		return "bad key: " + err.Error()
	}
	labels, err := f.eng.Labels(m, labelKey)
	if err != nil {
		return "bad labels: " + err.Error()
	}
	var ls []string
	for _, l := range labels {
		ls = append(ls, l.Name+"="+l.Value)
	}
	iw := w.(window.IntervalWindow)
	prefix := fmt.Sprintf("%s{%s} %s/%s = ", f.eng.Metric(m).Name, strings.Join(ls, ","),
		iw.Start.ToTime().UTC().Format(time.RFC3339), iw.End.ToTime().UTC().Format(time.RFC3339))
	switch f.eng.Metric(m).Type {
	case aggregate.Count:
		return prefix + fmt.Sprint(acc.Count)
	case aggregate.Sum:
		return prefix + fmt.Sprint(acc.Sum)
	case aggregate.Min:
		return prefix + fmt.Sprint(acc.Min)
	case aggregate.Max:
		return prefix + fmt.Sprint(acc.Max)
	case aggregate.Distribution:
		return prefix + fmt.Sprintf("count=%d sum=%v min=%v max=%v buckets=%v", acc.Count, acc.Sum, acc.Min, acc.Max, acc.Buckets)
	case aggregate.Distinct:
		return prefix + fmt.Sprint(acc.Int(aggregate.Distinct))
	}
	return prefix + "unexpected type"
}

const combineConfig = `
event_time_field: time
window: 60s
metrics:
  - {name: requests, type: count, dynamic_labels: {service: service}, export_type: local}
  - {name: bytes, type: sum, field: bytes, export_type: local}
  - {name: fastest, type: min, field: latency, export_type: local}
  - {name: slowest, type: max, field: latency, export_type: local}
  - {name: latency, type: distribution, field: latency, buckets: [10, 100], export_type: local}
  - {name: users, type: distinct, field: user, export_type: local}
`

type testEvent struct {
	at      time.Time
	service string
	user    string
	bytes   int
	latency float64 // a multiple of 0.25: sums are exact in any order
}

// TestCombinePartialsAcrossBundles feeds events in several TestStream
// batches (several bundles, so several partial aggregates per series),
// windows and combines them as Build does, and compares every metric type
// with answers computed here over the same events.
func TestCombinePartialsAcrossBundles(t *testing.T) {
	base := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 11))
	var events []testEvent
	for i := 0; i < 240; i++ {
		events = append(events, testEvent{
			at:      base.Add(time.Duration(rng.IntN(180_000)) * time.Millisecond),
			service: []string{"checkout", "search", "auth"}[rng.IntN(3)],
			user:    fmt.Sprintf("u-%d", rng.IntN(40)),
			bytes:   rng.IntN(5000),
			latency: float64(rng.IntN(800)) / 4,
		})
	}
	// Boundaries: the last millisecond of a window and the first of the
	// next, and a value on a bucket bound (10 is in the le=10 bucket).
	events = append(events,
		testEvent{base.Add(60*time.Second - time.Millisecond), "auth", "u-1", 1, 10},
		testEvent{base.Add(60 * time.Second), "auth", "u-1", 1, 100},
	)

	ts := teststream.NewConfig()
	const batch = 20
	for i := 0; i < len(events); i += batch {
		var elems []any
		for _, e := range events[i:min(i+batch, len(events))] {
			elems = append(elems, fmt.Sprintf(`{"time":%q,"service":%q,"user":%q,"bytes":%d,"latency":%v}`,
				e.at.Format(time.RFC3339Nano), e.service, e.user, e.bytes, e.latency))
		}
		if err := ts.AddElements(base.UnixMilli(), elems...); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}

	src := config.Source{Name: "combine.yaml", Text: []byte(combineConfig)}
	p, s := beam.NewPipelineWithRoot()
	lines := beam.ParDo(s, toBytes, teststream.Create(s, ts))
	aggs, dead := beam.ParDo2(s, metricagg.NewParseLines(src), lines)
	passert.Empty(s, dead)
	aggs = beam.ParDo(s, &countPartialsFn{Test: t.Name()}, aggs)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), aggs)
	combined := beam.CombinePerKey(s, &metricagg.CombineFn{}, windowed)
	formatted := beam.ParDo(s, &formatFn{Config: src}, combined)
	global := beam.WindowInto(s, window.NewGlobalWindows(), formatted)
	want := expectedCombined(events)
	passert.Equals(s, global, want...)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}

	partials.Lock()
	defer partials.Unlock()
	multi := 0
	for _, n := range partials.n[t.Name()] {
		if n > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Errorf("no series had more than one partial aggregate (%v): the test did not exercise combining", partials.n[t.Name()])
	}
}

// expectedCombined computes the formatted lines with plain Go.
func expectedCombined(events []testEvent) []any {
	type dist struct {
		count    int64
		sum      float64
		min, max float64
		buckets  [3]int64
	}
	counts := map[string]int{}
	bytes := map[string]int{}
	dists := map[string]*dist{}
	users := map[string]map[string]bool{}
	for _, e := range events {
		w := e.at.Truncate(time.Minute)
		win := w.Format(time.RFC3339) + "/" + w.Add(time.Minute).Format(time.RFC3339)
		counts["requests{service="+e.service+"} "+win]++
		bytes[win] += e.bytes
		d := dists[win]
		if d == nil {
			d = &dist{min: e.latency, max: e.latency}
			dists[win] = d
		}
		d.count++
		d.sum += e.latency
		d.min = min(d.min, e.latency)
		d.max = max(d.max, e.latency)
		switch {
		case e.latency <= 10:
			d.buckets[0]++
		case e.latency <= 100:
			d.buckets[1]++
		default:
			d.buckets[2]++
		}
		if users[win] == nil {
			users[win] = map[string]bool{}
		}
		users[win][e.user] = true
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%s = %d", k, n))
	}
	for win, d := range dists {
		out = append(out,
			fmt.Sprintf("bytes{} %s = %d", win, bytes[win]),
			fmt.Sprintf("fastest{} %s = %v", win, d.min),
			fmt.Sprintf("slowest{} %s = %v", win, d.max),
			fmt.Sprintf("latency{} %s = count=%d sum=%v min=%v max=%v buckets=%v", win, d.count, d.sum, d.min, d.max, d.buckets[:]),
			fmt.Sprintf("users{} %s = %d", win, len(users[win])))
	}
	sort.Strings(out)
	res := make([]any, len(out))
	for i, l := range out {
		res[i] = l
	}
	return res
}

// TestCombineFnMergesEveryField merges accumulators built separately and
// checks them against one accumulator fed every value, including empty
// accumulators on either side.
func TestCombineFnMergesEveryField(t *testing.T) {
	bounds := []float64{1, 5}
	values := []float64{0.5, 7, 3, 1, 5, 9.5, 2}
	var whole aggregate.Acc
	for i, v := range values {
		whole.AddValue(v, int64(i), bounds)
	}
	var fn metricagg.CombineFn
	acc := fn.CreateAccumulator()
	acc = fn.MergeAccumulators(acc, aggregate.Acc{})
	for i, v := range values {
		var part aggregate.Acc
		part.AddValue(v, int64(i), bounds)
		if i%2 == 0 {
			acc = fn.AddInput(acc, part)
		} else {
			acc = fn.MergeAccumulators(acc, part)
		}
	}
	acc = fn.MergeAccumulators(fn.CreateAccumulator(), acc)
	got := fn.ExtractOutput(acc)
	if got.Count != 7 || got.Sum != 28 || got.Min != 0.5 || got.Max != 9.5 || got.Latest != 2 {
		t.Errorf("merged count=%d sum=%v min=%v max=%v latest=%v, want 7 28 0.5 9.5 2", got.Count, got.Sum, got.Min, got.Max, got.Latest)
	}
	if fmt.Sprint(got.Buckets) != "[2 3 2]" || fmt.Sprint(whole.Buckets) != "[2 3 2]" {
		t.Errorf("buckets merged %v, whole %v, want [2 3 2] (0.5 and 1 in le=1, 2, 3 and 5 in le=5)", got.Buckets, whole.Buckets)
	}

	var a, b aggregate.Acc
	for i := 0; i < 300; i++ {
		a.AddDistinct([]byte(fmt.Sprintf("user-%d", i)))
		b.AddDistinct([]byte(fmt.Sprintf("user-%d", i+150))) // 150 shared
	}
	d := fn.MergeAccumulators(fn.MergeAccumulators(aggregate.Acc{}, a), b)
	if n := d.Int(aggregate.Distinct); n < 445 || n > 455 {
		t.Errorf("distinct of two overlapping sets = %d, want 450 within 1%%", n)
	}
	if n := a.Int(aggregate.Distinct); n != 300 {
		t.Errorf("merging changed an input: its distinct count is now %d, want 300", n)
	}
}
