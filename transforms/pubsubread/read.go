// Package pubsubread is a Pub/Sub source for runners other than Dataflow
// (prism): an unbounded splittable DoFn that pulls with the Pub/Sub v2
// client, acks after the runner has committed a bundle's output, carries
// message attributes and keeps a watermark. On Dataflow use pubsubio.Read.
//
// Delivery is at least once: a message is redelivered when a bundle fails
// or when its ack deadline passes before the next bundle of its puller
// acks it. Give the subscription an ack deadline well above the bundle time
// plus PollInterval (60 s is comfortable).
package pubsubread

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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
}

func (fn *readFn) Setup(ctx context.Context) error {
	project, err := projectOf(fn.Cfg.Subscription)
	if err != nil {
		return err
	}
	var opts []option.ClientOption
	if fn.Cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(fn.Cfg.Endpoint))
	}
	if fn.Cfg.Insecure {
		opts = append(opts, option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithTelemetryDisabled())
	}
	fn.client, err = pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return fmt.Errorf("pubsubread: connecting for %s: %w", fn.Cfg.Subscription, err)
	}
	fn.run = runFor(fn.RunID, fn.Cfg)
	fn.backoff = gax.Backoff{Initial: fn.Cfg.PollInterval, Max: 30 * time.Second, Multiplier: 2}
	return nil
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
	// residual, so its messages may be acked now.
	fn.ack(ctx, r.AckIDs)

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
			pause := fn.backoff.Pause()
			if emitted > 0 {
				// Checkpoint now so that what was emitted gets acked.
				pause = 0
			}
			log.Warnf(ctx, "pubsubread: pull from %s failed (puller %d), retrying in %v: %v", fn.Cfg.Subscription, r.Puller, pause, err)
			return sdf.ResumeProcessingIn(pause), nil
		}
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
		we.advance(now.Add(-fn.Cfg.MaxDelay))
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
	we.advance(oldest)
	return emitted, len(received) == fn.Cfg.MaxMessages, nil
}

func (fn *readFn) pull(ctx context.Context) ([]*pubsubpb.ReceivedMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	// ReturnImmediately: an empty subscription must end the bundle at once
	// so that the watermark moves and stop signals are seen; the poll
	// interval does the waiting.
	resp, err := fn.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{
		Subscription:      fn.Cfg.Subscription,
		MaxMessages:       int32(fn.Cfg.MaxMessages),
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
