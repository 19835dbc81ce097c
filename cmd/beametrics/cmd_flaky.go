package main

import (
	"context"
	"os"

	"github.com/beametrics/beametrics/internal/jobs/flaky"
	"github.com/beametrics/beametrics/internal/jobs/flaky/flakybeam"
)

func init() {
	register("flaky", "rank flaky Airflow tasks by time wasted on retries, with failure signatures", func(args []string) int {
		return flaky.Main(context.Background(), args, os.Stdout, helpWriter(args), flakybeam.Run)
	})
}
