package pubsubread_test

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

func TestMain(m *testing.M) {
	ptest.Main(m)
}

func init() {
	register.DoFn1x0[pubsubread.Message](&recordFn{})
	register.Function1x2(colorOf)
	register.Function3x1(formatWindowCount)
	register.Function2x1(sum)
}

// seen collects, per test, how often the pipeline emitted each message ID.
// Prism runs in this process, so a DoFn can write here.
var seen = struct {
	sync.Mutex
	ids         map[string]map[string]int
	first, last map[string]time.Time // when the first and last message arrived
}{ids: map[string]map[string]int{}, first: map[string]time.Time{}, last: map[string]time.Time{}}

type recordFn struct{ Key string }

func (f *recordFn) ProcessElement(m pubsubread.Message) {
	seen.Lock()
	defer seen.Unlock()
	if seen.ids[f.Key] == nil {
		seen.ids[f.Key] = map[string]int{}
	}
	seen.ids[f.Key][m.ID]++
	now := time.Now()
	if _, ok := seen.first[f.Key]; !ok {
		seen.first[f.Key] = now
	}
	seen.last[f.Key] = now
}

// seenSpan returns the time from the first message to the last one of key:
// the pipeline's steady reading time, without its start and its end.
func seenSpan(key string) time.Duration {
	seen.Lock()
	defer seen.Unlock()
	return seen.last[key].Sub(seen.first[key])
}

func seenIDs(key string) map[string]int {
	seen.Lock()
	defer seen.Unlock()
	out := map[string]int{}
	for id, n := range seen.ids[key] {
		out[id] = n
	}
	return out
}

func colorOf(m pubsubread.Message) (string, int) { return m.Attributes["color"], 1 }

func sum(a, b int) int { return a + b }

func formatWindowCount(w beam.Window, color string, n int) string {
	return fmt.Sprintf("%s %s %d", w.(window.IntervalWindow).Start.ToTime().UTC().Format(time.RFC3339), color, n)
}

const (
	project = "proj"
	topic   = "projects/proj/topics/logs"
	sub     = "projects/proj/subscriptions/logs-sub"
)

var colors = []string{"red", "green", "blue"}

// testMessages builds n messages with a color attribute cycling through
// colors and a body naming the message.
func testMessages(n int) []*pubsub.Message {
	msgs := make([]*pubsub.Message, n)
	for i := range msgs {
		msgs[i] = &pubsub.Message{
			Data:       []byte(`{"n":` + strconv.Itoa(i) + `}`),
			Attributes: map[string]string{"color": colors[i%len(colors)], "n": strconv.Itoa(i)},
		}
	}
	return msgs
}

// buildCountPipeline reads with cfg, records every message under key and
// asserts the per-window, per-color counts equal want.
func buildCountPipeline(cfg pubsubread.Config, key string, want []string) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	msgs := pubsubread.Read(s, cfg)
	beam.ParDo0(s, &recordFn{Key: key}, msgs)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), msgs)
	counts := beam.CombinePerKey(s, sum, beam.ParDo(s, colorOf, windowed))
	lines := beam.ParDo(s, formatWindowCount, counts)
	global := beam.WindowInto(s, window.NewGlobalWindows(), lines)
	passert.Equals(s, global, toAny(want)...)
	return p
}

func toAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// expectedCounts computes "windowStart color count" lines from publish
// times and colors.
func expectedCounts(publish []time.Time, color []string) []string {
	counts := map[string]int{}
	for i, t := range publish {
		counts[t.UTC().Truncate(time.Minute).Format(time.RFC3339)+" "+color[i]]++
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(out)
	return out
}

func fakeConfig(srv *pubsubtest.Server) pubsubread.Config {
	cfg := pubsubread.NewConfig(sub)
	cfg.Endpoint = srv.Addr
	cfg.Insecure = true
	cfg.PollInterval = 50 * time.Millisecond
	return cfg
}

func setupFake(t *testing.T, n int) (*pubsubtest.Server, []string) {
	t.Helper()
	srv := pubsubtest.StartFake(t)
	c := srv.Client(t, project)
	pubsubtest.CreateTopic(t, c, topic)
	pubsubtest.CreateSubscription(t, c, sub, topic, time.Minute)
	ids := pubsubtest.Publish(t, c, topic, testMessages(n))
	return srv, ids
}

// fakeExpectations reads publish times and colors back from the fake.
func fakeExpectations(srv *pubsubtest.Server) []string {
	var times []time.Time
	var cs []string
	for _, m := range srv.Fake.Messages() {
		times = append(times, m.PublishTime)
		cs = append(cs, m.Attributes["color"])
	}
	return expectedCounts(times, cs)
}

// checkDeliveredOnce checks that the pipeline saw exactly ids, once each,
// and that the fake recorded one delivery and an ack for each.
func checkDeliveredOnce(t *testing.T, srv *pubsubtest.Server, key string, ids []string) {
	t.Helper()
	got := seenIDs(key)
	if len(got) != len(ids) {
		t.Errorf("pipeline saw %d distinct messages, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("message %s emitted %d times, want 1", id, got[id])
		}
	}
	for _, m := range srv.Fake.Messages() {
		if m.Deliveries != 1 || m.Acks < 1 {
			t.Errorf("message %s: %d deliveries and %d acks, want 1 delivery and an ack", m.ID, m.Deliveries, m.Acks)
		}
	}
}

func TestReadFakeStopAfter(t *testing.T) {
	const n = 600
	srv, ids := setupFake(t, n)
	cfg := fakeConfig(srv)
	cfg.Pullers = 3
	cfg.MaxMessages = 50
	cfg.StopAfter = n
	key := uniqueKey(t.Name())
	res, err := ptest.RunWithMetrics(buildCountPipeline(cfg, key, fakeExpectations(srv)))
	if err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	checkDeliveredOnce(t, srv, key, ids)
	if got := beamtest.Counter(res, "pubsubread", "pulled"); got != n {
		t.Errorf("pulled counter = %d, want %d", got, n)
	}
	if got := beamtest.Counter(res, "pubsubread", "acked"); got != n {
		t.Errorf("acked counter = %d, want %d", got, n)
	}
}

func TestReadFakeStopWhenIdle(t *testing.T) {
	const n = 120
	srv, ids := setupFake(t, n)
	cfg := fakeConfig(srv)
	cfg.StopWhenIdle = time.Second
	key := uniqueKey(t.Name())
	if err := ptest.Run(buildCountPipeline(cfg, key, fakeExpectations(srv))); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	checkDeliveredOnce(t, srv, key, ids)
}

// TestReadFakeStopAll publishes while the pipeline runs and stops it from
// outside, as a drain does.
func TestReadFakeStopAll(t *testing.T) {
	srv, first := setupFake(t, 30)
	c := srv.Client(t, project)
	cfg := fakeConfig(srv)
	cfg.Pullers = 2
	key := uniqueKey(t.Name())

	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &recordFn{Key: key}, pubsubread.Read(s, cfg))
	done := make(chan error, 1)
	go func() { done <- ptest.Run(p) }()

	waitSeen(t, key, len(first))
	second := pubsubtest.Publish(t, c, topic, testMessages(30))
	all := append(first, second...)
	waitSeen(t, key, len(all))
	pubsubread.StopAll()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pipeline failed: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("pipeline did not finish within 2 minutes of Stop")
	}
	checkDeliveredOnce(t, srv, key, all)
}

// TestReadMissingSubscriptionFails: a subscription that does not exist is
// a permanent error; the run ends at once, naming it, instead of retrying
// forever.
func TestReadMissingSubscriptionFails(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	cfg := fakeConfig(srv)
	cfg.Subscription = "projects/proj/subscriptions/missing"
	cfg.PollInterval = 20 * time.Millisecond
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &recordFn{Key: uniqueKey(t.Name())}, pubsubread.Read(s, cfg))
	done := make(chan error, 1)
	go func() { _, err := ptest.RunWithMetrics(p); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), cfg.Subscription) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("pipeline ended with %v, want an error naming the missing subscription", err)
		}
	case <-time.After(time.Minute):
		pubsubread.StopAll()
		t.Fatal("a missing subscription was still retried after a minute")
	}
}

// TestReadPullErrorsAreRetried: a server that does not answer is a
// transient error: the source counts and retries it, and still stops.
func TestReadPullErrorsAreRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: Unavailable
	cfg := pubsubread.NewConfig("projects/proj/subscriptions/any")
	cfg.Endpoint, cfg.Insecure = addr, true
	cfg.PollInterval = 20 * time.Millisecond
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &recordFn{Key: uniqueKey(t.Name())}, pubsubread.Read(s, cfg))
	go func() {
		time.Sleep(2 * time.Second)
		pubsubread.StopAll()
	}()
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("pipeline failed instead of retrying: %v", err)
	}
	// The client library itself retries Unavailable for up to the call's
	// 30 s timeout, so one counted error stands for that much retrying.
	if got := beamtest.Counter(res, "pubsubread", "pull_errors"); got < 1 {
		t.Errorf("pull_errors counter = %d, want the unreachable server's error counted", got)
	}
}

func waitSeen(t *testing.T, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(seenIDs(key)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("pipeline saw %d messages after a minute, want %d", len(seenIDs(key)), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func init() {
	register.DoFn1x0[string](&recordLineFn{})
}

// TestReadWatermarkFiresWindowsWhileRunning checks that windows fire while
// the source still runs (the watermark moves when idle), that
// PUBSUB_EMULATOR_HOST is honoured and that StopAll ends the pipeline.
func TestReadWatermarkFiresWindowsWhileRunning(t *testing.T) {
	srv, _ := setupFake(t, 9)
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	cfg := pubsubread.NewConfig(sub)
	cfg.MaxDelay = 0
	cfg.PollInterval = 50 * time.Millisecond
	key := uniqueKey(t.Name())

	p, s := beam.NewPipelineWithRoot()
	msgs := pubsubread.Read(s, cfg)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Second), msgs)
	counts := beam.CombinePerKey(s, sum, beam.ParDo(s, colorOf, windowed))
	beam.ParDo0(s, &recordLineFn{Key: key}, beam.ParDo(s, formatWindowCount, counts))
	done := make(chan error, 1)
	go func() { done <- ptest.Run(p) }()

	deadline := time.Now().Add(time.Minute)
	for {
		lines.Lock()
		n := len(lines.byKey[key])
		lines.Unlock()
		if n > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("pipeline ended before any window fired: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			pubsubread.StopAll()
			t.Fatal("no window fired within a minute while the source ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pubsubread.StopAll()
	if err := <-done; err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	total := 0
	lines.Lock()
	for _, l := range lines.byKey[key] {
		var start, color string
		var n int
		fmt.Sscanf(l, "%s %s %d", &start, &color, &n)
		total += n
	}
	lines.Unlock()
	if total != 9 {
		t.Errorf("windows counted %d messages, want 9: %v", total, lines.byKey[key])
	}
	for _, m := range srv.Fake.Messages() {
		if m.Acks < 1 {
			t.Errorf("message %s not acked", m.ID)
		}
	}
}

// uniqueKey makes a sink key that repeated runs (-count, b.Loop) do not
// share.
func uniqueKey(name string) string {
	return name + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
}
