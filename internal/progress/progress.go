// Package progress keeps process-wide counters for the progress line of a
// local run. Beam's own counters are only readable when a run ends; these
// are read every few seconds. On a distributed runner each worker has its
// own, and only Beam's counters add up.
package progress

import (
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
)

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
