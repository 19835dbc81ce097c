package planner

import (
	"math/rand"
	"testing"
)

// dayProblem is 500 DAGs over a day at one-minute resolution, each free to
// start at any minute, clustered at the usual busy hours so that the total
// goes well over the cap.
func dayProblem(seed int64, n int) *Problem {
	r := rand.New(rand.NewSource(seed))
	p := &Problem{Horizon: 1440, Cap: 5000 * 1000, Background: make([]int64, 1440)}
	for t := range p.Background {
		p.Background[t] = int64(200+r.Intn(100)) * 1000
	}
	all := make([]int, 1440)
	for a := range all {
		all[a] = a
	}
	busy := []int{0, 60, 120, 180, 360}
	for i := 0; i < n; i++ {
		it := Item{Name: "dag", Period: 1440, Candidates: all}
		length := 10 + r.Intn(110)
		level := int64(20+r.Intn(300)) * 1000
		for k := 0; k < length; k++ {
			it.Pattern = append(it.Pattern, level+int64(r.Intn(40))*1000)
		}
		it.Duration = length
		it.Current = busy[r.Intn(len(busy))] + r.Intn(5)
		p.Items = append(p.Items, it)
	}
	return p
}

func BenchmarkSolve500DAGsDay(b *testing.B) {
	p := dayProblem(1, 500)
	before := p.Evaluate(currentAnchors(p))
	var sol Solution
	for b.Loop() {
		var err error
		if sol, err = Solve(p, DefaultOptions); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(before.Over)/1000, "over-before-slotmin")
	b.ReportMetric(float64(sol.Cost.Over)/1000, "over-after-slotmin")
	b.ReportMetric(float64(sol.Cost.Peak)/1000, "peak-after-slots")
}
