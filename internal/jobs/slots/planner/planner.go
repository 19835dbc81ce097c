// Package planner places recurring jobs (DAGs) on a cyclic day so that
// their summed load goes over a cap as little as possible.
//
// The objective is lexicographic: first the load-time above the cap, then
// the peak load, then the total distance the jobs were moved from where they
// are now (so that nothing moves without a reason). Small problems are
// solved exactly by branch and bound; large ones by a local search.
package planner

import (
	"errors"
	"fmt"
	"sort"
)

// Item is one DAG to place.
type Item struct {
	Name string
	// Pattern is its load at anchor+k (modulo the horizon), for k from 0:
	// all of its runs in a day, laid out relative to its first run.
	Pattern []int64
	// Candidates are the allowed anchors in ascending order. Anchors are
	// minutes on an unrolled line (they may be ≥ Horizon for windows past
	// midnight); load wraps around the horizon.
	Candidates []int
	// Current is where the item is now.
	Current int
	// Period is the cycle of its anchor (1440 for daily, 60 for hourly),
	// for measuring how far it moved.
	Period int
	// Duration is the minutes from its anchor to its end, for dependencies.
	Duration int
	// After lists items that must end before this one starts:
	// anchor ≥ anchor(j) + Duration(j).
	After []int
}

// Problem is a set of items over a cyclic horizon.
type Problem struct {
	Horizon    int
	Cap        int64
	Background []int64 // load no item accounts for; len Horizon
	Items      []Item
}

// Cost is the objective, compared lexicographically.
type Cost struct {
	Over  int64 // Σ over minutes of max(0, load−cap)
	Peak  int64 // max load
	Moved int64 // Σ over items of the cyclic distance moved
}

// Less reports whether c is better than d.
func (c Cost) Less(d Cost) bool {
	if c.Over != d.Over {
		return c.Over < d.Over
	}
	if c.Peak != d.Peak {
		return c.Peak < d.Peak
	}
	return c.Moved < d.Moved
}

// Solution is a placement of every item.
type Solution struct {
	Anchors []int
	Cost    Cost
	// Optimal is true when the search proved no better placement exists.
	Optimal bool
	Method  string // "exact" or "local search"
}

// ErrInfeasible is returned when no placement meets the constraints.
var ErrInfeasible = errors.New("no placement satisfies the constraints")

// Validate checks that p is well formed.
func (p *Problem) Validate() error {
	if p.Horizon <= 0 || len(p.Background) != p.Horizon {
		return fmt.Errorf("planner: horizon %d with %d background values", p.Horizon, len(p.Background))
	}
	for i, it := range p.Items {
		if len(it.Candidates) == 0 {
			return fmt.Errorf("planner: %s has no allowed start: %w", it.Name, ErrInfeasible)
		}
		if !sort.IntsAreSorted(it.Candidates) {
			return fmt.Errorf("planner: %s: candidates not sorted", it.Name)
		}
		if it.Period <= 0 {
			return fmt.Errorf("planner: %s: period %d", it.Name, it.Period)
		}
		for _, j := range it.After {
			if j < 0 || j >= len(p.Items) || j == i {
				return fmt.Errorf("planner: %s: bad dependency %d", it.Name, j)
			}
		}
	}
	if _, err := p.topoOrder(); err != nil {
		return err
	}
	return nil
}

// topoOrder orders items so that each comes after those it depends on.
func (p *Problem) topoOrder() ([]int, error) {
	state := make([]int8, len(p.Items)) // 0 new, 1 visiting, 2 done
	var order []int
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("planner: dependency cycle through %s", p.Items[i].Name)
		case 2:
			return nil
		}
		state[i] = 1
		for _, j := range p.Items[i].After {
			if err := visit(j); err != nil {
				return err
			}
		}
		state[i] = 2
		order = append(order, i)
		return nil
	}
	for i := range p.Items {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func (p *Problem) moved(i, anchor int) int64 {
	it := &p.Items[i]
	d := (anchor - it.Current) % it.Period
	if d < 0 {
		d += it.Period
	}
	if it.Period-d < d {
		d = it.Period - d
	}
	return int64(d)
}

// add puts item i at anchor into load (sign +1) or takes it out (−1).
func (p *Problem) add(load []int64, i, anchor int, sign int64) {
	h := p.Horizon
	pos := ((anchor % h) + h) % h
	for _, v := range p.Items[i].Pattern {
		load[pos] += sign * v
		if pos++; pos == h {
			pos = 0
		}
	}
}

// Load returns the total load of a placement.
func (p *Problem) Load(anchors []int) []int64 {
	load := append([]int64(nil), p.Background...)
	for i, a := range anchors {
		p.add(load, i, a, 1)
	}
	return load
}

// Evaluate returns the cost of a placement.
func (p *Problem) Evaluate(anchors []int) Cost {
	c := loadCost(p.Load(anchors), p.Cap)
	for i, a := range anchors {
		c.Moved += p.moved(i, a)
	}
	return c
}

func loadCost(load []int64, cap int64) Cost {
	var c Cost
	for _, v := range load {
		if v > cap {
			c.Over += v - cap
		}
		if v > c.Peak {
			c.Peak = v
		}
	}
	return c
}

// Feasible reports whether anchors meet every item's candidates and
// dependencies.
func (p *Problem) Feasible(anchors []int) error {
	for i, it := range p.Items {
		k := sort.SearchInts(it.Candidates, anchors[i])
		if k == len(it.Candidates) || it.Candidates[k] != anchors[i] {
			return fmt.Errorf("%s at %d is outside its allowed starts", it.Name, anchors[i])
		}
		for _, j := range it.After {
			if anchors[i] < anchors[j]+p.Items[j].Duration {
				return fmt.Errorf("%s at %d starts before %s (at %d, %d min) ends", it.Name, anchors[i], p.Items[j].Name, anchors[j], p.Items[j].Duration)
			}
		}
	}
	return nil
}

// Options tune Solve.
type Options struct {
	// ExactWork bounds the branch and bound, in load-minute evaluations
	// (about 1e8 a second); past it the local search's answer is returned
	// with Optimal false.
	ExactWork int
	// ExactMaxItems: problems with more movable items go straight to the
	// local search.
	ExactMaxItems int
	// MaxSweeps bounds the local search's passes over all items.
	MaxSweeps int
}

// DefaultOptions are the limits the slots command uses.
var DefaultOptions = Options{ExactWork: 300_000_000, ExactMaxItems: 8, MaxSweeps: 50}

// Solve finds a placement: by local search, then, for small problems, by
// branch and bound seeded with it.
func Solve(p *Problem, opt Options) (Solution, error) {
	if err := p.Validate(); err != nil {
		return Solution{}, err
	}
	sol, err := localSearch(p, opt.MaxSweeps)
	if err != nil {
		return Solution{}, err
	}
	movable := 0
	for _, it := range p.Items {
		if len(it.Candidates) > 1 {
			movable++
		}
	}
	if movable <= opt.ExactMaxItems {
		if ex, done := branchAndBound(p, sol, opt.ExactWork); done {
			return ex, nil
		}
	}
	return sol, nil
}
