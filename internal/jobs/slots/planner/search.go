package planner

import (
	"fmt"
	"math"
	"sort"
)

// graph holds what the searches need about dependencies.
type graph struct {
	order  []int   // dependencies first; heavier items first among ready ones
	succ   [][]int // items that depend on i
	latest []int   // latest anchor of i that still leaves its successors room
	weight []int64 // Σ pattern
}

func newGraph(p *Problem) (*graph, error) {
	n := len(p.Items)
	g := &graph{succ: make([][]int, n), latest: make([]int, n), weight: make([]int64, n)}
	indeg := make([]int, n)
	for i, it := range p.Items {
		for _, v := range it.Pattern {
			g.weight[i] += v
		}
		for _, j := range it.After {
			g.succ[j] = append(g.succ[j], i)
			indeg[i]++
		}
	}
	// Kahn's algorithm, picking the heaviest ready item: greedy placement
	// then packs big loads first.
	var ready []int
	for i := range indeg {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		sort.Slice(ready, func(a, b int) bool {
			if g.weight[ready[a]] != g.weight[ready[b]] {
				return g.weight[ready[a]] > g.weight[ready[b]]
			}
			return ready[a] < ready[b]
		})
		i := ready[0]
		ready = ready[1:]
		g.order = append(g.order, i)
		for _, s := range g.succ[i] {
			if indeg[s]--; indeg[s] == 0 {
				ready = append(ready, s)
			}
		}
	}
	if len(g.order) != n {
		return nil, fmt.Errorf("planner: dependency cycle")
	}
	// Latest starts, successors first.
	for k := n - 1; k >= 0; k-- {
		i := g.order[k]
		limit := int(^uint(0) >> 1)
		for _, s := range g.succ[i] {
			if l := g.latest[s] - p.Items[i].Duration; l < limit {
				limit = l
			}
		}
		c := p.Items[i].Candidates
		at := len(c) - 1
		if len(g.succ[i]) > 0 {
			at = sort.SearchInts(c, limit+1) - 1
		}
		if at < 0 {
			return nil, fmt.Errorf("planner: %s cannot start early enough for the DAGs that wait for it: %w", p.Items[i].Name, ErrInfeasible)
		}
		g.latest[i] = c[at]
	}
	return g, nil
}

// earliest is the first anchor of i after all of its placed predecessors.
func (p *Problem) earliest(i int, anchors []int, placed []bool) int {
	lo := -int(^uint(0) >> 1)
	for _, j := range p.Items[i].After {
		if placed == nil || placed[j] {
			if e := anchors[j] + p.Items[j].Duration; e > lo {
				lo = e
			}
		}
	}
	return lo
}

// window returns the candidates of i within [lo, hi].
func (p *Problem) window(i, lo, hi int) []int {
	c := p.Items[i].Candidates
	a := sort.SearchInts(c, lo)
	b := len(c)
	if hi < int(^uint(0)>>1) {
		b = sort.SearchInts(c, hi+1)
	}
	if a >= b {
		return nil
	}
	return c[a:b]
}

// delta is what placing item i at anchor adds to the load-time over the
// cap, and the highest load it makes on its footprint.
func (p *Problem) delta(load []int64, i, anchor int) (over, peak int64) {
	over, peak, _ = p.deltaWithin(load, i, anchor, math.MaxInt64, math.MaxInt64)
	return over, peak
}

// footprintMax is the highest load in the minutes item i covers at anchor.
func (p *Problem) footprintMax(load []int64, i, anchor int) int64 {
	h := p.Horizon
	pos := ((anchor % h) + h) % h
	var m int64
	for range p.Items[i].Pattern {
		m = max(m, load[pos])
		if pos++; pos == h {
			pos = 0
		}
	}
	return m
}

// best returns the anchor among cands that makes the total cost lowest when
// item i joins load whose own cost is base; ties keep prefer (when it is a
// candidate), else the earliest.
func (p *Problem) best(load []int64, i int, cands []int, base Cost, prefer int) (int, Cost) {
	bestA, bestC := -1, Cost{}
	try := func(a int) {
		if bestA < 0 {
			dOver, pk := p.delta(load, i, a)
			bestA, bestC = a, Cost{Over: base.Over + dOver, Peak: max(base.Peak, pk), Moved: base.Moved + p.moved(i, a)}
			return
		}
		dOver, pk, ok := p.deltaWithin(load, i, a, bestC.Over-base.Over, bestC.Peak)
		if !ok {
			return
		}
		if c := (Cost{Over: base.Over + dOver, Peak: max(base.Peak, pk), Moved: base.Moved + p.moved(i, a)}); c.Less(bestC) {
			bestA, bestC = a, c
		}
	}
	// The preferred anchor first: it usually gives a tight bound that
	// lets the others stop early.
	k := sort.SearchInts(cands, prefer)
	if k < len(cands) && cands[k] == prefer {
		try(prefer)
	}
	for _, a := range cands {
		if a != prefer {
			try(a)
		}
	}
	return bestA, bestC
}

// deltaWithin is delta that gives up (ok false) as soon as the placement
// is sure to be worse than adding overLimit over the cap with a peak of
// peakLimit.
func (p *Problem) deltaWithin(load []int64, i, anchor int, overLimit, peakLimit int64) (over, peak int64, ok bool) {
	h, cap := p.Horizon, p.Cap
	pos := ((anchor % h) + h) % h
	for _, v := range p.Items[i].Pattern {
		x := load[pos]
		y := x + v
		if y > cap {
			if x > cap {
				over += v
			} else {
				over += y - cap
			}
			if over > overLimit {
				return 0, 0, false
			}
		}
		if y > peak {
			peak = y
			if peak > peakLimit && over >= overLimit {
				return 0, 0, false
			}
		}
		if pos++; pos == h {
			pos = 0
		}
	}
	if over == overLimit && peak > peakLimit {
		return 0, 0, false
	}
	return over, peak, true
}

// localSearch starts from the current placement (made feasible) and from a
// greedy packing, improves each by moving one item at a time to its best
// place, and returns the better.
func localSearch(p *Problem, maxSweeps int) (Solution, error) {
	g, err := newGraph(p)
	if err != nil {
		return Solution{}, err
	}
	var out Solution
	for k, start := range [][]int{keepCurrent(p, g), greedyPack(p, g)} {
		anchors, cost := improve(p, g, start, maxSweeps)
		if k == 0 || cost.Less(out.Cost) {
			out = Solution{Anchors: anchors, Cost: cost, Method: "local search"}
		}
	}
	if err := p.Feasible(out.Anchors); err != nil {
		return Solution{}, fmt.Errorf("planner: internal error: local search broke a constraint: %w", err)
	}
	return out, nil
}

// keepCurrent keeps each item where it is when allowed, else moves it to
// the nearest allowed anchor.
func keepCurrent(p *Problem, g *graph) []int {
	anchors := make([]int, len(p.Items))
	for _, i := range g.order {
		cands := p.window(i, p.earliest(i, anchors, nil), g.latest[i])
		best := cands[0]
		for _, a := range cands {
			if a == p.Items[i].Current {
				best = a
				break
			}
			if p.moved(i, a) < p.moved(i, best) {
				best = a
			}
		}
		anchors[i] = best
	}
	return anchors
}

// greedyPack places items one by one, heaviest first, each where it adds
// the least cost to those already placed.
func greedyPack(p *Problem, g *graph) []int {
	anchors := make([]int, len(p.Items))
	load := append([]int64(nil), p.Background...)
	base := loadCost(load, p.Cap)
	for _, i := range g.order {
		cands := p.window(i, p.earliest(i, anchors, nil), g.latest[i])
		a, c := p.best(load, i, cands, base, p.Items[i].Current)
		anchors[i] = a
		p.add(load, i, a, 1)
		base = c
	}
	return anchors
}

// improve moves one item at a time to its best allowed anchor (given all
// the others) until a full sweep changes nothing.
func improve(p *Problem, g *graph, anchors []int, maxSweeps int) ([]int, Cost) {
	anchors = append([]int(nil), anchors...)
	load := p.Load(anchors)
	cost := p.Evaluate(anchors)
	for sweep := 0; sweep < maxSweeps; sweep++ {
		changed := false
		for _, i := range g.order {
			it := &p.Items[i]
			if len(it.Candidates) == 1 {
				continue
			}
			moved := p.moved(i, anchors[i])
			if moved == 0 {
				// An item that adds nothing over the cap and is not at the
				// peak cannot lower the cost by moving.
				if fp := p.footprintMax(load, i, anchors[i]); fp <= p.Cap && fp < cost.Peak {
					continue
				}
			}
			lo := p.earliest(i, anchors, nil)
			hi := int(^uint(0) >> 1)
			for _, s := range g.succ[i] {
				hi = min(hi, anchors[s]-it.Duration)
			}
			p.add(load, i, anchors[i], -1)
			base := loadCost(load, p.Cap)
			base.Moved = cost.Moved - moved
			a, c := p.best(load, i, p.window(i, lo, hi), base, anchors[i])
			p.add(load, i, a, 1)
			if a != anchors[i] && c.Less(cost) {
				anchors[i], cost, changed = a, c, true
			}
		}
		if !changed {
			break
		}
	}
	return anchors, p.Evaluate(anchors)
}

// branchAndBound searches every placement, pruning with a lower bound, and
// starting from seed's cost. It gives up (false) after about work load
// updates.
func branchAndBound(p *Problem, seed Solution, work int) (Solution, bool) {
	g, err := newGraph(p)
	if err != nil {
		return seed, false
	}
	n := len(p.Items)
	s := &exactSearch{
		p: p, g: g, work: work,
		best:    Solution{Anchors: append([]int(nil), seed.Anchors...), Cost: seed.Cost},
		load:    append([]int64(nil), p.Background...),
		anchors: make([]int, n),
		placed:  make([]bool, n),
	}
	if !s.place(0, 0) {
		return seed, false
	}
	s.best.Optimal, s.best.Method = true, "exact"
	return s.best, true
}

// exactSearch is the state of one branch-and-bound run: the items placed
// so far (in g.order) and their load.
type exactSearch struct {
	p       *Problem
	g       *graph
	best    Solution
	load    []int64
	anchors []int
	placed  []bool
	// done counts the load updates made; past work the search gives up.
	done, work int
}

// place tries each anchor of the k-th item in dependency order, the items
// before it being placed and moved by moved minutes in all, and goes on
// with the next; false means the work ran out.
func (s *exactSearch) place(k int, moved int64) bool {
	base := loadCost(s.load, s.p.Cap)
	base.Moved = moved
	if k == len(s.p.Items) {
		if base.Less(s.best.Cost) {
			s.best = Solution{Anchors: append([]int(nil), s.anchors...), Cost: base}
		}
		return true
	}
	lb, leastOver := s.overBound(k, base)
	if lb.Over > s.best.Cost.Over || lb.Over == s.best.Cost.Over && lb.Peak > s.best.Cost.Peak {
		return true
	}
	leastMoved, ok := s.movedBound(k, lb.Over == s.best.Cost.Over, leastOver)
	if lb.Moved += leastMoved; !ok || !lb.Less(s.best.Cost) {
		return true
	}
	if s.done > s.work {
		return false
	}
	i := s.g.order[k]
	for _, c := range s.candidates(i, base) {
		if !c.cost.Less(s.best.Cost) {
			break // sorted: no later anchor starts better
		}
		s.anchors[i], s.placed[i] = c.anchor, true
		s.p.add(s.load, i, c.anchor, 1)
		ok := s.place(k+1, c.cost.Moved)
		s.p.add(s.load, i, c.anchor, -1)
		s.placed[i] = false
		if !ok {
			return false
		}
	}
	return true
}

// overBound bounds the over-cap load and the peak of any completion of the
// placement from the k-th item on: load over the cap only grows as items
// join, and (the cap cost being convex) by at least the sum of what each
// would add alone; the peak is at least what any one item makes.
// leastOver holds what each of those items adds at the least.
func (s *exactSearch) overBound(k int, base Cost) (lb Cost, leastOver []int64) {
	lb = base
	leastOver = make([]int64, 0, len(s.p.Items)-k)
	for _, j := range s.g.order[k:] {
		minOver, minPeak := int64(-1), int64(-1)
		for _, a := range s.p.Items[j].Candidates {
			o, pk := s.p.delta(s.load, j, a)
			s.done += len(s.p.Items[j].Pattern)
			if minOver < 0 || o < minOver {
				minOver = o
			}
			if minPeak < 0 || pk < minPeak {
				minPeak = pk
			}
		}
		leastOver = append(leastOver, minOver)
		lb.Over += minOver
		lb.Peak = max(lb.Peak, minPeak)
	}
	return lb, leastOver
}

// movedBound is the least the items from the k-th on must move in all.
// When the over-cap bound is already tight, every such item must add
// exactly its least over-cap load (the sum of their separate additions is
// a lower bound of their joint one) and stay under the best peak: only such
// anchors count. ok is false when an item has no such anchor.
func (s *exactSearch) movedBound(k int, tight bool, leastOver []int64) (moved int64, ok bool) {
	for b, j := range s.g.order[k:] {
		minMoved := int64(-1)
		for _, a := range s.p.Items[j].Candidates {
			m := s.p.moved(j, a)
			if minMoved >= 0 && m >= minMoved {
				continue
			}
			if tight {
				o, pk := s.p.delta(s.load, j, a)
				s.done += len(s.p.Items[j].Pattern)
				if o != leastOver[b] || pk > s.best.Cost.Peak {
					continue
				}
			}
			minMoved = m
		}
		if minMoved < 0 {
			return 0, false // no anchor can keep up with the best
		}
		moved += minMoved
	}
	return moved, true
}

// placing is an anchor for an item and the cost the placement has with it.
type placing struct {
	anchor int
	cost   Cost
}

// candidates lists item i's anchors that its placed dependencies allow,
// cheapest first, each with the cost it gives on top of base.
func (s *exactSearch) candidates(i int, base Cost) []placing {
	var cs []placing
	for _, a := range s.p.window(i, s.p.earliest(i, s.anchors, s.placed), s.g.latest[i]) {
		o, pk := s.p.delta(s.load, i, a)
		cs = append(cs, placing{a, Cost{Over: base.Over + o, Peak: max(base.Peak, pk), Moved: base.Moved + s.p.moved(i, a)}})
	}
	sort.SliceStable(cs, func(x, y int) bool { return cs[x].cost.Less(cs[y].cost) })
	return cs
}
