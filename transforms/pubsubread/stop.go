package pubsubread

import (
	"sync"
	"sync/atomic"
	"time"
)

// The source's DoFns are serialised and rebuilt by the runner, so they
// cannot hold a channel; they find the shared state of their Read by its
// run ID in this process-local registry instead. That is enough for prism,
// which runs the pipeline inside this process; it is not a cluster-wide
// signal.

// run is what all pullers of one Read share.
type run struct {
	stopAfter int64
	idle      time.Duration

	stopped      atomic.Bool
	emitted      atomic.Int64 // messages handed out under StopAfter
	lastActivity atomic.Int64 // Unix nanoseconds of the last non-empty pull
}

var registry = struct {
	sync.Mutex
	runs    map[string]*run
	stopAll bool // the stop file appeared: every run stops
}{runs: map[string]*run{}}

// runFor returns the shared state of the Read with this ID, creating it on
// first use.
func runFor(id string, cfg Config) *run {
	watchStopFile()
	registry.Lock()
	defer registry.Unlock()
	if r, ok := registry.runs[id]; ok {
		return r
	}
	r := &run{stopAfter: cfg.StopAfter, idle: cfg.StopWhenIdle}
	r.lastActivity.Store(time.Now().UnixNano())
	if registry.stopAll {
		r.stopped.Store(true)
	}
	registry.runs[id] = r
	return r
}

// StopAll stops every source that has started in this process: each stops
// pulling, acks what its bundles committed and finishes, so the watermark
// reaches +inf and the pipeline ends. Call it to drain a local pipeline, for example on SIGTERM.
func StopAll() {
	registry.Lock()
	defer registry.Unlock()
	for _, r := range registry.runs {
		r.stopped.Store(true)
	}
}

// take reserves up to n messages under StopAfter and returns how many may
// be emitted; reaching the limit stops the run.
func (r *run) take(n int) int {
	if r.stopAfter <= 0 {
		return n
	}
	for {
		cur := r.emitted.Load()
		left := r.stopAfter - cur
		if left <= 0 {
			r.stopped.Store(true)
			return 0
		}
		got := min(int64(n), left)
		if r.emitted.CompareAndSwap(cur, cur+got) {
			if cur+got >= r.stopAfter {
				r.stopped.Store(true)
			}
			return int(got)
		}
	}
}

// sawMessages records activity for StopWhenIdle.
func (r *run) sawMessages(now time.Time) { r.lastActivity.Store(now.UnixNano()) }

// idleTooLong reports whether StopWhenIdle has expired, and stops the run
// if so.
func (r *run) idleTooLong(now time.Time) bool {
	if r.idle <= 0 {
		return false
	}
	if now.Sub(time.Unix(0, r.lastActivity.Load())) >= r.idle {
		r.stopped.Store(true)
		return true
	}
	return false
}
