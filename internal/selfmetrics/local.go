package selfmetrics

import (
	"context"
	"fmt"
	"io"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
)

// LocalOptions are the reporter's options for a local run: one process, so
// no worker label, and the process's scrape endpoint too. Problems go to
// logw.
func LocalOptions(cfg *config.Config, settings exporters.Settings, logw io.Writer) Options {
	return Options{
		Config: cfg, Settings: settings, Scrape: true,
		Logf: func(f string, a ...any) { fmt.Fprintf(logw, "beametrics: "+f+"\n", a...) },
	}
}

// StartLocal starts the self-metrics of a local streaming run and returns
// the function that stops it: stop exports the last window so far and
// closes the exporters. A problem is written to logw and never stops the
// pipeline. (On Dataflow the counts live on the workers, which report
// their own: see StartWorker.)
func StartLocal(ctx context.Context, o Options, logw io.Writer) (stop func()) {
	stop, err := Start(ctx, o)
	if err != nil {
		fmt.Fprintf(logw, "beametrics: self-metrics off: %v\n", err)
		return func() {}
	}
	return stop
}
