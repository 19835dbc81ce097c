package engine_test

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/event"
	"github.com/beametrics/beametrics/internal/loggen"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// t0 is a window-aligned time for every window size used here.
var t0 = time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)

func compile(t testing.TB, yamlText string) *engine.Engine {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yamlText))
	if err != nil {
		t.Fatalf("config:\n%v", err)
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	return e
}

// record is one input: a body, message attributes and the source's time.
type record struct {
	body  string
	attrs map[string]string
	at    time.Time // zero: t0
}

func rec(body string) record { return record{body: body} }

func recAt(body string, at time.Time) record { return record{body: body, at: at} }

func feed(t testing.TB, p *engine.Processor, records ...record) {
	t.Helper()
	for _, r := range records {
		at := r.at
		if at.IsZero() {
			at = t0
		}
		_ = p.Process([]byte(r.body), r.attrs, at.UnixNano())
	}
}

// flush returns every series as "metric{label=value,...}@HH:MM:SS" -> value.
func flush(t testing.TB, e *engine.Engine, p *engine.Processor) map[string]string {
	t.Helper()
	out := map[string]string{}
	p.Flush(func(s engine.Series, acc *aggregate.Acc) {
		pt, err := e.Point(s, acc)
		if err != nil {
			t.Fatal(err)
		}
		if got := pt.End.Sub(pt.Start); got != e.Metric(s.Metric).Window {
			t.Errorf("point %s spans %v, the window is %v", pt.Metric, got, e.Metric(s.Metric).Window)
		}
		key := seriesKey(pt)
		if _, dup := out[key]; dup {
			t.Errorf("series %s emitted twice", key)
		}
		out[key] = valueText(pt)
	})
	if p.Pending() != 0 {
		t.Errorf("%d series pending after Flush", p.Pending())
	}
	return out
}

func seriesKey(pt metricdata.Point) string {
	var ls []string
	for _, l := range pt.Labels {
		ls = append(ls, l.Name+"="+l.Value)
	}
	return fmt.Sprintf("%s{%s}@%s", pt.Metric, strings.Join(ls, ","), pt.Start.Format("15:04:05.000"))
}

func valueText(pt metricdata.Point) string {
	switch pt.Type {
	case metricdata.Int64:
		return fmt.Sprint(pt.Int)
	case metricdata.Double:
		return fmt.Sprint(pt.Double)
	case metricdata.Distribution:
		d := pt.Dist
		return fmt.Sprintf("n=%d sum=%v min=%v max=%v %v", d.Count, d.Sum, d.Min, d.Max, d.BucketCounts)
	}
	return "?"
}

func checkSeries(t *testing.T, got, want map[string]string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("series differ\n got: %s\nwant: %s", sortedText(got), sortedText(want))
	}
}

func sortedText(m map[string]string) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, k+" = "+v)
	}
	sort.Strings(lines)
	return "\n  " + strings.Join(lines, "\n  ")
}

func TestCountsEveryEventWithoutFilter(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: all, type: count}\n")
	p := e.NewProcessor()
	feed(t, p, rec(`{}`), rec(`{"a":1}`), rec(`{"user":null}`))
	checkSeries(t, flush(t, e, p), map[string]string{"all{}@16:00:00.000": "3"})
	if p.Stats.Events != 3 || p.Stats.Matched[0] != 3 || p.Stats.Dropped[0] != 0 {
		t.Errorf("stats %+v", p.Stats)
	}
}

func TestConditionsAndFilterAreANDed(t *testing.T) {
	e := compile(t, `
metrics:
  - name: both
    type: count
    filter-conditions:
      - {field: service, operator: equals, value: checkout}
      - {field: http.status, operator: greater_or_equal, value: 500}
    filter: http.method == "GET"
  - name: expr-only
    type: count
    filter: http.status >= 500 && service != "healthz"
  - name: vm-only
    type: count
    filter: len(service) > 6
`)
	p := e.NewProcessor()
	feed(t, p,
		rec(`{"service":"checkout","http":{"status":500,"method":"GET"}}`),  // both, expr-only, vm-only
		rec(`{"service":"checkout","http":{"status":500,"method":"POST"}}`), // expr-only, vm-only
		rec(`{"service":"checkout","http":{"status":200,"method":"GET"}}`),  // vm-only
		rec(`{"service":"healthz","http":{"status":503,"method":"GET"}}`),   // vm-only
		rec(`{"service":"search","http":{"status":"500","method":"GET"}}`),  // nothing: "500" is a string
	)
	checkSeries(t, flush(t, e, p), map[string]string{
		"both{}@16:00:00.000":      "1",
		"expr-only{}@16:00:00.000": "2",
		"vm-only{}@16:00:00.000":   "4",
	})
	if !e.FastFilter(0) || !e.FastFilter(1) || e.FastFilter(2) {
		t.Errorf("FastFilter = %v %v %v, want true true false", e.FastFilter(0), e.FastFilter(1), e.FastFilter(2))
	}
}

// TestValueTypes: numeric types take numbers and numeric strings; a
// missing, null or non-numeric value is dropped for that metric only.
func TestValueTypes(t *testing.T) {
	e := compile(t, `
metrics:
  - {name: n, type: count}
  - {name: s, type: sum, field: v}
  - {name: lo, type: min, field: v}
  - {name: hi, type: max, field: v}
  - {name: avg, type: mean, field: v}
  - {name: last, type: latest, field: v}
  - {name: d, type: distribution, field: v, buckets: [0, 10]}
  - {name: other, type: sum, field: w}
`)
	p := e.NewProcessor()
	feed(t, p,
		recAt(`{"v":12.5,"w":1}`, t0.Add(1*time.Second)),
		recAt(`{"v":"-2.5","w":1}`, t0.Add(2*time.Second)), // numeric string
		recAt(`{"v":"20","w":1}`, t0.Add(3*time.Second)),
		recAt(`{"w":1}`, t0.Add(4*time.Second)),             // missing
		recAt(`{"v":null,"w":1}`, t0.Add(5*time.Second)),    // null
		recAt(`{"v":"lots","w":1}`, t0.Add(6*time.Second)),  // non-numeric string
		recAt(`{"v":true,"w":1}`, t0.Add(7*time.Second)),    // bool
		recAt(`{"v":{"x":1},"w":1}`, t0.Add(8*time.Second)), // object
		recAt(`{"v":[1],"w":1}`, t0.Add(9*time.Second)),     // array
		recAt(`{"v":"","w":1}`, t0.Add(10*time.Second)),     // empty string
		recAt(`{"v":"12.5 ms","w":1}`, t0.Add(11*time.Second)),
	)
	checkSeries(t, flush(t, e, p), map[string]string{
		"n{}@16:00:00.000":     "11",
		"s{}@16:00:00.000":     "30",
		"lo{}@16:00:00.000":    "-2.5",
		"hi{}@16:00:00.000":    "20",
		"avg{}@16:00:00.000":   "10",
		"last{}@16:00:00.000":  "20",
		"d{}@16:00:00.000":     "n=3 sum=30 min=-2.5 max=20 [1 0 2]",
		"other{}@16:00:00.000": "11",
	})
	for i, want := range []int64{0, 8, 8, 8, 8, 8, 8, 0} {
		if p.Stats.Dropped[i] != want {
			t.Errorf("metric %s: %d dropped, want %d", e.Metric(i).Name, p.Stats.Dropped[i], want)
		}
		if p.Stats.Matched[i] != 11 {
			t.Errorf("metric %s: %d matched, want 11", e.Metric(i).Name, p.Stats.Matched[i])
		}
	}
}

// An event whose value is dropped makes no series at all.
func TestDroppedValueMakesNoSeries(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: s, type: sum, field: v, dynamic_labels: {k: k}}\n")
	p := e.NewProcessor()
	feed(t, p, rec(`{"k":"a","v":"x"}`), rec(`{"k":"b"}`))
	checkSeries(t, flush(t, e, p), map[string]string{})
	if p.Stats.Dropped[0] != 2 {
		t.Errorf("dropped %d, want 2", p.Stats.Dropped[0])
	}
}

func TestProcessorNonFiniteValuesDropped(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: s, type: sum, field: v}\n")
	p := e.NewProcessor()
	feed(t, p, rec(`{"v":1}`), rec(`{"v":"NaN"}`), rec(`{"v":"Inf"}`), rec(`{"v":1e400}`))
	checkSeries(t, flush(t, e, p), map[string]string{"s{}@16:00:00.000": "1"})
	if p.Stats.Dropped[0] != 3 {
		t.Errorf("dropped %d, want 3", p.Stats.Dropped[0])
	}
}

func TestLatestByEventTime(t *testing.T) {
	e := compile(t, "event_time_field: ts\nmetrics:\n  - {name: temp, type: latest, field: v}\n")
	p := e.NewProcessor()
	feed(t, p,
		rec(`{"ts":"2025-11-24T16:00:30Z","v":3}`),
		rec(`{"ts":"2025-11-24T16:00:50Z","v":5}`),
		rec(`{"ts":"2025-11-24T16:00:10Z","v":9}`), // arrives last, but is the oldest
	)
	checkSeries(t, flush(t, e, p), map[string]string{"temp{}@16:00:00.000": "5"})
}

func TestDistinct(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: users, type: distinct, field: user}\n")
	p := e.NewProcessor()
	for i := range 10000 {
		feed(t, p, rec(fmt.Sprintf(`{"user":"u-%d"}`, i)), rec(fmt.Sprintf(`{"user":"u-%d"}`, i/2)))
	}
	feed(t, p, rec(`{}`), rec(`{"user":null}`))
	var got int64
	p.Flush(func(s engine.Series, acc *aggregate.Acc) { got = acc.Int(aggregate.Distinct) })
	if math.Abs(float64(got)-10000) > 300 {
		t.Errorf("distinct estimate %d for 10000 users", got)
	}
	if p.Stats.Dropped[0] != 2 {
		t.Errorf("dropped %d, want 2 (missing and null)", p.Stats.Dropped[0])
	}

	// Values are compared as their label text: 500 and "500" are one value;
	// objects count by their compact JSON.
	p = e.NewProcessor()
	feed(t, p, rec(`{"user":500}`), rec(`{"user":"500"}`), rec(`{"user":500.0}`), rec(`{"user":true}`),
		rec(`{"user":{"a":1}}`), rec(`{"user":{"a": 1}}`))
	checkSeries(t, flush(t, e, p), map[string]string{"users{}@16:00:00.000": "3"})
}

func TestDistributionBuckets(t *testing.T) {
	e := compile(t, `
metrics:
  - {name: lat, type: distribution, field: ms, buckets: [5, 10, 25]}
  - {name: exp, type: distribution, field: ms, exponential_buckets: {start: 1, factor: 10, count: 3}}
`)
	p := e.NewProcessor()
	for _, v := range []string{"0", "5", "5.01", "10", "25", "25.5", "1000", `"7"`} {
		feed(t, p, rec(`{"ms":`+v+`}`))
	}
	checkSeries(t, flush(t, e, p), map[string]string{
		"lat{}@16:00:00.000": "n=8 sum=1077.51 min=0 max=1000 [2 3 1 2]",
		"exp{}@16:00:00.000": "n=8 sum=1077.51 min=0 max=1000 [1 4 2 1]",
	})
	// A distribution series with no value is never emitted; its
	// descriptor carries the bounds.
	if d := e.Descriptor(1); !reflect.DeepEqual(d.Buckets, []float64{1, 10, 100}) || d.ValueType != metricdata.Distribution {
		t.Errorf("descriptor %+v", d)
	}
}

// TestDynamicLabelFormatting pins how each JSON kind becomes a label value.
func TestDynamicLabelFormatting(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: m, type: count, labels: {env: prod}, dynamic_labels: {v: x.v}}\n")
	for _, tc := range []struct{ json, want string }{
		{`"GET"`, "GET"},
		{`""`, ""},
		{`500`, "500"},
		{`500.0`, "500"},
		{`5e2`, "500"},
		{`-7`, "-7"},
		{`38.19`, "38.19"},
		{`0.5`, "0.5"},
		{`true`, "true"},
		{`false`, "false"},
		{`null`, ""},
		{`{"b":1, "a":[1, 2]}`, `{"b":1,"a":[1,2]}`},
		{`[ "x" , 1 ]`, `["x",1]`},
		{`"` + strings.Repeat("y", 300) + `"`, strings.Repeat("y", 300)}, // longer than a one-byte length
	} {
		p := e.NewProcessor()
		feed(t, p, rec(`{"x":{"v":`+tc.json+`}}`))
		checkSeries(t, flush(t, e, p), map[string]string{"m{env=prod,v=" + tc.want + "}@16:00:00.000": "1"})
	}
	p := e.NewProcessor()
	feed(t, p, rec(`{"x":{}}`), rec(`{}`), rec(`{"x":"flat"}`))
	checkSeries(t, flush(t, e, p), map[string]string{"m{env=prod,v=}@16:00:00.000": "3"})
}

// Label values that run together do not make the same series: "a","bc"
// and "ab","c" differ.
func TestLabelValuesDoNotCollide(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: m, type: count, dynamic_labels: {x: x, y: y}}\n")
	p := e.NewProcessor()
	long := strings.Repeat("z", 200)
	feed(t, p, rec(`{"x":"a","y":"bc"}`), rec(`{"x":"ab","y":"c"}`), rec(`{"x":"","y":"abc"}`),
		rec(`{"x":"`+long+`","y":"1"}`), rec(`{"x":"`+long+`1","y":""}`))
	checkSeries(t, flush(t, e, p), map[string]string{
		"m{x=a,y=bc}@16:00:00.000":           "1",
		"m{x=ab,y=c}@16:00:00.000":           "1",
		"m{x=,y=abc}@16:00:00.000":           "1",
		"m{x=" + long + ",y=1}@16:00:00.000": "1",
		"m{x=" + long + "1,y=}@16:00:00.000": "1",
	})
}

func TestAttributes(t *testing.T) {
	e := compile(t, `
metrics:
  - name: routes
    type: count
    dynamic_labels: {env: attributes.pipeline-env, id: attributes.pipeline-id}
    filter-conditions:
      - {field: attributes.kind, operator: equals, value: dummy}
`)
	p := e.NewProcessor()
	feed(t, p,
		record{body: `{}`, attrs: map[string]string{"kind": "dummy", "pipeline-env": "blue", "pipeline-id": "0"}},
		record{body: `{"attributes":{"pipeline-env":"from-body"}}`, attrs: map[string]string{"kind": "dummy", "pipeline-env": "blue", "pipeline-id": "0"}},
		// archived messages with the attributes in the body replay the same
		record{body: `{"attributes":{"kind":"dummy","pipeline-env":"green","pipeline-id":1}}`},
		record{body: `{}`, attrs: map[string]string{"kind": "other"}},
	)
	checkSeries(t, flush(t, e, p), map[string]string{
		"routes{env=blue,id=0}@16:00:00.000":  "2",
		"routes{env=green,id=1}@16:00:00.000": "1",
	})
}

func TestMaxSeries(t *testing.T) {
	e := compile(t, `
metrics:
  - {name: capped, type: count, max_series: 2, labels: {team: sre}, dynamic_labels: {user: user, code: code}}
  - {name: sum, type: sum, field: v, max_series: 1, dynamic_labels: {user: user}}
  - {name: free, type: count, dynamic_labels: {user: user}}
`)
	p := e.NewProcessor()
	for _, u := range []string{"a", "b", "a", "c", "d", "b", "c"} {
		feed(t, p, rec(`{"user":"`+u+`","code":1,"v":2}`))
	}
	got := flush(t, e, p)
	checkSeries(t, got, map[string]string{
		"capped{code=1,team=sre,user=a}@16:00:00.000":                       "2",
		"capped{code=1,team=sre,user=b}@16:00:00.000":                       "2",
		"capped{code=__overflow__,team=sre,user=__overflow__}@16:00:00.000": "3",
		"sum{user=a}@16:00:00.000":                                          "4",
		"sum{user=__overflow__}@16:00:00.000":                               "10",
		"free{user=a}@16:00:00.000":                                         "2",
		"free{user=b}@16:00:00.000":                                         "2",
		"free{user=c}@16:00:00.000":                                         "2",
		"free{user=d}@16:00:00.000":                                         "1",
	})
	if !reflect.DeepEqual(p.Stats.Overflowed, []int64{3, 5, 0}) {
		t.Errorf("Overflowed = %v, want [3 5 0]", p.Stats.Overflowed)
	}

	// The cap holds across bundles (Flush) of the same window...
	feed(t, p, rec(`{"user":"e","code":1,"v":1}`), rec(`{"user":"b","code":1,"v":1}`))
	got = flush(t, e, p)
	if got["capped{code=__overflow__,team=sre,user=__overflow__}@16:00:00.000"] != "1" ||
		got["capped{code=1,team=sre,user=b}@16:00:00.000"] != "1" {
		t.Errorf("after a flush: %s", sortedText(got))
	}
	// ...and each window has its own.
	feed(t, p, recAt(`{"user":"e","code":1,"v":1}`, t0.Add(time.Minute)))
	got = flush(t, e, p)
	if got["capped{code=1,team=sre,user=e}@16:01:00.000"] != "1" {
		t.Errorf("a new window: %s", sortedText(got))
	}
}

// max_series holds over every Processor of an engine, as replay runs one
// per core: what one admitted counts against the other's cap.
func TestMaxSeriesAcrossProcessors(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: capped, type: count, max_series: 3, dynamic_labels: {user: user}}\n")
	first, second := e.NewProcessor(), e.NewProcessor()
	for _, u := range []string{"a", "b", "c"} {
		feed(t, first, rec(`{"user":"`+u+`"}`))
	}
	for _, u := range []string{"d", "e", "a"} {
		feed(t, second, rec(`{"user":"`+u+`"}`))
	}
	checkSeries(t, flush(t, e, first), map[string]string{
		"capped{user=a}@16:00:00.000": "1", "capped{user=b}@16:00:00.000": "1", "capped{user=c}@16:00:00.000": "1",
	})
	// d and e are the fourth and fifth label sets of the window: over the
	// cap; a was admitted by the first Processor.
	checkSeries(t, flush(t, e, second), map[string]string{
		"capped{user=a}@16:00:00.000": "1", "capped{user=__overflow__}@16:00:00.000": "2",
	})
	if got := second.Stats.Overflowed[0]; got != 2 {
		t.Errorf("second Processor: Overflowed = %d, want 2", got)
	}
}

// A metric without dynamic labels has one series and ignores max_series.
func TestMaxSeriesWithoutDynamicLabels(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: m, type: count, max_series: 1, labels: {a: b}}\n")
	p := e.NewProcessor()
	feed(t, p, rec(`{}`), rec(`{}`))
	checkSeries(t, flush(t, e, p), map[string]string{"m{a=b}@16:00:00.000": "2"})
	if p.Stats.Overflowed[0] != 0 {
		t.Errorf("overflowed %d", p.Stats.Overflowed[0])
	}
}

func TestWindows(t *testing.T) {
	e := compile(t, `
metrics:
  - {name: default, type: count}
  - {name: ten, type: count, window: 10s}
  - {name: hour, type: count, window: 1h}
  - {name: odd, type: count, window: 7s}
`)
	p := e.NewProcessor()
	feed(t, p,
		recAt(`{}`, t0.Add(-time.Nanosecond)),      // 15:59:59.999999999
		recAt(`{}`, t0),                            // 16:00:00 opens the next window
		recAt(`{}`, t0.Add(9999*time.Millisecond)), // last instant of [16:00:00, 16:00:10)
		recAt(`{}`, t0.Add(10*time.Second)),        // first of [16:00:10, 16:00:20)
		recAt(`{}`, t0.Add(59*time.Second)),
		recAt(`{}`, t0.Add(60*time.Second)),
	)
	// 7 s windows are aligned to multiples of 7 s since the epoch, not to
	// the minute: t0 = 1764000000 s = 252000000 * 7 s.
	checkSeries(t, flush(t, e, p), map[string]string{
		"default{}@15:59:00.000": "1",
		"default{}@16:00:00.000": "4",
		"default{}@16:01:00.000": "1",
		"ten{}@15:59:50.000":     "1",
		"ten{}@16:00:00.000":     "2",
		"ten{}@16:00:10.000":     "1",
		"ten{}@16:00:50.000":     "1",
		"ten{}@16:01:00.000":     "1",
		"hour{}@15:00:00.000":    "1",
		"hour{}@16:00:00.000":    "5",
		"odd{}@15:59:53.000":     "1",
		"odd{}@16:00:00.000":     "1",
		"odd{}@16:00:07.000":     "2",
		"odd{}@16:00:56.000":     "2",
	})
	if e.Metric(0).Window != 60*time.Second {
		t.Errorf("default window %v", e.Metric(0).Window)
	}
}

func TestWindowStart(t *testing.T) {
	for _, tc := range []struct{ t, w, want int64 }{
		{0, 10, 0}, {9, 10, 0}, {10, 10, 10}, {11, 10, 10}, {-1, 10, -10}, {-10, 10, -10}, {-11, 10, -20},
		{1764000000123456789, int64(time.Minute), 1764000000000000000},
	} {
		if got := engine.WindowStart(tc.t, tc.w); got != tc.want {
			t.Errorf("WindowStart(%d, %d) = %d, want %d", tc.t, tc.w, got, tc.want)
		}
	}
}

func TestEventTime(t *testing.T) {
	e := compile(t, "event_time_field: meta.ts\nwindow: 10s\nmetrics:\n  - {name: m, type: count}\n")
	src := t0.Add(time.Hour) // the source's (publish) time
	p := e.NewProcessor()
	feed(t, p,
		recAt(`{"meta":{"ts":"2025-11-24T16:00:05Z"}}`, src),
		recAt(`{"meta":{"ts":"2025-11-24 16:00:15 UTC"}}`, src),
		recAt(`{"meta":{"ts":1764000025}}`, src),     // seconds
		recAt(`{"meta":{"ts":1764000035000}}`, src),  // milliseconds
		recAt(`{"meta":{"ts":"1764000045"}}`, src),   // numeric string
		recAt(`{"meta":{}}`, src),                    // missing: source time
		recAt(`{"meta":{"ts":null}}`, src),           // null: source time
		recAt(`{"meta":{"ts":"next tuesday"}}`, src), // unreadable: source time
	)
	checkSeries(t, flush(t, e, p), map[string]string{
		"m{}@16:00:00.000": "1",
		"m{}@16:00:10.000": "1",
		"m{}@16:00:20.000": "1",
		"m{}@16:00:30.000": "1",
		"m{}@16:00:40.000": "1",
		"m{}@17:00:00.000": "3",
	})
	if p.Stats.TimeFallbacks != 3 || p.Stats.Events != 8 || len(p.Stats.DeadLetters) != 0 {
		t.Errorf("stats %+v", p.Stats)
	}
	if got, ok := p.EventTime(123); got != 123 || ok {
		t.Errorf("EventTime after an unreadable time = %d, %v", got, ok)
	}

	// With RequireEventTime, such records are dead letters.
	p = e.NewProcessor()
	p.RequireEventTime = true
	for _, body := range []string{`{"meta":{}}`, `{"meta":{"ts":null}}`, `{"meta":{"ts":"next tuesday"}}`, `{"meta":{"ts":true}}`} {
		err := p.Process([]byte(body), nil, src.UnixNano())
		if event.Reason(err) != engine.ReasonBadEventTime {
			t.Errorf("%s: %v, want a %s dead letter", body, err, engine.ReasonBadEventTime)
		}
	}
	if err := p.Process([]byte(`{"meta":{"ts":"2025-11-24T16:00:05Z"}}`), nil, src.UnixNano()); err != nil {
		t.Errorf("a good time: %v", err)
	}
	if p.Stats.DeadLetters[engine.ReasonBadEventTime] != 4 || p.Stats.TimeFallbacks != 0 || p.Stats.Events != 1 {
		t.Errorf("stats %+v", p.Stats)
	}
	checkSeries(t, flush(t, e, p), map[string]string{"m{}@16:00:00.000": "1"})
	if got, ok := p.EventTime(0); !ok || got != t0.Add(5*time.Second).UnixNano() {
		t.Errorf("EventTime = %d, %v", got, ok)
	}

	// Without an event-time field, the source's time is the event time.
	e = compile(t, "metrics:\n  - {name: m, type: count}\n")
	p = e.NewProcessor()
	feed(t, p, recAt(`{"ts":"2020-01-01T00:00:00Z"}`, t0.Add(90*time.Second)))
	checkSeries(t, flush(t, e, p), map[string]string{"m{}@16:01:00.000": "1"})
	if got, ok := p.EventTime(42); got != 42 || !ok {
		t.Errorf("EventTime without a field = %d, %v", got, ok)
	}
	// RequireEventTime needs a field to apply to.
	p.RequireEventTime = true
	if err := p.Process([]byte(`{}`), nil, t0.UnixNano()); err != nil || p.Stats.Events != 2 {
		t.Errorf("RequireEventTime without a field: %v, %+v", err, p.Stats)
	}
}

// TestBadInput: every bad record is a counted dead letter with a reason,
// never a panic, and adds nothing.
func TestBadInput(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: all, type: count}\n  - {name: s, type: sum, field: v, dynamic_labels: {k: k}}\n")
	for _, tc := range []struct {
		name, body, reason string
	}{
		{"empty", "", event.ReasonInvalidJSON},
		{"invalid json", `{"v":`, event.ReasonInvalidJSON},
		{"not json", `hello`, event.ReasonInvalidJSON},
		{"array", `[{"v":1}]`, event.ReasonNotObject},
		{"string", `"{\"v\":1}"`, event.ReasonNotObject},
		{"number", `12`, event.ReasonNotObject},
		{"invalid utf-8", "{\"k\":\"\xc3\x28\",\"v\":1}", event.ReasonInvalidUTF8},
		{"10 MB line", `{"v":1,"pad":"` + strings.Repeat("x", 10<<20) + `"}`, event.ReasonOversize},
		{"100k brackets", strings.Repeat("[", 100000), event.ReasonTooDeep},
		{"deep objects", strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000), event.ReasonTooDeep},
		{"nul bytes", "\x00\x00", event.ReasonInvalidJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.NewProcessor()
			err := p.Process([]byte(tc.body), nil, t0.UnixNano())
			if err == nil {
				t.Fatal("accepted")
			}
			if got := event.Reason(err); got != tc.reason {
				t.Errorf("reason %q (%v), want %q", got, err, tc.reason)
			}
			if p.Stats.DeadLetters[tc.reason] != 1 || len(p.Stats.DeadLetters) != 1 || p.Stats.Events != 0 {
				t.Errorf("stats %+v", p.Stats)
			}
			if p.Pending() != 0 {
				t.Errorf("%d series from a bad record", p.Pending())
			}
			// The processor keeps working.
			if err := p.Process([]byte(`{"v":1,"k":"a"}`), nil, t0.UnixNano()); err != nil {
				t.Fatal(err)
			}
			checkSeries(t, flush(t, e, p), map[string]string{"all{}@16:00:00.000": "1", "s{k=a}@16:00:00.000": "1"})
		})
	}
}

func TestPointAndDescriptor(t *testing.T) {
	e := compile(t, `
metrics:
  - {name: c, type: count, labels: {z: last, a: first}, dynamic_labels: {m: m}, unit: "1", description: Count., kind: cumulative, export_type: local}
  - {name: u, type: distinct, field: user}
  - {name: l, type: mean, field: v, window: 10s}
`)
	d := e.Descriptor(0)
	if d.Name != "c" || d.Aggregation != "count" || d.ValueType != metricdata.Int64 || d.Kind != metricdata.Cumulative ||
		d.Unit != "1" || d.Description != "Count." || d.ExportType != "local" ||
		!reflect.DeepEqual(d.LabelNames, []string{"a", "m", "z"}) {
		t.Errorf("descriptor %+v", d)
	}
	if d := e.Descriptor(1); d.ValueType != metricdata.Int64 || d.Aggregation != "distinct" || d.Kind != metricdata.Gauge {
		t.Errorf("distinct descriptor %+v", d)
	}
	if d := e.Descriptor(2); d.ValueType != metricdata.Double {
		t.Errorf("mean descriptor %+v", d)
	}
	if e.NumMetrics() != 3 || e.Config() == nil {
		t.Errorf("NumMetrics %d", e.NumMetrics())
	}
	p := e.NewProcessor()
	feed(t, p, recAt(`{"m":"GET","user":"x","v":4}`, t0.Add(12*time.Second)))
	p.Flush(func(s engine.Series, acc *aggregate.Acc) {
		pt, err := e.Point(s, acc)
		if err != nil {
			t.Fatal(err)
		}
		switch pt.Metric {
		case "c":
			want := []metricdata.Label{{Name: "a", Value: "first"}, {Name: "m", Value: "GET"}, {Name: "z", Value: "last"}}
			if !reflect.DeepEqual(pt.Labels, want) || pt.Int != 1 || !pt.Start.Equal(t0) || !pt.End.Equal(t0.Add(time.Minute)) {
				t.Errorf("point %+v", pt)
			}
		case "l":
			if !pt.Start.Equal(t0.Add(10*time.Second)) || !pt.End.Equal(t0.Add(20*time.Second)) || pt.Double != 4 {
				t.Errorf("point %+v", pt)
			}
		}
	})
	if _, err := e.Labels(0, "\xff"); err == nil {
		t.Error("a corrupt label key decoded")
	}
}

// TestProcessorSeriesMerge: aggregating in two processors and merging
// their accumulators equals one processor over all events.
func TestProcessorSeriesMerge(t *testing.T) {
	e := compile(t, `
window: 10s
metrics:
  - {name: c, type: count, dynamic_labels: {k: k}}
  - {name: d, type: distribution, field: v, buckets: [1, 10, 100]}
  - {name: u, type: distinct, field: k}
  - {name: x, type: max, field: v, dynamic_labels: {k: k}}
`)
	var records []record
	for i := range 500 {
		records = append(records, recAt(fmt.Sprintf(`{"k":"k%d","v":%d}`, i%7, i%130), t0.Add(time.Duration(i)*97*time.Millisecond)))
	}
	one := e.NewProcessor()
	feed(t, one, records...)
	want := flush(t, e, one)

	merged := map[engine.Series]*aggregate.Acc{}
	collect := func(s engine.Series, acc *aggregate.Acc) {
		if m := merged[s]; m != nil {
			m.Merge(acc)
		} else {
			merged[s] = acc.Clone()
		}
	}
	a, b := e.NewProcessor(), e.NewProcessor()
	for i, r := range records {
		if i%3 == 0 {
			feed(t, a, r)
		} else {
			feed(t, b, r)
		}
		if i%50 == 49 { // bundles end
			a.Flush(collect)
		}
	}
	a.Flush(collect)
	b.Flush(collect)
	got := map[string]string{}
	for s, acc := range merged {
		pt, err := e.Point(s, acc)
		if err != nil {
			t.Fatal(err)
		}
		got[seriesKey(pt)] = valueText(pt)
	}
	checkSeries(t, got, want)
}

// TestNoAllocationsOnSteadyPath: with every series present, processing an
// event of the benchmark config allocates nothing.
func TestNoAllocationsOnSteadyPath(t *testing.T) {
	e := compile(t, string(mustRead(t, "testdata/bench.yaml")))
	events := generatedEvents(2000)
	p := e.NewProcessor()
	for _, ev := range events { // warm-up: every series of these events exists
		if err := p.Process(ev, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if p.Pending() == 0 {
		t.Fatal("no series after warm-up")
	}
	i := 0
	allocs := testing.AllocsPerRun(len(events), func() {
		_ = p.Process(events[i%len(events)], nil, 0)
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event on the steady path, want 0", allocs)
	}
	for m, n := range p.Stats.Matched {
		if n == 0 {
			t.Errorf("metric %s matched no event: the test does not exercise it", e.Metric(m).Name)
		}
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// generatedEvents makes n realistic log lines, 10 ms apart.
func generatedEvents(n int) [][]byte {
	g := loggen.New(11, t0, 10*time.Millisecond)
	out := make([][]byte, n)
	for i := range out {
		out[i], _ = g.Append(nil)
	}
	return out
}

// The allocation count above is real: an expression on the VM, which
// converts each event to Go values, shows up in it.
func TestAllocationsAreMeasured(t *testing.T) {
	e := compile(t, "metrics:\n  - {name: vm, type: count, filter: 'len(service) > 3'}\n")
	events := generatedEvents(100)
	p := e.NewProcessor()
	for _, ev := range events {
		_ = p.Process(ev, nil, 0)
	}
	i := 0
	if n := testing.AllocsPerRun(len(events), func() { _ = p.Process(events[i%len(events)], nil, 0); i++ }); n == 0 {
		t.Error("a VM filter reports no allocations: AllocsPerRun measures nothing here")
	}
}

// Dot paths reach into nested objects for the value field, labels and
// conditions alike.
func TestNestedPaths(t *testing.T) {
	e := compile(t, `
metrics:
  - name: bytes
    type: sum
    field: http.response.bytes
    dynamic_labels: {code: http.response.status}
    filter-conditions:
      - {field: http.request.method, operator: in, value: [GET, HEAD]}
`)
	p := e.NewProcessor()
	feed(t, p,
		rec(`{"http":{"request":{"method":"GET"},"response":{"status":200,"bytes":100}}}`),
		rec(`{"http":{"request":{"method":"HEAD"},"response":{"status":200,"bytes":"50"}}}`),
		rec(`{"http":{"request":{"method":"POST"},"response":{"status":200,"bytes":1}}}`),
		rec(`{"http":{"request":{"method":"GET"},"response":{"status":404,"bytes":7}}}`),
		rec(`{"http":{"request":{"method":"GET"},"response":"gone"}}`),
		rec(`{"http.request.method":"GET","http.response.bytes":5}`), // a key with dots is not a path
	)
	checkSeries(t, flush(t, e, p), map[string]string{
		"bytes{code=200}@16:00:00.000": "150",
		"bytes{code=404}@16:00:00.000": "7",
	})
	if p.Stats.Matched[0] != 4 || p.Stats.Dropped[0] != 1 {
		t.Errorf("matched %d dropped %d, want 4 and 1", p.Stats.Matched[0], p.Stats.Dropped[0])
	}
}

// A metric without labels keeps its current series at hand; a Flush, or
// events going back and forth between windows, must never send a value to
// a series that was already handed out or belongs to another window.
func TestSeriesWithoutLabelsAcrossFlushesAndWindows(t *testing.T) {
	e := compile(t, `
metrics:
  - {name: c, type: count}
  - {name: s, type: sum, field: v}
`)
	p := e.NewProcessor()
	feed(t, p, recAt(`{"v":1}`, t0), recAt(`{"v":2}`, t0.Add(time.Minute)), recAt(`{"v":4}`, t0))
	checkSeries(t, flush(t, e, p), map[string]string{
		"c{}@16:00:00.000": "2", "c{}@16:01:00.000": "1",
		"s{}@16:00:00.000": "5", "s{}@16:01:00.000": "2",
	})
	feed(t, p, recAt(`{"v":8}`, t0))
	checkSeries(t, flush(t, e, p), map[string]string{"c{}@16:00:00.000": "1", "s{}@16:00:00.000": "8"})
}
