package pipeline_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/pipeline"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

// BenchmarkStreamAckGate measures what acking after export costs a local
// stream from the gcloud emulator: the same pipeline (the real Build path)
// with acks at bundle commit and with acks held until the windows are
// exported (package ackgate: leases extended meanwhile). msgs/s counts
// from the start of the run to its end, prism's start included. The
// events' windows close only when the run ends, so every message is held
// to the end: with 150,000 messages the run outlasts the 10 s ack
// deadline and the first messages' leases are extended several times (a
// lease that ran out would have Pub/Sub deliver the message again, and the
// run would end with messages left unacked).
//
//	go test -run '^$' -bench StreamAckGate -benchtime 3x ./pipeline/
func BenchmarkStreamAckGate(b *testing.B) {
	for _, n := range []int{20000, 150000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) { benchmarkStreamAckGate(b, n) })
	}
}

func benchmarkStreamAckGate(b *testing.B, n int) {
	srv := pubsubtest.StartEmulator(b) // skips, saying what is missing, without the emulator
	c := srv.Client(b, e2eProject)
	src := config.Source{Name: "e2e.yaml", Text: []byte(e2eConfig)}
	cfg, err := src.Load()
	if err != nil {
		b.Fatal(err)
	}
	msgs, _, _ := e2eEvents(n)
	round := 0
	for _, gated := range []bool{false, true} {
		b.Run(fmt.Sprintf("ackgate=%v", gated), func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				round++
				topic := fmt.Sprintf("projects/%s/topics/bench-%d-%d", e2eProject, n, round)
				sub := fmt.Sprintf("projects/%s/subscriptions/bench-%d-%d", e2eProject, n, round)
				pubsubtest.CreateTopic(b, c, topic)
				pubsubtest.CreateSubscription(b, c, sub, topic, 10*time.Second)
				pubsubtest.Publish(b, c, topic, msgs)
				pc := pubsubread.NewConfig(sub)
				pc.Endpoint, pc.Insecure = srv.Addr, true
				pc.PollInterval = 50 * time.Millisecond
				pc.Pullers = 2
				pc.StopAfter = int64(len(msgs))
				if gated {
					pc.AckGate = fmt.Sprintf("bench-%d-%d", n, round)
				}
				plan := &pipeline.Plan{Source: src, Config: cfg, PubSub: &pc}
				plan.Exporters.Local.Path = b.TempDir() + "/out.jsonl"
				p, s := beam.NewPipelineWithRoot()
				if err := pipeline.Build(s, plan); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				err := ptest.Run(p)
				total += time.Since(t0)
				b.StopTimer()
				if err != nil {
					b.Fatalf("pipeline failed: %v", err)
				}
				if gated {
					if _, returned := pubsubread.FinishAcks(pc.AckGate, true); returned > 0 {
						b.Fatalf("%d messages handed back after a run that ended by itself", returned)
					}
				}
				if left := pubsubtest.PullRemaining(b, c, sub, time.Second); len(left) > 0 {
					b.Fatalf("%d messages left unacked", len(left))
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(msgs)*b.N)/total.Seconds(), "msgs/s")
			b.ReportMetric(total.Seconds()/float64(b.N), "s/run")
		})
	}
}
