package seriescap_test

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/transforms/metricagg"
	"github.com/beametrics/beametrics/transforms/seriescap"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.DoFn3x1[beam.EventTime, string, func(beam.EventTime, string, aggregate.Acc), error](&partialFn{})
	register.DoFn3x0[beam.Window, string, aggregate.Acc](&recordFn{})
}

// The test metrics: "capped" has a user label and room for 3 series per
// window; "plain" has no dynamic label (one series, never capped).
const testConfig = `
window: 60s
allowed_lateness: 1h
metrics:
  - {name: capped, type: count, dynamic_labels: {user: user}, max_series: 3, export_type: local}
  - {name: plain, type: count, export_type: local}
`

// partialFn turns "metric|user|count" into the partial aggregate a parse
// step emits: keyed by series, stamped (by the TestStream) with its
// window's last instant. The user "*" stands for the parse step's own
// overflow series.
type partialFn struct{}

func (partialFn) ProcessElement(at beam.EventTime, s string, emit func(beam.EventTime, string, aggregate.Acc)) error {
	parts := strings.Split(s, "|")
	if len(parts) != 3 {
		return fmt.Errorf("bad element %q", s)
	}
	m, err1 := strconv.Atoi(parts[0])
	n, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad element %q", s)
	}
	labels := ""
	switch {
	case parts[1] == "*":
		labels = labelKey("__overflow__")
	case parts[1] != "":
		labels = labelKey(parts[1])
	}
	emit(at, metricagg.SeriesKey(m, labels), aggregate.Acc{Count: int64(n)})
	return nil
}

// labelKey encodes one dynamic label value as the engine does: its length
// as a uvarint, then the bytes.
func labelKey(v string) string {
	return string(binary.AppendUvarint(nil, uint64(len(v)))) + v
}

// results holds, per "window metric{user}", the largest combined count
// seen: panes accumulate, so that is the window's final total.
var results = struct {
	sync.Mutex
	final map[string]int64
}{final: map[string]int64{}}

type recordFn struct{}

func (recordFn) ProcessElement(w beam.Window, key string, acc aggregate.Acc) {
	m, labels, _ := metricagg.ParseSeriesKey(key)
	user := ""
	if labels != "" {
		user = labels[1:] // a one-byte length, then the value
	}
	name := []string{"capped", "plain"}[m]
	id := fmt.Sprintf("%s %s{%s}", w.(window.IntervalWindow).Start.ToTime().UTC().Format("15:04"), name, user)
	results.Lock()
	defer results.Unlock()
	results.final[id] = max(results.final[id], acc.Count)
}

// TestCapAcrossInstances feeds the partial aggregates of two parse
// instances, each within max_series on its own, and late data: the windows
// must hold max_series label sets between them, the rest folded into the
// overflow series and counted.
func TestCapAcrossInstances(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	w0 := base.Add(time.Minute).UnixMilli() - 1   // last instant of 10:00-10:01
	w1 := base.Add(2*time.Minute).UnixMilli() - 1 // of 10:01-10:02
	ts := teststream.NewConfig()
	add := func(at int64, elems ...any) {
		t.Helper()
		if err := ts.AddElements(at, elems...); err != nil {
			t.Fatal(err)
		}
	}
	advance := func(to int64) {
		t.Helper()
		if err := ts.AdvanceWatermark(to); err != nil {
			t.Fatal(err)
		}
	}
	// Instance A, 10:00: 3 users, all admitted (room for 3).
	add(w0, "0|a|2", "0|b|1", "0|c|4", "1||10")
	advance(w0 - 30_000)
	// Instance B, 10:00: b, d, e, and its own overflow series (7 events,
	// counted by its parse step), which passes and takes no room. If A's
	// batch comes first, d and e find no room (5 + 3 overflowed events);
	// else b, d and e fill the window and a and c find none.
	add(w0, "0|b|1", "0|d|5", "0|e|3", "0|*|7", "1||20")
	// 10:01: 2 users, room for one more.
	add(w1, "0|a|1", "0|b|1")
	// Both windows close; the on-time panes fire.
	advance(w1 + 1)
	// Late, 10:00: a gets what it got on time, f finds no room (1 event).
	add(w0, "0|a|6", "0|f|1")
	advance(w1 + 2)
	// Late, 10:01: g takes the last place, then h finds none (2 events).
	add(w1, "0|g|9")
	advance(w1 + 3)
	add(w1, "0|h|2")
	if err := ts.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}

	src := config.Source{Name: "cap.yaml", Text: []byte(testConfig)}
	cfg, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	limits := seriescap.Limits(cfg)
	p, s := beam.NewPipelineWithRoot()
	partials := beam.ParDo(s, &partialFn{}, teststream.Create(s, ts))
	windowed := seriescap.Apply(s, limits, partials, func(pc beam.PCollection) beam.PCollection {
		return beam.WindowInto(s, window.NewFixedWindows(time.Minute), pc,
			beam.AllowedLateness(time.Hour), beam.PanesAccumulate())
	})
	beam.ParDo0(s, &recordFn{}, beam.CombinePerKey(s, &metricagg.CombineFn{}, windowed))

	overflowedBefore := overflowed()
	results.Lock()
	clear(results.final)
	results.Unlock()
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}

	// Both instances' 10:00 batches reach the step when the window closes,
	// in the runner's order: whichever comes first fills the window.
	later := []string{
		"10:01 capped{__overflow__} = 2", // h, late
		"10:01 capped{a} = 1",
		"10:01 capped{b} = 1",
		"10:01 capped{g} = 9", // late, into the last place
	}
	outcomes := []beamtest.Outcome{
		{First: "instance A", Lines: append([]string{
			"10:00 capped{__overflow__} = 16", // 7 from instance B's parse step, d 5, e 3, f 1 (late)
			"10:00 capped{a} = 8",             // 2, then 6 late
			"10:00 capped{b} = 2",
			"10:00 capped{c} = 4",
			"10:00 plain{} = 30", // never capped
		}, later...), Count: 5 + 3 + 1 + 2},
		{First: "instance B", Lines: append([]string{
			"10:00 capped{__overflow__} = 20", // 7, a 2 + 6 late, c 4, f 1 (late)
			"10:00 capped{b} = 2",
			"10:00 capped{d} = 5",
			"10:00 capped{e} = 3",
			"10:00 plain{} = 30",
		}, later...), Count: 8 + 4 + 1 + 2},
	}
	var got []string
	results.Lock()
	for id, n := range results.final {
		got = append(got, fmt.Sprintf("%s = %d", id, n))
	}
	results.Unlock()
	sort.Strings(got)
	wantOverflowed := beamtest.OneOf(t, got, outcomes...).Count
	if d := overflowed() - overflowedBefore; d != wantOverflowed {
		t.Errorf("process counter: %d overflowed events, want %d", d, wantOverflowed)
	}
	beamCount := beamtest.Counter(res, "beametrics", "overflowed/capped")
	if beamCount != wantOverflowed {
		t.Errorf("Beam counter overflowed/capped = %d, want %d", beamCount, wantOverflowed)
	}
}

// overflowed is the process's count of overflowed events of metric capped.
func overflowed() int64 { return selfmetrics.OverflowedByMetric.Snapshot()["capped"] }
