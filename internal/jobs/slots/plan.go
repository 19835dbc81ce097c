// Package slots turns a slot-usage profile (see package profile) and a
// constraints file into new start times for Airflow DAGs, so that their
// BigQuery slot usage stays under a cap.
package slots

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/slots/constraints"
	"github.com/beametrics/beametrics/internal/jobs/slots/cronshift"
	"github.com/beametrics/beametrics/internal/jobs/slots/planner"
	"github.com/beametrics/beametrics/internal/jobs/slots/profile"
)

const day = cronshift.MinutesPerDay

// Options choose how the plan reads the profile.
type Options struct {
	CapSlots float64
	// Use is "p90" or "median": which per-minute profile to plan with.
	Use    string
	Solver planner.Options
	// Margin is the headroom the plan keeps; the zero value keeps none.
	Margin Margin
	// Timezone is the zone of the DAGs whose run history names none, in
	// which their cron lines are read and written; nil is UTC.
	Timezone *time.Location
}

// Margin is headroom against a real day differing from the model: the plan
// is made under the cap minus Slots, with every DAG's usage widened by
// Minutes on both sides (each minute counts the highest usage within
// Minutes of it), so that a run starting or ending a few minutes off does
// not land on its neighbour.
type Margin struct {
	Slots   float64 `json:"slots"`
	Minutes int     `json:"minutes"`
}

// DefaultMargin is the --margin default: 5% of the cap and 5 minutes.
const DefaultMargin = "5%,5m"

// ParseMargin reads "SLOTS,MINUTESm": SLOTS a number of slots or a
// percentage of the cap ("20" or "5%"), MINUTES whole minutes ("5m").
// "0" alone means no margin.
func ParseMargin(s string, capSlots float64) (Margin, error) {
	if s == "0" {
		return Margin{}, nil
	}
	slotsPart, minPart, ok := strings.Cut(s, ",")
	if !ok || !strings.HasSuffix(minPart, "m") {
		return Margin{}, fmt.Errorf("margin %q: want SLOTS,MINUTESm such as 5%%,5m or 20,10m (or 0 for none)", s)
	}
	var m Margin
	pct := strings.HasSuffix(slotsPart, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(slotsPart, "%"), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return Margin{}, fmt.Errorf("margin %q: slots %q is not a non-negative number or percentage", s, slotsPart)
	}
	if pct {
		v = capSlots * v / 100
	}
	m.Slots = v
	if m.Minutes, err = strconv.Atoi(strings.TrimSuffix(minPart, "m")); err != nil || m.Minutes < 0 || m.Minutes > 120 {
		return Margin{}, fmt.Errorf("margin %q: minutes %q is not a whole number of minutes from 0 to 120", s, minPart)
	}
	if m.Slots >= capSlots {
		return Margin{}, fmt.Errorf("margin %q: %.1f slots leaves nothing of the %.1f-slot cap", s, m.Slots, capSlots)
	}
	return m, nil
}

// Plan is the result of `slots plan`.
type Plan struct {
	CapSlots float64 `json:"cap_slots"`
	Use      string  `json:"use"`
	Method   string  `json:"method"`
	Optimal  bool    `json:"optimal"`
	Before   Summary `json:"before"`
	After    Summary `json:"after"`
	// Margin is the headroom planned for; AfterInMargin measures the
	// proposal against the cap minus the slot margin with every DAG
	// widened by the minute margin (what the search minimised).
	Margin        Margin  `json:"margin"`
	AfterInMargin Summary `json:"after_in_margin"`
	// RealDays is the plan replayed on the history's real days (nil when
	// the profile has no per-day history).
	RealDays *RealDays `json:"real_days,omitempty"`
	DAGs     []DAGPlan `json:"dags"`
	// Notes are things the user must know: DAGs left out, constraints
	// that could not apply.
	Notes []string `json:"notes"`
	// BeforeLayers and AfterLayers are the modelled slot usage per minute
	// of the day: background first, then one layer per DAG (same order as
	// DAGs), for the chart.
	BeforeLayers []Layer `json:"-"`
	AfterLayers  []Layer `json:"-"`
}

// Summary measures one day of modelled usage against the cap.
type Summary struct {
	PeakSlots          float64 `json:"peak_slots"`
	SlotMinutesOverCap float64 `json:"slot_minutes_over_cap"`
	MinutesOverCap     int     `json:"minutes_over_cap"`
}

// DAGPlan is the proposal for one DAG.
type DAGPlan struct {
	DAG         string `json:"dag"`
	Schedule    string `json:"schedule"`
	NewSchedule string `json:"new_schedule"`
	// OldTick and NewTick are the first cron time of the day, HH:MM in
	// Timezone.
	OldTick  string `json:"old_tick"`
	NewTick  string `json:"new_tick"`
	ShiftMin int    `json:"shift_min"`
	// Timezone is the zone its cron lines are in (empty for UTC), and
	// UTCOffset that zone's offset the plan used, such as "+09:00".
	Timezone  string `json:"timezone,omitempty"`
	UTCOffset string `json:"utc_offset,omitempty"`
	Movable   bool   `json:"movable"`
	// Why says why a DAG cannot move, when it cannot.
	Why string `json:"why,omitempty"`
	// SlotMinutes is its modelled slot usage per day.
	SlotMinutes float64 `json:"slot_minutes"`
}

// Layer is one stacked series of the chart.
type Layer struct {
	Name  string
	Slots []float64 // per minute of the day
}

// item ties a planner item to its DAG.
type item struct {
	prof  profile.DAGProfile
	sched *cronshift.Schedule
	delay int // minutes from cron tick to actual start
	loc   *time.Location
	// off is loc's offset from UTC in minutes: the planner works in UTC,
	// the DAG's cron in local time, and a local minute m is UTC m − off.
	off int
}

// Build makes the plan.
func Build(doc *profile.Doc, cons *constraints.File, opt Options) (*Plan, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	if cons == nil {
		cons = &constraints.File{DAGs: map[string]constraints.DAG{}}
	}
	pl := &Plan{CapSlots: opt.CapSlots, Use: opt.Use, Notes: []string{}, Margin: opt.Margin}
	// Zone offsets are those at the end of the history, the days the
	// profile describes.
	ref := doc.To
	if ref.IsZero() {
		ref = time.Now()
	}
	prob, items, err := pl.problem(doc, cons, opt.Timezone, opt.Use, ref)
	if err != nil {
		return nil, err
	}
	pl.Notes = append(pl.Notes, zoneNotes(items, ref)...)
	sort.Strings(pl.Notes)

	anchors, err := pl.solve(prob, opt)
	if err != nil {
		return nil, err
	}
	for i, it := range items {
		dp, err := pl.dagPlan(it, prob.Items[i], anchors[i], cons.DAGs[it.prof.DAG].Fixed, ref)
		if err != nil {
			return nil, err
		}
		pl.DAGs = append(pl.DAGs, dp)
	}
	if doc.History == nil {
		pl.Notes = append(pl.Notes, "the profile has no per-day history (written by an older beametrics): run slots profile again to check the plan against each real day")
		return pl, nil
	}
	shifts := map[string]int{}
	for _, d := range pl.DAGs {
		shifts[d.DAG] = d.ShiftMin
	}
	pl.RealDays = realDays(doc.History, shifts, opt.CapSlots)
	return pl, nil
}

func (opt Options) check() error {
	if opt.CapSlots <= 0 {
		return fmt.Errorf("cap must be a positive number of slots, got %v", opt.CapSlots)
	}
	if opt.Use != "p90" && opt.Use != "median" {
		return fmt.Errorf("use must be p90 or median, got %q", opt.Use)
	}
	if opt.Margin.Slots < 0 || opt.Margin.Slots >= opt.CapSlots || opt.Margin.Minutes < 0 {
		return fmt.Errorf("margin %+v does not fit the %.1f-slot cap", opt.Margin, opt.CapSlots)
	}
	return nil
}

// problem makes the planner's problem: the background, one item per
// plannable DAG of the profile (noting those left out, and why) and the
// dependencies of the constraints. items[i] is the DAG of prob.Items[i].
func (pl *Plan) problem(doc *profile.Doc, cons *constraints.File, zone *time.Location, use string, ref time.Time) (prob *planner.Problem, items []item, err error) {
	prob = &planner.Problem{Horizon: day, Cap: milli(pl.CapSlots), Background: make([]int64, day)}
	for m, s := range doc.MinuteOfDay {
		prob.Background[m] = milli(s.MeanBackgroundSlots)
	}
	index := map[string]int{}
	for _, d := range doc.DAGs {
		if d.ScheduleError != "" {
			pl.Notes = append(pl.Notes, fmt.Sprintf("%s: left as it is, its usage counted as background: schedule %s", d.DAG, d.ScheduleError))
			continue
		}
		if d.Runs == 0 {
			pl.Notes = append(pl.Notes, fmt.Sprintf("%s: no run inside the job history's time range (%d outside): no profile to plan with", d.DAG, d.RunsOutsideRange))
			continue
		}
		sched, err := cronshift.Parse(d.Schedule)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.DAG, err)
		}
		c, ok := cons.DAGs[d.DAG]
		if !ok {
			c = constraints.DAG{EarliestStart: -1, MustFinishBy: -1}
		}
		li, err := place(d, sched, zone, ref)
		if err != nil {
			return nil, nil, err
		}
		if li.delay >= 180 {
			// Hours between tick and start usually mean the cron is read
			// in the wrong zone.
			pl.Notes = append(pl.Notes, fmt.Sprintf("%s: its runs start %d minutes after their cron time (median): if they do not, its time zone (%s) is not the DAG's", d.DAG, li.delay, li.loc))
		}
		it, err := newItem(d, li, c, use)
		if err != nil {
			return nil, nil, err
		}
		index[d.DAG] = len(items)
		items = append(items, li)
		prob.Items = append(prob.Items, it)
	}
	if err := pl.addDependencies(prob, items, index, cons); err != nil {
		return nil, nil, err
	}
	return prob, items, nil
}

// addDependencies gives each item the items its DAG waits for in the
// constraints; index finds an item by DAG name.
func (pl *Plan) addDependencies(prob *planner.Problem, items []item, index map[string]int, cons *constraints.File) error {
	for name, c := range cons.DAGs {
		i, ok := index[name]
		if !ok {
			pl.Notes = append(pl.Notes, fmt.Sprintf("%s: in the constraints but not a plannable DAG of the profile: its constraints do not apply", name))
			continue
		}
		for _, a := range c.After {
			j, ok := index[a]
			if !ok {
				return fmt.Errorf("%s: waits for %s, which is not a plannable DAG of the profile", name, a)
			}
			if len(items[j].sched.Runs) > 1 || len(items[i].sched.Runs) > 1 {
				return fmt.Errorf("%s after %s: dependencies are only for DAGs that run once a day", name, a)
			}
			prob.Items[i].After = append(prob.Items[i].After, j)
		}
	}
	return nil
}

// solve places the items, each widened by the margin, and measures the
// day before and after; it returns each item's new anchor.
func (pl *Plan) solve(prob *planner.Problem, opt Options) ([]int, error) {
	padded := withMargin(prob, opt.Margin)
	sol, err := planner.Solve(padded, opt.Solver)
	if err != nil {
		return nil, err
	}
	anchors := unshift(padded, prob, sol.Anchors)
	pl.AfterInMargin = summarize(padded.Load(shift(prob, padded, anchors)), padded.Cap)
	pl.Method, pl.Optimal = sol.Method, sol.Optimal
	current := make([]int, len(prob.Items))
	for i, it := range prob.Items {
		current[i] = it.Current
	}
	pl.Before = summarize(prob.Load(current), prob.Cap)
	pl.After = summarize(prob.Load(anchors), prob.Cap)
	pl.BeforeLayers = layers(prob, current)
	pl.AfterLayers = layers(prob, anchors)
	return anchors, nil
}

// dagPlan says how the DAG of it (planner item pi) moves to anchor: its new
// cron line and shift. It notes proposed local times that a daylight saving
// change makes odd.
func (pl *Plan) dagPlan(it item, pi planner.Item, anchor int, fixed bool, ref time.Time) (DAGPlan, error) {
	oldTick := it.sched.Runs[0]
	newTick := anchor - it.delay + it.off
	expr, err := it.sched.Shifted(newTick)
	if err != nil {
		return DAGPlan{}, fmt.Errorf("%s: %w", it.prof.DAG, err)
	}
	shift := ((newTick-oldTick)%day + day) % day
	if shift > day/2 {
		shift -= day
	}
	var total int64
	for _, v := range pi.Pattern {
		total += v
	}
	dp := DAGPlan{
		DAG: it.prof.DAG, Schedule: it.sched.Expr, NewSchedule: expr,
		OldTick: constraints.Clock(oldTick), NewTick: constraints.Clock(newTick), ShiftMin: shift,
		Movable: len(pi.Candidates) > 1, SlotMinutes: float64(total) / 1000,
	}
	if it.loc != time.UTC {
		dp.Timezone, dp.UTCOffset = it.loc.String(), cronshift.OffsetName(it.off)
		if shift != 0 {
			newRuns, _ := cronshift.RunsOf(expr)
			for _, odd := range cronshift.OddWallTimes(it.loc, newRuns, ref) {
				pl.Notes = append(pl.Notes, fmt.Sprintf("%s: proposed %s in %s: check what Airflow does then, or pick another minute", it.prof.DAG, odd, dp.Timezone))
			}
		}
	}
	switch {
	case fixed:
		dp.Why = "fixed in the constraints"
	case !it.sched.Movable:
		dp.Why = it.sched.Why
	}
	return dp, nil
}

func milli(slots float64) int64 { return int64(math.Round(slots * 1000)) }

// place finds a DAG's time zone (its own from the run history, else
// global, else UTC), the zone's offset at ref, and its start delay from the
// ticks in that zone.
func place(d profile.DAGProfile, sched *cronshift.Schedule, global *time.Location, ref time.Time) (item, error) {
	it := item{prof: d, sched: sched, loc: time.UTC}
	delaySec := d.StartDelaySec
	switch {
	case d.Timezone != "":
		loc, err := cronshift.LoadZone(d.Timezone)
		if err != nil {
			return it, fmt.Errorf("%s: %w", d.DAG, err)
		}
		it.loc = loc
	case global != nil && global.String() != time.UTC.String():
		// The profile measured the delay from UTC ticks: measure it again
		// from this zone's.
		if len(d.ScheduledStarts) == 0 && d.StartDelaySec != 0 {
			return it, fmt.Errorf("%s: the profile keeps no run starts to measure its start delay in %s from: run slots profile again", d.DAG, global)
		}
		it.loc = global
		delaySec, _ = sched.StartDelay(global, d.ScheduledStarts)
	}
	it.delay = int(math.Round(float64(delaySec) / 60))
	it.off = cronshift.Offset(it.loc, ref)
	return it, nil
}

// zoneNotes says, for each zone with daylight saving time, which offset
// the plan used and when it changes: DAGs in that zone then run an hour
// earlier or later in UTC, against the background and DAGs in other zones.
func zoneNotes(items []item, ref time.Time) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		name := it.loc.String()
		if seen[name] {
			continue
		}
		seen[name] = true
		at, off, ok := cronshift.NextOffsetChange(it.loc, ref)
		if !ok {
			continue
		}
		out = append(out, fmt.Sprintf("%s: planned at UTC%s, its offset at the end of the history; from %s it is UTC%s and its DAGs run %d minutes %s in UTC, while the background and DAGs in other zones do not move: plan again for that season, or keep a margin",
			name, cronshift.OffsetName(it.off), at.In(it.loc).Format("2006-01-02 15:04 MST"), cronshift.OffsetName(off), abs(off-it.off), map[bool]string{true: "earlier", false: "later"}[off > it.off]))
	}
	return out
}

func abs(x int) int { return max(x, -x) }

// newItem turns a DAG's profile into a planner item whose anchor is the
// actual start of its first run of the day (cron tick + usual delay), in
// UTC minutes: the schedule's local minutes less the zone's offset.
func newItem(d profile.DAGProfile, li item, c constraints.DAG, use string) (planner.Item, error) {
	prof := d.P90Slots
	if use == "median" {
		prof = d.MedianSlots
	}
	sched, delay, off := li.sched, li.delay, li.off
	offsets := sched.Offsets()
	length := offsets[len(offsets)-1] + len(prof)
	if length > day {
		length = day // longer than a day: fold onto the day
	}
	it := planner.Item{
		Name: d.DAG, Pattern: make([]int64, length), Current: sched.Runs[0] - off + delay,
		Period: sched.Period(), Duration: int(math.Ceil(d.P90DurationMin)),
	}
	// must_finish_by counts from the cron tick: the start delay, then the run.
	need := delay + it.Duration
	for _, o := range offsets {
		for k, v := range prof {
			it.Pattern[(o+k)%length] += milli(v)
		}
	}
	windowed := c.EarliestStart >= 0 || c.MustFinishBy >= 0
	switch {
	case c.Fixed || !sched.Movable:
		it.Candidates = []int{it.Current}
		return it, nil
	case windowed && len(sched.Runs) > 1:
		return it, fmt.Errorf("%s: earliest_start and must_finish_by are only for DAGs that run once a day (%q runs %d times)", d.DAG, sched.Expr, len(sched.Runs))
	case !windowed:
		for _, a := range sched.Anchors() {
			it.Candidates = append(it.Candidates, a-off+delay)
		}
		return it, nil
	}
	from, to := c.EarliestStart, c.MustFinishBy
	if from < 0 {
		from = 0
	}
	if to < 0 {
		to = day
		if from > 0 && !sched.DayRestricted {
			to = from + day // no deadline: any time in the next 24 hours
		}
	}
	if to <= from {
		to += day // the window passes midnight
	}
	allowed := map[int]bool{}
	for _, a := range sched.Anchors() {
		allowed[a] = true
	}
	for tick := from; tick+need <= to; tick++ {
		if allowed[tick%day] && (tick < day || !sched.DayRestricted) {
			it.Candidates = append(it.Candidates, tick-off+delay)
		}
	}
	if len(it.Candidates) == 0 {
		return it, fmt.Errorf("%s: no start time between %s and %s leaves room for its %d minutes (delay + p90 duration): %w",
			d.DAG, constraints.Clock(from), constraints.Clock(to), need, planner.ErrInfeasible)
	}
	// Keep the current position comparable with the unrolled candidates.
	if sched.Runs[0] < from {
		it.Current += day
	}
	return it, nil
}

func summarize(load []int64, cap int64) Summary {
	var s Summary
	var over int64
	for _, v := range load {
		if v > cap {
			over += v - cap
			s.MinutesOverCap++
		}
		s.PeakSlots = max(s.PeakSlots, float64(v)/1000)
	}
	s.SlotMinutesOverCap = float64(over) / 1000
	return s
}

func layers(p *planner.Problem, anchors []int) []Layer {
	out := []Layer{{Name: "background", Slots: toSlots(p.Background)}}
	for i, it := range p.Items {
		load := make([]int64, day)
		pos := ((anchors[i] % day) + day) % day
		for _, v := range it.Pattern {
			load[pos] += v
			pos = (pos + 1) % day
		}
		out = append(out, Layer{Name: it.Name, Slots: toSlots(load)})
	}
	return out
}

func toSlots(ms []int64) []float64 {
	out := make([]float64, len(ms))
	for i, v := range ms {
		out[i] = float64(v) / 1000
	}
	return out
}

// IsInfeasible reports whether err means the constraints cannot be met.
func IsInfeasible(err error) bool { return errors.Is(err, planner.ErrInfeasible) }

// withMargin returns the problem the search solves: the cap lowered by the
// slot margin and each pattern widened by the minute margin. A widened
// pattern starts m minutes before the item's anchor, so its anchors are
// shifted by day−m (a whole day keeps them non-negative and changes no
// distance or dependency).
func withMargin(p *planner.Problem, m Margin) *planner.Problem {
	out := *p
	out.Cap = p.Cap - milli(m.Slots)
	out.Items = make([]planner.Item, len(p.Items))
	for i, it := range p.Items {
		pat, back := widen(it.Pattern, m.Minutes)
		it.Pattern = pat
		sh := day - back
		it.Current += sh
		it.Candidates = append([]int(nil), it.Candidates...)
		for k := range it.Candidates {
			it.Candidates[k] += sh
		}
		out.Items[i] = it
	}
	return &out
}

// shift and unshift convert anchors between the plain and the widened
// problem.
func shift(plain, padded *planner.Problem, anchors []int) []int {
	out := make([]int, len(anchors))
	for i, a := range anchors {
		out[i] = a + padded.Items[i].Current - plain.Items[i].Current
	}
	return out
}

func unshift(padded, plain *planner.Problem, anchors []int) []int {
	out := make([]int, len(anchors))
	for i, a := range anchors {
		out[i] = a - (padded.Items[i].Current - plain.Items[i].Current)
	}
	return out
}

// widen returns the pattern in which each minute holds the highest value
// within m minutes of it, and how many minutes it starts before the
// original. A pattern that would cover the whole day wraps around instead.
func widen(p []int64, m int) ([]int64, int) {
	if m == 0 {
		return p, 0
	}
	n := len(p)
	if n+2*m < day {
		out := make([]int64, n+2*m)
		for k := range out {
			for j := max(k-2*m, 0); j <= min(k, n-1); j++ {
				out[k] = max(out[k], p[j])
			}
		}
		return out, m
	}
	base := make([]int64, day)
	for k, v := range p {
		base[k%day] += v
	}
	out := make([]int64, day)
	for k := range out {
		for j := -m; j <= m; j++ {
			out[k] = max(out[k], base[((k+j)%day+day)%day])
		}
	}
	return out, 0
}
