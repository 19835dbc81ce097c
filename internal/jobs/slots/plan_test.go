package slots

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/jobs/slots/constraints"
	"github.com/beametrics/beametrics/internal/jobs/slots/cronshift"
	"github.com/beametrics/beametrics/internal/jobs/slots/history"
	"github.com/beametrics/beametrics/internal/jobs/slots/planner"
	"github.com/beametrics/beametrics/internal/jobs/slots/profile"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// flatDoc is a profile of DAGs that each use slots[i] for minutes[i]
// minutes from their start, with a constant background.
func flatDoc(background float64, dags ...profile.DAGProfile) *profile.Doc {
	d := &profile.Doc{Version: profile.DocVersion, MinuteOfDay: make([]profile.MinuteStats, 1440), DAGs: dags}
	for m := range d.MinuteOfDay {
		d.MinuteOfDay[m] = profile.MinuteStats{Minute: m, MeanBackgroundSlots: background}
	}
	return d
}

func flatDAG(name, schedule string, slots float64, minutes int, delaySec int64) profile.DAGProfile {
	p := profile.DAGProfile{DAG: name, Schedule: schedule, Runs: 5, StartDelaySec: delaySec,
		MedianDurationMin: float64(minutes), P90DurationMin: float64(minutes)}
	for k := 0; k < minutes; k++ {
		p.MedianSlots = append(p.MedianSlots, slots/2)
		p.P90Slots = append(p.P90Slots, slots)
	}
	return p
}

// checkCrons parses every proposed cron with robfig/cron and checks that it
// starts runs at the planned minutes.
func checkCrons(t *testing.T, pl *Plan) {
	t.Helper()
	for _, d := range pl.DAGs {
		old, err := cronshift.RunsOf(d.Schedule)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cronshift.RunsOf(d.NewSchedule)
		if err != nil {
			t.Fatalf("%s: proposed %q does not parse: %v", d.DAG, d.NewSchedule, err)
		}
		want := map[int]bool{}
		for _, m := range old {
			want[((m+d.ShiftMin)%1440+1440)%1440] = true
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %q runs %v, want %d runs shifted by %d from %v", d.DAG, d.NewSchedule, got, len(want), d.ShiftMin, old)
		}
		for _, m := range got {
			if !want[m] {
				t.Fatalf("%s: %q runs at %d, want %v shifted by %d", d.DAG, d.NewSchedule, m, old, d.ShiftMin)
			}
		}
	}
}

func TestPlanSpreadsDAGsWithConstraints(t *testing.T) {
	doc := flatDoc(20,
		flatDAG("dag_a", "0 2 * * *", 100, 60, 0),
		flatDAG("dag_b", "0 2 * * *", 100, 60, 120), // starts 2 min after its tick
		flatDAG("dag_c", "0 2 * * *", 100, 60, 0),
		flatDAG("hourly", "15 * * * *", 10, 5, 0),
		flatDAG("fixed", "30 2 * * *", 30, 10, 0),
		profile.DAGProfile{DAG: "manual", ScheduleError: `"None": not a cron schedule`, Runs: 3},
	)
	pl := build(t, doc, mustConstraints(t, `
dags:
  dag_a: {earliest_start: "01:00", must_finish_by: "04:00"}
  dag_b: {after: [dag_a]}
  fixed: {fixed: true}
  ghost: {fixed: true}
`), Options{})
	// Before: three DAGs at 02:00–03:00 (b from 02:02), plus fixed on top
	// at 02:30: 20 + 300 + 30 = 350.
	if pl.Before.PeakSlots != 350 || pl.Before.MinutesOverCap == 0 {
		t.Errorf("before = %+v", pl.Before)
	}
	// Known optimum: nothing over the cap; the peak is background + one
	// daily DAG + the hourly one = 130 (they can all be kept apart).
	if pl.After.SlotMinutesOverCap != 0 || pl.After.PeakSlots != 130 {
		t.Errorf("after = %+v, want 0 over the cap, peak 130", pl.After)
	}
	byName := map[string]DAGPlan{}
	for _, d := range pl.DAGs {
		byName[d.DAG] = d
	}
	a, b := byName["dag_a"], byName["dag_b"]
	aTick, _ := constraints.ParseClock(a.NewTick)
	bTick, _ := constraints.ParseClock(b.NewTick)
	if aTick < 60 || aTick+60 > 240 {
		t.Errorf("dag_a at %s, outside 01:00–04:00", a.NewTick)
	}
	if bTick+2 < aTick+60 {
		t.Errorf("dag_b starts at %s+2min, before dag_a (%s) ends", b.NewTick, a.NewTick)
	}
	if f := byName["fixed"]; f.ShiftMin != 0 || f.NewSchedule != "30 2 * * *" || f.Why == "" {
		t.Errorf("fixed = %+v", f)
	}
	if h := byName["hourly"]; h.Movable != true || !strings.HasSuffix(h.NewSchedule, " * * * *") {
		t.Errorf("hourly = %+v", h)
	}
	notes := strings.Join(pl.Notes, "\n")
	if !strings.Contains(notes, "ghost") || !strings.Contains(notes, "manual") {
		t.Errorf("notes = %q, want ghost and manual mentioned", notes)
	}
	checkCrons(t, pl)
}

func TestPlanErrors(t *testing.T) {
	doc := flatDoc(0, flatDAG("a", "0 2 * * *", 10, 120, 0), flatDAG("h", "0 * * * *", 1, 1, 0))
	for _, tc := range []struct{ yaml, want string }{
		{`dags: {a: {earliest_start: "01:00", must_finish_by: "02:00"}}`, "no start time between 01:00 and 02:00"},
		{`dags: {h: {earliest_start: "01:00"}}`, "only for DAGs that run once a day"},
		{`dags: {a: {after: [nope]}}`, "not a plannable DAG"},
	} {
		cons, err := constraints.Parse([]byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Build(doc, cons, Options{CapSlots: 5, Use: "p90", Solver: planner.DefaultOptions})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if _, err := Build(doc, nil, Options{CapSlots: 5, Use: "mean"}); err == nil {
		t.Error("use=mean accepted")
	}
}

// TestHistoryToPlan runs the whole job on a generated history whose best
// plan is known: four daily DAGs all ticking at 03:00, each using 200
// slots for 30 minutes, under a cap of 250 and no background. The profile
// pipeline runs on prism; the plan must put them in four separate
// half-hours.
func TestHistoryToPlan(t *testing.T) {
	dir := t.TempDir()
	var tl, rs strings.Builder
	tl.WriteString("job_id,period_start,period_slot_ms,airflow_dag\n")
	rs.WriteString("dag_id,dag_run_id,start_date,end_date,schedule\n")
	day0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for d := 0; d < 4; d++ {
		for i := 0; i < 4; i++ {
			start := day0.AddDate(0, 0, d).Add(3 * time.Hour)
			fmt.Fprintf(&rs, "load_%d,scheduled__%d,%s,%s,0 3 * * *\n", i, d, start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339))
			for s := 0; s < 30*60; s += 10 {
				// One row per 10 s with 10 s of 200 slots.
				fmt.Fprintf(&tl, "j%d_%d,%s,%d,load_%d\n", i, d, start.Add(time.Duration(s)*time.Second).Format(time.RFC3339), 200*10*1000, i)
			}
		}
	}
	tlPath, rsPath := filepath.Join(dir, "timeline.csv"), filepath.Join(dir, "runs.csv")
	if err := os.WriteFile(tlPath, []byte(tl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rsPath, []byte(rs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "profile.json")
	p, err := profile.Build(context.Background(), profile.Config{Inputs: []string{tlPath}, Kind: history.KindTimeline, RunsFile: rsPath, CapSlots: 250, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
	doc, err := profile.ReadDoc(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.OverCap) != 4*30 {
		t.Errorf("%d over-cap minutes, want 120 (30 a day)", len(doc.OverCap))
	}
	pl, err := Build(doc, nil, Options{CapSlots: 250, Use: "p90", Solver: planner.DefaultOptions})
	if err != nil {
		t.Fatal(err)
	}
	if pl.Before.PeakSlots != 800 || pl.Before.SlotMinutesOverCap != 30*550 {
		t.Errorf("before = %+v, want peak 800, %d slot-minutes over", pl.Before, 30*550)
	}
	// Four DAGs of 1440 candidates each are beyond the exact search's
	// budget; the local search must still reach the known optimum.
	if pl.After.PeakSlots != 200 || pl.After.SlotMinutesOverCap != 0 {
		t.Errorf("after = %+v, want peak 200, nothing over", pl.After)
	}
	moved := 0
	for _, d := range pl.DAGs {
		moved += max(d.ShiftMin, -d.ShiftMin)
	}
	t.Logf("method %s, optimal %v, moved %d minutes in all", pl.Method, pl.Optimal, moved)
	// The least total move is 120: one stays, the others move by 30, 30 and 60.
	if moved != 120 {
		t.Errorf("moved %d minutes in all, want the least possible, 120", moved)
	}
	ticks := map[int]bool{}
	for _, d := range pl.DAGs {
		m, _ := constraints.ParseClock(d.NewTick)
		for o := range ticks {
			if diff := (m - o + 1440) % 1440; diff < 30 || diff > 1410 {
				t.Errorf("%s at %s overlaps another DAG", d.DAG, d.NewTick)
			}
		}
		ticks[m] = true
	}
	checkCrons(t, pl)
	// The four real days are alike: before, 03:00–03:29 at 800 slots
	// (30 minutes, 30 × 550 over) on each; after, one DAG at a time.
	want := RealDays{Days: 4,
		Before: WorstDay{Day: "2026-04-01", Summary: Summary{PeakSlots: 800, SlotMinutesOverCap: 30 * 550, MinutesOverCap: 30}, DaysOverCap: 4},
		After:  WorstDay{Day: "2026-04-01", Summary: Summary{PeakSlots: 200}},
	}
	if pl.RealDays == nil || *pl.RealDays != want {
		t.Errorf("real days %+v, want %+v", pl.RealDays, want)
	}
}

// TestPlanWindowPastMidnight: the heavy background leaves room only around
// midnight, and the window 22:00–02:00 passes midnight.
func TestPlanWindowPastMidnight(t *testing.T) {
	doc := flatDoc(0, flatDAG("late", "0 12 * * *", 100, 60, 0), flatDAG("other", "0 12 * * *", 100, 60, 0))
	for m := range doc.MinuteOfDay {
		if m >= 60 && m < 23*60 {
			doc.MinuteOfDay[m].MeanBackgroundSlots = 100
		}
	}
	pl := build(t, doc, mustConstraints(t, `dags: {late: {earliest_start: "22:00", must_finish_by: "02:00"}, other: {earliest_start: "20:00"}}`), Options{})
	if pl.After.SlotMinutesOverCap != 0 || pl.After.PeakSlots != 100 {
		t.Fatalf("after = %+v, want both DAGs in the quiet 23:00–01:00 span, one after the other", pl.After)
	}
	for _, d := range pl.DAGs {
		m, _ := constraints.ParseClock(d.NewTick)
		if m < 23*60 && m > 0 {
			t.Errorf("%s at %s, outside the quiet span", d.DAG, d.NewTick)
		}
	}
	checkCrons(t, pl)
}

// TestPlanMarginKeepsDAGsApart: a fixed hourly DAG uses 200 slots from
// minute 0 to 10 of every hour; a daily DAG of 200 slots for 30 minutes
// runs at 02:15 (ends 02:45). Under a 300-slot cap the model calls that
// fine, and without a margin nothing moves. With 5 minutes of margin the
// daily DAG widened to 02:10–02:50 touches the hourly run widened to
// 01:55–02:15, so it must start where its widened span [x−5, x+35) stays
// within [hh:15, hh:55): x = hh:20, the nearest being 02:20 (shift +5).
func TestPlanMarginKeepsDAGsApart(t *testing.T) {
	doc := flatDoc(0, flatDAG("hourly", "0 * * * *", 200, 10, 0), flatDAG("daily", "15 2 * * *", 200, 30, 0))
	cons := mustConstraints(t, "dags:\n  hourly: {fixed: true}\n")
	for _, tc := range []struct {
		margin Margin
		tick   string
		shift  int
	}{{Margin{}, "02:15", 0}, {Margin{Minutes: 5}, "02:20", 5}} {
		pl := build(t, doc, cons, Options{CapSlots: 300, Margin: tc.margin})
		for _, d := range pl.DAGs {
			if d.DAG == "daily" && (d.NewTick != tc.tick || d.ShiftMin != tc.shift || d.NewSchedule != "20 2 * * *" && tc.shift == 5) {
				t.Errorf("margin %+v: daily %+v, want %s (shift %d)", tc.margin, d, tc.tick, tc.shift)
			}
		}
		if pl.After.MinutesOverCap != 0 || pl.AfterInMargin.MinutesOverCap != 0 || pl.Margin != tc.margin {
			t.Errorf("margin %+v: after %+v, in margin %+v, margin %+v", tc.margin, pl.After, pl.AfterInMargin, pl.Margin)
		}
		checkCrons(t, pl)
	}
}

func TestParseMargin(t *testing.T) {
	for in, want := range map[string]Margin{"5%,5m": {15, 5}, "20,10m": {20, 10}, "0": {}, "0,0m": {}} {
		if got, err := ParseMargin(in, 300); err != nil || got != want {
			t.Errorf("ParseMargin(%q, 300) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"5%", "x,5m", "300,5m", "100%,5m", "5,-1m", "5,5", "-1,5m", "5,500m"} {
		if _, err := ParseMargin(in, 300); err == nil {
			t.Errorf("ParseMargin(%q, 300) accepted", in)
		}
	}
}
