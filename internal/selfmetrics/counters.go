package selfmetrics

// Process-wide counters, read every few seconds by the progress line of a
// local run and by the Reporter. Beam's own counters are only readable when
// a run ends; these are read while it runs. On a distributed runner (or
// prism with worker processes) each worker process has its own, and only
// Beam's counters add up (see Summary).

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counters of one process.
var (
	Events          atomic.Int64 // records read as events
	DeadLetters     atomic.Int64
	Late            atomic.Int64 // values that arrived after their window closed
	PointsExported  atomic.Int64
	WindowsExported atomic.Int64 // distinct (metric, window) pairs exported
	ExportFailures  atomic.Int64
	LatestWindowEnd atomic.Int64 // Unix nanoseconds of the newest exported window end
	Dropped         atomic.Int64 // values a metric could not use (not a number, ...)
	Overflowed      atomic.Int64 // events folded into an overflow series (max_series)
	FilterErrors    atomic.Int64 // events whose filter expression failed (counted as not matching)
)

// Replay's input: bytes read of the total, and the range of event times
// read (Unix nanoseconds; valid once EventTimesSeen is set).
var (
	BytesRead, BytesTotal atomic.Int64
	EventTimesSeen        atomic.Bool
	OldestEventTime       atomic.Int64
	NewestEventTime       atomic.Int64
)

// ObserveEventTimes widens the range of event times read to [oldest, newest].
func ObserveEventTimes(oldest, newest int64) {
	timesMu.Lock()
	defer timesMu.Unlock()
	if !EventTimesSeen.Load() || oldest < OldestEventTime.Load() {
		OldestEventTime.Store(oldest)
	}
	if !EventTimesSeen.Load() || newest > NewestEventTime.Load() {
		NewestEventTime.Store(newest)
	}
	EventTimesSeen.Store(true)
}

var timesMu sync.Mutex

// Counts by label, for the self-metrics. Callers add once per bundle, not
// per event: each Add takes a lock.
var (
	DeadLettersByReason  Counts[string] // by dead-letter reason
	DroppedByMetric      Counts[string] // values dropped, by metric name
	OverflowedByMetric   Counts[string] // events folded into the overflow series, by metric name
	FilterErrorsByMetric Counts[string] // filter expressions that failed, by metric name
	WindowsByExporter    Counts[string] // (metric, window) pairs exported, by export type
	PointsByExporter     Counts[string] // points written, by export type
	FailuresByExporter   Counts[Failure]
)

// Failure names points lost after retries: the export type and the
// exporter's code (a gRPC code name, HTTP_<status>, encode, ...).
type Failure struct {
	Exporter, Code string
}

// Counts is a set of running totals by key, safe for concurrent use. The
// zero value is ready.
type Counts[K comparable] struct {
	mu sync.Mutex
	n  map[K]int64
}

// Add adds n to key's total. A zero n still creates the key, so that a
// series appears (with 0) once something could be counted under it.
func (c *Counts[K]) Add(key K, n int64) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[K]int64{}
	}
	c.n[key] += n
	c.mu.Unlock()
}

// Snapshot returns a copy of the totals.
func (c *Counts[K]) Snapshot() map[K]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[K]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// ObserveWindowEnd records that a window ending at t was exported.
func ObserveWindowEnd(t time.Time) {
	n := t.UnixNano()
	for {
		cur := LatestWindowEnd.Load()
		if n <= cur || LatestWindowEnd.CompareAndSwap(cur, n) {
			return
		}
	}
}
