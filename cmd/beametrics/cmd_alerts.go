package main

import (
	"os"

	"github.com/beametrics/beametrics/internal/jobs/alerts"
)

func init() {
	register("alerts", "write Prometheus rules or Cloud Monitoring policies for the metrics marked alert:", func(args []string) int {
		return alerts.Main(args, os.Stdout, helpWriter(args))
	})
}
