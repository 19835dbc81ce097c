package heartbeat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/beametrics/beametrics/internal/jobs/heartbeat"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/internal/testing/syncbuf"
)

const (
	project = "proj"
	topic   = "projects/proj/topics/liveness"
	sub     = "projects/proj/subscriptions/liveness-sub"
)

func TestRecord(t *testing.T) {
	at := time.Date(2025, 2, 7, 16, 12, 43, 999, time.FixedZone("CET", 3600))
	got := string(heartbeat.Record("0", "blue", at))
	want := `{"pipeline-id":"0","pipeline-env":"blue","time":"2025-02-07 15:12:43 UTC","user_agent":"beametrics-dummy"}`
	if got != want {
		t.Errorf("Record =\n %s\nwant\n %s", got, want)
	}
	attrs := heartbeat.Attributes("0", "blue")
	if len(attrs) != 2 || attrs["pipeline-id"] != "0" || attrs["pipeline-env"] != "blue" {
		t.Errorf("Attributes = %v", attrs)
	}
}

func TestValidate(t *testing.T) {
	err := heartbeat.Config{Topic: "liveness", Interval: 0, Count: -1, Insecure: true}.Validate()
	if err == nil {
		t.Fatal("Validate accepted an empty config")
	}
	for _, part := range []string{"projects/PROJECT/topics/NAME", "pipeline id", "pipeline env", "interval", "count", "insecure", "retry base"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("Validate error does not mention %q: %v", part, err)
		}
	}
}

func config(srv *pubsubtest.Server, count int) heartbeat.Config {
	return heartbeat.Config{
		Topic: topic, PipelineID: "7", PipelineEnv: "green",
		Interval: 30 * time.Millisecond, Count: count,
		Endpoint: srv.Addr, Insecure: true, RetryBase: 10 * time.Millisecond,
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// checkRecord checks one published body and its attributes.
func checkRecord(t *testing.T, data []byte, attrs map[string]string, from, to time.Time) {
	t.Helper()
	var rec map[string]string
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", data, err)
	}
	if rec["pipeline-id"] != "7" || rec["pipeline-env"] != "green" || rec["user_agent"] != "beametrics-dummy" || len(rec) != 4 {
		t.Errorf("unexpected record %q", data)
	}
	ts, err := time.Parse(heartbeat.TimeLayout, rec["time"])
	if err != nil {
		t.Errorf("time %q is not in the layout %q: %v", rec["time"], heartbeat.TimeLayout, err)
	}
	if ts.Before(from.Truncate(time.Second)) || ts.After(to) {
		t.Errorf("record time %v outside the run %v..%v", ts, from, to)
	}
	if attrs["pipeline-id"] != "7" || attrs["pipeline-env"] != "green" {
		t.Errorf("attributes = %v", attrs)
	}
}

func TestRunFake(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	pubsubtest.CreateTopic(t, srv.Client(t, project), topic)
	from := time.Now()
	st, err := heartbeat.Run(context.Background(), config(srv, 3), quietLog())
	to := time.Now()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st != (heartbeat.Stats{Published: 3, Attempts: 3}) {
		t.Errorf("stats = %+v, want 3 published in 3 attempts", st)
	}
	msgs := srv.Fake.Messages()
	if len(msgs) != 3 {
		t.Fatalf("fake holds %d messages, want 3", len(msgs))
	}
	for _, m := range msgs {
		checkRecord(t, m.Data, m.Attributes, from, to)
	}
	// The second record starts one interval after the first is out, the
	// third one more, so the first and third are at least 2 intervals apart.
	if gap := msgs[2].PublishTime.Sub(msgs[0].PublishTime); gap < 60*time.Millisecond {
		t.Errorf("3 records at a 30ms interval were published within %v, want at least 60ms", gap)
	}
}

// TestRunTopicNotFound: a topic that does not exist is a permanent error,
// reported at once with the topic's name instead of retried per record.
func TestRunTopicNotFound(t *testing.T) {
	srv := pubsubtest.StartFake(t) // no topic created
	st, err := heartbeat.Run(context.Background(), config(srv, 3), quietLog())
	var missing *heartbeat.TopicNotFoundError
	if !errors.As(err, &missing) || missing.Topic != topic {
		t.Fatalf("Run error = %v, want a TopicNotFoundError for %s", err, topic)
	}
	if !strings.Contains(err.Error(), "topic projects/proj/topics/liveness does not exist") {
		t.Errorf("error does not say which topic is missing: %v", err)
	}
	if st != (heartbeat.Stats{Failed: 1, Attempts: 1}) {
		t.Errorf("stats = %+v, want 1 failed in 1 attempt (no retries, no further records)", st)
	}
}

func TestMainTopicNotFound(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	var stderr bytes.Buffer
	code := heartbeat.Main([]string{"--topic", "projects/proj/topics/typo", "--pipeline-id", "7", "--pipeline-env", "green",
		"--interval", "10ms", "--count", "2", "--endpoint", srv.Addr, "--insecure", "--retry-base", "5ms"}, &stderr)
	if code != heartbeat.ExitFailed {
		t.Errorf("exit code = %d, want %d; stderr:\n%s", code, heartbeat.ExitFailed, stderr.String())
	}
	if !strings.Contains(stderr.String(), "topic projects/proj/topics/typo does not exist") {
		t.Errorf("stderr does not name the missing topic:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "retrying") {
		t.Errorf("a missing topic was retried:\n%s", stderr.String())
	}
}

// TestRunRetriesTransientFailure makes the first publish fail with an
// error the client does not retry itself; the record must go out on the
// second attempt.
func TestRunRetriesTransientFailure(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	pubsubtest.CreateTopic(t, srv.Client(t, project), topic)
	srv.Fake.SetAutoPublishResponse(false)
	srv.Fake.AddPublishResponse(nil, status.Error(codes.PermissionDenied, "injected"))
	srv.Fake.AddPublishResponse(&pubsubpb.PublishResponse{MessageIds: []string{"id-after-retry"}}, nil)
	var logs bytes.Buffer
	st, err := heartbeat.Run(context.Background(), config(srv, 1), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st != (heartbeat.Stats{Published: 1, Attempts: 2}) {
		t.Errorf("stats = %+v, want 1 published in 2 attempts", st)
	}
	if !strings.Contains(logs.String(), "retrying") || !strings.Contains(logs.String(), "injected") {
		t.Errorf("the failed attempt was not logged:\n%s", logs.String())
	}
}

// TestMainPermanentFailure: every publish fails, so each record is tried
// five times, logged and the exit code says so.
func TestMainPermanentFailure(t *testing.T) {
	fake := pstest.NewServerWithAddress("127.0.0.1:0", pstest.WithErrorInjection("Publish", codes.PermissionDenied, "injected denial"))
	t.Cleanup(func() { fake.Close() })
	srv := &pubsubtest.Server{Addr: fake.Addr, Fake: fake}
	pubsubtest.CreateTopic(t, srv.Client(t, project), topic)
	var stderr bytes.Buffer
	code := heartbeat.Main([]string{"--topic", topic, "--pipeline-id", "7", "--pipeline-env", "green",
		"--interval", "10ms", "--count", "2", "--endpoint", srv.Addr, "--insecure", "--retry-base", "5ms"}, &stderr)
	if code != heartbeat.ExitFailed {
		t.Errorf("exit code = %d, want %d; stderr:\n%s", code, heartbeat.ExitFailed, stderr.String())
	}
	if n := strings.Count(stderr.String(), "injected denial"); n < 2*5 {
		t.Errorf("stderr mentions the error %d times, want one per attempt (10):\n%s", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), "2 of 2 records could not be published") {
		t.Errorf("stderr lacks the summary:\n%s", stderr.String())
	}
}

func TestMainUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := heartbeat.Main([]string{"--topic", "bad"}, &stderr); code != heartbeat.ExitUsage {
		t.Errorf("exit code = %d, want %d", code, heartbeat.ExitUsage)
	}
	if !strings.Contains(stderr.String(), "projects/PROJECT/topics/NAME") {
		t.Errorf("stderr does not explain the topic format:\n%s", stderr.String())
	}
}

// TestMainStopsOnSIGTERM runs without --count against the emulator given
// by PUBSUB_EMULATOR_HOST (here the fake) and stops it with SIGTERM.
func TestMainStopsOnSIGTERM(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	pubsubtest.CreateTopic(t, srv.Client(t, project), topic)
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	var stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- heartbeat.Main([]string{"--topic", topic, "--pipeline-id", "7", "--pipeline-env", "green", "--interval", "20ms"}, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.Fake.Messages()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no 3 records within 30s; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The handler is installed before the first publish, so the signal
	// reaches Main and not the default action.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != heartbeat.ExitOK {
			t.Errorf("exit code = %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not stop within 30s of SIGTERM")
	}
	// Main closed its client before returning, so nothing it did not
	// account for can arrive later: every record the fake holds must be
	// in the final summary and have its own log line.
	n := len(srv.Fake.Messages())
	if want := fmt.Sprintf(`msg="heartbeat finished" published=%d`, n); !strings.Contains(stderr.String(), want) {
		t.Errorf("the fake holds %d records but the summary differs (want %q):\n%s", n, want, stderr.String())
	}
	if lines := strings.Count(stderr.String(), "msg=\"heartbeat published\""); lines != n {
		t.Errorf("%d records logged as published, the fake holds %d", lines, n)
	}
	if !strings.Contains(stderr.String(), "heartbeat stopping") {
		t.Errorf("stderr lacks the stop line:\n%s", stderr.String())
	}
}

func TestRunEmulator(t *testing.T) {
	srv := pubsubtest.StartEmulator(t)
	c := srv.Client(t, project)
	pubsubtest.CreateTopic(t, c, topic)
	pubsubtest.CreateSubscription(t, c, sub, topic, time.Minute)
	from := time.Now()
	st, err := heartbeat.Run(context.Background(), config(srv, 3), quietLog())
	to := time.Now()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Published != 3 {
		t.Fatalf("published %d, want 3", st.Published)
	}
	var got []*pubsubpb.ReceivedMessage
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		resp, err := c.SubscriptionAdminClient.Pull(context.Background(), &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 10})
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		got = append(got, resp.ReceivedMessages...)
	}
	if len(got) != 3 {
		t.Fatalf("pulled %d records from the emulator, want 3", len(got))
	}
	for _, m := range got {
		checkRecord(t, m.Message.Data, m.Message.Attributes, from, to)
	}
	// The real emulator also reports a missing topic as permanent.
	cfg := config(srv, 2)
	cfg.Topic = "projects/proj/topics/never-created"
	st, err = heartbeat.Run(context.Background(), cfg, quietLog())
	var missing *heartbeat.TopicNotFoundError
	if !errors.As(err, &missing) || st.Attempts != 1 {
		t.Errorf("missing topic on the emulator: Run = %+v, %v; want a TopicNotFoundError after 1 attempt", st, err)
	}
}

// TestRunStopsSoonWhenPubSubIsUnreachable: a stop must not wait for the
// full publish timeout of the record in flight, only for the short grace.
func TestRunStopsSoonWhenPubSubIsUnreachable(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	addr := srv.Addr
	srv.Fake.Close() // nothing listens there any more
	cfg := config(&pubsubtest.Server{Addr: addr}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	st, err := heartbeat.Run(ctx, cfg, quietLog())
	took := time.Since(start)
	if err == nil || st.Failed != 1 || st.Published != 0 {
		t.Errorf("Run = %+v, %v; want the one record in flight failed", st, err)
	}
	if took > 15*time.Second {
		t.Errorf("Run took %v to stop, want about the 5s grace", took)
	}
}
