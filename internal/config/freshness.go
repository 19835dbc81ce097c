package config

import (
	"time"

	"github.com/beametrics/beametrics/internal/aggregate"
)

// Freshness says which of the three series of a `type: freshness` metric a
// Metric is. One declared freshness metric becomes three: the lag
// distribution under its own name, and two counts named NAME/future_events
// and NAME/stale_events.
type Freshness int

const (
	NotFreshness    Freshness = iota
	FreshnessLag              // distribution of processing time minus event time, seconds
	FreshnessFuture           // events whose time is later than now plus FutureTolerance
	FreshnessStale            // events older than StaleAfter
)

// Defaults of a freshness metric; validate prints the resolved values.
const (
	DefaultFutureTolerance = time.Minute
	DefaultStaleAfter      = time.Hour
)

// DefaultLagBuckets are the lag bounds, in seconds, of a freshness metric
// without buckets of its own: from a second to a day.
var DefaultLagBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400}

// freshnessSeries returns the two count metrics derived from a freshness
// metric.
func freshnessSeries(m Metric) []Metric {
	future, stale := m, m
	future.Name, future.Freshness, future.Type, future.Buckets = m.Name+"/future_events", FreshnessFuture, aggregate.Count, nil
	stale.Name, stale.Freshness, stale.Type, stale.Buckets = m.Name+"/stale_events", FreshnessStale, aggregate.Count, nil
	future.Description = "Events of " + m.Name + " whose time is ahead of the processing clock by more than " + m.FutureTolerance.String()
	stale.Description = "Events of " + m.Name + " older than " + m.StaleAfter.String() + " when processed"
	future.Unit, stale.Unit = "1", "1"
	return []Metric{future, stale}
}
