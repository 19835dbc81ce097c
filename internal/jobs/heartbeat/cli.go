package heartbeat

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"
	"time"
)

// Exit codes of Main.
const (
	ExitOK      = 0 // every record was published (or stopped cleanly)
	ExitFailed  = 1 // some record failed after all attempts
	ExitUsage   = 2 // bad flags
	defaultBase = 500 * time.Millisecond
)

// Main is the `beametrics heartbeat` command: it parses args, publishes
// until --count is reached or SIGINT/SIGTERM arrives, and returns the exit
// code. Logs go to stderr.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("heartbeat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.StringVar(&cfg.Topic, "topic", "", "Pub/Sub topic to publish to, `projects/P/topics/T` (required)")
	fs.StringVar(&cfg.PipelineID, "pipeline-id", "", "value of the pipeline-id field and attribute (required)")
	fs.StringVar(&cfg.PipelineEnv, "pipeline-env", "", "value of the pipeline-env field and attribute (required), e.g. blue")
	fs.DurationVar(&cfg.Interval, "interval", 10*time.Second, "time between records")
	fs.IntVar(&cfg.Count, "count", 0, "stop after this many records; 0 publishes until SIGINT/SIGTERM")
	fs.StringVar(&cfg.Endpoint, "endpoint", "", "Pub/Sub `host:port` instead of the default (PUBSUB_EMULATOR_HOST also works)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "plaintext without credentials to --endpoint (emulators)")
	fs.DurationVar(&cfg.RetryBase, "retry-base", defaultBase, "first pause between attempts of a failed record; doubles up to 10s, 5 attempts")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: beametrics heartbeat --topic projects/P/topics/T --pipeline-id ID --pipeline-env ENV [flags]")
		fmt.Fprintln(stderr, "Publishes dummy liveness records to Pub/Sub. Flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "heartbeat: unexpected arguments %q\n", fs.Args())
		return ExitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	st, err := Run(ctx, cfg, log)
	if err != nil {
		log.Error("heartbeat finished with errors", "published", st.Published, "failed", st.Failed, "error", err)
		return ExitFailed
	}
	log.Info("heartbeat finished", "published", st.Published)
	return ExitOK
}
