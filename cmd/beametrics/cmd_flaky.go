package main

import (
	"context"
	"os"

	"github.com/beametrics/beametrics/flakytasks"
	"github.com/beametrics/beametrics/flakytasks/flakybeam"
)

func init() {
	register("flaky", "rank flaky Airflow tasks by time wasted on retries, with failure signatures", func(args []string) int {
		return flakytasks.Main(context.Background(), args, os.Stdout, os.Stderr, flakybeam.Run)
	})
}
