package pubsubread_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

func TestCheckMissingSubscription(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	cfg := pubsubread.NewConfig("projects/p/subscriptions/nope")
	cfg.Endpoint, cfg.Insecure = srv.Addr, true
	err := pubsubread.Check(context.Background(), cfg)
	var subErr *pubsubread.SubscriptionError
	if !errors.As(err, &subErr) || subErr.Code != codes.NotFound {
		t.Fatalf("Check = %v, want a NotFound SubscriptionError", err)
	}
	if !strings.Contains(err.Error(), "projects/p/subscriptions/nope") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("the message %q does not name the subscription", err)
	}

	c := srv.Client(t, "p")
	pubsubtest.CreateTopic(t, c, "projects/p/topics/t")
	pubsubtest.CreateSubscription(t, c, "projects/p/subscriptions/yes", "projects/p/topics/t", 10*time.Second)
	cfg.Subscription = "projects/p/subscriptions/yes"
	if err := pubsubread.Check(context.Background(), cfg); err != nil {
		t.Fatalf("Check of an existing subscription: %v", err)
	}
}
