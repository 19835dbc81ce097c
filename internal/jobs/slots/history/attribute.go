package history

import (
	"sort"
	"time"
)

// How a slot usage was tied to a DAG.
const (
	ByLabel   = "label"   // the job's airflow-dag label (or query comment)
	ByOverlap = "overlap" // no label; exactly one DAG had a run open then (lower confidence)
	Ambiguous = "ambiguous"
	None      = "none" // no label and no DAG run open
)

// Attribution says which DAG (and run) a slot usage belongs to.
type Attribution struct {
	// DAG is the DAG id as in the run history, or the label itself when no
	// run history has that DAG; empty for Ambiguous and None.
	DAG string
	// Run is the index (into the indexed runs) of the run open at that
	// time, or -1 (no run history for the DAG, or the usage fell outside all
	// of its runs).
	Run    int
	Method string
}

// RunIndex finds the DAG run a usage belongs to.
type RunIndex struct {
	runs    []DagRun
	byLabel map[string]dagRuns
	// Elementary time segments [segStart[i], segStart[i+1]) with how many
	// distinct DAGs had a run open and, when exactly one, which run.
	segStart []int64
	segDAGs  []int32
	segRun   []int32
}

type dagRuns struct {
	id     string
	idx    []int // into runs, by start time
	maxDur int64 // ms
}

// NewRunIndex indexes runs for attribution.
func NewRunIndex(runs []DagRun) *RunIndex {
	ix := &RunIndex{runs: runs, byLabel: map[string]dagRuns{}}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return runs[order[a]].Start.Before(runs[order[b]].Start) })
	for _, i := range order {
		r := runs[i]
		k := NormalizeLabel(r.DagID)
		d := ix.byLabel[k]
		d.id = r.DagID
		d.idx = append(d.idx, i)
		if dur := r.End.UnixMilli() - r.Start.UnixMilli(); dur > d.maxDur {
			d.maxDur = dur
		}
		ix.byLabel[k] = d
	}
	ix.buildSegments()
	return ix
}

func (ix *RunIndex) buildSegments() {
	type event struct {
		at   int64
		run  int
		open bool
	}
	var ev []event
	for i, r := range ix.runs {
		if !r.End.After(r.Start) {
			continue
		}
		ev = append(ev, event{r.Start.UnixMilli(), i, true}, event{r.End.UnixMilli(), i, false})
	}
	sort.Slice(ev, func(a, b int) bool { return ev[a].at < ev[b].at })
	active := map[int]bool{}
	for k := 0; k < len(ev); {
		at := ev[k].at
		for ; k < len(ev) && ev[k].at == at; k++ {
			if ev[k].open {
				active[ev[k].run] = true
			} else {
				delete(active, ev[k].run)
			}
		}
		dags, one := int32(0), int32(-1)
		var firstDAG string
		for i := range active {
			id := ix.runs[i].DagID
			switch {
			case dags == 0:
				dags, firstDAG, one = 1, id, int32(i)
			case id != firstDAG:
				dags = 2
			case ix.runs[i].Start.After(ix.runs[one].Start) || ix.runs[i].Start.Equal(ix.runs[one].Start) && i > int(one):
				one = int32(i) // the latest-started run of the one DAG
			}
			if dags > 1 {
				break
			}
		}
		ix.segStart = append(ix.segStart, at)
		ix.segDAGs = append(ix.segDAGs, dags)
		ix.segRun = append(ix.segRun, one)
	}
}

// Attribute ties a usage to a DAG: by label when it has one, otherwise by the
// single DAG whose run was open at that time.
func (ix *RunIndex) Attribute(u Usage) Attribution {
	t := u.At.UnixMilli()
	if u.DAGLabel != "" {
		d, ok := ix.byLabel[NormalizeLabel(u.DAGLabel)]
		if !ok {
			return Attribution{DAG: u.DAGLabel, Run: -1, Method: ByLabel}
		}
		return Attribution{DAG: d.id, Run: ix.openRun(d, t), Method: ByLabel}
	}
	i := sort.Search(len(ix.segStart), func(i int) bool { return ix.segStart[i] > t }) - 1
	if i < 0 || ix.segDAGs[i] == 0 {
		return Attribution{Run: -1, Method: None}
	}
	if ix.segDAGs[i] > 1 {
		return Attribution{Run: -1, Method: Ambiguous}
	}
	r := int(ix.segRun[i])
	return Attribution{DAG: ix.runs[r].DagID, Run: r, Method: ByOverlap}
}

// openRun returns the latest-started run of d open at t, or -1.
func (ix *RunIndex) openRun(d dagRuns, t int64) int {
	j := sort.Search(len(d.idx), func(j int) bool { return ix.runs[d.idx[j]].Start.UnixMilli() > t }) - 1
	for ; j >= 0; j-- {
		r := &ix.runs[d.idx[j]]
		if r.Start.UnixMilli() < t-d.maxDur {
			break
		}
		if t < r.End.UnixMilli() {
			return d.idx[j]
		}
	}
	return -1
}

// Runs returns the indexed runs.
func (ix *RunIndex) Runs() []DagRun { return ix.runs }

// OffsetMinute is the whole minutes from the run's start to at.
func OffsetMinute(r *DagRun, at time.Time) int {
	return int(floorDiv(at.UnixMilli()-r.Start.UnixMilli(), 60000))
}
