package cumulative_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/transforms/cumulative"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func TestMain(m *testing.M) {
	ptest.Main(m)
}

func init() {
	register.Function3x0(parseEvent)
	register.Function3x1(formatTotal)
	register.Function3x1(formatRest)
	register.Function2x0(lastWindowOnly)
}

// base is the test's epoch: midnight, so that windows are easy to read.
var base = time.Date(2025, 11, 24, 0, 0, 0, 0, time.UTC)

// parseEvent reads "metric/label/value" into one partial aggregate.
func parseEvent(t beam.EventTime, line string, emit func(beam.EventTime, string, aggregate.Acc)) {
	f := strings.Split(line, "/")
	m, _ := strconv.Atoi(f[0])
	v, _ := strconv.ParseFloat(f[2], 64)
	var acc aggregate.Acc
	acc.AddValue(v, t.ToTime().UnixNano(), nil)
	emit(t, metricagg.SeriesKey(m, f[1]), acc)
}

// clock writes a time as hours:minutes since base (26:00 is 02:00 the
// next day), so that restarts on later days read unambiguously.
func clock(ns int64) string {
	d := time.Duration(ns - base.UnixNano())
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

func formatTotal(key string, tot cumulative.Total, emit func(string)) error {
	m, label, err := metricagg.ParseSeriesKey(key)
	if err != nil {
		return err
	}
	emit(fmt.Sprintf("%d/%s since %s window %s-%s: count=%d sum=%g", m, label,
		clock(tot.Start), clock(tot.WindowStart), clock(tot.WindowEnd), tot.Acc.Count, tot.Acc.Sum))
	return nil
}

func formatRest(key string, acc aggregate.Acc, emit func(string)) error {
	m, label, err := metricagg.ParseSeriesKey(key)
	if err != nil {
		return err
	}
	emit(fmt.Sprintf("%d/%s gauge: count=%d sum=%g", m, label, acc.Count, acc.Sum))
	return nil
}

type event struct {
	at   time.Duration // after base
	line string
}

// run feeds the events through fixed windows, the combine and the running
// totals (metric 0 cumulative, metric 1 not), advancing the watermark to
// each of marks in turn, and returns the formatted totals and the rest.
func run(t *testing.T, size time.Duration, events []event, marks []time.Duration, wantTotals, wantRest []string) {
	t.Helper()
	stream := beamtest.NewStream(t)
	for _, mark := range append(marks, -1) {
		for _, e := range events {
			if (mark < 0 || e.at < mark) && e.at >= 0 {
				stream.Add(base.Add(e.at), e.line)
			}
		}
		// Mark events as sent: only those before this mark go now.
		var later []event
		for _, e := range events {
			if mark >= 0 && e.at >= mark {
				later = append(later, e)
			}
		}
		events = later
		if mark < 0 {
			break
		}
		stream.Advance(base.Add(mark))
	}

	p, s := beam.NewPipelineWithRoot()
	lines := stream.Create(s)
	accs := beam.ParDo(s, parseEvent, lines)
	windowed := beam.WindowInto(s, window.NewFixedWindows(size), accs)
	combined := beam.CombinePerKey(s, &metricagg.CombineFn{}, windowed)
	rest, totals := cumulative.Apply(s, []int{0}, combined)
	passert.Equals(s, beam.ParDo(s, formatTotal, totals), toAny(wantTotals)...)
	restLines := beam.WindowInto(s, window.NewGlobalWindows(), beam.ParDo(s, formatRest, rest))
	passert.Equals(s, restLines, toAny(wantRest)...)
	ptest.RunAndValidate(t, p)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

var threeWindows = []event{
	{0 * time.Minute, "0/a/2"}, {30 * time.Second, "0/a/3"}, {10 * time.Second, "0/b/1"}, {20 * time.Second, "1/x/7"},
	{1 * time.Minute, "0/a/5"},
	{2*time.Minute + 59*time.Second, "0/a/1"}, {2 * time.Minute, "0/b/4"}, {2 * time.Minute, "1/x/8"},
}

var threeWindowsTotals = []string{
	"0/a since 00:00 window 00:00-00:01: count=2 sum=5",
	"0/a since 00:00 window 00:01-00:02: count=3 sum=10",
	"0/a since 00:00 window 00:02-00:03: count=4 sum=11",
	"0/b since 00:00 window 00:00-00:01: count=1 sum=1",
	// b had nothing in 00:01-00:02: no point, the total carries on.
	"0/b since 00:00 window 00:02-00:03: count=2 sum=5",
}

var threeWindowsRest = []string{"1/x gauge: count=1 sum=7", "1/x gauge: count=1 sum=8"}

// The watermark passes one window at a time, as in a live stream.
func TestRunningTotalsWindowByWindow(t *testing.T) {
	run(t, time.Minute, threeWindows, []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute},
		threeWindowsTotals, threeWindowsRest)
}

// Every window fires at once, as in a replay: the totals must still be
// added in window order.
func TestRunningTotalsAllWindowsAtOnce(t *testing.T) {
	run(t, time.Minute, threeWindows, nil, threeWindowsTotals, threeWindowsRest)
}

// A total that would span more than a day starts again from the window
// that would cross the limit, with that window's start.
func TestRunningTotalRestartsAfterMaxAge(t *testing.T) {
	events := []event{
		{0, "0/a/1"}, {10 * time.Hour, "0/a/1"}, {22 * time.Hour, "0/a/1"},
		// 23:00-24:00 ends exactly 24 h after the start: still the same total.
		{23 * time.Hour, "0/a/1"},
		// 24:00-25:00 would span 25 h: a new total from 24:00.
		{24 * time.Hour, "0/a/10"}, {25 * time.Hour, "0/a/10"},
		// After a long silence the next window starts a new total too.
		{60 * time.Hour, "0/a/100"},
	}
	want := []string{
		"0/a since 00:00 window 00:00-01:00: count=1 sum=1",
		"0/a since 00:00 window 10:00-11:00: count=2 sum=2",
		"0/a since 00:00 window 22:00-23:00: count=3 sum=3",
		"0/a since 00:00 window 23:00-24:00: count=4 sum=4",
		"0/a since 24:00 window 24:00-25:00: count=1 sum=10",
		"0/a since 24:00 window 25:00-26:00: count=2 sum=20",
		"0/a since 60:00 window 60:00-61:00: count=1 sum=100",
	}
	run(t, time.Hour, events, []time.Duration{11 * time.Hour, 30 * time.Hour}, want, nil)
}

func init() {
	register.Function3x1(parseWindow)
}

// parseWindow reads "label/window index/value,value..." of one-minute windows
// into a Total. Every element keeps the test stream's timestamp, so that
// the runner cannot put them in window order by timestamp: only the
// transform's own ordering can.
func parseWindow(t beam.EventTime, line string, emit func(beam.EventTime, string, cumulative.Total)) error {
	f := strings.Split(line, "/")
	i, err := strconv.Atoi(f[1])
	if err != nil {
		return err
	}
	start := base.Add(time.Duration(i) * time.Minute)
	end := start.Add(time.Minute)
	var acc aggregate.Acc
	for _, field := range strings.Split(f[2], ",") {
		v, err := strconv.ParseFloat(field, 64)
		if err != nil {
			return err
		}
		acc.AddValue(v, start.UnixNano(), nil)
	}
	emit(t, metricagg.SeriesKey(0, f[0]),
		cumulative.Total{Start: start.UnixNano(), WindowStart: start.UnixNano(), WindowEnd: end.UnixNano(), Acc: acc})
	return nil
}

// Windows of a series arriving in reverse order (as a runner may deliver
// a batch of fired windows) are still added in window order.
func TestRunningTotalsOutOfOrderArrival(t *testing.T) {
	stream := beamtest.NewStream(t)
	stream.Add(base, "a/2/100", "b/1/7", "a/1/10", "a/0/1")
	p, s := beam.NewPipelineWithRoot()
	windows := beam.ParDo(s, parseWindow, stream.Create(s))
	totals := cumulative.RunningTotals(s, windows, cumulative.Panes{})
	passert.Equals(s, beam.ParDo(s, formatTotal, totals),
		"0/a since 00:00 window 00:00-00:01: count=1 sum=1",
		"0/a since 00:00 window 00:01-00:02: count=2 sum=11",
		"0/a since 00:00 window 00:02-00:03: count=3 sum=111",
		"0/b since 00:01 window 00:01-00:02: count=1 sum=7",
	)
	ptest.RunAndValidate(t, p)
}

// A late pane of a window already emitted is not written for its own
// window (points must move forward) but joins the total: the series' next
// point shows it.
func TestLatePaneJoinsNextPoint(t *testing.T) {
	// Discarding panes: the late pane holds only the late value.
	testLatePane(t, cumulative.Panes{AllowedLateness: time.Hour}, "a/0/1000")
}

// With accumulating panes the late pane repeats the window's earlier
// value: only the difference joins the total.
func TestAccumulatingLatePaneAddsOnlyItsNews(t *testing.T) {
	testLatePane(t, cumulative.Panes{Accumulating: true, AllowedLateness: time.Hour}, "a/0/1,1000")
}

func testLatePane(t *testing.T, panes cumulative.Panes, latePane string) {
	t.Helper()
	stream := beamtest.NewStream(t)
	stream.Add(base, "a/0/1", "a/1/10")
	stream.Advance(base.Add(2 * time.Minute))
	stream.Add(base, latePane, "a/2/100")
	p, s := beam.NewPipelineWithRoot()
	windows := beam.ParDo(s, parseWindow, stream.Create(s))
	totals := cumulative.RunningTotals(s, windows, panes)
	passert.Equals(s, beam.ParDo(s, formatTotal, totals),
		"0/a since 00:00 window 00:00-00:01: count=1 sum=1",
		"0/a since 00:00 window 00:01-00:02: count=2 sum=11",
		"0/a since 00:00 window 00:02-00:03: count=4 sum=1111",
	)
	res := ptest.RunAndValidate(t, p)
	late := beamtest.Counter(res, "", "cumulative_late_panes")
	if late != 1 {
		t.Errorf("cumulative_late_panes counter = %d, want 1", late)
	}
}

// Apply reads the pane mode from the combine's windowing: with accumulating
// panes and allowed lateness, prism fires a window again for late data
// (and once more when it expires), each pane with the window's whole
// value; the total counts every value once.
func TestApplyAccumulatingPanesFromWindowing(t *testing.T) {
	stream := beamtest.NewStream(t)
	stream.Add(base.Add(10*time.Second), "0/a/1")
	stream.Add(base.Add(70*time.Second), "0/a/10")
	stream.Advance(base.Add(150 * time.Second))
	stream.Add(base.Add(20*time.Second), "0/a/1000") // late for 00:00-00:01
	stream.Add(base.Add(130*time.Second), "0/a/100")
	p, s := beam.NewPipelineWithRoot()
	accs := beam.ParDo(s, parseEvent, stream.Create(s))
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), accs,
		beam.AllowedLateness(time.Hour), beam.PanesAccumulate())
	combined := beam.CombinePerKey(s, &metricagg.CombineFn{}, windowed)
	_, totals := cumulative.Apply(s, []int{0}, combined)
	// Whether prism fires 00:00-00:01 before or after the late value
	// arrives varies; either way the last point counts every value once
	// (counting a repeated pane again would give count=5 sum=2111).
	formatted := beam.ParDo(s, formatTotal, totals)
	passert.Count(s, formatted, "points", 3)
	passert.Equals(s, beam.ParDo(s, lastWindowOnly, formatted),
		"0/a since 00:00 window 00:02-00:03: count=4 sum=1111")
	ptest.RunAndValidate(t, p)
}

func lastWindowOnly(line string, emit func(string)) {
	if strings.Contains(line, "window 00:02-00:03") {
		emit(line)
	}
}
