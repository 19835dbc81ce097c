package engine

import "sync"

// admission keeps at most max_series label sets per metric and window for
// every Processor of an Engine. Replay aggregates on every core, a
// Processor each, and max_series is what a user reads: per metric and
// window, not per core (with one set per Processor, the default 10,000
// let 20,000 series through on 2 cores).
type admission struct {
	mu       sync.Mutex
	admitted map[metricWindow]map[string]struct{}
	newest   []int64 // per metric: the newest window start seen
	lateness int64
}

func newAdmission(metrics int, lateness int64) *admission {
	return &admission{admitted: map[metricWindow]map[string]struct{}{}, newest: make([]int64, metrics), lateness: lateness}
}

// admit decides whether a label set may become a series of metric m in the
// window at start.
func (a *admission) admit(m *metric, start int64, labels []byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	mw := metricWindow{m.index, start}
	set := a.admitted[mw]
	if set == nil {
		set = map[string]struct{}{}
		a.admitted[mw] = set
		if start > a.newest[m.index] {
			a.newest[m.index] = start
			a.prune(m)
		}
	}
	if _, ok := set[string(labels)]; ok {
		return true
	}
	if len(set) >= m.maxSeries {
		return false
	}
	set[string(labels)] = struct{}{}
	return true
}

// prune forgets the admitted label sets of windows far behind the newest
// one, so memory follows live series, not the age of the job.
func (a *admission) prune(m *metric) {
	const keepWindows = 4
	limit := a.newest[m.index] - keepWindows*m.window - a.lateness
	for mw := range a.admitted {
		if mw.metric == m.index && mw.start < limit {
			delete(a.admitted, mw)
		}
	}
}
