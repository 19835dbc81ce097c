package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/beametrics/beametrics/internal/pubsubname"

	"cloud.google.com/go/pubsub/v2"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// attempts is how often one record is tried before it counts as failed
	// (on top of the client's own retries of transient errors).
	attempts = 5
	// publishTimeout bounds one attempt, including the client's retries.
	publishTimeout = 30 * time.Second
	// stopGrace lets the record in flight when a stop signal arrives finish.
	stopGrace = 5 * time.Second
)

// Config says what to publish, where and how often.
type Config struct {
	// Topic is the full path projects/PROJECT/topics/NAME.
	Topic       string
	PipelineID  string
	PipelineEnv string
	// Interval is the time between records; the first goes out at once.
	Interval time.Duration
	// Count stops after this many records (0 = until the context ends).
	Count int
	// Endpoint overrides the Pub/Sub address (host:port); empty means the
	// default, or PUBSUB_EMULATOR_HOST when that is set.
	Endpoint string
	// Insecure talks to Endpoint in plaintext without credentials
	// (emulators, fakes). It requires Endpoint.
	Insecure bool
	// RetryBase is the first pause between attempts of a record; it
	// doubles up to 10 s.
	RetryBase time.Duration
}

// Stats counts what a run did.
type Stats struct {
	Published int // records Pub/Sub accepted
	Failed    int // records given up after all attempts
	Attempts  int // publish calls, retries included
}

// Validate reports every problem of cfg at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := projectOf(c.Topic); err != nil {
		errs = append(errs, err)
	}
	if c.PipelineID == "" {
		errs = append(errs, errors.New("heartbeat: the pipeline id is empty"))
	}
	if c.PipelineEnv == "" {
		errs = append(errs, errors.New("heartbeat: the pipeline env is empty"))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("heartbeat: the interval must be positive, got %v", c.Interval))
	}
	if c.Count < 0 {
		errs = append(errs, fmt.Errorf("heartbeat: the count must not be negative, got %d", c.Count))
	}
	if c.Insecure && c.Endpoint == "" {
		errs = append(errs, errors.New("heartbeat: insecure needs an endpoint (PUBSUB_EMULATOR_HOST already implies plaintext)"))
	}
	if c.RetryBase <= 0 {
		errs = append(errs, fmt.Errorf("heartbeat: the retry base must be positive, got %v", c.RetryBase))
	}
	return errors.Join(errs...)
}

func projectOf(topic string) (string, error) {
	p, err := pubsubname.Project(topic, "topics")
	if err != nil {
		return "", fmt.Errorf("heartbeat: %w", err)
	}
	return p, nil
}

// Run publishes records until Count is reached or ctx ends; a record in
// flight when ctx ends is still given a short grace to go out. The error is
// non-nil when any record failed after all attempts, or the client could
// not be created.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (Stats, error) {
	var st Stats
	if err := cfg.Validate(); err != nil {
		return st, err
	}
	project, _ := projectOf(cfg.Topic)
	client, err := pubsub.NewClient(context.WithoutCancel(ctx), project, pubsubname.ClientOptions(cfg.Endpoint, cfg.Insecure)...)
	if err != nil {
		return st, fmt.Errorf("heartbeat: connecting to Pub/Sub: %w", err)
	}
	defer client.Close()
	pub := client.Publisher(cfg.Topic)
	// One record at a time: send it now rather than wait for a batch.
	pub.PublishSettings.CountThreshold = 1
	pub.PublishSettings.Timeout = publishTimeout
	defer stopPublisher(pub, log)

	// The ticker starts once the first record is out, so that connecting
	// (which only the first publish pays) does not shorten the first
	// interval.
	var ticker *time.Ticker
	for {
		if err := publishOne(ctx, pub, cfg, log, &st); err != nil {
			st.Failed++
			var missing *TopicNotFoundError
			if errors.As(err, &missing) {
				// No later record can succeed either: stop now.
				log.Error("heartbeat stopping: the topic does not exist", "topic", cfg.Topic, "error", err)
				return st, err
			}
			log.Error("heartbeat record not published", "topic", cfg.Topic, "attempts", attempts, "error", err)
		}
		if ticker == nil {
			ticker = time.NewTicker(cfg.Interval)
			defer ticker.Stop()
		}
		if cfg.Count > 0 && st.Published+st.Failed >= cfg.Count {
			break
		}
		select {
		case <-ctx.Done():
		case <-ticker.C:
		}
		// Checked apart from the select, which picks at random when the
		// tick and the stop are both ready.
		if ctx.Err() != nil {
			log.Info("heartbeat stopping", "published", st.Published, "failed", st.Failed)
			return st, failure(st)
		}
	}
	return st, failure(st)
}

// stopPublisher flushes the publisher but waits at most stopGrace: Stop
// waits for messages still being retried, up to the publish timeout, and
// those were already counted as failed.
func stopPublisher(pub *pubsub.Publisher, log *slog.Logger) {
	stopped := make(chan struct{})
	go func() {
		pub.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(stopGrace):
		log.Warn("heartbeat: gave up waiting for the publisher to flush", "waited", stopGrace)
	}
}

func failure(st Stats) error {
	if st.Failed > 0 {
		return fmt.Errorf("heartbeat: %d of %d records could not be published", st.Failed, st.Failed+st.Published)
	}
	return nil
}

// TopicNotFoundError says that Pub/Sub does not know the topic: a
// permanent error, so the record is not retried and the run stops.
type TopicNotFoundError struct {
	Topic string
	Err   error // the NotFound status from Pub/Sub
}

func (e *TopicNotFoundError) Error() string {
	return fmt.Sprintf("heartbeat: topic %s does not exist (create it, or fix --topic): %v", e.Topic, e.Err)
}

func (e *TopicNotFoundError) Unwrap() error { return e.Err }

// publishOne publishes one record, retrying with backoff; a missing topic
// is not retried.
func publishOne(ctx context.Context, pub *pubsub.Publisher, cfg Config, log *slog.Logger, st *Stats) error {
	msg := &pubsub.Message{
		Data:       Record(cfg.PipelineID, cfg.PipelineEnv, time.Now()),
		Attributes: Attributes(cfg.PipelineID, cfg.PipelineEnv),
	}
	// A stop signal gives the record in flight stopGrace to go out rather
	// than cutting it off at once.
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopAfterGrace := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })
	defer stopAfterGrace()
	bo := gax.Backoff{Initial: cfg.RetryBase, Max: 10 * time.Second, Multiplier: 2}
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		st.Attempts++
		var id string
		attemptCtx, attemptCancel := context.WithTimeout(callCtx, publishTimeout)
		id, err = pub.Publish(attemptCtx, msg).Get(attemptCtx)
		attemptCancel()
		if err == nil {
			st.Published++
			log.Info("heartbeat published", "topic", cfg.Topic, "id", id, "record", string(msg.Data))
			return nil
		}
		if status.Code(err) == codes.NotFound {
			return &TopicNotFoundError{Topic: cfg.Topic, Err: err}
		}
		if attempt == attempts {
			break
		}
		pause := bo.Pause()
		log.Warn("heartbeat publish failed, retrying", "topic", cfg.Topic, "attempt", attempt, "retry_in", pause, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while retrying: %w", err)
		case <-time.After(pause):
		}
	}
	return err
}
