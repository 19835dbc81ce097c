package pubsubread_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

// lines collects, per test, the formatted window counts.
var lines = struct {
	sync.Mutex
	byKey map[string][]string
}{byKey: map[string][]string{}}

type recordLineFn struct{ Key string }

func (f *recordLineFn) ProcessElement(line string) {
	lines.Lock()
	defer lines.Unlock()
	lines.byKey[f.Key] = append(lines.byKey[f.Key], line)
}

// TestReadEmulator reads 5,000 messages from the real gcloud emulator with
// several pullers and checks exact per-color totals, that every message was
// emitted exactly once and that nothing is left on the subscription.
func TestReadEmulator(t *testing.T) {
	const n = 5000
	// 20 s: short enough that an unacked message would come back while
	// the test looks for leftovers, long enough for a loaded machine.
	const ackDeadline = 20 * time.Second
	srv := pubsubtest.StartEmulator(t)
	c := srv.Client(t, project)
	pubsubtest.CreateTopic(t, c, topic)
	pubsubtest.CreateSubscription(t, c, sub, topic, ackDeadline)
	started := time.Now()
	ids := pubsubtest.Publish(t, c, topic, testMessages(n))

	cfg := pubsubread.NewConfig(sub)
	cfg.Endpoint = srv.Addr
	cfg.Insecure = true
	cfg.PollInterval = 100 * time.Millisecond
	cfg.MaxMessages = 500
	cfg.Pullers = 4
	cfg.StopAfter = n
	key := uniqueKey(t.Name())

	p, s := beam.NewPipelineWithRoot()
	msgs := pubsubread.Read(s, cfg)
	beam.ParDo0(s, &recordFn{Key: key}, msgs)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), msgs)
	counts := beam.CombinePerKey(s, sum, beam.ParDo(s, colorOf, windowed))
	beam.ParDo0(s, &recordLineFn{Key: key}, beam.ParDo(s, formatWindowCount, counts))
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	finished := time.Now()

	checkSeenOnce(t, key, ids)
	totals := map[string]int{}
	lines.Lock()
	got := append([]string(nil), lines.byKey[key]...)
	lines.Unlock()
	for _, l := range got {
		var start, color string
		var count int
		if _, err := fmt.Sscanf(l, "%s %s %d", &start, &color, &count); err != nil {
			t.Fatalf("bad count line %q: %v", l, err)
		}
		ws, err := time.Parse(time.RFC3339, start)
		if err != nil {
			t.Fatalf("bad window start in %q: %v", l, err)
		}
		if ws.Before(started.Truncate(time.Minute)) || ws.After(finished) {
			t.Errorf("window %s lies outside the test's run %s..%s", ws, started, finished)
		}
		totals[color] += count
	}
	for i, color := range colors {
		want := n / len(colors)
		if i < n%len(colors) {
			want++
		}
		if totals[color] != want {
			t.Errorf("total for %s = %d, want %d (lines %v)", color, totals[color], want, got)
		}
	}
	if left := pubsubtest.PullRemaining(t, c, sub, ackDeadline+5*time.Second); len(left) > 0 {
		t.Errorf("%d messages were left on the subscription or redelivered after the run, e.g. %v", len(left), left[:min(5, len(left))])
	}
}

func checkSeenOnce(t *testing.T, key string, ids []string) {
	t.Helper()
	got := seenIDs(key)
	if len(got) != len(ids) {
		t.Errorf("pipeline saw %d distinct messages, want %d", len(got), len(ids))
	}
	dup := 0
	for _, id := range ids {
		if got[id] != 1 {
			dup++
			if dup <= 5 {
				t.Errorf("message %s emitted %d times, want 1", id, got[id])
			}
		}
	}
}

// benchRead publishes n messages per iteration (not timed) and times a
// pipeline that reads exactly them.
func benchRead(b *testing.B, srv *pubsubtest.Server, n, pullers int) {
	c := srv.Client(b, project)
	pubsubtest.CreateTopic(b, c, topic)
	pubsubtest.CreateSubscription(b, c, sub, topic, time.Minute)
	msgs := testMessages(n)
	var total, cpu, steady time.Duration
	for b.Loop() {
		b.StopTimer()
		pubsubtest.Publish(b, c, topic, msgs)
		cfg := pubsubread.NewConfig(sub)
		cfg.Endpoint = srv.Addr
		cfg.Insecure = true
		cfg.PollInterval = 50 * time.Millisecond
		cfg.Pullers = pullers
		cfg.StopAfter = int64(n)
		key := uniqueKey(b.Name())
		p, s := beam.NewPipelineWithRoot()
		msgs := pubsubread.Read(s, cfg)
		beam.ParDo0(s, &recordFn{Key: key}, msgs)
		countPerColor(s, msgs)
		b.StartTimer()
		wall, c := timedRun(b, p, key, n)
		total += wall
		cpu += c
		steady += seenSpan(key)
	}
	reportRate(b, n*b.N, total, cpu)
	// Wall time includes starting prism and closing the last windows;
	// from the first message to the last is the rate the raw pull loop
	// compares with.
	b.ReportMetric(float64((n-1)*b.N)/steady.Seconds(), "steady-msgs/s")
}

// benchRawPull is the baseline: a bare pull-and-ack loop with the same
// client and batch size, no Beam.
func benchRawPull(b *testing.B, srv *pubsubtest.Server, n int) {
	c := srv.Client(b, project)
	pubsubtest.CreateTopic(b, c, topic)
	pubsubtest.CreateSubscription(b, c, sub, topic, time.Minute)
	msgs := testMessages(n)
	ctx := context.Background()
	var total, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		pubsubtest.Publish(b, c, topic, msgs)
		b.StartTimer()
		t0, c0 := time.Now(), processCPU()
		for got := 0; got < n; {
			//lint:ignore SA1019 as in the source (read.go): an empty pull must return at once.
			resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 1000, ReturnImmediately: true})
			if err != nil {
				b.Fatalf("pull: %v", err)
			}
			ackIDs := make([]string, 0, len(resp.ReceivedMessages))
			for _, m := range resp.ReceivedMessages {
				ackIDs = append(ackIDs, m.AckId)
			}
			if len(ackIDs) > 0 {
				if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: ackIDs}); err != nil {
					b.Fatalf("ack: %v", err)
				}
			}
			got += len(ackIDs)
		}
		total += time.Since(t0)
		cpu += processCPU() - c0
	}
	reportRate(b, n*b.N, total, cpu)
}

const benchMessages = 20000

func BenchmarkReadFake(b *testing.B) {
	for _, pullers := range []int{1, 4} {
		b.Run("pullers="+strconv.Itoa(pullers), func(b *testing.B) {
			benchRead(b, pubsubtest.StartFake(b), benchMessages, pullers)
		})
	}
}

func BenchmarkRawPullFake(b *testing.B) {
	benchRawPull(b, pubsubtest.StartFake(b), benchMessages)
}

func BenchmarkReadEmulator(b *testing.B) {
	srv := pubsubtest.StartEmulator(b)
	for _, pullers := range []int{1, 4} {
		b.Run("pullers="+strconv.Itoa(pullers), func(b *testing.B) {
			// One emulator for both sub-benchmarks: a fresh topic each.
			benchRead(b, srvWithPrefix(b, srv), benchMessages, pullers)
		})
	}
}

func BenchmarkRawPullEmulator(b *testing.B) {
	benchRawPull(b, pubsubtest.StartEmulator(b), benchMessages)
}

// srvWithPrefix deletes the shared topic and subscription names so that a
// sub-benchmark can create them again on the same emulator.
func srvWithPrefix(b *testing.B, srv *pubsubtest.Server) *pubsubtest.Server {
	c := srv.Client(b, project)
	ctx := context.Background()
	err := c.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: sub})
	if err != nil && !strings.Contains(err.Error(), "NotFound") {
		b.Fatalf("deleting %s: %v", sub, err)
	}
	err = c.TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: topic})
	if err != nil && !strings.Contains(err.Error(), "NotFound") {
		b.Fatalf("deleting %s: %v", topic, err)
	}
	return srv
}

func init() {
	register.DoFn2x0[[]byte, func(beam.EventTime, pubsubread.Message)](&generateFn{})
}

// generateFn emits N messages like the ones the benchmarks publish: the
// baseline of what prism itself costs per message, without Pub/Sub.
type generateFn struct{ N int }

func (f *generateFn) ProcessElement(_ []byte, emit func(beam.EventTime, pubsubread.Message)) {
	now := time.Now()
	for i, m := range testMessages(f.N) {
		emit(beam.EventTime(now.UnixMilli()), pubsubread.Message{ID: "m" + strconv.Itoa(i), Data: m.Data, Attributes: m.Attributes, PublishTime: now})
	}
}

func BenchmarkPrismBaseline(b *testing.B) {
	var total, cpu time.Duration
	for b.Loop() {
		key := uniqueKey(b.Name())
		p, s := beam.NewPipelineWithRoot()
		msgs := beam.ParDo(s, &generateFn{N: benchMessages}, beam.Impulse(s))
		beam.ParDo0(s, &recordFn{Key: key}, msgs)
		countPerColor(s, msgs)
		wall, c := timedRun(b, p, key, benchMessages)
		total += wall
		cpu += c
	}
	reportRate(b, benchMessages*b.N, total, cpu)
}

// timedRun runs p and returns its wall and CPU time; the run must have
// seen exactly n messages under key.
func timedRun(b *testing.B, p *beam.Pipeline, key string, n int) (wall, cpu time.Duration) {
	b.Helper()
	t0, c0 := time.Now(), processCPU()
	if err := ptest.Run(p); err != nil {
		b.Fatalf("pipeline failed: %v", err)
	}
	wall, cpu = time.Since(t0), processCPU()-c0
	if got := len(seenIDs(key)); got != n {
		b.Fatalf("saw %d messages, want %d", got, n)
	}
	return wall, cpu
}

// processCPU is the user plus system CPU time this process has used. On a
// shared machine it is a steadier cost measure than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportRate(b *testing.B, msgs int, wall, cpu time.Duration) {
	b.ReportMetric(float64(msgs)/wall.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(msgs), "cpu-µs/msg")
}

// countPerColor gives the benchmark pipelines the shape of the real one: the
// source's stage feeds an aggregation. (A source stage without any output
// makes prism 2.77 busy-wait for the whole bundle, which would measure
// prism, not the source.)
func countPerColor(s beam.Scope, msgs beam.PCollection) {
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), msgs)
	counts := beam.CombinePerKey(s, sum, beam.ParDo(s, colorOf, windowed))
	beam.ParDo0(s, &recordLineFn{Key: "bench"}, beam.ParDo(s, formatWindowCount, counts))
}
