// Package aggregate holds the partial aggregates of metric values: they are
// filled per event, merged across bundles and workers (they are the Beam
// combiner's accumulators), and turned into one value per window at the end.
package aggregate

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/axiomhq/hyperloglog"
)

// Type is a metric's aggregation.
type Type uint8

const (
	Count Type = iota + 1
	Sum
	Min
	Max
	Mean
	Distribution
	Distinct
	Latest
)

var typeNames = map[Type]string{
	Count: "count", Sum: "sum", Min: "min", Max: "max", Mean: "mean",
	Distribution: "distribution", Distinct: "distinct", Latest: "latest",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("Type(%d)", t)
}

// Types lists the type names in a stable order, for messages and docs.
func Types() []string {
	names := make([]string, 0, len(typeNames))
	for _, n := range typeNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseType reads a type name, case-insensitively. Unknown names are an
// error: the original tool exported zero for them.
func ParseType(s string) (Type, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	for t, n := range typeNames {
		if n == l {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown metric type %q (known: %s)", s, strings.Join(Types(), ", "))
}

// NeedsField reports whether the type reads a value field.
func (t Type) NeedsField() bool { return t != Count }

// Numeric reports whether the type's field must hold numbers.
func (t Type) Numeric() bool {
	switch t {
	case Sum, Min, Max, Mean, Distribution, Latest:
		return true
	}
	return false
}

// Acc is a partial aggregate of one series in one window. One struct serves
// every type so that the combiner and its coder stay simple; each type uses
// only its fields.
type Acc struct {
	// Count is the number of events (count) or of values (other types).
	Count      int64
	Sum        float64
	Min, Max   float64
	Latest     float64
	LatestTime int64   // event time of Latest, Unix nanoseconds
	Buckets    []int64 // distribution: len(bounds)+1, the last is overflow
	Sketch     *hyperloglog.Sketch
}

// AddCount counts one event.
func (a *Acc) AddCount() { a.Count++ }

// AddValue adds one numeric value observed at event time t (Unix nanos).
// bounds are the distribution's bucket bounds, nil for other types.
func (a *Acc) AddValue(v float64, t int64, bounds []float64) {
	if a.Count == 0 || v < a.Min {
		a.Min = v
	}
	if a.Count == 0 || v > a.Max {
		a.Max = v
	}
	if a.Count == 0 || t > a.LatestTime || (t == a.LatestTime && v > a.Latest) {
		a.Latest, a.LatestTime = v, t
	}
	a.Count++
	a.Sum += v
	if bounds != nil {
		if a.Buckets == nil {
			a.Buckets = make([]int64, len(bounds)+1)
		}
		a.Buckets[sort.SearchFloat64s(bounds, v)]++
	}
}

// AddDistinct adds one value, given as its label-formatted bytes, to the
// distinct-count sketch.
func (a *Acc) AddDistinct(b []byte) {
	if a.Sketch == nil {
		a.Sketch = newSketch()
	}
	a.Sketch.Insert(b)
	a.Count++
}

// newSketch makes a HyperLogLog sketch with 2^14 registers (about 0.8%
// standard error), sparse while small so that low-cardinality series stay
// cheap to ship between workers.
func newSketch() *hyperloglog.Sketch { return hyperloglog.New14() }

// Merge adds b into a. Both must be of the same metric.
func (a *Acc) Merge(b *Acc) {
	if b.Count == 0 && b.Sketch == nil {
		return
	}
	if a.Count == 0 {
		a.Min, a.Max = b.Min, b.Max
		a.Latest, a.LatestTime = b.Latest, b.LatestTime
	} else if b.Count > 0 {
		a.Min = math.Min(a.Min, b.Min)
		a.Max = math.Max(a.Max, b.Max)
		if b.LatestTime > a.LatestTime || (b.LatestTime == a.LatestTime && b.Latest > a.Latest) {
			a.Latest, a.LatestTime = b.Latest, b.LatestTime
		}
	}
	a.Count += b.Count
	a.Sum += b.Sum
	if b.Buckets != nil {
		if a.Buckets == nil {
			a.Buckets = make([]int64, len(b.Buckets))
		}
		for i, n := range b.Buckets {
			if i < len(a.Buckets) {
				a.Buckets[i] += n
			}
		}
	}
	if b.Sketch != nil {
		if a.Sketch == nil {
			a.Sketch = b.Sketch.Clone()
		} else {
			// Merge fails only on a precision mismatch, which one metric's
			// sketches never have.
			_ = a.Sketch.Merge(b.Sketch)
		}
	}
}

// Clone returns a deep copy.
func (a *Acc) Clone() *Acc {
	c := *a
	if a.Buckets != nil {
		c.Buckets = append([]int64(nil), a.Buckets...)
	}
	if a.Sketch != nil {
		c.Sketch = a.Sketch.Clone()
	}
	return &c
}

// Float returns the value of a non-count, non-distribution type.
func (a *Acc) Float(t Type) float64 {
	switch t {
	case Sum:
		return a.Sum
	case Min:
		return a.Min
	case Max:
		return a.Max
	case Mean:
		if a.Count == 0 {
			return 0
		}
		return a.Sum / float64(a.Count)
	case Latest:
		return a.Latest
	}
	return 0
}

// Int returns the value of count and distinct.
func (a *Acc) Int(t Type) int64 {
	if t == Distinct {
		if a.Sketch == nil {
			return 0
		}
		return int64(a.Sketch.Estimate())
	}
	return a.Count
}
