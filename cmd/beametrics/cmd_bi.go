package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/beametrics/beametrics/internal/jobs/bi/cli"
)

func init() {
	register("bi", "find and rewrite saved BI queries (Redash, Metabase) safely", func(args []string) int {
		// The first Ctrl-C stops new writes; the ones in flight finish and
		// are recorded. After it the default handling is back, so a second
		// Ctrl-C quits at once (the backup already lists every write sent).
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		finished := make(chan struct{})
		defer close(finished) // runs before stop, so a normal exit is told apart
		go func() {
			<-ctx.Done()
			select {
			case <-finished:
				return
			default:
			}
			stop()
			fmt.Fprintln(os.Stderr, "\nbeametrics bi: interrupted; finishing the writes in flight (Ctrl-C again to quit at once)")
		}()
		terminal := false
		if fi, err := os.Stderr.Stat(); err == nil {
			terminal = fi.Mode()&os.ModeCharDevice != 0
		}
		return cli.Main(ctx, args, cli.Env{
			Stdout: os.Stdout, Stderr: helpWriter(args), Getenv: os.Getenv, Terminal: terminal,
		})
	})
}
