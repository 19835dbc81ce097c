package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/beametrics/beametrics/internal/testing/hang"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
)

// TestSigtermDuringAStuckWrite: a stream whose remote-write server never
// answers gets SIGTERM while a write hangs. The process ends within
// --drain-timeout (plus start-up of the stop), exits 1 saying the drain did
// not finish, and loses nothing: no window was written, so no message was
// acked, and all of them are left on the subscription for the next run.
func TestSigtermDuringAStuckWrite(t *testing.T) {
	const (
		topic    = "projects/drain/topics/logs"
		sub      = "projects/drain/subscriptions/logs"
		messages = 20
	)
	hung := hang.Start(t)

	srv := pubsubtest.StartFake(t)
	client := srv.Client(t, "drain")
	pubsubtest.CreateTopic(t, client, topic)
	pubsubtest.CreateSubscription(t, client, sub, topic, 10*time.Second)
	var msgs []*pubsub.Message
	for i := range messages {
		msgs = append(msgs, &pubsub.Message{Data: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	pubsubtest.Publish(t, client, topic, msgs)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "drain.yaml")
	// A five-minute request timeout and retries: only --drain-timeout can
	// end this drain soon.
	config := fmt.Sprintf(`exporters:
  prometheus_remote_write: {url: %s/api/v1/write, timeout: 5m, max_retries: 3}
metrics:
  - name: drained
    type: count
    export_type: prometheus
`, hung.URL)
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	const drainTimeout = 3 * time.Second
	cmd := startChild(t, srv.Addr, []string{"--config", cfg, "--subscription", sub, "--window-size", "1",
		"--max-delay", "1s", "--drain-timeout", drainTimeout.String()}, filepath.Join(dir, "run"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-hung.Reached:
	case err := <-done:
		t.Fatalf("the run ended before writing: %v; its stderr:\n%s", err, readFile(dir, "run.err"))
	case <-time.After(90 * time.Second):
		t.Fatalf("no write reached the server in 90 s; stderr:\n%s", readFile(dir, "run.err"))
	}
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(drainTimeout + 30*time.Second):
		// Its goroutines, for whoever has to find what held it.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-done
		t.Fatalf("still running %v after SIGTERM with --drain-timeout %v; stderr:\n%s", drainTimeout+30*time.Second, drainTimeout, readFile(dir, "run.err"))
	}
	took := time.Since(signalled)
	stderr := readFile(dir, "run.err")
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"beametrics: draining", "the drain did not finish within 3s (--drain-timeout)", "Pub/Sub redelivers them"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	// The pull does not ack, so a message may come twice within the wait.
	left := map[string]bool{}
	for _, id := range pubsubtest.PullRemaining(t, client, sub, 5*time.Second) {
		left[id] = true
	}
	t.Logf("ended %v after SIGTERM; %d of %d messages left on the subscription for redelivery", took.Round(time.Millisecond), len(left), messages)
	if len(left) != messages {
		t.Errorf("%d of %d messages left for redelivery, want all: none of their windows was written", len(left), messages)
	}
}
