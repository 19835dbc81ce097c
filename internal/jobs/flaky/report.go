package flaky

import "time"

// Report is the result of one analysis, whichever engine computed it.
type Report struct {
	Inputs []string `json:"inputs"`
	Engine string   `json:"engine"`
	// Tries counts the rows used; BadRows lists every row that was not.
	Tries        int          `json:"tries"`
	TasksSeen    int          `json:"tasks_seen"`
	MinFlakyRuns int          `json:"min_flaky_runs"`
	Tasks        []TaskReport `json:"tasks"`
	BadRows      []BadRow     `json:"bad_rows"`
}

// TaskReport is TaskStats with the derived numbers spelled out.
type TaskReport struct {
	TaskStats
	FlakyRate     float64   `json:"flaky_rate"`
	WastedMinutes float64   `json:"wasted_minutes"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	// Causes are the known causes among the task's failures, most
	// frequent first, with what to do about each.
	Causes []CauseReport `json:"causes"`
}

// CauseReport counts the failed tries of one task with one known cause.
type CauseReport struct {
	Name   string `json:"name"`
	Label  string `json:"label"`
	Count  int    `json:"count"`
	Advice string `json:"advice"`
}

func causesOf(sigs []SignatureSummary) []CauseReport {
	out := []CauseReport{}
	for _, g := range sigs { // already most frequent first
		if c := CauseByName(g.Cause); c != nil {
			out = append(out, CauseReport{Name: c.Name, Label: c.Label, Count: g.Count, Advice: c.Advice})
		}
	}
	return out
}

// BuildReport ranks the statistics of all tasks and sorts the bad rows.
// Both engines end here, so their reports differ in nothing but Engine.
func BuildReport(inputs []string, engine string, all []TaskStats, bad []BadRow, minFlakyRuns int) Report {
	r := Report{Inputs: inputs, Engine: engine, TasksSeen: len(all), MinFlakyRuns: minFlakyRuns, Tasks: []TaskReport{}, BadRows: bad}
	if r.BadRows == nil {
		r.BadRows = []BadRow{}
	}
	for _, s := range all {
		r.Tries += s.Tries
	}
	for _, s := range Rank(all, minFlakyRuns) {
		first := s.FirstSeenUnix
		if first == 0 {
			first = s.FirstEndUnix // no try of the task has a start
		}
		r.Tasks = append(r.Tasks, TaskReport{
			Causes:        causesOf(s.Signatures),
			TaskStats:     s,
			FlakyRate:     s.FlakyRate(),
			WastedMinutes: s.WastedMinutes(),
			FirstSeen:     time.UnixMilli(first).UTC(),
			LastSeen:      time.UnixMilli(s.LastSeenUnix).UTC(),
		})
	}
	SortBadRows(r.BadRows)
	return r
}
