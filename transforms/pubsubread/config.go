package pubsubread

import (
	"errors"
	"fmt"
	"time"

	"github.com/beametrics/beametrics/internal/pubsubname"
)

// Config says where and how the source pulls. It is serialised with the
// pipeline (JSON; durations are nanoseconds there), so it holds only plain
// values. Start from NewConfig, which fills the recommended values, and
// change what you need.
type Config struct {
	// Subscription is the full path: projects/PROJECT/subscriptions/NAME.
	Subscription string
	// Endpoint overrides the Pub/Sub address (host:port). Empty means the
	// client's default, or PUBSUB_EMULATOR_HOST when that is set.
	Endpoint string
	// Insecure connects to Endpoint over plaintext gRPC without credentials,
	// as emulators and fakes need. It requires Endpoint.
	Insecure bool

	// MaxDelay is how late a message may be published relative to the
	// source's clock and still be on time: when idle the watermark is
	// now − MaxDelay. It never moves back.
	MaxDelay time.Duration
	// PollInterval is the pause before pulling again after an empty pull.
	PollInterval time.Duration
	// MaxMessages is the most messages one pull returns (1..1000 is sane).
	MaxMessages int
	// Pullers is the number of independent pullers (restrictions) the
	// source starts; the runner may run them in parallel.
	Pullers int

	// AckGate, when set, acks a message only once every window it
	// contributes to has been exported (see package ackgate): the pullers
	// hand messages to the gate of this key and a keeper extends their
	// leases until then. Local runners only; the pipeline sets it, with
	// the parse step and ackgate.Probe on the same key.
	AckGate string

	// StopAfter stops the source after this many messages in total over
	// all pullers (0 = never). For tests and one-shot runs.
	StopAfter int64
	// StopWhenIdle stops the source once no puller has received a message
	// for this long (0 = never). For tests and backfills.
	StopWhenIdle time.Duration
}

// NewConfig returns the recommended settings for subscription: a 10 s
// maximum delay, a 1 s poll interval, 1000 messages per pull, one puller and
// no automatic stop.
func NewConfig(subscription string) Config {
	return Config{
		Subscription: subscription,
		MaxDelay:     10 * time.Second,
		PollInterval: time.Second,
		MaxMessages:  1000,
		Pullers:      1,
	}
}

// maxPullMessages is the Pub/Sub API's own limit for one pull.
const maxPullMessages = 1000

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := projectOf(c.Subscription); err != nil {
		errs = append(errs, err)
	}
	if c.Insecure && c.Endpoint == "" {
		errs = append(errs, errors.New("pubsubread: Insecure needs an Endpoint (PUBSUB_EMULATOR_HOST already implies plaintext)"))
	}
	if c.MaxDelay < 0 {
		errs = append(errs, fmt.Errorf("pubsubread: MaxDelay must not be negative, got %v", c.MaxDelay))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("pubsubread: PollInterval must be positive, got %v", c.PollInterval))
	}
	if c.MaxMessages < 1 || c.MaxMessages > maxPullMessages {
		errs = append(errs, fmt.Errorf("pubsubread: MaxMessages must be in 1..%d, got %d", maxPullMessages, c.MaxMessages))
	}
	if c.Pullers < 1 {
		errs = append(errs, fmt.Errorf("pubsubread: Pullers must be at least 1, got %d", c.Pullers))
	}
	if c.StopAfter < 0 {
		errs = append(errs, fmt.Errorf("pubsubread: StopAfter must not be negative, got %d", c.StopAfter))
	}
	if c.StopWhenIdle < 0 {
		errs = append(errs, fmt.Errorf("pubsubread: StopWhenIdle must not be negative, got %v", c.StopWhenIdle))
	}
	return errors.Join(errs...)
}

// projectOf returns P of projects/P/subscriptions/S.
func projectOf(subscription string) (string, error) {
	p, err := pubsubname.Project(subscription, "subscriptions")
	if err != nil {
		return "", fmt.Errorf("pubsubread: %w", err)
	}
	return p, nil
}
