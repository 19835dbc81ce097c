// Package pubsubread is a Pub/Sub source for runners other than Dataflow
// (prism): an unbounded splittable DoFn that pulls with the Pub/Sub v2
// client, acks after the runner has committed a bundle's output, carries
// message attributes and keeps a watermark. On Dataflow use pubsubio.Read.
//
// Delivery is at least once. Without Config.AckGate a message is acked at
// the start of its puller's next bundle, once the runner has committed it:
// a crash then loses what the runner held in memory. With AckGate it is
// acked only after its windows have been exported, and its lease is
// extended until then (lease.go).
//
// A subscription that does not exist, may not be read or is refused ends
// the run with a *SubscriptionError; other pull errors are retried with
// backoff, each one logged with the count of failures in a row.
package pubsubread

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/beametrics/beametrics/internal/pubsubname"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/status"
)

func init() {
	register.DoFn5x2[context.Context, *watermarkEstimator, *sdf.LockRTracker, []byte,
		func(beam.EventTime, Message), sdf.ProcessContinuation, error](&readFn{})
	register.Emitter2[beam.EventTime, Message]()
}

const (
	// rpcTimeout bounds each Pull, Acknowledge and ModifyAckDeadline call.
	rpcTimeout = 30 * time.Second
	// maxAckIDsPerCall keeps acknowledge requests well under the API's
	// 512 KB request limit.
	maxAckIDsPerCall = 1000
	ackAttempts      = 5
	// maxBundleTime bounds how long one bundle keeps pulling a backlog;
	// with the bundle's downstream work it must stay well under the
	// subscription's ack deadline.
	maxBundleTime = time.Second
)

var (
	pulledCount     = beam.NewCounter("pubsubread", "pulled")
	ackedCount      = beam.NewCounter("pubsubread", "acked")
	nackedCount     = beam.NewCounter("pubsubread", "nacked")
	pullErrorCount  = beam.NewCounter("pubsubread", "pull_errors")
	ackErrorCount   = beam.NewCounter("pubsubread", "ack_errors")
	behindWatermark = beam.NewCounter("pubsubread", "behind_watermark")
)

// Read returns an unbounded PCollection<Message> read from cfg.Subscription,
// each element stamped with its publish time. It panics if cfg is invalid;
// call cfg.Validate first to report the problem properly.
func Read(s beam.Scope, cfg Config) beam.PCollection {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	s = s.Scope("pubsubread.Read")
	imp := beam.Impulse(s)
	return beam.ParDo(s, &readFn{Cfg: cfg, RunID: newRunID()}, imp)
}

func newRunID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

type readFn struct {
	Cfg Config
	// RunID ties the pullers of one Read to their shared stop state.
	RunID string

	client  *pubsub.Client
	run     *run
	backoff gax.Backoff
	keeper  *keeper // nil without AckGate
	fails   int     // pull failures in a row
}

func (fn *readFn) Setup(ctx context.Context) error {
	var err error
	if fn.client, err = newClient(ctx, fn.Cfg); err != nil {
		return err
	}
	if fn.Cfg.AckGate != "" {
		if fn.keeper, err = keeperFor(ctx, fn.Cfg); err != nil {
			return err
		}
	}
	fn.run = runFor(fn.RunID, fn.Cfg)
	fn.backoff = gax.Backoff{Initial: fn.Cfg.PollInterval, Max: 30 * time.Second, Multiplier: 2}
	return nil
}

func newClient(ctx context.Context, cfg Config) (*pubsub.Client, error) {
	project, err := projectOf(cfg.Subscription)
	if err != nil {
		return nil, err
	}
	c, err := pubsub.NewClient(ctx, project, pubsubname.ClientOptions(cfg.Endpoint, cfg.Insecure)...)
	if err != nil {
		return nil, fmt.Errorf("pubsubread: connecting for %s: %w", cfg.Subscription, err)
	}
	return c, nil
}

func (fn *readFn) Teardown() error {
	if fn.client != nil {
		return fn.client.Close()
	}
	return nil
}

func (fn *readFn) CreateInitialRestriction(_ []byte) Restriction { return Restriction{} }

// SplitRestriction starts the pullers.
func (fn *readFn) SplitRestriction(_ []byte, _ Restriction) []Restriction {
	rs := make([]Restriction, fn.Cfg.Pullers)
	for i := range rs {
		rs[i].Puller = i
	}
	return rs
}

func (fn *readFn) RestrictionSize(_ []byte, r Restriction) float64 {
	return float64(1 + len(r.AckIDs))
}

func (fn *readFn) CreateTracker(r Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(newTracker(r))
}

// TruncateRestriction is used by runners that drain: keep the pending acks
// and finish.
func (fn *readFn) TruncateRestriction(rt *sdf.LockRTracker, _ []byte) Restriction {
	r := rt.GetRestriction().(Restriction)
	r.Stop = true
	return r
}

func (fn *readFn) InitialWatermarkEstimatorState(et beam.EventTime, _ Restriction, _ []byte) int64 {
	return int64(et)
}

func (fn *readFn) CreateWatermarkEstimator(state int64) *watermarkEstimator {
	return &watermarkEstimator{state: mtime.Time(state)}
}

func (fn *readFn) WatermarkEstimatorState(e *watermarkEstimator) int64 { return int64(e.state) }

func (fn *readFn) ProcessElement(ctx context.Context, we *watermarkEstimator, rt *sdf.LockRTracker, _ []byte, emit func(beam.EventTime, Message)) (sdf.ProcessContinuation, error) {
	r := rt.GetRestriction().(Restriction)
	// The runner committed the previous bundle before handing us this
	// residual, so its messages may be acked now, or with AckGate handed
	// to the gate as committed.
	if fn.keeper != nil {
		fn.keeper.gate.Committed(r.AckIDs)
		// The watermark this bundle leaves is one bound of when its
		// messages may be acked; it must be known before the runner
		// commits the bundle, so before returning.
		defer func() { fn.keeper.gate.SourceWatermark(r.Puller, max(1, fn.Cfg.Pullers), we.CurrentWatermark()) }()
	} else {
		fn.ack(ctx, r.AckIDs)
	}

	now := time.Now()
	if r.Stop || fn.run.stopped.Load() {
		rt.TryClaim(endOfStream{})
		return sdf.StopProcessing(), nil
	}

	// Keep pulling while the subscription has a backlog, up to
	// maxBundleTime: every bundle costs the runner a round trip, so small
	// bundles would cap the rate far below what Pub/Sub delivers.
	emitted := 0
	for {
		n, full, err := fn.pullAndEmit(ctx, we, rt, emit)
		if err != nil {
			pullErrorCount.Inc(ctx, 1)
			if permanent(err) {
				// Retrying cannot help: end the run, naming the
				// subscription, rather than retry forever.
				return sdf.StopProcessing(), &SubscriptionError{Subscription: fn.Cfg.Subscription, Code: status.Code(err), Err: err}
			}
			fn.fails++
			pause := fn.backoff.Pause()
			if emitted > 0 {
				// Checkpoint now so that what was emitted gets acked.
				pause = 0
			}
			msg := fmt.Sprintf("pubsubread: pull from %s failed (puller %d, %d in a row), retrying in %v: %v", fn.Cfg.Subscription, r.Puller, fn.fails, pause, err)
			log.Warn(ctx, msg)
			fmt.Fprintln(os.Stderr, "beametrics: "+msg)
			return sdf.ResumeProcessingIn(pause), nil
		}
		fn.fails = 0
		fn.backoff = gax.Backoff{Initial: fn.Cfg.PollInterval, Max: 30 * time.Second, Multiplier: 2}
		emitted += n
		if !full || fn.run.stopped.Load() || time.Since(now) >= maxBundleTime {
			break
		}
	}
	if emitted > 0 {
		return sdf.ResumeProcessingIn(0), nil
	}
	if fn.run.stopped.Load() || fn.run.idleTooLong(time.Now()) {
		rt.TryClaim(endOfStream{})
		return sdf.StopProcessing(), nil
	}
	return sdf.ResumeProcessingIn(fn.Cfg.PollInterval), nil
}

// pullAndEmit does one pull and emits what it may. full reports that the
// pull returned as many messages as asked for, so more are likely waiting.
func (fn *readFn) pullAndEmit(ctx context.Context, we *watermarkEstimator, rt *sdf.LockRTracker, emit func(beam.EventTime, Message)) (emitted int, full bool, err error) {
	now := time.Now()
	received, err := fn.pull(ctx)
	if err != nil {
		return 0, false, err
	}
	if len(received) == 0 {
		fn.advance(we, now.Add(-fn.Cfg.MaxDelay))
		return 0, false, nil
	}
	fn.run.sawMessages(now)
	pulledCount.Inc(ctx, int64(len(received)))

	allowed := fn.run.take(len(received))
	watermark := we.CurrentWatermark()
	oldest := now.Add(-fn.Cfg.MaxDelay)
	for _, rm := range received[:allowed] {
		if !rt.TryClaim(rm.GetAckId()) {
			break
		}
		m := rm.GetMessage()
		msg := Message{
			ID:          m.GetMessageId(),
			Data:        m.GetData(),
			Attributes:  m.GetAttributes(),
			PublishTime: m.GetPublishTime().AsTime(),
		}
		if fn.keeper != nil {
			// Before emitting: the parse step may see it at once.
			fn.keeper.gate.Pulled(msg.ID, rm.GetAckId(), msg.PublishTime, fn.keeper.leaseEnd(now))
		}
		if msg.PublishTime.Before(watermark) {
			behindWatermark.Inc(ctx, 1)
		}
		if msg.PublishTime.Before(oldest) {
			oldest = msg.PublishTime
		}
		emit(mtime.FromTime(msg.PublishTime), msg)
		emitted++
	}
	if rest := received[emitted:]; len(rest) > 0 {
		fn.nack(ctx, rest)
	}
	// Hold the watermark at the oldest message of a backlog, so that
	// catching up does not make the rest of the backlog late.
	fn.advance(we, oldest)
	return emitted, len(received) == fn.Cfg.MaxMessages, nil
}

// advance moves the watermark to t, except while the keeper holds it after
// the start (see keeper.holdUntil).
func (fn *readFn) advance(we *watermarkEstimator, t time.Time) {
	if fn.keeper != nil && time.Now().Before(fn.keeper.holdUntil) {
		return
	}
	we.advance(t)
}

func (fn *readFn) pull(ctx context.Context) ([]*pubsubpb.ReceivedMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	// ReturnImmediately: an empty subscription must end the bundle at once
	// so that the watermark moves and stop signals are seen; the poll
	// interval does the waiting.
	resp, err := fn.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{
		Subscription: fn.Cfg.Subscription,
		MaxMessages:  int32(fn.Cfg.MaxMessages),
		//lint:ignore SA1019 deprecated for latency in favour of streaming pull, which this bundle-at-a-time source cannot use; Pub/Sub and its emulators still honour it.
		ReturnImmediately: true,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetReceivedMessages(), nil
}

// ack acknowledges ids, retrying with backoff. It does not fail the bundle:
// a message it could not ack is redelivered by Pub/Sub, which is the
// at-least-once contract anyway.
func (fn *readFn) ack(ctx context.Context, ids []string) {
	for len(ids) > 0 {
		n := min(len(ids), maxAckIDsPerCall)
		chunk := ids[:n]
		ids = ids[n:]
		bo := gax.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}
		var err error
		for attempt := 1; attempt <= ackAttempts; attempt++ {
			callCtx, cancel := context.WithTimeout(ctx, rpcTimeout)
			err = fn.client.SubscriptionAdminClient.Acknowledge(callCtx, &pubsubpb.AcknowledgeRequest{
				Subscription: fn.Cfg.Subscription,
				AckIds:       chunk,
			})
			cancel()
			if err == nil || attempt == ackAttempts {
				break
			}
			if sleepErr := gax.Sleep(ctx, bo.Pause()); sleepErr != nil {
				break
			}
		}
		if err != nil {
			ackErrorCount.Inc(ctx, int64(len(chunk)))
			log.Errorf(ctx, "pubsubread: could not ack %d messages on %s, Pub/Sub will redeliver them: %v", len(chunk), fn.Cfg.Subscription, err)
			continue
		}
		ackedCount.Inc(ctx, int64(len(chunk)))
	}
}

// nack hands messages this bundle will not emit back to Pub/Sub for
// immediate redelivery.
func (fn *readFn) nack(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.GetAckId()
	}
	for len(ids) > 0 {
		n := min(len(ids), maxAckIDsPerCall)
		callCtx, cancel := context.WithTimeout(ctx, rpcTimeout)
		err := fn.client.SubscriptionAdminClient.ModifyAckDeadline(callCtx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: fn.Cfg.Subscription,
			AckIds:       ids[:n],
		})
		cancel()
		if err != nil {
			log.Warnf(ctx, "pubsubread: could not release %d messages on %s, they come back after their ack deadline: %v", n, fn.Cfg.Subscription, err)
		} else {
			nackedCount.Inc(ctx, int64(n))
		}
		ids = ids[n:]
	}
}
