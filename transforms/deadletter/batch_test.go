package deadletter_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

// publishCalls counts the Publish requests a pstest server receives and
// the messages in them; it lets every request through.
type publishCalls struct {
	mu       sync.Mutex
	requests int
	messages int
}

func (c *publishCalls) React(req any) (bool, any, error) {
	if r, ok := req.(*pubsubpb.PublishRequest); ok {
		c.mu.Lock()
		c.requests++
		c.messages += len(r.Messages)
		c.mu.Unlock()
	}
	return false, nil, nil
}

func topicWriter(t *testing.T, topic string, create bool) (*deadletter.Writer, *pstest.Server, *publishCalls) {
	t.Helper()
	calls := &publishCalls{}
	srv := pstest.NewServerWithAddress("127.0.0.1:0", pstest.ServerReactorOption{FuncName: "Publish", Reactor: calls})
	t.Cleanup(func() { srv.Close() })
	if create {
		fake := &pubsubtest.Server{Addr: srv.Addr, Fake: srv}
		pubsubtest.CreateTopic(t, fake.Client(t, "p"), topic)
	}
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	w, err := deadletter.NewWriter(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, srv, calls
}

func letter(i int) metricagg.DeadLetter {
	return metricagg.DeadLetter{Reason: "invalid_json", Detail: "not JSON", Data: []byte(fmt.Sprintf("line %d", i)),
		Source: "file", Time: time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)}
}

// writeAndFlush writes n letters and returns what Flush says.
func writeAndFlush(t *testing.T, w *deadletter.Writer, n int) ([]metricagg.DeadLetter, error) {
	t.Helper()
	for i := range n {
		if err := w.Write(context.Background(), letter(i)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	return w.Flush(context.Background())
}

// A burst of bad records reaches the topic in a few requests, not one
// round trip per record, and Flush confirms every one of them.
func TestTopicDeadLettersAreBatched(t *testing.T) {
	const n = 500
	w, srv, calls := topicWriter(t, "projects/p/topics/dead", true)
	failed, err := writeAndFlush(t, w, n)
	if err != nil || len(failed) != 0 {
		t.Fatalf("flush: %d failed, %v", len(failed), err)
	}
	seen := map[string]bool{}
	for _, m := range srv.Messages() {
		seen[string(m.Data)] = true
	}
	for i := range n {
		if !seen[fmt.Sprintf("line %d", i)] {
			t.Errorf("dead letter %d is not on the topic", i)
		}
	}
	calls.mu.Lock()
	defer calls.mu.Unlock()
	if calls.messages != n {
		t.Errorf("%d messages published, want %d", calls.messages, n)
	}
	// The publisher's default batch holds up to 100 messages.
	if calls.requests > n/10 {
		t.Errorf("%d dead letters took %d publish requests, want at most %d", n, calls.requests, n/10)
	}
}

// When the topic refuses them, Flush returns every letter that was not
// published and says how many, so that nothing is lost without a trace.
func TestTopicDeadLettersNotPublishedAreReturned(t *testing.T) {
	const n = 7
	w, _, _ := topicWriter(t, "projects/p/topics/missing", false)
	failed, err := writeAndFlush(t, w, n)
	if err == nil {
		t.Fatal("flush to a missing topic reported no error")
	}
	if want := fmt.Sprintf("%d of %d dead letters to projects/p/topics/missing not published", n, n); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if len(failed) != n {
		t.Errorf("%d letters returned as not published, want %d", len(failed), n)
	}
	// A second Flush has nothing left to wait for.
	if failed, err := w.Flush(context.Background()); err != nil || len(failed) != 0 {
		t.Errorf("second flush: %d failed, %v", len(failed), err)
	}
}
