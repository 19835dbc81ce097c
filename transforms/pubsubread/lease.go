package pubsubread

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/beametrics/beametrics/transforms/ackgate"
)

// Ack after export (Config.AckGate): the pullers hand each message to the
// gate instead of acking it after the bundle; a keeper per gate, one
// goroutine in this process, acks what the gate releases and extends the
// leases of the rest, for as long as the process lives. A crash leaves
// every unexported message unacked, and Pub/Sub redelivers it.

const (
	// keepEvery is how often the keeper acks and extends leases.
	keepEvery = 500 * time.Millisecond
	// minLeaseExtension is the shortest deadline an extension asks for
	// (the subscription's, when longer). The keeper renews it before it
	// runs out, so a held message is never redelivered to a live process,
	// however long its window. Short, because after a crash Pub/Sub
	// redelivers only once it has run out.
	minLeaseExtension = 10 * time.Second
	// minAckDeadline is Pub/Sub's smallest subscription ack deadline,
	// assumed when the subscription's own cannot be read.
	minAckDeadline = 10 * time.Second
)

// keeper acks and extends the leases of one gate's messages.
type keeper struct {
	cfg      Config
	gate     *ackgate.Gate
	client   *pubsub.Client
	deadline time.Duration // the subscription's ack deadline
	extend   time.Duration // the deadline each extension asks for
	// holdUntil ends the start-up hold of the watermark. Messages a
	// crashed predecessor held come back only when their leases run out,
	// up to one extension after the crash; until then the watermark stays
	// where it started, so that they are not late when they come.
	holdUntil time.Time
	stop      chan struct{}
	done      chan struct{}
}

var keepers = struct {
	sync.Mutex
	m map[string]*keeper
}{m: map[string]*keeper{}}

// keeperFor starts the keeper of cfg.AckGate on first use and returns it.
func keeperFor(ctx context.Context, cfg Config) (*keeper, error) {
	keepers.Lock()
	defer keepers.Unlock()
	if k, ok := keepers.m[cfg.AckGate]; ok {
		return k, nil
	}
	// Its own client: the keeper outlives the DoFn instances.
	client, err := newClient(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	k := &keeper{cfg: cfg, gate: ackgate.Open(cfg.AckGate), client: client, deadline: minAckDeadline,
		stop: make(chan struct{}), done: make(chan struct{})}
	callCtx, cancel := context.WithTimeout(ctx, rpcTimeout)
	sub, err := client.SubscriptionAdminClient.GetSubscription(callCtx, &pubsubpb.GetSubscriptionRequest{Subscription: cfg.Subscription})
	cancel()
	if err == nil && sub.GetAckDeadlineSeconds() > 0 {
		k.deadline = time.Duration(sub.GetAckDeadlineSeconds()) * time.Second
	}
	k.extend = max(k.deadline, minLeaseExtension)
	k.holdUntil = time.Now().Add(k.extend + 2*time.Second)
	keepers.m[cfg.AckGate] = k
	go k.loop()
	return k, nil
}

// leaseEnd is when the lease of a message pulled at t runs out.
func (k *keeper) leaseEnd(t time.Time) time.Time { return t.Add(k.deadline) }

func (k *keeper) loop() {
	defer close(k.done)
	t := time.NewTicker(keepEvery)
	defer t.Stop()
	ctx := context.Background()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		k.ackIDs(ctx, k.gate.Release())
		// Renew when less than half the subscription's deadline (at most
		// 5 s) is left: several ticks of margin for a slow call.
		within := min(k.deadline/2, 5*time.Second)
		k.modify(ctx, k.gate.Expiring(time.Now(), within, k.extend), k.extend)
	}
}

func (k *keeper) ackIDs(ctx context.Context, ids []string) {
	for len(ids) > 0 {
		n := min(len(ids), maxAckIDsPerCall)
		if err := retry(ctx, func(ctx context.Context) error {
			return k.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: k.cfg.Subscription, AckIds: ids[:n]})
		}); err != nil {
			fmt.Fprintf(os.Stderr, "beametrics: pubsubread: could not ack %d exported messages on %s, Pub/Sub will redeliver them (counted twice): %v\n", n, k.cfg.Subscription, err)
		}
		ids = ids[n:]
	}
}

// modify sets the ack deadline of ids to d (0 hands them back at once).
func (k *keeper) modify(ctx context.Context, ids []string, d time.Duration) {
	for len(ids) > 0 {
		n := min(len(ids), maxAckIDsPerCall)
		if err := retry(ctx, func(ctx context.Context) error {
			return k.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
				Subscription: k.cfg.Subscription, AckIds: ids[:n], AckDeadlineSeconds: int32(d / time.Second)})
		}); err != nil {
			fmt.Fprintf(os.Stderr, "beametrics: pubsubread: could not extend the lease of %d messages on %s, Pub/Sub may deliver them again (counted twice): %v\n", n, k.cfg.Subscription, err)
		}
		ids = ids[n:]
	}
}

func retry(ctx context.Context, call func(context.Context) error) error {
	bo := gax.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}
	var err error
	for attempt := 1; attempt <= ackAttempts; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, rpcTimeout)
		err = call(callCtx)
		cancel()
		if err == nil || permanent(err) {
			return err
		}
		if attempt < ackAttempts {
			if sleepErr := gax.Sleep(ctx, bo.Pause()); sleepErr != nil {
				return err
			}
		}
	}
	return err
}

// FinishAcks ends ack after export for gate key, after the pipeline has
// stopped. exported says that it ended by draining, so that every window
// was exported: the messages still held are acked. Otherwise they are handed
// back to Pub/Sub (deadline 0), to be delivered again at once. It returns
// how many messages it acked and handed back.
func FinishAcks(key string, exported bool) (acked, returned int) {
	keepers.Lock()
	k, ok := keepers.m[key]
	delete(keepers.m, key)
	keepers.Unlock()
	if !ok {
		return 0, 0
	}
	close(k.stop)
	<-k.done
	ctx := context.Background()
	ids := k.gate.TakeAll()
	if exported {
		k.ackIDs(ctx, ids)
		acked = len(ids)
	} else {
		k.modify(ctx, ids, 0)
		returned = len(ids)
	}
	ackgate.Forget(key)
	k.client.Close()
	return acked, returned
}

// permanent reports whether a Pub/Sub error cannot go away by retrying.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.PermissionDenied, codes.InvalidArgument:
		return true
	}
	return false
}
