package slots

import (
	"math"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/slots/profile"
)

// RealDays measures a plan on the days the profile was made from: each
// DAG's own usage moved by its shift, the rest left where it was. The
// model plans one typical (p90 or median) day; a real day can be worse,
// for example when a run is late or longer than usual.
type RealDays struct {
	// Days is how many calendar days (UTC) the history spans; the first and
	// the last may be partly covered.
	Days   int      `json:"days"`
	Before WorstDay `json:"before"`
	After  WorstDay `json:"after"`
}

// WorstDay is the day with the most slot-minutes over the cap (then the
// highest peak), and how many days went over the cap at all.
type WorstDay struct {
	Day string `json:"day"` // YYYY-MM-DD, UTC
	Summary
	DaysOverCap int `json:"days_over_cap"`
}

// realDays replays the history with every DAG moved by shift[dag] minutes
// (missing means not moved), against capSlots.
func realDays(h *profile.History, shifts map[string]int, capSlots float64) *RealDays {
	first, last, any := int64(0), int64(0), false
	span := func(us []profile.MinuteUse) {
		for _, u := range us {
			if !any || u[0] < first {
				first = u[0]
			}
			if !any || u[0] > last {
				last = u[0]
			}
			any = true
		}
	}
	span(h.Background)
	for _, us := range h.DAGs {
		span(us)
	}
	if !any {
		return &RealDays{}
	}
	dayOf := func(m int64) int64 { return floorDiv(m, day) }
	firstDay, lastDay := dayOf(first), dayOf(last)
	r := &RealDays{Days: int(lastDay-firstDay) + 1}
	base := firstDay * day
	n := int64(r.Days) * day
	lay := func(load []int64, us []profile.MinuteUse, by int64) {
		for _, u := range us {
			// Usage moved past either end of the history falls on a day
			// that was not observed, and is dropped with it.
			if k := u[0] + by - base; k >= 0 && k < n {
				load[k] += u[1]
			}
		}
	}
	before, after := make([]int64, n), make([]int64, n)
	lay(before, h.Background, 0)
	lay(after, h.Background, 0)
	for dag, us := range h.DAGs {
		lay(before, us, 0)
		lay(after, us, int64(shifts[dag]))
	}
	capMs := milli(capSlots) * 60 // milli-slots × 60 s = slot-ms in a minute
	r.Before = worstDay(before, capMs, firstDay)
	r.After = worstDay(after, capMs, firstDay)
	return r
}

// worstDay summarises each day of load (slot-ms per minute) and returns the
// worst.
func worstDay(load []int64, capMs int64, firstDay int64) WorstDay {
	var w WorstDay
	worst := -1
	var worstOver, worstPeak int64
	for d := 0; d*day < len(load); d++ {
		var over, peak int64
		minutes := 0
		for _, v := range load[d*day : (d+1)*day] {
			if v > capMs {
				over += v - capMs
				minutes++
			}
			peak = max(peak, v)
		}
		if over > 0 {
			w.DaysOverCap++
		}
		if worst < 0 || over > worstOver || over == worstOver && peak > worstPeak {
			worst, worstOver, worstPeak = d, over, peak
			w.Summary = Summary{PeakSlots: msToSlots(peak), SlotMinutesOverCap: msToSlots(over), MinutesOverCap: minutes}
		}
	}
	w.Day = time.Unix((firstDay+int64(worst))*day*60, 0).UTC().Format(time.DateOnly)
	return w
}

// msToSlots turns slot-ms in one minute into slots, to the profile's
// precision (a thousandth).
func msToSlots(ms int64) float64 { return math.Round(float64(ms)/60) / 1000 }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Optimistic reports whether the plan's worst real day is worse than the
// model says the plan's day is: more minutes over the cap, or a higher peak.
func (r *RealDays) Optimistic(model Summary) bool {
	return r.After.MinutesOverCap > model.MinutesOverCap || r.After.PeakSlots > model.PeakSlots
}
