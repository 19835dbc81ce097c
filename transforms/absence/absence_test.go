package absence

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function2x2(toSeries)
	register.Function3x1(formatAcc)
	register.Function3x1(formatSince)
}

const (
	win = 10 * time.Second
	t0  = int64(1_700_000_000_000) // a window boundary, Unix ms
)

// toSeries turns a test element "METRIC/ID" into one counted event of
// that series.
func toSeries(_ beam.EventTime, e string) (string, aggregate.Acc) {
	metric, id, _ := strings.Cut(e, "/")
	m := 0
	if metric == "learn" {
		m = 1
	}
	return metricagg.SeriesKey(m, LabelKey([]string{id})), aggregate.Acc{Count: 1}
}

func describe(w beam.Window, key string) string {
	m, lk, _ := metricagg.ParseSeriesKey(key)
	iw := w.(window.IntervalWindow)
	return fmt.Sprintf("m%d %s w%d", m, lk[1:], (int64(iw.Start)-t0)/win.Milliseconds())
}

func formatAcc(w beam.Window, key string, acc aggregate.Acc) string {
	return fmt.Sprintf("%s count=%d", describe(w, key), acc.Count)
}

func formatSince(w beam.Window, key string, secs float64) string {
	return fmt.Sprintf("%s since=%g", describe(w, key), secs)
}

// sends lists, per test series, the windows in which it sends one event.
var sends = map[string][]int{
	"exp/0":   {0, 1, 2, 3, 4, 5}, // always alive
	"exp/1":   {0, 1},             // stops after window 1
	"exp/x":   {3},                // not expected: passes through, no zeros
	"learn/a": {0, 1},             // stops after window 1
	"learn/b": {1, 2, 3, 4, 5},    // alive until the input ends
}

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("absence.yaml", []byte(`
window: 10s
metrics:
  - name: exp
    type: count
    dynamic_labels: {id: id}
    absent: {expected: [{id: "0"}, {id: "1"}, {id: "2"}]}
  - name: learn
    type: count
    dynamic_labels: {id: id}
    absent: {learn: 30s}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestStopsSending runs a pipeline on prism in which series stop sending;
// their zeros must appear in exactly the windows after they stopped.
func TestStopsSending(t *testing.T) {
	cfg := testConfig(t)
	var specs []Spec
	for i := range cfg.Metrics {
		sp, err := SpecFor(cfg, i)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, sp)
	}

	stream := beamtest.NewStream(t)
	for w := 0; w < 6; w++ {
		var elems []string
		for series, windows := range sends {
			for _, x := range windows {
				if x == w {
					elems = append(elems, series)
				}
			}
		}
		stream.Add(time.UnixMilli(t0+int64(w)*win.Milliseconds()+1000), elems...)
		stream.Advance(time.UnixMilli(t0 + int64(w+1)*win.Milliseconds()))
	}

	p, s := beam.NewPipelineWithRoot()
	events := stream.Create(s)
	keyed := beam.ParDo(s, toSeries, events)
	windowed := beam.WindowInto(s, window.NewFixedWindows(win), keyed)
	combined := beam.CombinePerKey(s, &metricagg.CombineFn{}, windowed)
	filled, since := Apply(s, specs, win, 0, combined)

	var want []any
	add := func(format string, args ...any) { want = append(want, fmt.Sprintf(format, args...)) }
	for series, windows := range sends {
		metric, id, _ := strings.Cut(series, "/")
		m := map[string]int{"exp": 0, "learn": 1}[metric]
		for _, w := range windows {
			add("m%d %s w%d count=1", m, id, w)
			if id != "x" {
				add("m%d %s w%d since=0", m, id, w)
			}
		}
	}
	// Expected series "1" stopped after window 1: zeros while the
	// metric is alive (series "0" sends until window 5).
	for w := 2; w <= 5; w++ {
		add("m0 1 w%d count=0", w)
		add("m0 1 w%d since=%d", w, 10*(w-1))
	}
	// Expected series "2" never sent: zeros from the first window,
	// silence counted from that window's start.
	for w := 0; w <= 5; w++ {
		add("m0 2 w%d count=0", w)
		add("m0 2 w%d since=%d", w, 10*(w+1))
	}
	// Learned series "a" stopped after window 1: zeros while silent for
	// at most 30 s (windows 2, 3, 4), then it is forgotten.
	for w := 2; w <= 4; w++ {
		add("m1 a w%d count=0", w)
		add("m1 a w%d since=%d", w, 10*(w-1))
	}
	// Learned series "b" was alive until the input ended (window 5); the
	// watermark then moves on to the end of time, so b too is silent for
	// 30 s of event time.
	for w := 6; w <= 8; w++ {
		add("m1 b w%d count=0", w)
		add("m1 b w%d since=%d", w, 10*(w-5))
	}

	got := beam.WindowInto(s, window.NewGlobalWindows(), beam.Flatten(s,
		beam.ParDo(s, formatAcc, filled), beam.ParDo(s, formatSince, since)))
	passert.Equals(s, got, want...)
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

func TestLabelKeyMatchesEngine(t *testing.T) {
	cfg, err := config.Parse("k.yaml", []byte(`
metrics:
  - name: live
    type: count
    labels: {team: sre}
    dynamic_labels: {pipeline_id: pipeline-id, pipeline_env: pipeline-env}
    absent: {expected: [{pipeline_id: "0", pipeline_env: blue, team: sre}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := SpecFor(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The engine's own key for a record of this route must be the one
	// the spec expects.
	proc := eng.NewProcessor()
	if err := proc.Process([]byte(`{"pipeline-id":"0","pipeline-env":"blue"}`), nil, t0*1e6); err != nil {
		t.Fatal(err)
	}
	var keys []string
	proc.Flush(func(s engine.Series, _ *aggregate.Acc) {
		keys = append(keys, metricagg.SeriesKey(s.Metric, s.LabelKey))
	})
	if len(keys) != 1 || len(sp.Expected) != 1 || keys[0] != string(sp.Expected[0]) {
		t.Fatalf("engine keys %q, spec expects %q", keys, sp.Expected)
	}
	labels, err := eng.Labels(0, LabelKey([]string{"blue", "0"}))
	if err != nil || fmt.Sprint(labels) != "[{pipeline_env blue} {pipeline_id 0} {team sre}]" {
		t.Errorf("labels %v, %v", labels, err)
	}
}

func TestObservationCoder(t *testing.T) {
	for _, o := range []Observation{{WindowStart: -5}, {WindowStart: t0, Data: true, Acc: aggregate.Acc{Count: 3, Sum: 2.5}}} {
		b, err := encodeObservation(o)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeObservation(b)
		if err != nil || back.WindowStart != o.WindowStart || back.Data != o.Data || back.Acc.Count != o.Acc.Count || back.Acc.Sum != o.Acc.Sum {
			t.Errorf("%+v came back as %+v, %v", o, back, err)
		}
	}
	if _, err := decodeObservation([]byte{0x80}); err == nil {
		t.Error("a corrupt observation decoded")
	}
}
