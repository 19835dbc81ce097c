package pipeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/metricagg"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

func init() {
	register.DoFn3x0[beam.EventTime, string, func(pubsubread.Message)](&instanceInputFn{})
	register.Emitter1[pubsubread.Message]()
}

// instanceInputFn passes the test stream's "instance|user" elements of
// one instance on as Pub/Sub messages published at the element's time.
type instanceInputFn struct{ Instance string }

func (fn *instanceInputFn) ProcessElement(at beam.EventTime, elem string, emit func(pubsubread.Message)) {
	instance, user, _ := strings.Cut(elem, "|")
	if instance == fn.Instance {
		emit(pubsubread.Message{Data: []byte(fmt.Sprintf(`{"user":%q}`, user)), PublishTime: at.ToTime()})
	}
}

const twoInstancesConfig = `
window: 60s
allowed_lateness: 1h
metrics:
  - {name: by-user, type: count, dynamic_labels: {user: user}, max_series: 3, export_type: local}
  - {name: all, type: count, export_type: local}
`

// TestMaxSeriesOverTwoParseInstances runs the stream graph after two
// separate parse instances (A and B, each with its own max_series count,
// as two workers or two concurrent bundles have) and checks the windows'
// final totals: 3 user series per window between both instances, the rest
// in the overflow series and counted as overflowed, late data included.
func TestMaxSeriesOverTwoParseInstances(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) int64 { return base.Add(d).UnixMilli() }
	ts := teststream.NewConfig()
	add := func(at time.Duration, instance string, users ...string) {
		t.Helper()
		var elems []any
		for _, u := range users {
			elems = append(elems, instance+"|"+u)
		}
		if err := ts.AddElements(ms(at), elems...); err != nil {
			t.Fatal(err)
		}
	}
	advance := func(to time.Duration) {
		t.Helper()
		if err := ts.AdvanceWatermark(ms(to)); err != nil {
			t.Fatal(err)
		}
	}
	// 10:00. A: a, b, c (3 users, all admitted by A).
	add(time.Second, "A", "a", "a", "b", "c", "c", "c", "c")
	advance(30 * time.Second)
	// B: 3 users, all admitted by B. If A's partials reach the window
	// first, only b gets in and d (5 events) and e (3) find it full;
	// else d, e and b fill it and a and c are refused.
	add(2*time.Second, "B", "d", "d", "d", "d", "d", "e", "e", "e", "b")
	// 10:01. A: a, b; room for one more.
	add(61*time.Second, "A", "a", "b")
	advance(2*time.Minute + time.Millisecond) // both windows close
	// Late, 10:00. A: a (as a was before), f (A is full: 1 event
	// overflowed).
	add(3*time.Second, "A", "a", "a", "a", "a", "a", "a", "f")
	advance(2*time.Minute + 2*time.Millisecond)
	// Late, 10:01. B: g takes the last place; then h (2 events) finds none.
	add(62*time.Second, "B", "g", "g", "g", "g", "g", "g", "g", "g", "g")
	advance(2*time.Minute + 3*time.Millisecond)
	add(63*time.Second, "B", "h", "h")
	if err := ts.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}

	src := config.Source{Name: "two.yaml", Text: []byte(twoInstancesConfig)}
	cfg, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	plan := &Plan{Source: src, Config: cfg}
	plan.Exporters.Local.Path = t.TempDir() + "/out.jsonl"
	p, s := beam.NewPipelineWithRoot()
	in := teststream.Create(s, ts)
	var aggs []beam.PCollection
	for _, instance := range []string{"A", "B"} {
		msgs := beam.ParDo(s, &instanceInputFn{Instance: instance}, in)
		a, _ := beam.ParDo2(s, metricagg.NewParseMessages(src, 0), msgs)
		aggs = append(aggs, a)
	}
	if err := windowAndExport(s, plan, beam.Flatten(s, aggs...)); err != nil {
		t.Fatal(err)
	}
	before := selfmetrics.OverflowedByMetric.Snapshot()["by-user"]
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}

	// Both instances' 10:00 partials reach the admission step when the
	// window closes, in the runner's order: whichever comes first fills
	// the window.
	later := []string{
		"10:01 all{} = 13",
		"10:01 by-user{__overflow__} = 2", // h (late)
		"10:01 by-user{a} = 1",
		"10:01 by-user{b} = 1",
		"10:01 by-user{g} = 9", // late, into the last place
	}
	outcomes := []beamtest.Outcome{
		{First: "instance A", Lines: append([]string{
			"10:00 all{} = 23",
			"10:00 by-user{__overflow__} = 9", // d 5, e 3, f 1 (late)
			"10:00 by-user{a} = 8",            // 2, then 6 late
			"10:00 by-user{b} = 2",            // 1 from each instance
			"10:00 by-user{c} = 4",
		}, later...), Count: 5 + 3 + 1 + 2},
		{First: "instance B", Lines: append([]string{
			"10:00 all{} = 23",
			"10:00 by-user{__overflow__} = 13", // a 2 + 6 late, c 4, f 1 (late)
			"10:00 by-user{b} = 2",
			"10:00 by-user{d} = 5",
			"10:00 by-user{e} = 3",
		}, later...), Count: 8 + 4 + 1 + 2},
	}
	got := finalTotals(t, plan.Exporters.Local.Path)
	wantOverflowed := beamtest.OneOf(t, got, outcomes...).Count
	if d := selfmetrics.OverflowedByMetric.Snapshot()["by-user"] - before; d != wantOverflowed {
		t.Errorf("process counter: %d overflowed events, want %d", d, wantOverflowed)
	}
	beamCount := beamtest.Counter(res, "beametrics", selfmetrics.BeamOverflowedPrefix+"by-user")
	if beamCount != wantOverflowed {
		t.Errorf("Beam counter (the run summary's): %d overflowed events, want %d", beamCount, wantOverflowed)
	}
}

// finalTotals reads the local exporter's file and returns, per window and
// series, the largest value written ("15:04 metric{user} = v", sorted):
// panes accumulate, so that is the window's final total.
func finalTotals(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	final := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p struct {
			Metric string            `json:"metric_name"`
			Labels map[string]string `json:"labels"`
			Value  int64             `json:"value"`
			Start  time.Time         `json:"window_start"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("exported line %s: %v", sc.Text(), err)
		}
		id := fmt.Sprintf("%s %s{%s}", p.Start.UTC().Format("15:04"), p.Metric, p.Labels["user"])
		final[id] = max(final[id], p.Value)
	}
	var out []string
	for id, v := range final {
		out = append(out, fmt.Sprintf("%s = %d", id, v))
	}
	sort.Strings(out)
	return out
}
