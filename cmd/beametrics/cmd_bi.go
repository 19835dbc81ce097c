package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/beametrics/beametrics/biqueries/cli"
)

func init() {
	register("bi", "find and rewrite saved BI queries (Redash, Metabase) safely", func(args []string) int {
		// Ctrl-C stops new writes; the ones in flight finish and are backed up.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		terminal := false
		if fi, err := os.Stderr.Stat(); err == nil {
			terminal = fi.Mode()&os.ModeCharDevice != 0
		}
		return cli.Main(ctx, args, cli.Env{
			Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Terminal: terminal,
		})
	})
}
