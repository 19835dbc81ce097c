package pubsubread

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SubscriptionError is a permanent error of the subscription (it does not
// exist, may not be read, or its name is refused): retrying cannot help.
type SubscriptionError struct {
	Subscription string
	Code         codes.Code
	Err          error
}

func (e *SubscriptionError) Error() string {
	what := map[codes.Code]string{
		codes.NotFound:         "does not exist",
		codes.PermissionDenied: "may not be read with these credentials",
		codes.InvalidArgument:  "is refused by Pub/Sub",
	}[e.Code]
	if what == "" {
		what = "failed"
	}
	return fmt.Sprintf("pubsubread: subscription %s %s (%s): %v", e.Subscription, what, e.Code, status.Convert(e.Err).Message())
}

func (e *SubscriptionError) Unwrap() error { return e.Err }

// Check asks Pub/Sub for the subscription before anything starts. It
// returns a *SubscriptionError when the subscription does not exist or its
// name is refused. A refusal to read the subscription's settings is not an
// error: subscribers (roles/pubsub.subscriber) may pull without that right,
// and a pull that is refused ends the run anyway. Other errors (the
// server is unreachable) are returned as they are, for the caller to
// report; the source retries those.
func Check(ctx context.Context, cfg Config) error {
	client, err := newClient(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	callCtx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	_, err = client.SubscriptionAdminClient.GetSubscription(callCtx, &pubsubpb.GetSubscriptionRequest{Subscription: cfg.Subscription})
	switch status.Code(err) {
	case codes.OK, codes.PermissionDenied:
		return nil
	case codes.NotFound, codes.InvalidArgument:
		return &SubscriptionError{Subscription: cfg.Subscription, Code: status.Code(err), Err: err}
	}
	return err
}
