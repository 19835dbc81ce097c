// Package metricdata holds the values that flow from the metric engine to
// the exporters: a metric's description and one windowed value of one
// series. Neither side owns them, so that the engine does not depend on an
// output layer.
package metricdata

import "time"

// ValueType says which field of a Value is set.
type ValueType int

const (
	Int64        ValueType = iota + 1 // counts, distinct counts
	Double                            // sum, min, max, mean, latest
	Distribution                      // histograms
)

func (t ValueType) String() string {
	switch t {
	case Int64:
		return "INT64"
	case Double:
		return "DOUBLE"
	case Distribution:
		return "DISTRIBUTION"
	}
	return "UNKNOWN"
}

// Kind says how consecutive points of a series relate.
type Kind int

const (
	// Gauge points each hold one window's value.
	Gauge Kind = iota + 1
	// Cumulative points hold a running total since Point.Start.
	Cumulative
)

func (k Kind) String() string {
	switch k {
	case Gauge:
		return "gauge"
	case Cumulative:
		return "cumulative"
	}
	return "unknown"
}

// Descriptor describes one metric as declared in the config. Exporters use it
// to create metric descriptors up front and to name things.
type Descriptor struct {
	Name        string // as written in the config, e.g. "beametrics-test-1"
	Aggregation string // config type, lower case: count, sum, min, max, mean, distribution, distinct, latest, ...
	ValueType   ValueType
	Kind        Kind
	Unit        string    // UCUM unit, may be empty
	Description string    // may be empty
	LabelNames  []string  // every label the metric can carry, sorted
	Buckets     []float64 // explicit upper bounds for distributions, sorted, without +Inf
	ExportType  string    // google-cloud-monitoring, prometheus, local, ...
	// Window is the length of the metric's fixed windows. Settings.Validate
	// uses it to refuse windows shorter than a destination's per-series
	// write limit (Cloud Monitoring: one point per 5 s).
	Window time.Duration
}

// Label is one name/value pair.
type Label struct {
	Name, Value string
}

// DistributionValue is a histogram over explicit bucket bounds.
// len(BucketCounts) == len(Bounds)+1: the last bucket is the overflow
// (> last bound); bucket i counts values v with Bounds[i-1] < v <= Bounds[i].
type DistributionValue struct {
	Count        int64
	Sum          float64
	Min, Max     float64
	Bounds       []float64
	BucketCounts []int64
}

// Point is one series' value for one window.
type Point struct {
	Metric string  // Descriptor.Name
	Labels []Label // sorted by Name, static and dynamic labels together
	// Start and End are the window, half-open [Start, End). End is the
	// point's timestamp. For Cumulative points Start is the fixed start of
	// the running total instead.
	Start, End time.Time
	Type       ValueType
	Int        int64
	Double     float64
	Dist       *DistributionValue
}
