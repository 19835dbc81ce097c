package planner

import (
	"errors"
	"math/rand"
	"testing"
)

// bruteForce tries every allowed placement.
func bruteForce(p *Problem) (Cost, bool) {
	n := len(p.Items)
	anchors := make([]int, n)
	var best Cost
	found := false
	var rec func(i int)
	rec = func(i int) {
		if i == n {
			if p.Feasible(anchors) != nil {
				return
			}
			if c := p.Evaluate(anchors); !found || c.Less(best) {
				best, found = c, true
			}
			return
		}
		for _, a := range p.Items[i].Candidates {
			anchors[i] = a
			rec(i + 1)
		}
	}
	rec(0)
	return best, found
}

func randomProblem(r *rand.Rand, nItems int) *Problem {
	h := 24 + r.Intn(48)
	p := &Problem{Horizon: h, Cap: int64(40 + r.Intn(60)), Background: make([]int64, h)}
	for t := range p.Background {
		p.Background[t] = int64(r.Intn(20))
	}
	for i := 0; i < nItems; i++ {
		it := Item{Name: string(rune('a' + i)), Period: h}
		for k := 3 + r.Intn(10); k > 0; k-- {
			it.Pattern = append(it.Pattern, int64(r.Intn(50)))
		}
		it.Duration = len(it.Pattern)
		start := r.Intn(h)
		ncand := 1 + r.Intn(6)
		if r.Intn(6) == 0 {
			ncand = 1 // fixed
		}
		step := 1 + r.Intn(3)
		for c := 0; c < ncand; c++ {
			it.Candidates = append(it.Candidates, start+c*step) // may pass the horizon: wraps
		}
		it.Current = it.Candidates[r.Intn(ncand)]
		if i > 0 && r.Intn(4) == 0 {
			it.After = []int{r.Intn(i)}
		}
		p.Items = append(p.Items, it)
	}
	return p
}

func TestSolveMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	exact, tried := 0, 0
	for n := 1; n <= 6; n++ {
		for k := 0; k < 40; k++ {
			p := randomProblem(r, n)
			want, ok := bruteForce(p)
			sol, err := Solve(p, DefaultOptions)
			if !ok {
				if !errors.Is(err, ErrInfeasible) {
					t.Fatalf("n=%d #%d: brute force finds no placement, Solve says %v", n, k, err)
				}
				continue
			}
			tried++
			if err != nil {
				t.Fatalf("n=%d #%d: %v", n, k, err)
			}
			if err := p.Feasible(sol.Anchors); err != nil {
				t.Fatalf("n=%d #%d: infeasible answer: %v", n, k, err)
			}
			if got := p.Evaluate(sol.Anchors); got != sol.Cost {
				t.Fatalf("n=%d #%d: reported cost %+v, real %+v", n, k, sol.Cost, got)
			}
			if !sol.Optimal {
				t.Fatalf("n=%d #%d: not proven optimal", n, k)
			}
			if sol.Cost != want {
				t.Fatalf("n=%d #%d: cost %+v, brute force %+v", n, k, sol.Cost, want)
			}
			exact++
		}
	}
	if tried < 150 {
		t.Fatalf("only %d feasible random problems; the generator is too tight", tried)
	}
}

// TestLocalSearchNeverBeatsBruteForce checks the local search alone: it must
// stay feasible and can only be as good as the optimum.
func TestLocalSearchNeverBeatsBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	worse := 0
	for k := 0; k < 100; k++ {
		p := randomProblem(r, 5)
		want, ok := bruteForce(p)
		if !ok {
			continue
		}
		sol, err := localSearch(p, 50)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Feasible(sol.Anchors); err != nil {
			t.Fatal(err)
		}
		if sol.Cost.Less(want) {
			t.Fatalf("#%d: local search %+v beats brute force %+v", k, sol.Cost, want)
		}
		if want.Less(sol.Cost) {
			worse++
		}
	}
	t.Logf("local search alone missed the optimum on %d of the feasible problems", worse)
}

// TestSpreadsIdenticalDAGs: ten DAGs of 100 slots for an hour, all at 02:00,
// under a cap of 100. The known optimum spreads them: nothing over the cap,
// peak 100.
func TestSpreadsIdenticalDAGs(t *testing.T) {
	p := &Problem{Horizon: 1440, Cap: 100, Background: make([]int64, 1440)}
	for i := 0; i < 10; i++ {
		it := Item{Name: "d", Period: 1440, Current: 120, Duration: 60}
		for k := 0; k < 60; k++ {
			it.Pattern = append(it.Pattern, 100)
		}
		for a := 0; a < 1440; a++ {
			it.Candidates = append(it.Candidates, a)
		}
		p.Items = append(p.Items, it)
	}
	before := p.Evaluate(currentAnchors(p))
	if before.Over != 9*100*60 || before.Peak != 1000 {
		t.Fatalf("before = %+v", before)
	}
	sol, err := Solve(p, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	if sol.Cost.Over != 0 || sol.Cost.Peak != 100 {
		t.Fatalf("after = %+v, want nothing over the cap and peak 100", sol.Cost)
	}
	// Exactly one of them may stay; the rest each move at least an hour's
	// worth in total: the least total move is 60+60+120+120+...+300.
	if sol.Cost.Moved < 2*(60+120+180+240)+300 {
		t.Errorf("moved %d minutes, below the least possible", sol.Cost.Moved)
	}
}

func currentAnchors(p *Problem) []int {
	a := make([]int, len(p.Items))
	for i, it := range p.Items {
		a[i] = it.Current
	}
	return a
}

func TestDependenciesAndWindows(t *testing.T) {
	// b must start after a ends; both want 00:00 where the background is
	// heavy; a may only start within 00:00–00:30.
	p := &Problem{Horizon: 120, Cap: 50, Background: make([]int64, 120)}
	for t := 0; t < 40; t++ {
		p.Background[t] = 40
	}
	mk := func(name string, cands []int, after []int) Item {
		it := Item{Name: name, Period: 120, Current: 0, Duration: 10, After: after}
		for k := 0; k < 10; k++ {
			it.Pattern = append(it.Pattern, 20)
		}
		it.Candidates = cands
		return it
	}
	var win, all []int
	for a := 0; a <= 30; a++ {
		win = append(win, a)
	}
	for a := 0; a < 120; a++ {
		all = append(all, a)
	}
	p.Items = []Item{mk("a", win, nil), mk("b", all, []int{0})}
	sol, err := Solve(p, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	a, b := sol.Anchors[0], sol.Anchors[1]
	if a < 0 || a > 30 || b < a+10 {
		t.Fatalf("anchors %v break the window or the dependency", sol.Anchors)
	}
	// a can at best start at 30 (10 min over by 10 each = 100), b after 40.
	if sol.Cost.Over != 100 || !sol.Optimal {
		t.Fatalf("cost %+v, want over 100, optimal", sol.Cost)
	}
	if want, _ := bruteForce(p); sol.Cost != want {
		t.Fatalf("cost %+v, brute force %+v", sol.Cost, want)
	}
}

func TestInfeasible(t *testing.T) {
	p := &Problem{Horizon: 60, Cap: 10, Background: make([]int64, 60), Items: []Item{
		{Name: "a", Pattern: []int64{1}, Candidates: []int{30}, Current: 30, Period: 60, Duration: 20},
		{Name: "b", Pattern: []int64{1}, Candidates: []int{10, 40}, Current: 10, Period: 60, Duration: 5, After: []int{0}},
	}}
	if _, err := Solve(p, DefaultOptions); !errors.Is(err, ErrInfeasible) {
		t.Fatalf("err = %v, want ErrInfeasible", err)
	}
	p.Items[0].After = []int{1} // and now a cycle
	if _, err := Solve(p, DefaultOptions); err == nil {
		t.Fatal("cycle accepted")
	}
}
