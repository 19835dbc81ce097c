package main

import (
	"github.com/beametrics/beametrics/internal/jobs/heartbeat"
)

func init() {
	register("heartbeat", "publish dummy liveness records to a Pub/Sub topic", func(args []string) int {
		return heartbeat.Main(args, helpWriter(args))
	})
}
