package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/jobs/slots"
	"github.com/beametrics/beametrics/internal/jobs/slots/constraints"
	"github.com/beametrics/beametrics/internal/jobs/slots/planner"
	"github.com/beametrics/beametrics/internal/jobs/slots/profile"
	"github.com/beametrics/beametrics/internal/testing/golden"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

// examplePlan: eleven DAGs piled up at 02:00 (ten daily, one fixed), one
// hourly DAG, over a background that is busier in office hours.
func examplePlan(t *testing.T) *slots.Plan {
	t.Helper()
	doc := &profile.Doc{Version: profile.DocVersion, MinuteOfDay: make([]profile.MinuteStats, 1440)}
	for m := range doc.MinuteOfDay {
		bg := 40.0
		if m >= 9*60 && m < 18*60 {
			bg = 120
		}
		doc.MinuteOfDay[m] = profile.MinuteStats{Minute: m, MeanBackgroundSlots: bg}
	}
	add := func(name, sched string, slots float64, minutes int) {
		p := profile.DAGProfile{DAG: name, Schedule: sched, Runs: 7, MedianDurationMin: float64(minutes), P90DurationMin: float64(minutes)}
		for k := 0; k < minutes; k++ {
			// A ramp up and down, as real queries look.
			v := slots * (0.5 + 0.5*float64(min(k, minutes-1-k))/float64(minutes/2+1))
			p.P90Slots = append(p.P90Slots, v)
			p.MedianSlots = append(p.MedianSlots, v*0.8)
		}
		doc.DAGs = append(doc.DAGs, p)
	}
	for i := 0; i < 10; i++ {
		add(fmt.Sprintf("etl_%02d", i), "0 2 * * *", float64(60+20*i), 40+5*i)
	}
	add("finance_close", "30 2 * * *", 150, 30)
	add("events_hourly", "5 * * * *", 30, 10)
	doc.DAGs = append(doc.DAGs, profile.DAGProfile{DAG: "adhoc_backfill", ScheduleError: `"None": not a cron schedule`, Runs: 2})
	cons, err := constraints.Parse([]byte(`
dags:
  finance_close: {fixed: true}
  etl_00: {earliest_start: "01:00", must_finish_by: "05:00"}
  etl_01: {after: [etl_00]}
`))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := slots.Build(doc, cons, slots.Options{CapSlots: 500, Use: "p90", Solver: planner.DefaultOptions})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func TestTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, examplePlan(t)); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "plan.md"), b.Bytes())
}

func TestChartGolden(t *testing.T) {
	pl := examplePlan(t)
	var b bytes.Buffer
	if err := Chart(&b, pl); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "plan.svg"), b.Bytes())

	// Whatever the golden says, the chart must be well-formed SVG with two
	// panels, a cap line in each, and a legend naming the heaviest DAG.
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	caps, titles := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "line" {
			for _, a := range se.Attr {
				if a.Name.Local == "stroke-dasharray" {
					caps++
				}
			}
		}
		if cd, ok := tok.(xml.CharData); ok && (strings.HasPrefix(string(cd), "Before:") || strings.HasPrefix(string(cd), "After:")) {
			titles++
		}
	}
	if caps != 2 || titles != 2 {
		t.Errorf("chart has %d cap lines and %d panel titles, want 2 and 2", caps, titles)
	}
	if !strings.Contains(b.String(), ">etl_09<") || !strings.Contains(b.String(), "other DAGs") {
		t.Error("legend lacks the heaviest DAG or the other-DAGs group")
	}
}

func TestNiceScale(t *testing.T) {
	for _, tc := range []struct{ in, top, step float64 }{{105, 120, 20}, {1000, 1000, 200}, {7, 8, 2}, {0, 1, 0.2}} {
		top, step := niceScale(tc.in)
		if top != tc.top || step != tc.step {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tc.in, top, step, tc.top, tc.step)
		}
	}
}

// TestTableRealDays: the worst real day sits next to the model's figures,
// and a model more hopeful than a real day is called optimistic.
func TestTableRealDays(t *testing.T) {
	pl := &slots.Plan{CapSlots: 300, Use: "median", Method: "exact", Optimal: true,
		Before: slots.Summary{PeakSlots: 380, SlotMinutesOverCap: 800, MinutesOverCap: 10},
		After:  slots.Summary{PeakSlots: 250},
		RealDays: &slots.RealDays{Days: 7,
			Before: slots.WorstDay{Day: "2026-03-02", Summary: slots.Summary{PeakSlots: 410, SlotMinutesOverCap: 1100, MinutesOverCap: 10}, DaysOverCap: 7},
			After:  slots.WorstDay{Day: "2026-03-05", Summary: slots.Summary{PeakSlots: 350, SlotMinutesOverCap: 100, MinutesOverCap: 2}, DaysOverCap: 2},
		},
	}
	var b strings.Builder
	if err := Table(&b, pl); err != nil {
		t.Fatal(err)
	}
	textcheck.Contains(t, "table", b.String(),
		"| worst real day of 7 (UTC) | before | after |\n|---|---:|---:|\n",
		"| day | 2026-03-02 | 2026-03-05 |\n",
		"| peak slots | 410.0 | 350.0 |\n",
		"| slot-minutes over cap | 1100.0 | 100.0 |\n",
		"| minutes over cap | 10 | 2 |\n",
		"| days over cap | 7 of 7 | 2 of 7 |\n",
		"**The model is optimistic**: moved the same way, 2026-03-05 would have been 2 minutes over the cap with a peak of 350.0 slots; the model says 0 minutes and 250.0.",
	)
	pl.RealDays.After = slots.WorstDay{Day: "2026-03-05", Summary: slots.Summary{PeakSlots: 240}}
	b.Reset()
	if err := Table(&b, pl); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "On every real day the proposal stays within the model's figures.") || strings.Contains(b.String(), "optimistic") {
		t.Errorf("a real day better than the model is not optimistic:\n%s", b.String())
	}
}

// TestTableZone: a DAG planned in its own zone names it next to its times.
func TestTableZone(t *testing.T) {
	pl := &slots.Plan{CapSlots: 150, Use: "p90", Method: "exact", DAGs: []slots.DAGPlan{{
		DAG: "tokyo_daily", Schedule: "0 9 * * *", NewSchedule: "0 12 * * *", OldTick: "09:00", NewTick: "12:00",
		ShiftMin: 180, Timezone: "Asia/Tokyo", UTCOffset: "+09:00", Movable: true, SlotMinutes: 6000,
	}}}
	var b strings.Builder
	if err := Table(&b, pl); err != nil {
		t.Fatal(err)
	}
	want := "| tokyo_daily | `0 9 * * *` | `0 12 * * *` | 09:00 → 12:00 Asia/Tokyo (UTC+09:00) | +180 | 6000.0 |  |\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, b.String())
	}
}
