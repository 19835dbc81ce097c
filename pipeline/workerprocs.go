package pipeline

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/beametrics/beametrics/transforms/pubsubread"
)

// workerProcs looks after workers that prism runs as separate processes
// (--environment_type=PROCESS, as Dataflow runs them): nothing in this
// process reaches them, and prism reports a worker that could not start
// or that exited only in its log, then waits for it forever.
type workerProcs struct {
	stopFile string
	dir      string
	cancel   context.CancelFunc

	mu     sync.Mutex
	failed error
	done   bool
	killed int // worker processes prism killed itself, at the end of a job

	restoreLog func()
}

// processWorkers reports whether the runner starts its workers as
// processes.
func processWorkers() bool {
	f := flag.Lookup("environment_type")
	return f != nil && strings.EqualFold(f.Value.String(), "process")
}

// startWorkerProcs prepares for worker processes: a stop file they watch
// (see pubsubread.StopFileEnv) and a watch of prism's log that fails the
// run when a worker process fails. It returns nil, and ctx, without
// worker processes. finish must be called after the run.
func startWorkerProcs(ctx context.Context, stderr io.Writer) (*workerProcs, context.Context, error) {
	if !processWorkers() {
		return nil, ctx, nil
	}
	dir, err := os.MkdirTemp("", "beametrics-workers-")
	if err != nil {
		return nil, ctx, fmt.Errorf("worker processes: %w", err)
	}
	w := &workerProcs{dir: dir, stopFile: dir + "/stop"}
	// The workers inherit this process's environment through prism and
	// the boot loader.
	if err := os.Setenv(pubsubread.StopFileEnv, w.stopFile); err != nil {
		os.RemoveAll(dir)
		return nil, ctx, fmt.Errorf("worker processes: %w", err)
	}
	ctx, w.cancel = context.WithCancel(ctx)

	// Prism takes slog's default logger when its job server starts (in
	// beamx.Run, after this). Wrapping the standard default handler would
	// deadlock (both take the log package's lock), so the records go to a
	// text handler on stderr.
	oldLogger, oldOut, oldFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(&failureHandler{Handler: slog.NewTextHandler(stderr, nil), w: w}))
	w.restoreLog = func() {
		slog.SetDefault(oldLogger)
		log.SetOutput(oldOut)
		log.SetFlags(oldFlags)
	}
	return w, ctx, nil
}

// fail records the first failure of a worker process and stops the run.
func (w *workerProcs) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.failed != nil {
		return
	}
	w.failed = err
	w.cancel()
}

// drain makes every worker's Pub/Sub source stop, as pubsubread.StopAll
// does in this process.
func (w *workerProcs) drain() {
	if w == nil {
		return
	}
	if f, err := os.Create(w.stopFile); err == nil {
		f.Close()
	}
}

// finish ends the watch after beamx.Run returned and returns the failure
// of a worker process, if any.
func (w *workerProcs) finish() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	w.done = true
	failed := w.failed
	w.mu.Unlock()
	w.cancel()
	w.restoreLog()
	os.Unsetenv(pubsubread.StopFileEnv)
	os.RemoveAll(w.dir)
	return failed
}

// failureHandler passes prism's log records on and turns its reports of
// a failed worker process into a failure of the run. The messages are
// prism v2.77's (runners/prism/internal/environments.go), pinned by
// TestWorkerProcessFailureFailsTheJob: "process failed to start", "process
// failed while running" with the error, then, at debug level, "environment
// stopped" when the process has ended, even with status 0.
type failureHandler struct {
	slog.Handler
	w *workerProcs
}

func (h *failureHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelDebug // the end of a worker process is a debug record
}

func (h *failureHandler) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case "process failed to start", "process failed while running":
		var cause string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				cause = a.Value.String()
			}
			return true
		})
		if cause == "signal: killed" {
			// Prism kills the boot loader itself when a job ends.
			h.w.mu.Lock()
			h.w.killed++
			h.w.mu.Unlock()
			break
		}
		h.w.fail(errors.New("a worker process failed (" + strings.TrimPrefix(r.Message, "process ") + ": " + cause + "); its own output, if any, is above"))
	case "environment stopped":
		h.w.mu.Lock()
		killed := h.w.killed > 0
		if killed {
			h.w.killed--
		}
		h.w.mu.Unlock()
		if !killed {
			h.w.fail(errors.New("a worker process exited while the job was running; its own output, if any, is above"))
		}
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *failureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &failureHandler{Handler: h.Handler.WithAttrs(as), w: h.w}
}

func (h *failureHandler) WithGroup(name string) slog.Handler {
	return &failureHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}
