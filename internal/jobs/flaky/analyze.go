package flaky

import (
	"fmt"
	"sort"
)

// InstanceSummary is what one task instance (all tries of one task in one
// run) contributes to its task's statistics. Times are Unix milliseconds so
// that sums are exact and do not depend on the order of addition.
type InstanceSummary struct {
	DagID        string `json:"dag_id"`
	TaskID       string `json:"task_id"`
	Tries        int    `json:"tries"`
	Retries      int    `json:"retries"`
	FailedTries  int    `json:"failed_tries"`
	Flaky        bool   `json:"flaky"`
	FinalFailed  bool   `json:"final_failed"`
	WastedMillis int64  `json:"wasted_millis"`
	// NoDuration counts failed tries of a flaky instance with no
	// start_date, whose time could not be added to WastedMillis.
	NoDuration int `json:"no_duration"`
	// FirstSeenUnix is the earliest start; FirstEndUnix the earliest end,
	// shown only when no try of the task has a start.
	FirstSeenUnix int64              `json:"first_seen_ms"`
	FirstEndUnix  int64              `json:"first_end_ms"`
	LastSeenUnix  int64              `json:"last_seen_ms"`
	Failures      []SignatureSummary `json:"failures,omitempty"`
}

// SignatureSummary counts the failed tries that share one signature. A
// try whose tail shows a known cause (Causes) has the cause's label as its
// signature, so tries group by cause whatever their last line says.
type SignatureSummary struct {
	Signature string `json:"signature"`
	Count     int    `json:"count"`
	// Cause is the Name of the known cause, empty for other signatures;
	// Evidence is the line of Example that shows it.
	Cause    string `json:"cause,omitempty"`
	Evidence string `json:"evidence,omitempty"`
	// Example is the earliest message with this signature (ties broken by
	// text), so that every way of computing the report picks the same one.
	Example     string `json:"example"`
	ExampleUnix int64  `json:"example_ms"`
	FirstUnix   int64  `json:"first_ms"`
	LastUnix    int64  `json:"last_ms"`
}

// SummarizeInstance folds the tries of one task instance. All tries must
// share instanceKey. A second row for the same try number is returned as a
// bad row (the earliest read is kept), not counted twice.
func SummarizeInstance(tries []TaskTry) (InstanceSummary, []BadRow) {
	sorted := append([]TaskTry(nil), tries...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.TryNumber != b.TryNumber {
			return a.TryNumber < b.TryNumber
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Line < b.Line
	})
	var bad []BadRow
	uniq := sorted[:0:0]
	for i, t := range sorted {
		if i > 0 && t.TryNumber == sorted[i-1].TryNumber {
			first := sorted[i-1]
			bad = append(bad, BadRow{Source: t.Source, Line: t.Line,
				Reason: fmt.Sprintf("duplicate of try %d of %s.%s run %s, first read at %s line %d", t.TryNumber, t.DagID, t.TaskID, t.RunID, first.Source, first.Line)})
			continue
		}
		uniq = append(uniq, t)
	}
	final := uniq[len(uniq)-1]
	s := InstanceSummary{DagID: final.DagID, TaskID: final.TaskID, Tries: len(uniq)}
	// try_number counts every try, so the last one tells how many retries
	// there were even when the export holds only the last try.
	s.Retries = final.TryNumber - 1
	s.FinalFailed = outcomeOf(final.State) == failedTry

	sigs := map[string]*SignatureSummary{}
	var failedMillis int64
	var failedNoDuration int
	for i, t := range uniq {
		// First seen is the earliest start (as documented); a try without
		// a start only gives a fallback for tasks with no start at all.
		if !t.Start.IsZero() {
			s.FirstSeenUnix = minNonZero(s.FirstSeenUnix, t.Start.UnixMilli())
		}
		if !t.End.IsZero() {
			s.FirstEndUnix = minNonZero(s.FirstEndUnix, t.End.UnixMilli())
			s.LastSeenUnix = max(s.LastSeenUnix, t.End.UnixMilli())
		} else if !t.Start.IsZero() {
			s.LastSeenUnix = max(s.LastSeenUnix, t.Start.UnixMilli())
		}
		if outcomeOf(t.State) != failedTry || i == len(uniq)-1 {
			continue
		}
		s.FailedTries++
		if t.Start.IsZero() {
			failedNoDuration++
		} else {
			failedMillis += t.End.Sub(t.Start).Milliseconds()
		}
		one := failureOf(t)
		if g, ok := sigs[one.Signature]; ok {
			g.add(one)
		} else {
			sigs[one.Signature] = &one
		}
	}
	if s.FinalFailed {
		// The final try's failure message is a failure signature too; the
		// final try is not a retry that was wasted, though.
		s.FailedTries++
		one := failureOf(final)
		if g, ok := sigs[one.Signature]; ok {
			g.add(one)
		} else {
			sigs[one.Signature] = &one
		}
	}
	s.Flaky = outcomeOf(final.State) == succeeded && (s.FailedTries > 0 || s.Retries > 0)
	if s.Flaky {
		s.WastedMillis = failedMillis
		s.NoDuration = failedNoDuration
	}
	for _, g := range sigs {
		s.Failures = append(s.Failures, *g)
	}
	sortSignatures(s.Failures)
	return s, bad
}

// failureOf is the one-try summary of a failed try: its known cause if
// the tail shows one, else its message's signature.
func failureOf(t TaskTry) SignatureSummary {
	at := t.End.UnixMilli()
	one := SignatureSummary{Count: 1, Example: t.Message, ExampleUnix: at, FirstUnix: at, LastUnix: at}
	if c, ev := ClassifyCause(t.Message); c != nil {
		one.Signature, one.Cause, one.Evidence = c.Label, c.Name, ev
	} else {
		one.Signature = Signature(t.Message)
	}
	return one
}

func (g *SignatureSummary) add(o SignatureSummary) {
	g.Count += o.Count
	if o.ExampleUnix < g.ExampleUnix || (o.ExampleUnix == g.ExampleUnix && o.Example < g.Example) {
		g.Example, g.ExampleUnix, g.Evidence = o.Example, o.ExampleUnix, o.Evidence
	}
	g.FirstUnix = min(g.FirstUnix, o.FirstUnix)
	g.LastUnix = max(g.LastUnix, o.LastUnix)
}

func minNonZero(a, b int64) int64 {
	if a == 0 {
		return b
	}
	return min(a, b)
}

func sortSignatures(s []SignatureSummary) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Count != s[j].Count {
			return s[i].Count > s[j].Count
		}
		return s[i].Signature < s[j].Signature
	})
}

// TaskStats are the statistics of one task over all its runs.
type TaskStats struct {
	DagID string `json:"dag_id"`
	// TaskID is the task; Instances counts its task instances (one per run,
	// or one per map index for mapped tasks).
	TaskID      string `json:"task_id"`
	Instances   int    `json:"instances"`
	Tries       int    `json:"tries"`
	FlakyRuns   int    `json:"flaky_runs"`
	FailedRuns  int    `json:"failed_runs"`
	Retries     int    `json:"retries"`
	FailedTries int    `json:"failed_tries"`
	// WastedMillis is the run time of failed tries in instances that later
	// succeeded: time spent only because the task is flaky.
	WastedMillis  int64              `json:"wasted_millis"`
	NoDuration    int                `json:"failed_tries_without_start"`
	FirstSeenUnix int64              `json:"first_seen_ms"`
	FirstEndUnix  int64              `json:"first_end_ms"`
	LastSeenUnix  int64              `json:"last_seen_ms"`
	Signatures    []SignatureSummary `json:"signatures"`
}

// FlakyRate is the share of instances that failed at least once and then
// succeeded.
func (s TaskStats) FlakyRate() float64 {
	if s.Instances == 0 {
		return 0
	}
	return float64(s.FlakyRuns) / float64(s.Instances)
}

// WastedMinutes is WastedMillis in minutes.
func (s TaskStats) WastedMinutes() float64 { return float64(s.WastedMillis) / 60000 }

// TaskAccumulator merges instance summaries of one task in any order and
// grouping with the same result, so that a Beam combiner can use it.
type TaskAccumulator struct {
	Stats      TaskStats                   `json:"stats"`
	Signatures map[string]SignatureSummary `json:"signatures"`
}

// NewTaskAccumulator returns an empty accumulator.
func NewTaskAccumulator() *TaskAccumulator {
	return &TaskAccumulator{Signatures: map[string]SignatureSummary{}}
}

// Add folds one instance in.
func (a *TaskAccumulator) Add(s InstanceSummary) {
	a.Stats.DagID, a.Stats.TaskID = s.DagID, s.TaskID
	a.Stats.Instances++
	a.Stats.Tries += s.Tries
	if s.Flaky {
		a.Stats.FlakyRuns++
	}
	if s.FinalFailed {
		a.Stats.FailedRuns++
	}
	a.Stats.Retries += s.Retries
	a.Stats.FailedTries += s.FailedTries
	a.Stats.WastedMillis += s.WastedMillis
	a.Stats.NoDuration += s.NoDuration
	a.Stats.FirstSeenUnix = minNonZero(a.Stats.FirstSeenUnix, s.FirstSeenUnix)
	a.Stats.FirstEndUnix = minNonZero(a.Stats.FirstEndUnix, s.FirstEndUnix)
	a.Stats.LastSeenUnix = max(a.Stats.LastSeenUnix, s.LastSeenUnix)
	for _, g := range s.Failures {
		a.addSignature(g)
	}
}

func (a *TaskAccumulator) addSignature(g SignatureSummary) {
	if cur, ok := a.Signatures[g.Signature]; ok {
		cur.add(g)
		a.Signatures[g.Signature] = cur
	} else {
		a.Signatures[g.Signature] = g
	}
}

// Merge folds another accumulator of the same task in.
func (a *TaskAccumulator) Merge(o *TaskAccumulator) {
	if o.Stats.Instances == 0 {
		return
	}
	a.Stats.DagID, a.Stats.TaskID = o.Stats.DagID, o.Stats.TaskID
	a.Stats.Instances += o.Stats.Instances
	a.Stats.Tries += o.Stats.Tries
	a.Stats.FlakyRuns += o.Stats.FlakyRuns
	a.Stats.FailedRuns += o.Stats.FailedRuns
	a.Stats.Retries += o.Stats.Retries
	a.Stats.FailedTries += o.Stats.FailedTries
	a.Stats.WastedMillis += o.Stats.WastedMillis
	a.Stats.NoDuration += o.Stats.NoDuration
	a.Stats.FirstSeenUnix = minNonZero(a.Stats.FirstSeenUnix, o.Stats.FirstSeenUnix)
	a.Stats.FirstEndUnix = minNonZero(a.Stats.FirstEndUnix, o.Stats.FirstEndUnix)
	a.Stats.LastSeenUnix = max(a.Stats.LastSeenUnix, o.Stats.LastSeenUnix)
	for _, g := range o.Signatures {
		a.addSignature(g)
	}
}

// Result returns the task's statistics with signatures most frequent first.
func (a *TaskAccumulator) Result() TaskStats {
	s := a.Stats
	s.Signatures = make([]SignatureSummary, 0, len(a.Signatures))
	for _, g := range a.Signatures {
		s.Signatures = append(s.Signatures, g)
	}
	sortSignatures(s.Signatures)
	return s
}

// Rank orders tasks by wasted time, then flaky runs, then retries, then
// name, and keeps those with at least minFlakyRuns flaky runs.
func Rank(all []TaskStats, minFlakyRuns int) []TaskStats {
	out := make([]TaskStats, 0, len(all))
	for _, s := range all {
		if s.FlakyRuns >= minFlakyRuns {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.WastedMillis != b.WastedMillis:
			return a.WastedMillis > b.WastedMillis
		case a.FlakyRuns != b.FlakyRuns:
			return a.FlakyRuns > b.FlakyRuns
		case a.Retries != b.Retries:
			return a.Retries > b.Retries
		case a.DagID != b.DagID:
			return a.DagID < b.DagID
		}
		return a.TaskID < b.TaskID
	})
	return out
}

// SortBadRows orders bad rows by where they were read.
func SortBadRows(rows []BadRow) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Source != rows[j].Source {
			return rows[i].Source < rows[j].Source
		}
		if rows[i].Line != rows[j].Line {
			return rows[i].Line < rows[j].Line
		}
		return rows[i].Reason < rows[j].Reason
	})
}

// Analyze computes every task's statistics in memory.
func Analyze(tries []TaskTry) ([]TaskStats, []BadRow) {
	instances := map[string][]TaskTry{}
	for _, t := range tries {
		k := InstanceKey(t)
		instances[k] = append(instances[k], t)
	}
	tasks := map[string]*TaskAccumulator{}
	var bad []BadRow
	for _, group := range instances {
		s, dup := SummarizeInstance(group)
		bad = append(bad, dup...)
		k := TaskKey(s.DagID, s.TaskID)
		acc, ok := tasks[k]
		if !ok {
			acc = NewTaskAccumulator()
			tasks[k] = acc
		}
		acc.Add(s)
	}
	out := make([]TaskStats, 0, len(tasks))
	for _, acc := range tasks {
		out = append(out, acc.Result())
	}
	return out, bad
}
