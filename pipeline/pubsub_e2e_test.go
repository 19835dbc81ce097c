package pipeline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/pipeline"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

const (
	e2eProject = "e2e"
	e2eTopic   = "projects/e2e/topics/logs"
	e2eSub     = "projects/e2e/subscriptions/beametrics"
)

// e2eConfig uses a message attribute in a condition and as a label.
const e2eConfig = `
event_time_field: time
window: 10s
metrics:
  - name: prod-requests
    type: count
    dynamic_labels: {service: service}
    filter-conditions:
      - {field: attributes.env, operator: equals, value: prod}
    export_type: local
  - name: bytes-by-env
    type: sum
    field: bytes
    dynamic_labels: {env: attributes.env}
    export_type: local
`

// e2eEvents makes n logs with event times over one minute that starts two
// minutes from now, so that none is late for the source's watermark (now
// minus its maximum delay) however slow the machine, and a few bad
// records. It returns the messages and the expected points, formatted as
// formatPoint does.
func e2eEvents(n int) (msgs []*pubsub.Message, bad int, want []string) {
	rng := rand.New(rand.NewPCG(3, 5))
	start := time.Now().UTC().Truncate(time.Minute).Add(2 * time.Minute)
	counts, sums := map[string]int{}, map[string]int{}
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(rng.IntN(60_000)) * time.Millisecond)
		service := []string{"checkout", "search", "auth"}[rng.IntN(3)]
		env := []string{"prod", "prod", "dev"}[rng.IntN(3)]
		b := rng.IntN(10_000)
		msgs = append(msgs, &pubsub.Message{
			Data:       []byte(fmt.Sprintf(`{"time":%q,"service":%q,"bytes":%d}`, at.Format(time.RFC3339Nano), service, b)),
			Attributes: map[string]string{"env": env},
		})
		w := at.Truncate(10 * time.Second)
		win := w.Format(time.RFC3339Nano) + "/" + w.Add(10*time.Second).Format(time.RFC3339Nano)
		if env == "prod" {
			counts[fmt.Sprintf("prod-requests{service=%s} %s", service, win)]++
		}
		sums[fmt.Sprintf("bytes-by-env{env=%s} %s", env, win)] += b
	}
	for _, data := range []string{`not json`, `[1]`, `{"time":`} {
		msgs = append(msgs, &pubsub.Message{Data: []byte(data), Attributes: map[string]string{"env": "prod"}})
		bad++
	}
	for k, v := range counts {
		want = append(want, fmt.Sprintf("%s = %d", k, v))
	}
	for k, v := range sums {
		want = append(want, fmt.Sprintf("%s = %d", k, v))
	}
	sort.Strings(want)
	return msgs, bad, want
}

// e2eSubscription creates the test topic and its subscription on srv and
// returns a client of srv.
func e2eSubscription(t *testing.T, srv *pubsubtest.Server, ackDeadline time.Duration) *pubsub.Client {
	t.Helper()
	c := srv.Client(t, e2eProject)
	pubsubtest.CreateTopic(t, c, e2eTopic)
	pubsubtest.CreateSubscription(t, c, e2eSub, e2eTopic, ackDeadline)
	return c
}

// runPubSubE2E publishes the logs to srv, runs the real Build path with the
// Pub/Sub source until it has read every message, and checks the exported
// totals and the dead letters. It returns the client and message IDs.
func runPubSubE2E(t *testing.T, srv *pubsubtest.Server, ackDeadline time.Duration) (*pubsub.Client, []string) {
	c := e2eSubscription(t, srv, ackDeadline)
	msgs, bad, want := e2eEvents(400)
	ids := pubsubtest.Publish(t, c, e2eTopic, msgs)

	rec := installRecorder(t)
	src := config.Source{Name: "e2e.yaml", Text: []byte(e2eConfig)}
	cfg, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	pc := pubsubread.NewConfig(e2eSub)
	pc.Endpoint, pc.Insecure = srv.Addr, true
	pc.PollInterval = 50 * time.Millisecond
	pc.MaxMessages = 100
	pc.Pullers = 2
	// Stopping after the last message lets the watermark reach the end:
	// every window fires.
	pc.StopAfter = int64(len(msgs))
	dead := t.TempDir() + "/dead.jsonl"
	plan := &pipeline.Plan{Source: src, Config: cfg, PubSub: &pc, DeadLetter: dead}
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, plan); err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	diffLines(t, rec.lines(t), want)
	checkPubSubDeadLetters(t, dead, bad)
	return c, ids
}

// checkPubSubDeadLetters checks that the file holds n dead letters, each
// naming the message it came from.
func checkPubSubDeadLetters(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(bytes.TrimSpace(b)) == 0 {
		lines = nil
	}
	if len(lines) != n {
		t.Errorf("%d dead letters, want %d:\n%s", len(lines), n, b)
	}
	for _, l := range lines {
		var r struct{ Reason, Source, Data string }
		if err := json.Unmarshal(l, &r); err != nil || r.Reason == "" || !strings.HasPrefix(r.Source, "pubsub message ") || r.Data == "" {
			t.Errorf("dead letter %s: want a reason, the message ID and the data (%v)", l, err)
		}
	}
}

func TestPubSubEndToEndFake(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	_, ids := runPubSubE2E(t, srv, time.Minute)
	msgs := srv.Fake.Messages()
	if len(msgs) != len(ids) {
		t.Errorf("the fake holds %d messages, want %d", len(msgs), len(ids))
	}
	for _, m := range msgs {
		if m.Deliveries != 1 || m.Acks < 1 {
			t.Errorf("message %s: %d deliveries, %d acks; want 1 delivery and an ack", m.ID, m.Deliveries, m.Acks)
		}
	}
}

func TestPubSubEndToEndEmulator(t *testing.T) {
	srv := pubsubtest.StartEmulator(t) // skips, saying what is missing, without the emulator
	// The shortest deadline Pub/Sub allows: an unacked message comes back
	// while the test looks for leftovers.
	const ackDeadline = 10 * time.Second
	c, _ := runPubSubE2E(t, srv, ackDeadline)
	if left := pubsubtest.PullRemaining(t, c, e2eSub, ackDeadline+3*time.Second); len(left) > 0 {
		t.Errorf("%d messages left on the subscription or redelivered after the run, e.g. %v", len(left), left[:min(5, len(left))])
	}
}

// TestDrainStopAll runs a streaming pipeline through pipeline.Run against
// the in-process Pub/Sub server (PUBSUB_EMULATOR_HOST), waits until it has
// read every message, and stops it as SIGTERM does (pubsubread.StopAll):
// Run must return without error, with every open window exported and
// every message acked once. Messages are acked only after their windows
// are exported (transforms/ackgate), so the drain is what acks them.
func TestDrainStopAll(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	c := e2eSubscription(t, srv, time.Minute)
	msgs, bad, want := e2eEvents(300)
	pubsubtest.Publish(t, c, e2eTopic, msgs)
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)

	rec := installRecorder(t)
	cfgPath := writeFile(t, "e2e.yaml", []byte(e2eConfig))
	o := &pipeline.Options{Config: cfgPath, Subscription: e2eSub, MaxDelay: 2 * time.Second, Pullers: 2}
	eventsBefore, deadBefore := selfmetrics.Events.Load(), selfmetrics.DeadLetters.Load()
	run := runInBackground(t, o)
	// Wait until every message was read.
	run.waitFor(func() string {
		return fmt.Sprintf("every message to be read: %d events, %d dead letters read; want %d and %d", selfmetrics.Events.Load()-eventsBefore,
			selfmetrics.DeadLetters.Load()-deadBefore, len(msgs)-bad, bad)
	}, func() bool {
		return selfmetrics.Events.Load()-eventsBefore >= int64(len(msgs)-bad) && selfmetrics.DeadLetters.Load()-deadBefore >= int64(bad)
	})
	rec.mu.Lock()
	early := len(rec.points)
	rec.mu.Unlock()
	if early != 0 {
		t.Errorf("%d points exported before the drain: the windows (2 minutes ahead) should still be open", early)
	}

	err := run.drain()
	stderr := &run.stderr
	if err != nil {
		t.Fatalf("Run after StopAll: %v\n%s", err, stderr.String())
	}
	diffLines(t, rec.lines(t), want)
	for _, m := range srv.Fake.Messages() {
		if m.Deliveries != 1 || m.Acks < 1 {
			t.Errorf("message %s: %d deliveries, %d acks; want 1 delivery and an ack", m.ID, m.Deliveries, m.Acks)
		}
	}
	rec.mu.Lock()
	closes := rec.closes
	rec.mu.Unlock()
	if closes == 0 {
		t.Errorf("Run ended without closing its exporters")
	}
}
