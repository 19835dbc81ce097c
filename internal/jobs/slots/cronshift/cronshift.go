// Package cronshift reads an Airflow DAG's cron schedule as the set of
// minutes of the day at which it starts runs, and writes the cron expression
// that starts the same runs shifted to a new time of day.
//
// A schedule can be moved when all of its runs in a day share one minute of
// the hour (daily, hourly, every few hours, a list of hours): then any shift
// is again one cron line. Schedules restricted to some days (day of month,
// month or day of week not "*") move only within the day, so that the days
// they run on stay the same.
package cronshift

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// MinutesPerDay is the length of the planning day.
const MinutesPerDay = 1440

// ErrNotCron is returned for schedules that are not cron expressions
// (None, @once, @continuous, timedeltas, datasets).
var ErrNotCron = errors.New("not a cron schedule")

// Schedule is a parsed cron schedule.
type Schedule struct {
	Expr string // as given
	// fields are the five standard fields, descriptors expanded.
	fields [5]string
	// Runs are the minutes of the day at which it starts a run, ascending,
	// on a day on which it runs.
	Runs []int
	// DayRestricted is true when day of month, month or day of week limit
	// the days it runs on.
	DayRestricted bool
	// Movable is false when no single cron line can express shifted runs;
	// Why then says why.
	Movable bool
	Why     string
}

var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// Parse reads a cron expression or an Airflow cron preset.
func Parse(expr string) (*Schedule, error) {
	e := strings.TrimSpace(expr)
	switch strings.ToLower(e) {
	case "", "none", "null", "@once", "@continuous":
		return nil, fmt.Errorf("%q: %w", expr, ErrNotCron)
	}
	if d, ok := descriptors[strings.ToLower(e)]; ok {
		e = d
	}
	parts := strings.Fields(e)
	if len(parts) != 5 {
		return nil, fmt.Errorf("%q: %w (want 5 fields or a preset such as @daily)", expr, ErrNotCron)
	}
	sched, err := cron.ParseStandard(e)
	if err != nil {
		return nil, fmt.Errorf("%q: %w: %w", expr, ErrNotCron, err)
	}
	s := &Schedule{Expr: expr}
	copy(s.fields[:], parts)
	for _, f := range parts[2:] {
		if f != "*" && f != "?" {
			s.DayRestricted = true
		}
	}
	s.Runs, err = runsOnFirstDay(sched)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", expr, err)
	}
	s.Movable, s.Why = true, ""
	for _, m := range s.Runs {
		if m%60 != s.Runs[0]%60 {
			s.Movable, s.Why = false, "its runs start at different minutes of the hour"
			break
		}
	}
	return s, nil
}

// runsOnFirstDay lists the minutes of the first day (from 2024-01-01 UTC)
// on which the schedule fires.
func runsOnFirstDay(sched cron.Schedule) ([]int, error) {
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Second)
	t := sched.Next(from)
	if t.IsZero() {
		return nil, errors.New("never fires")
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	var runs []int
	for ; !t.IsZero() && t.Before(day.Add(24*time.Hour)); t = sched.Next(t) {
		runs = append(runs, int(t.Sub(day)/time.Minute))
	}
	return runs, nil
}

// Period is the smallest shift (a divisor of the day) that maps the
// schedule's runs onto themselves: 60 for hourly, 1440 for daily. Shifting
// by more than that only repeats a smaller shift.
func (s *Schedule) Period() int {
	in := map[int]bool{}
	for _, m := range s.Runs {
		in[m] = true
	}
	for p := 1; p < MinutesPerDay; p++ {
		if MinutesPerDay%p != 0 {
			continue
		}
		ok := true
		for _, m := range s.Runs {
			if !in[(m+p)%MinutesPerDay] {
				ok = false
				break
			}
		}
		if ok {
			return p
		}
	}
	return MinutesPerDay
}

// Offsets are the runs' minutes relative to the first run of the day.
func (s *Schedule) Offsets() []int {
	out := make([]int, len(s.Runs))
	for i, m := range s.Runs {
		out[i] = m - s.Runs[0]
	}
	return out
}

// Anchors lists the minutes of the day at which the first run may be put.
// Unmovable schedules have only their own.
func (s *Schedule) Anchors() []int {
	if !s.Movable {
		return []int{s.Runs[0]}
	}
	if s.DayRestricted {
		// Keep every run inside the day so that the weekdays stay right.
		last := s.Runs[len(s.Runs)-1] - s.Runs[0]
		out := make([]int, 0, MinutesPerDay-last)
		for a := 0; a+last < MinutesPerDay; a++ {
			out = append(out, a)
		}
		return out
	}
	p := s.Period()
	out := make([]int, p)
	for a := range out {
		out[a] = a
	}
	return out
}

// Shifted returns the cron expression whose first run of the day is at
// anchor (minute of the day) and whose other runs keep their distance. For
// schedules that run every day the anchor is taken modulo the day.
func (s *Schedule) Shifted(anchor int) (string, error) {
	if anchor == s.Runs[0] {
		return s.Expr, nil
	}
	if !s.Movable {
		return "", fmt.Errorf("%q cannot move: %s", s.Expr, s.Why)
	}
	if s.DayRestricted && (anchor < 0 || anchor >= MinutesPerDay) {
		return "", fmt.Errorf("%q runs on some days only: it cannot move to minute %d, outside its day", s.Expr, anchor)
	}
	anchor = ((anchor % MinutesPerDay) + MinutesPerDay) % MinutesPerDay
	hours := map[int]bool{}
	for _, off := range s.Offsets() {
		m := anchor + off
		if s.DayRestricted && m >= MinutesPerDay {
			return "", fmt.Errorf("%q: a run at minute %d would move to the next day", s.Expr, m)
		}
		hours[(m%MinutesPerDay)/60] = true
	}
	return fmt.Sprintf("%d %s %s %s %s", anchor%60, hourField(hours), s.fields[2], s.fields[3], s.fields[4]), nil
}

// hourField writes a set of hours as "*", "*/n" or a comma list.
func hourField(hours map[int]bool) string {
	hs := make([]int, 0, len(hours))
	for h := range hours {
		hs = append(hs, h)
	}
	sort.Ints(hs)
	if len(hs) == 24 {
		return "*"
	}
	if len(hs) > 1 && hs[0] == 0 {
		step := hs[1]
		if 24%step == 0 && len(hs) == 24/step {
			ok := true
			for i, h := range hs {
				ok = ok && h == i*step
			}
			if ok {
				return "*/" + strconv.Itoa(step)
			}
		}
	}
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = strconv.Itoa(h)
	}
	return strings.Join(parts, ",")
}

// RunsOf parses expr and returns its run minutes of the day, for checks.
func RunsOf(expr string) ([]int, error) {
	s, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	return s.Runs, nil
}

// StartDelay returns the median time from the latest scheduled tick to each
// of the actual run starts given, in seconds: Airflow starts a run a little
// after its tick, and the plan must place the work where it really runs.
// The cron fields are read in loc (the DAG's time zone), so each start is
// compared with the ticks of its own date's wall clock, daylight saving
// time or not.
func (s *Schedule) StartDelay(loc *time.Location, starts []time.Time) (seconds int64, ok bool) {
	if len(starts) == 0 {
		return 0, false
	}
	ds := make([]int64, 0, len(starts))
	for _, st := range starts {
		st = st.In(loc)
		sec := int64(st.Hour()*3600 + st.Minute()*60 + st.Second())
		best := int64(-1)
		for _, m := range s.Runs {
			d := ((sec-int64(m)*60)%86400 + 86400) % 86400
			if best < 0 || d < best {
				best = d
			}
		}
		ds = append(ds, best)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[(len(ds)-1)/2], true
}
