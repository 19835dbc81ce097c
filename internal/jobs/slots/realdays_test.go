package slots

import (
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/slots/planner"
	"github.com/beametrics/beametrics/internal/jobs/slots/profile"
)

// twoDayDoc is a profile with its history written by hand: two days, cap
// 300, in slot-ms per minute (1 slot for a minute = 60,000 slot-ms).
//
//   - hourly (`0 * * * *`): 100 slots from xx:00 to xx:09 (hours 01 to 04
//     are enough here), both days.
//   - daily (`0 2 * * *`): 250 slots, from 02:00 to 02:49 on day 1
//     (50 minutes) and to 02:51 on day 2 (52 minutes, a long run).
//   - background: 60 slots from 02:00 to 02:09 on day 1 only.
//
// The profile is what those days give: daily's median is 250 for minutes
// 0–49 and (0+250)/2 = 125 for minutes 50–51; durations 50 and 52, so the
// median is 51 and the p90 (nearest rank) 52; the mean background is 30 from
// 02:00 to 02:09.
func twoDayDoc() *profile.Doc {
	hourly := flatDAG("hourly", "0 * * * *", 100, 10, 0)
	hourly.MedianSlots = hourly.P90Slots // 100 in every run
	doc := flatDoc(0, hourly,
		profile.DAGProfile{DAG: "daily", Schedule: "0 2 * * *", Runs: 2, MedianDurationMin: 51, P90DurationMin: 52},
	)
	for m := 120; m < 130; m++ {
		doc.MinuteOfDay[m].MeanBackgroundSlots = 30
	}
	daily := &doc.DAGs[1]
	for k := 0; k < 52; k++ {
		med, p90 := 250.0, 250.0
		if k >= 50 {
			med = 125
		}
		daily.MedianSlots = append(daily.MedianSlots, med)
		daily.P90Slots = append(daily.P90Slots, p90)
	}
	day1 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix() / 60
	h := &profile.History{DAGs: map[string][]profile.MinuteUse{}}
	use := func(to *[]profile.MinuteUse, from int64, minutes int, slots int64) {
		for k := 0; k < minutes; k++ {
			*to = append(*to, profile.MinuteUse{from + int64(k), slots * 60000})
		}
	}
	for d := int64(0); d < 2; d++ {
		start := day1 + d*1440
		var hourly []profile.MinuteUse
		for hh := int64(1); hh <= 4; hh++ {
			use(&hourly, start+hh*60, 10, 100)
		}
		h.DAGs["hourly"] = append(h.DAGs["hourly"], hourly...)
		daily := h.DAGs["daily"]
		use(&daily, start+120, 50+2*int(d), 250)
		h.DAGs["daily"] = daily
	}
	use(&h.Background, day1+120, 10, 60)
	doc.History = h
	return doc
}

// TestPlanWorstRealDay: the model (median profile) says the plan is 0
// minutes over the cap, but replaying the two real days shows the long run
// of day 2 reaching the 03:00 hourly run.
//
// The search: hourly is fixed; daily may tick from 02:00 to 02:18 (it must
// end by 03:10 with its 52-minute p90). Its model covers [t, t+52), 250
// slots then 125 in its last two minutes. Before 02:10 it meets the 02:00
// hourly run (350 > 300); after 02:10 its 250-slot minutes meet the 03:00
// one; at 02:10 only its 125-slot minutes do (225). So it moves +10 to
// `10 2 * * *`, and the model's after is 0 minutes over, peak 250.
//
// Real days before (daily at 02:00):
//   - day 1: 02:00–02:09 is 250 + 100 + 60 = 410: 10 minutes, 10 × 110 =
//     1100 slot-minutes over, peak 410.
//   - day 2: 02:00–02:09 is 250 + 100 = 350: 10 minutes, 500 over, peak 350.
//
// Worst: day 1; 2 of 2 days over.
//
// After (daily's own usage +10 minutes, background and hourly stay):
//   - day 1: daily 02:10–02:59 alone (250); 02:00–02:09 is 100 + 60 = 160:
//     nothing over, peak 250.
//   - day 2: daily 02:10–03:01 meets hourly at 03:00 and 03:01: 350, so 2
//     minutes, 2 × 50 = 100 slot-minutes over, peak 350.
//
// Worst: day 2; 1 of 2 days over.
func TestPlanWorstRealDay(t *testing.T) {
	pl := build(t, twoDayDoc(), mustConstraints(t, `
dags:
  hourly: {fixed: true}
  daily: {earliest_start: "02:00", must_finish_by: "03:10"}
`), Options{CapSlots: 300, Use: "median"})
	if d := pl.DAGs[1]; d.DAG != "daily" || d.NewSchedule != "10 2 * * *" || d.ShiftMin != 10 {
		t.Fatalf("daily = %+v, want 10 2 * * * (+10)", d)
	}
	// Model before: 02:00–02:09 is 250 + 100 + 30 = 380: 10 minutes, 800 over.
	if want := (Summary{PeakSlots: 380, SlotMinutesOverCap: 800, MinutesOverCap: 10}); pl.Before != want {
		t.Errorf("model before = %+v, want %+v", pl.Before, want)
	}
	if want := (Summary{PeakSlots: 250}); pl.After != want {
		t.Errorf("model after = %+v, want %+v", pl.After, want)
	}
	want := RealDays{
		Days:   2,
		Before: WorstDay{Day: "2026-03-02", Summary: Summary{PeakSlots: 410, SlotMinutesOverCap: 1100, MinutesOverCap: 10}, DaysOverCap: 2},
		After:  WorstDay{Day: "2026-03-03", Summary: Summary{PeakSlots: 350, SlotMinutesOverCap: 100, MinutesOverCap: 2}, DaysOverCap: 1},
	}
	if pl.RealDays == nil || *pl.RealDays != want {
		t.Errorf("real days = %+v\nwant %+v", pl.RealDays, want)
	}
	if !pl.RealDays.Optimistic(pl.After) {
		t.Error("the model's 0 minutes over against a real day's 2: want it called optimistic")
	}
}

// TestPlanWithoutHistory: a profile from before the history was kept still
// plans, and says it could not check the real days.
func TestPlanWithoutHistory(t *testing.T) {
	doc := twoDayDoc()
	doc.History = nil
	pl, err := Build(doc, nil, Options{CapSlots: 300, Use: "median", Solver: planner.DefaultOptions})
	if err != nil {
		t.Fatal(err)
	}
	if pl.RealDays != nil {
		t.Errorf("real days %+v from no history", pl.RealDays)
	}
	found := false
	for _, n := range pl.Notes {
		found = found || n == "the profile has no per-day history (written by an older beametrics): run slots profile again to check the plan against each real day"
	}
	if !found {
		t.Errorf("notes %q do not say the history is missing", pl.Notes)
	}
}

// TestRealDaysMovedPastTheEnd: usage moved past the last day of the history
// lands on a day nobody observed and is not counted; one moved within it is.
func TestRealDaysMovedPastTheEnd(t *testing.T) {
	day1 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix() / 60
	h := &profile.History{DAGs: map[string][]profile.MinuteUse{
		"late":  {{day1 + 1439, 400 * 60000}}, // 23:59, 400 slots
		"early": {{day1 + 10, 100 * 60000}},   // 00:10, 100 slots
	}}
	r := realDays(h, map[string]int{"late": 5, "early": 1429}, 300)
	// Before: 23:59 at 400 is over by 100. After: late leaves the history;
	// early moves to 23:59 (00:10 + 1429 min) with 100 slots, not over.
	want := RealDays{Days: 1,
		Before: WorstDay{Day: "2026-03-02", Summary: Summary{PeakSlots: 400, SlotMinutesOverCap: 100, MinutesOverCap: 1}, DaysOverCap: 1},
		After:  WorstDay{Day: "2026-03-02", Summary: Summary{PeakSlots: 100}},
	}
	if *r != want {
		t.Errorf("got %+v\nwant %+v", *r, want)
	}
}
