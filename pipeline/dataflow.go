//lint:file-ignore SA1019 Beam's pubsubio hands Dataflow's native Pub/Sub messages over as genproto's PubsubMessage: the type is Beam's choice.

package pipeline

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/pubsubio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	pb "google.golang.org/genproto/googleapis/pubsub/v1"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

func init() {
	register.Function3x1(messageFromPubsub)
}

// dataflowRequiredFlags are the Beam flags the Dataflow runner cannot do
// without. They are checked here, all at once, so a launch fails before
// anything is staged rather than one flag at a time.
var dataflowRequiredFlags = []string{"project", "region", "staging_location"}

// prepareDataflow checks the Dataflow options and adapts the plan to the
// Dataflow runner (native Pub/Sub source, worker self-metrics) before
// launch. cmd/beametrics points --worker_binary at the running executable.
func prepareDataflow(ctx context.Context, plan *Plan, o *Options) error {
	var missing []string
	for _, name := range dataflowRequiredFlags {
		f := flag.Lookup(name)
		if f == nil || strings.TrimSpace(f.Value.String()) == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return usageErrorf("--runner=dataflow needs --project, --region and --staging_location (gs://BUCKET/PATH); missing: %s", strings.Join(missing, ", "))
	}
	if err := checkWorkerDestinations(plan); err != nil {
		return err
	}
	enableWorkerSelfMetrics(plan)
	// Replay as a batch job whose reading is split over the workers.
	plan.SplitReading = plan.Files != nil
	if plan.PubSub != nil {
		project, id, err := splitSubscription(plan.PubSub.Subscription)
		if err != nil {
			return usageError(err)
		}
		plan.ReadRecords = func(s beam.Scope) beam.PCollection {
			raw := nativeRead(s, project, id)
			return beam.ParDo(s.Scope("ToMessage"), messageFromPubsub, raw)
		}
	}
	return nil
}

// nativeRead is Dataflow's native Pub/Sub source: PCollection<*pb.PubsubMessage>
// with data and attributes, each element stamped with its publish time.
// Prism cannot run it; the tests put a stand-in here that emits the same.
var nativeRead = func(s beam.Scope, project, subscription string) beam.PCollection {
	return pubsubio.Read(s, project, pubsubio.ReadOptions{Subscription: subscription, WithAttributes: true})
}

// enableWorkerSelfMetrics makes each worker export its own self-metrics,
// after checking here, before launch, what the workers would check: a
// problem (a metric named like a self-metric, say) is a warning and turns
// them off, as on a local run, rather than a message in every worker's log.
func enableWorkerSelfMetrics(plan *Plan) {
	if plan.Config == nil {
		return
	}
	_, err := selfmetrics.Check(selfmetrics.Options{Config: plan.Config, Settings: plan.Exporters, Worker: "check"})
	if err != nil {
		plan.Config.Warnings = append(plan.Config.Warnings, config.Error{File: plan.Config.File,
			Msg: fmt.Sprintf("self-metrics off on the workers: %v", err)})
		plan.WorkerSelfMetrics = false
		return
	}
	plan.WorkerSelfMetrics = true
}

// checkWorkerDestinations refuses outputs that name a place on one machine:
// on Dataflow they would land on some worker's disk, where nobody looks.
func checkWorkerDestinations(plan *Plan) error {
	var errs []string
	if plan.DeadLetter != "" && !deadletter.IsTopic(plan.DeadLetter) {
		errs = append(errs, fmt.Sprintf("--dead-letter %s: on Dataflow give a Pub/Sub topic (projects/P/topics/T); a file would be on a worker", plan.DeadLetter))
	}
	if plan.Exporters.PrometheusListen != "" {
		errs = append(errs, "prometheus_listen / --prometheus-listen: each Dataflow worker would serve only its own share of the series; use export type prometheus (remote write)")
	}
	if p := plan.Exporters.Local.Path; p != "" && p != "-" {
		errs = append(errs, fmt.Sprintf("local.path / --local-output %s: a file on a worker; on Dataflow the local exporter writes to the worker logs (leave it empty)", p))
	}
	if len(errs) > 0 {
		return usageErrorf("--runner=dataflow: %s", strings.Join(errs, "; "))
	}
	return nil
}

// splitSubscription splits projects/P/subscriptions/S into P and S, the
// two parts pubsubio.Read takes.
func splitSubscription(sub string) (project, id string, err error) {
	parts := strings.Split(sub, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != "subscriptions" || parts[3] == "" {
		return "", "", fmt.Errorf("--subscription must be projects/PROJECT/subscriptions/NAME, got %q", sub)
	}
	return parts[1], parts[3], nil
}

// publishTimeSkew is how far a message's publish_time may be from its
// element timestamp and still be the same instant: Beam timestamps have
// millisecond precision, publish times finer.
const publishTimeSkew = time.Millisecond

// skewLogged makes a worker log the first disagreement only.
var skewLogged atomic.Bool

// messageFromPubsub converts a message of Dataflow's native Pub/Sub source
// into the form the rest of the pipeline reads. The native source gives
// the publish time as the element's timestamp (the message's publish_time
// and message_id are often empty), and the runner's watermark follows that
// timestamp, so it is the message's time. A publish_time that agrees with
// it only adds precision; one that does not is logged and ignored.
func messageFromPubsub(ctx context.Context, et beam.EventTime, m *pb.PubsubMessage) pubsubread.Message {
	t := et.ToTime()
	if ts := m.GetPublishTime(); ts != nil && ts.IsValid() {
		published := ts.AsTime()
		switch d := published.Sub(t); {
		case et == mtime.MinTimestamp:
			// No element timestamp at all: not the native source's way,
			// but the publish time is then the only time there is.
			t = published
		case d > -publishTimeSkew && d < publishTimeSkew:
			t = published
		default:
			if skewLogged.CompareAndSwap(false, true) {
				log.Warnf(ctx, "Pub/Sub message %s: publish_time %v differs from its element timestamp %v by %v; the element timestamp (the runner's event time) is used (logged once per worker)",
					m.GetMessageId(), published.UTC(), t.UTC(), d)
			}
		}
	}
	return pubsubread.Message{
		ID:          m.GetMessageId(),
		Data:        m.GetData(),
		Attributes:  m.GetAttributes(),
		PublishTime: t.UTC(),
	}
}
