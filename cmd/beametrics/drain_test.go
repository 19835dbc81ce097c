package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
	const messages = 20
	hung := hang.Start(t)
	// A five-minute request timeout and retries: only --drain-timeout can
	// end this drain soon.
	s := startStream(t, "drain", messages, fmt.Sprintf(`exporters:
  prometheus_remote_write: {url: %s/api/v1/write, timeout: 5m, max_retries: 3}
metrics:
  - name: drained
    type: count
    export_type: prometheus
`, hung.URL))
	srv, client, sub, dir, cfg := s.srv, s.client, s.sub, s.dir, s.config
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

// TestDrainWithRefusedWritesExits3: a stream whose remote-write server
// refuses every write (HTTP 400) drains on SIGTERM and exits 3, naming the
// lost points, which are in the dead-letter file; their messages were
// acked, since the loss is counted and kept there.
func TestDrainWithRefusedWritesExits3(t *testing.T) {
	refused := make(chan struct{}, 1)
	rw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case refused <- struct{}{}:
		default:
		}
		http.Error(w, "refused by the test", http.StatusBadRequest)
	}))
	defer rw.Close()
	s := startStream(t, "refused", 20, fmt.Sprintf(`exporters:
  prometheus_remote_write: {url: %s/api/v1/write}
metrics:
  - name: refused
    type: count
    export_type: prometheus
`, rw.URL))
	srv, sub, dir, cfg := s.srv, s.sub, s.dir, s.config
	dead := filepath.Join(dir, "dead.jsonl")
	cmd := startChild(t, srv.Addr, []string{"--config", cfg, "--subscription", sub, "--window-size", "1",
		"--max-delay", "1s", "--dead-letter", dead}, filepath.Join(dir, "run"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-refused:
	case err := <-done:
		t.Fatalf("the run ended before writing: %v; its stderr:\n%s", err, readFile(dir, "run.err"))
	case <-time.After(90 * time.Second):
		t.Fatalf("no write reached the server in 90 s; stderr:\n%s", readFile(dir, "run.err"))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-done
		t.Fatalf("still running 90 s after SIGTERM; stderr:\n%s", readFile(dir, "run.err"))
	}
	stderr := readFile(dir, "run.err")
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d, want 3; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "finished with losses: ") || !strings.Contains(stderr, "(prometheus HTTP_400: ") {
		t.Errorf("stderr does not name the lost points:\n%s", stderr)
	}
	// Every point the run counted as lost is in the dead-letter file.
	lost := 0
	for _, line := range strings.Split(strings.TrimSpace(readFile(dir, "dead.jsonl")), "\n") {
		if strings.Contains(line, `"reason":"export_failed/prometheus/HTTP_400"`) {
			lost++
		}
	}
	if want := fmt.Sprintf("finished with losses: %d points", lost); lost == 0 || !strings.Contains(stderr, want) {
		t.Errorf("%d dead letters of lost points; stderr does not say %q:\n%s", lost, want, stderr)
	}
	t.Logf("%d points lost and dead-lettered", lost)
}

// TestNoArgumentsIsAUsageError: beametrics with no arguments at all says
// what to give (exit 2), as a run without a config does, and does not
// panic.
func TestNoArgumentsIsAUsageError(t *testing.T) {
	dir := t.TempDir()
	cmd := startChild(t, "127.0.0.1:1", []string{}, filepath.Join(dir, "run"))
	if err := cmd.Wait(); err == nil {
		t.Fatal("exit 0 without arguments")
	}
	stderr := readFile(dir, "run.err")
	if code := cmd.ProcessState.ExitCode(); code != 2 || strings.Contains(stderr, "panic") || !strings.Contains(stderr, "give --config FILE") {
		t.Errorf("exit %d, want 2 with what to give; stderr:\n%s", code, stderr)
	}
}

// stream is a Pub/Sub subscription holding messages {"i":N} and a config
// file for a run to read them.
type stream struct {
	srv         *pubsubtest.Server
	client      *pubsub.Client
	sub         string
	dir, config string
}

// startStream publishes n messages to a topic of project on a fake Pub/Sub
// server and writes config into the test's directory.
func startStream(t *testing.T, project string, n int, config string) stream {
	t.Helper()
	topic := "projects/" + project + "/topics/logs"
	s := stream{srv: pubsubtest.StartFake(t), sub: "projects/" + project + "/subscriptions/logs", dir: t.TempDir()}
	s.client = s.srv.Client(t, project)
	pubsubtest.CreateTopic(t, s.client, topic)
	pubsubtest.CreateSubscription(t, s.client, s.sub, topic, 10*time.Second)
	var msgs []*pubsub.Message
	for i := range n {
		msgs = append(msgs, &pubsub.Message{Data: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	pubsubtest.Publish(t, s.client, topic, msgs)
	s.config = filepath.Join(s.dir, project+".yaml")
	if err := os.WriteFile(s.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}
