package slots

import (
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/slots/constraints"
	"github.com/beametrics/beametrics/internal/jobs/slots/planner"
	"github.com/beametrics/beametrics/internal/jobs/slots/profile"
)

// freeWindows is a profile whose background is 100 slots all day except in
// the given UTC half-open minute ranges, where it is 0: under a cap of 150,
// a DAG of 100 slots for 60 minutes fits only in an hour-long free window.
func freeWindows(to time.Time, windows [][2]int, dags ...profile.DAGProfile) *profile.Doc {
	d := flatDoc(100, dags...)
	for _, w := range windows {
		for m := w[0]; m < w[1]; m++ {
			d.MinuteOfDay[m].MeanBackgroundSlots = 0
		}
	}
	d.To = to
	return d
}

// mustConstraints parses a constraints file written by the test.
func mustConstraints(t *testing.T, yaml string) *constraints.File {
	t.Helper()
	cons, err := constraints.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

// build plans doc under cons with opt, taking a cap of 150 slots, the p90
// and the default solver where opt leaves them unset.
func build(t *testing.T, doc *profile.Doc, cons *constraints.File, opt Options) *Plan {
	t.Helper()
	if opt.CapSlots == 0 {
		opt.CapSlots = 150
	}
	if opt.Use == "" {
		opt.Use = "p90"
	}
	if opt.Solver == (planner.Options{}) {
		opt.Solver = planner.DefaultOptions
	}
	pl, err := Build(doc, cons, opt)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func zoned(name, schedule, zone string) profile.DAGProfile {
	p := flatDAG(name, schedule, 100, 60, 0)
	p.Timezone = zone
	return p
}

func planDAGs(t *testing.T, doc *profile.Doc, opt Options) (*Plan, map[string]DAGPlan) {
	t.Helper()
	pl := build(t, doc, nil, opt)
	by := map[string]DAGPlan{}
	for _, d := range pl.DAGs {
		by[d.DAG] = d
	}
	return pl, by
}

// TestPlanTokyo: Asia/Tokyo is UTC+9 all year (no daylight saving time).
//
//   - tokyo_daily `0 9 * * *` runs at 09:00 JST = 00:00 UTC.
//   - tokyo_weekdays `0 23 * * 1-5` runs at 23:00 JST = 14:00 UTC.
//
// The free hours are 03:00–04:00 UTC (= 12:00 JST) and 15:00–16:00 UTC
// (= 00:00 JST of the next day). Each DAG takes one. Daily to 03:00 UTC
// (3 h) and weekdays to 15:00 UTC (1 h) moves 4 hours in all; the other way
// round, 9 h and 11 h. So tokyo_daily becomes `0 12 * * *` and
// tokyo_weekdays, which stays inside its own (Tokyo) day so that it keeps
// running Monday to Friday there, `0 0 * * 1-5`.
func TestPlanTokyo(t *testing.T) {
	doc := freeWindows(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), [][2]int{{180, 240}, {900, 960}},
		zoned("tokyo_daily", "0 9 * * *", "Asia/Tokyo"),
		zoned("tokyo_weekdays", "0 23 * * 1-5", "Asia/Tokyo"),
	)
	pl, by := planDAGs(t, doc, Options{})
	if pl.After.SlotMinutesOverCap != 0 {
		t.Errorf("after = %+v, want nothing over the cap", pl.After)
	}
	for name, want := range map[string]DAGPlan{
		"tokyo_daily":    {NewSchedule: "0 12 * * *", OldTick: "09:00", NewTick: "12:00"},
		"tokyo_weekdays": {NewSchedule: "0 0 * * 1-5", OldTick: "23:00", NewTick: "00:00"},
	} {
		got := by[name]
		if got.NewSchedule != want.NewSchedule || got.OldTick != want.OldTick || got.NewTick != want.NewTick ||
			got.Timezone != "Asia/Tokyo" || got.UTCOffset != "+09:00" {
			t.Errorf("%s = %+v, want %s (%s → %s, Asia/Tokyo +09:00)", name, got, want.NewSchedule, want.OldTick, want.NewTick)
		}
	}
	for _, n := range pl.Notes {
		if strings.Contains(n, "Asia/Tokyo") {
			t.Errorf("note %q: Tokyo has no daylight saving time to warn about", n)
		}
	}
}

// TestPlanTimezoneFlag: a DAG whose run history names no zone is read in
// the global zone, and its start delay measured again from that zone's
// ticks. `0 9 * * *` in Tokyo ticks at 00:00 UTC; the runs started at 00:02
// UTC, so the delay is 2 minutes (from UTC ticks at 09:00 the profile had
// 15 h 2 min). The free hour is 03:00–04:00 UTC, so the run must start at
// 03:00 UTC: tick 02:58 UTC = 11:58 JST, `58 11 * * *`.
func TestPlanTimezoneFlag(t *testing.T) {
	d := flatDAG("daily", "0 9 * * *", 100, 60, 15*3600+120)
	for day := 1; day <= 3; day++ {
		d.ScheduledStarts = append(d.ScheduledStarts, time.Date(2026, 3, day, 0, 2, 0, 0, time.UTC))
	}
	doc := freeWindows(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), [][2]int{{180, 240}}, d)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	pl, by := planDAGs(t, doc, Options{Timezone: tokyo})
	if got := by["daily"]; got.NewSchedule != "58 11 * * *" || got.NewTick != "11:58" || got.Timezone != "Asia/Tokyo" {
		t.Errorf("daily = %+v, want 58 11 * * * in Asia/Tokyo", got)
	}
	// Before, the model put the run at its real start, 00:02 UTC.
	if l := pl.BeforeLayers[1]; l.Slots[1] != 0 || l.Slots[2] != 100 || l.Slots[61] != 100 || l.Slots[62] != 0 {
		t.Errorf("before, daily uses %v in 00:01–00:02 and %v in 01:01–01:02 UTC, want 0 100 and 100 0", l.Slots[1:3], l.Slots[61:63])
	}
	// The same profile without a zone is UTC: the proposal is 03:00 less
	// the 15 h 2 min delay, 11:58 UTC the day before.
	for _, n := range pl.Notes {
		if strings.Contains(n, "after their cron time") {
			t.Errorf("note %q: a 2-minute delay is not suspicious", n)
		}
	}
	// 15 h 2 min = 902 minutes late is, and the plan says so.
	pl, by = planDAGs(t, doc, Options{})
	if got := by["daily"]; got.NewSchedule != "58 11 * * *" || got.Timezone != "" {
		t.Errorf("daily in UTC = %+v, want 58 11 * * * with no zone", got)
	}
	want := "daily: its runs start 902 minutes after their cron time (median): if they do not, its time zone (UTC) is not the DAG's"
	found := false
	for _, n := range pl.Notes {
		found = found || n == want
	}
	if !found {
		t.Errorf("notes %q lack %q", pl.Notes, want)
	}
}

// TestPlanNewYorkDST: America/New_York is UTC−5 in winter (EST) and UTC−4
// in summer (EDT); in 2026 the clocks go forward on 8 March at 02:00 and
// back on 1 November at 02:00. ny_daily `0 2 * * *` runs at 02:00 local.
// The only free hour is 07:30–08:30 UTC.
//
//   - Planned in winter (history ending 1 March): 07:30 UTC = 02:30 EST,
//     `30 2 * * *`. 02:30 does not exist on 8 March (02:00 jumps to
//     03:00), and from then on EDT puts it at 06:30 UTC, an hour earlier.
//   - Planned in summer (history ending 1 July): 07:30 UTC = 03:30 EDT,
//     `30 3 * * *`. From 1 November (01:00 EST after the clocks go back)
//     it runs at 08:30 UTC, an hour later.
func TestPlanNewYorkDST(t *testing.T) {
	for _, tc := range []struct {
		to              time.Time
		cron, tick, off string
		notes           []string
	}{
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "30 2 * * *", "02:30", "-05:00", []string{
			"America/New_York: planned at UTC-05:00, its offset at the end of the history; from 2026-03-08 03:00 EDT it is UTC-04:00 and its DAGs run 60 minutes earlier in UTC",
			"ny_daily: proposed 02:30 does not exist on 2026-03-08 (the clocks skip it) in America/New_York",
		}},
		{time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), "30 3 * * *", "03:30", "-04:00", []string{
			"America/New_York: planned at UTC-04:00, its offset at the end of the history; from 2026-11-01 01:00 EST it is UTC-05:00 and its DAGs run 60 minutes later in UTC",
		}},
	} {
		doc := freeWindows(tc.to, [][2]int{{450, 510}}, zoned("ny_daily", "0 2 * * *", "America/New_York"))
		pl, by := planDAGs(t, doc, Options{})
		got := by["ny_daily"]
		if got.NewSchedule != tc.cron || got.OldTick != "02:00" || got.NewTick != tc.tick || got.UTCOffset != tc.off {
			t.Errorf("history to %s: ny_daily = %+v, want %s (%s, UTC%s)", tc.to.Format(time.DateOnly), got, tc.cron, tc.tick, tc.off)
		}
		if len(pl.Notes) != len(tc.notes)+1 { // +1: no per-day history
			t.Errorf("history to %s: notes %q, want %d", tc.to.Format(time.DateOnly), pl.Notes, len(tc.notes))
		}
		for _, want := range tc.notes {
			found := false
			for _, n := range pl.Notes {
				found = found || strings.HasPrefix(n, want)
			}
			if !found {
				t.Errorf("history to %s: no note starting %q in %q", tc.to.Format(time.DateOnly), want, pl.Notes)
			}
		}
	}
}

// TestPlanTimezoneNeedsStarts: with no run starts in the profile, a global
// zone cannot correct a delay measured from UTC ticks; the plan says so
// rather than place the DAG hours off.
func TestPlanTimezoneNeedsStarts(t *testing.T) {
	doc := freeWindows(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), nil, flatDAG("daily", "0 9 * * *", 100, 60, 15*3600))
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	_, err = Build(doc, nil, Options{CapSlots: 150, Use: "p90", Solver: planner.DefaultOptions, Timezone: tokyo})
	if err == nil || !strings.Contains(err.Error(), "run slots profile again") {
		t.Errorf("err = %v, want a request to run slots profile again", err)
	}
}

// TestPlanTokyoWindow: constraint times are in the DAG's zone. The free
// time is 03:00–05:00 UTC (12:00–14:00 JST). Unconstrained, `0 9 * * *`
// JST (00:00 UTC) moves the least to 03:00 UTC, 12:00 JST. With
// earliest_start 12:30 (JST) it can start no earlier than 03:30 UTC, and
// 03:30 fits (it ends at 04:30), so `30 12 * * *`. (Read as UTC, the
// window 12:30–15:00 would hold no free hour at all.)
func TestPlanTokyoWindow(t *testing.T) {
	doc := freeWindows(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), [][2]int{{180, 300}},
		zoned("tokyo_daily", "0 9 * * *", "Asia/Tokyo"))
	_, by := planDAGs(t, doc, Options{})
	if got := by["tokyo_daily"].NewSchedule; got != "0 12 * * *" {
		t.Errorf("unconstrained: %q, want 0 12 * * *", got)
	}
	pl := build(t, doc, mustConstraints(t, `
dags:
  tokyo_daily: {earliest_start: "12:30", must_finish_by: "15:00"}
`), Options{})
	if got := pl.DAGs[0]; got.NewSchedule != "30 12 * * *" || pl.After.SlotMinutesOverCap != 0 {
		t.Errorf("in 12:30–15:00 JST: %+v, after %+v; want 30 12 * * * with nothing over", got, pl.After)
	}
}
