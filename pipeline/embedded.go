package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/beametrics/beametrics/internal/loggen"
)

// Embedded is the quick start's stand-in for a real log pipeline: an
// in-process Pub/Sub server (the client library's pstest) fed with
// generated web-app logs and liveness dummy records.
type Embedded struct {
	Addr         string
	Subscription string

	srv    *pstest.Server
	client *pubsub.Client
	cancel context.CancelFunc
	done   chan struct{}
}

const (
	embeddedProject = "beametrics-local"
	embeddedTopic   = "projects/" + embeddedProject + "/topics/logs"
	embeddedSub     = "projects/" + embeddedProject + "/subscriptions/beametrics"
)

// StartEmbedded starts the server and a generator publishing rate log
// records per second, plus a liveness record every 5 s for each of two
// pipeline routes.
func StartEmbedded(ctx context.Context, rate int) (*Embedded, error) {
	if rate < 1 {
		return nil, fmt.Errorf("embedded generator: rate must be at least 1")
	}
	srv := pstest.NewServer()
	c, err := pubsub.NewClient(ctx, embeddedProject,
		option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		srv.Close()
		return nil, err
	}
	if err := createEmbeddedSubscription(ctx, c); err != nil {
		c.Close()
		srv.Close()
		return nil, err
	}
	gctx, cancel := context.WithCancel(ctx)
	e := &Embedded{Addr: srv.Addr, Subscription: embeddedSub, srv: srv, client: c, cancel: cancel, done: make(chan struct{})}
	go e.generate(gctx, rate)
	return e, nil
}

func createEmbeddedSubscription(ctx context.Context, c *pubsub.Client) error {
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: embeddedTopic}); err != nil {
		return fmt.Errorf("embedded Pub/Sub: create topic: %w", err)
	}
	// The shortest ack deadline Pub/Sub allows: the source holds its
	// watermark for one lease at the start (for messages a crashed run
	// left), so with 60 s the quick start showed no window for a minute.
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: embeddedSub, Topic: embeddedTopic, AckDeadlineSeconds: 10}); err != nil {
		return fmt.Errorf("embedded Pub/Sub: create subscription: %w", err)
	}
	return nil
}

func (e *Embedded) generate(ctx context.Context, rate int) {
	defer close(e.done)
	pub := e.client.Publisher(embeddedTopic)
	defer pub.Stop()
	step := time.Second / time.Duration(rate)
	gen := loggen.New(uint64(time.Now().UnixNano()), time.Now(), step)
	tick := time.NewTicker(step)
	defer tick.Stop()
	live := time.NewTicker(5 * time.Second)
	defer live.Stop()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-live.C:
			for _, route := range []struct{ id, env string }{{"0", "blue"}, {"1", "green"}} {
				pub.Publish(ctx, &pubsub.Message{Data: livenessRecord(route.id, route.env, time.Now()),
					Attributes: map[string]string{"pipeline-id": route.id, "pipeline-env": route.env}})
			}
		case <-tick.C:
			// Stamp each line with the current time, so windows close as
			// the wall clock moves.
			buf = gen.AppendAt(buf[:0], time.Now())
			pub.Publish(ctx, &pubsub.Message{Data: append([]byte(nil), buf...)})
		}
	}
}

// livenessRecord is the dummy record of the fluentd companion config.
func livenessRecord(id, env string, t time.Time) []byte {
	b, _ := json.Marshal(map[string]string{
		"pipeline-id": id, "pipeline-env": env,
		"time": t.UTC().Format("2006-01-02 15:04:05 UTC"), "user_agent": "beametrics-dummy",
	})
	return b
}

// Stop stops the generator and the server.
func (e *Embedded) Stop() {
	e.cancel()
	<-e.done
	e.client.Close()
	e.srv.Close()
}
