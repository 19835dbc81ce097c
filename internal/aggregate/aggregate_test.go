package aggregate_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/aggregate"
)

func TestParseType(t *testing.T) {
	for in, want := range map[string]aggregate.Type{
		"count": aggregate.Count, "COUNT": aggregate.Count, " Sum ": aggregate.Sum, "min": aggregate.Min,
		"MAX": aggregate.Max, "mean": aggregate.Mean, "Distribution": aggregate.Distribution,
		"distinct": aggregate.Distinct, "latest": aggregate.Latest,
	} {
		got, err := aggregate.ParseType(in)
		if err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", in, got, err, want)
		}
		if strings.TrimSpace(strings.ToLower(in)) != got.String() {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	for _, in := range []string{"", "counter", "avg", "histogram", "p99"} {
		_, err := aggregate.ParseType(in)
		if err == nil || !strings.Contains(err.Error(), "unknown metric type") || !strings.Contains(err.Error(), "distribution") {
			t.Errorf("ParseType(%q) = %v, want an error listing the types", in, err)
		}
	}
	if got := aggregate.Types(); !reflect.DeepEqual(got, []string{"count", "distinct", "distribution", "latest", "max", "mean", "min", "sum"}) {
		t.Errorf("Types() = %v", got)
	}
	if aggregate.Count.NeedsField() || !aggregate.Sum.NeedsField() || !aggregate.Distinct.NeedsField() {
		t.Error("NeedsField: only count reads no field")
	}
	if aggregate.Distinct.Numeric() || aggregate.Count.Numeric() || !aggregate.Latest.Numeric() {
		t.Error("Numeric: distinct and count are not numeric")
	}
}

func TestAddValue(t *testing.T) {
	var a aggregate.Acc
	// value, event time
	for _, v := range []struct {
		v float64
		t int64
	}{{5, 30}, {-2, 10}, {12.5, 20}, {7, 30}, {3, 25}} {
		a.AddValue(v.v, v.t, nil)
	}
	if a.Count != 5 || a.Sum != 25.5 || a.Min != -2 || a.Max != 12.5 {
		t.Errorf("count %d sum %v min %v max %v", a.Count, a.Sum, a.Min, a.Max)
	}
	for typ, want := range map[aggregate.Type]float64{
		aggregate.Sum: 25.5, aggregate.Min: -2, aggregate.Max: 12.5, aggregate.Mean: 5.1,
		aggregate.Latest: 7, // the greatest event time wins; on a tie, the greater value
	} {
		if got := a.Float(typ); math.Abs(got-want) > 1e-12 {
			t.Errorf("Float(%v) = %v, want %v", typ, got, want)
		}
	}
	if a.LatestTime != 30 {
		t.Errorf("LatestTime %d", a.LatestTime)
	}
	if a.Buckets != nil {
		t.Error("buckets without bounds")
	}
	var empty aggregate.Acc
	if empty.Float(aggregate.Mean) != 0 || empty.Int(aggregate.Count) != 0 || empty.Int(aggregate.Distinct) != 0 {
		t.Error("an empty accumulator is not zero")
	}
	// The first value sets min and max even when it is above 0 or below 0.
	var pos, neg aggregate.Acc
	pos.AddValue(3, 0, nil)
	neg.AddValue(-3, 0, nil)
	if pos.Min != 3 || neg.Max != -3 {
		t.Errorf("first value: min %v, max %v", pos.Min, neg.Max)
	}
}

func TestLatestByEventTime(t *testing.T) {
	var a aggregate.Acc
	a.AddValue(1, 300, nil)
	a.AddValue(2, 100, nil) // older: ignored even though it came last
	a.AddValue(3, 200, nil)
	if a.Float(aggregate.Latest) != 1 {
		t.Errorf("latest = %v, want 1 (time 300)", a.Float(aggregate.Latest))
	}
	a.AddValue(4, 301, nil)
	if a.Float(aggregate.Latest) != 4 {
		t.Errorf("latest = %v, want 4 (time 301)", a.Float(aggregate.Latest))
	}
}

func TestCount(t *testing.T) {
	var a aggregate.Acc
	for range 7 {
		a.AddCount()
	}
	if a.Int(aggregate.Count) != 7 {
		t.Errorf("count %d", a.Int(aggregate.Count))
	}
}

// TestBuckets: bucket i counts Bounds[i-1] < v <= Bounds[i]; the last
// bucket is the overflow above the last bound.
func TestBuckets(t *testing.T) {
	bounds := []float64{1, 5, 10}
	for _, tc := range []struct {
		v      float64
		bucket int
	}{
		{-100, 0}, {0, 0}, {0.999, 0}, {1, 0}, {1.0000001, 1}, {4.9, 1}, {5, 1}, {5.5, 2}, {10, 2},
		{10.000001, 3}, {1e300, 3}, {math.Inf(1), 3}, {math.Inf(-1), 0},
	} {
		var a aggregate.Acc
		a.AddValue(tc.v, 0, bounds)
		want := make([]int64, len(bounds)+1)
		want[tc.bucket] = 1
		if !reflect.DeepEqual(a.Buckets, want) {
			t.Errorf("value %v: buckets %v, want %v", tc.v, a.Buckets, want)
		}
	}
	// Exponential bounds work the same way.
	exp := []float64{1, 2, 4, 8, 16}
	var a aggregate.Acc
	for _, v := range []float64{0.5, 1, 1.5, 2, 3, 4, 7, 8, 9, 16, 17, 1000} {
		a.AddValue(v, 0, exp)
	}
	if want := []int64{2, 2, 2, 2, 2, 2}; !reflect.DeepEqual(a.Buckets, want) {
		t.Errorf("exponential buckets %v, want %v", a.Buckets, want)
	}
}

func TestDistinctAccuracy(t *testing.T) {
	const n = 10000
	var a aggregate.Acc
	for i := range n {
		a.AddDistinct(fmt.Appendf(nil, "user-%d", i))
		if i%3 == 0 { // repeats do not count
			a.AddDistinct(fmt.Appendf(nil, "user-%d", i))
		}
	}
	got := a.Int(aggregate.Distinct)
	if rel := math.Abs(float64(got)-n) / n; rel > 0.03 {
		t.Errorf("distinct estimate %d for %d values: %.1f%% off", got, n, 100*rel)
	}
	var small aggregate.Acc
	for i := range 1000 {
		small.AddDistinct(fmt.Appendf(nil, "v%d", i%20))
	}
	if got := small.Int(aggregate.Distinct); got != 20 {
		t.Errorf("20 distinct values estimated as %d", got)
	}
}

// genAcc fills accumulators from a fixed list of observations.
type observation struct {
	v float64
	t int64
	s []byte
}

func randomObservations(rng *rand.Rand, n int) []observation {
	obs := make([]observation, n)
	for i := range obs {
		obs[i] = observation{
			v: math.Round(rng.NormFloat64()*1000) / 8, // exact in binary, so sums are order-independent
			t: rng.Int64N(50),
			s: fmt.Appendf(nil, "id-%d", rng.IntN(n)),
		}
	}
	return obs
}

func fill(obs []observation, bounds []float64) *aggregate.Acc {
	a := &aggregate.Acc{}
	for _, o := range obs {
		a.AddValue(o.v, o.t, bounds)
	}
	return a
}

func fillDistinct(obs []observation) *aggregate.Acc {
	a := &aggregate.Acc{}
	for _, o := range obs {
		a.AddDistinct(o.s)
	}
	return a
}

func sameValues(t *testing.T, what string, got, want *aggregate.Acc) {
	t.Helper()
	if got.Count != want.Count || got.Sum != want.Sum || got.Min != want.Min || got.Max != want.Max ||
		got.Latest != want.Latest || got.LatestTime != want.LatestTime || !reflect.DeepEqual(got.Buckets, want.Buckets) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
	if got.Int(aggregate.Distinct) != want.Int(aggregate.Distinct) {
		t.Errorf("%s: distinct %d, want %d", what, got.Int(aggregate.Distinct), want.Int(aggregate.Distinct))
	}
}

// TestMergeProperty: splitting the input at random, aggregating the parts
// and merging them in any order and grouping gives the one-pass result.
func TestMergeProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bounds := []float64{-100, 0, 10, 100, 1000}
	for round := range 200 {
		n := rng.IntN(300)
		obs := randomObservations(rng, n)
		want := fill(obs, bounds)
		wantD := fillDistinct(obs)

		// Random split into 1..8 parts, some of them empty.
		k := 1 + rng.IntN(8)
		cuts := []int{0, n}
		for range k - 1 {
			cuts = append(cuts, rng.IntN(n+1))
		}
		sortInts(cuts)
		var parts, partsD []*aggregate.Acc
		for i := 0; i+1 < len(cuts); i++ {
			parts = append(parts, fill(obs[cuts[i]:cuts[i+1]], bounds))
			partsD = append(partsD, fillDistinct(obs[cuts[i]:cuts[i+1]]))
		}
		// Merge in a random order and a random tree shape.
		got := mergeRandomly(rng, parts)
		gotD := mergeRandomly(rng, partsD)
		sameValues(t, fmt.Sprintf("round %d, %d parts", round, len(parts)), got, want)
		if g, w := gotD.Int(aggregate.Distinct), wantD.Int(aggregate.Distinct); g != w {
			t.Errorf("round %d: distinct after merge %d, one pass %d", round, g, w)
		}
		if gotD.Count != wantD.Count {
			t.Errorf("round %d: distinct count of values %d, want %d", round, gotD.Count, wantD.Count)
		}
	}
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func mergeRandomly(rng *rand.Rand, parts []*aggregate.Acc) *aggregate.Acc {
	parts = append([]*aggregate.Acc(nil), parts...)
	for len(parts) > 1 {
		i, j := rng.IntN(len(parts)), rng.IntN(len(parts)-1)
		if j >= i {
			j++
		}
		parts[i].Merge(parts[j])
		parts = append(parts[:j], parts[j+1:]...)
	}
	if len(parts) == 0 {
		return &aggregate.Acc{}
	}
	return parts[0]
}

func TestMergeEmpty(t *testing.T) {
	var full aggregate.Acc
	full.AddValue(-5, 9, []float64{0})
	full.AddValue(-7, 3, []float64{0})
	snapshot := *full.Clone()

	var into aggregate.Acc
	into.Merge(&full)
	sameValues(t, "empty.Merge(full)", &into, &snapshot)

	full.Merge(&aggregate.Acc{})
	sameValues(t, "full.Merge(empty)", &full, &snapshot)

	var e1, e2 aggregate.Acc
	e1.Merge(&e2)
	if e1.Count != 0 || e1.Buckets != nil || e1.Sketch != nil {
		t.Errorf("empty.Merge(empty) = %+v", e1)
	}
	// Negative minimum and maximum survive a merge with an accumulator
	// whose zero values are not observations.
	if snapshot.Min != -7 || snapshot.Max != -5 || snapshot.Latest != -5 {
		t.Errorf("min %v max %v latest %v", snapshot.Min, snapshot.Max, snapshot.Latest)
	}
}

func TestClone(t *testing.T) {
	var a aggregate.Acc
	a.AddValue(1, 1, []float64{5})
	a.AddDistinct([]byte("x"))
	c := a.Clone()
	c.AddValue(10, 2, []float64{5})
	c.AddDistinct([]byte("y"))
	if a.Count != 2 || a.Buckets[1] != 0 || a.Int(aggregate.Distinct) != 1 {
		t.Errorf("changing a clone changed the original: %+v, distinct %d", a, a.Int(aggregate.Distinct))
	}
	if c.Int(aggregate.Distinct) != 2 || c.Buckets[1] != 1 {
		t.Errorf("clone: %+v", c)
	}
}

// A merged-into sketch does not share state with the merged one.
func TestMergeDoesNotAlias(t *testing.T) {
	var a, b aggregate.Acc
	b.AddDistinct([]byte("x"))
	b.AddValue(1, 1, []float64{5})
	a.Merge(&b)
	a.AddDistinct([]byte("y"))
	a.AddValue(2, 2, []float64{5})
	if b.Int(aggregate.Distinct) != 1 || b.Buckets[0] != 1 {
		t.Errorf("merging aliased the source: distinct %d, buckets %v", b.Int(aggregate.Distinct), b.Buckets)
	}
}
