package selfmetrics

import (
	"context"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
)

// Self-metrics of a worker. On Dataflow the process counters live in the
// worker processes, which the launcher cannot read: so each worker process
// reports its own, once per process, from the first export sink set up in
// it (exportsink.WithWorkerSelfMetrics), labelled with WorkerID(). Cloud Monitoring
// and remote write would refuse two workers writing the same series.
//
// Nothing flushes the last, partial window when a worker stops: the Go SDK
// harness (Beam 2.77) never calls a DoFn's Teardown, and gives no other
// hook before the process ends. A worker's counts since its last window
// boundary are lost from the self-metrics at drain, cancel or scale-down
// (the job's Beam counters keep them).

var worker struct {
	mu    sync.Mutex
	ready chan struct{} // closed once the reporter has started, or failed to; nil before a start
	stop  func()        // set before ready is closed; nil if the start failed
}

// StartWorker starts the process's reporter unless one was
// started (or failed to start) already. It does not wait: starting makes
// the exporters, which for Cloud Monitoring means calls to the API, and the
// sink's Setup should not wait on them. A problem is logged and leaves the
// pipeline running.
// newExporter makes the exporters (nil means all.New).
func StartWorker(cfg *config.Config, settings exporters.Settings, newExporter NewExporterFunc) {
	worker.mu.Lock()
	defer worker.mu.Unlock()
	if worker.ready != nil {
		return
	}
	ready := make(chan struct{})
	worker.ready = ready
	go func() {
		defer close(ready)
		// The reporter outlives the Setup call that starts it.
		ctx := context.Background()
		id := WorkerID()
		stop, err := Start(ctx, Options{
			Config: cfg, Settings: settings, Worker: id, SinceProcessStart: true,
			NewExporter: newExporter,
			Logf:        func(f string, a ...any) { log.Errorf(ctx, "beametrics: worker %s: "+f, append([]any{id}, a...)...) },
		})
		if err != nil {
			log.Errorf(ctx, "beametrics: self-metrics of worker %s off: %v", id, err)
			return
		}
		log.Infof(ctx, "beametrics: worker %s exports its self-metrics every %v", id, cfg.Window)
		worker.mu.Lock()
		worker.stop = stop
		worker.mu.Unlock()
	}()
}

// StopWorker exports the process's worker self-metrics for the last,
// partial window, closes their exporters, and lets the next sink set up
// start a new reporter. exportsink.CloseAll calls it; on a Dataflow worker
// nothing does (see above).
func StopWorker() {
	worker.mu.Lock()
	ready := worker.ready
	worker.mu.Unlock()
	if ready == nil {
		return
	}
	<-ready
	worker.mu.Lock()
	stop := worker.stop
	worker.stop, worker.ready = nil, nil
	worker.mu.Unlock()
	if stop != nil {
		stop()
	}
}
