package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/loggen"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/childtest"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
	"github.com/beametrics/beametrics/pipeline"
)

// The tests below run pipeline.Run in a child process (this test binary)
// so that everything the run writes to the real standard output and
// standard error can be read, and so that standard output can be a real
// pipe.
const (
	childEnv      = "BEAMETRICS_PIPELINE_CHILD" // config path
	childInputEnv = "BEAMETRICS_PIPELINE_CHILD_INPUT"
	childDeadEnv  = "BEAMETRICS_PIPELINE_CHILD_DEAD"
	// childSubEnv, when set, makes the child read this subscription
	// (PUBSUB_EMULATOR_HOST) and drain once childReadEnv records are read.
	childSubEnv    = "BEAMETRICS_PIPELINE_CHILD_SUBSCRIPTION"
	childReadEnv   = "BEAMETRICS_PIPELINE_CHILD_READ"
	childTestRegex = "^(TestClosedStdoutEndsTheRunWithASummary|TestNoSecretInAnyOutput|TestNoSecretInAnyOutputStreaming)$"
)

// runChildIfAsked runs the pipeline as the child and exits; it returns in
// the parent.
func runChildIfAsked() {
	cfg := os.Getenv(childEnv)
	if cfg == "" {
		return
	}
	o := &pipeline.Options{Config: cfg, Inputs: []string{os.Getenv(childInputEnv)}, DeadLetter: os.Getenv(childDeadEnv)}
	if sub := os.Getenv(childSubEnv); sub != "" {
		want, _ := strconv.ParseInt(os.Getenv(childReadEnv), 10, 64)
		drain := make(chan struct{})
		go func() {
			// Drain once everything is read (every window then fires and
			// the self-metrics export their last window), or after 60 s.
			deadline := time.Now().Add(60 * time.Second)
			for selfmetrics.Events.Load()+selfmetrics.DeadLetters.Load() < want && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			close(drain)
		}()
		o = &pipeline.Options{Config: cfg, Subscription: sub, DeadLetter: os.Getenv(childDeadEnv), MaxDelay: 2 * time.Second, Pullers: 2,
			Drain: drain, DrainTimeout: 60 * time.Second}
	}
	err := pipeline.Run(context.Background(), o, os.Stderr)
	if err == nil {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "child: %v\n", err)
	var exit *pipeline.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.Code)
	}
	os.Exit(99)
}

// child prepares the child's command for config, input and dead letters.
func child(config, input, dead string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run="+childTestRegex)
	cmd.Env = append(os.Environ(), childEnv+"="+config, childInputEnv+"="+input, childDeadEnv+"="+dead)
	return cmd
}

// webLogs writes n generated web-app log lines, 100 ms apart, plus a line
// that is not JSON (a dead letter).
func webLogs(t *testing.T, n int) string {
	t.Helper()
	gen := loggen.New(7, time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC), 100*time.Millisecond)
	var file, buf []byte
	for range n {
		buf, _ = gen.Append(buf[:0])
		file = append(append(file, buf...), '\n')
	}
	file = append(file, "not json\n"...)
	return writeFile(t, "logs.jsonl", file)
}

// TestClosedStdoutEndsTheRunWithASummary: `beametrics ... | head -1`. The
// reader closes the pipe after one line; the run must not die of SIGPIPE
// (exit 141, no summary) but end with its summary, name the closed output
// and exit 3 (finished with losses), since points were lost.
func TestClosedStdoutEndsTheRunWithASummary(t *testing.T) {
	runChildIfAsked()
	// About 80 windows of ~16 series: several times a pipe's 64 KiB, so
	// the run is still writing when the reader goes away.
	input := webLogs(t, 50_000)
	cfg := writeFile(t, "c.yaml", []byte(`event_time_field: time
window: 60s
metrics:
  - {name: requests, type: count, dynamic_labels: {service: service, status: http.status}, export_type: local}
`))
	cmd := child(cfg, input, "")
	r, stderr := childtest.StartPiped(t, cmd)
	line, rerr := bufio.NewReader(r).ReadString('\n')
	r.Close()
	err := cmd.Wait()
	if rerr != nil || !strings.HasPrefix(line, `{"metric_name":"requests"`) {
		t.Errorf("first line %q, %v", line, rerr)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != pipeline.ExitLosses {
		t.Fatalf("child ended with %v, want exit status 3\n%s", err, stderr.String())
	}
	textcheck.Contains(t, "stderr", stderr.String(),
		"beametrics: standard output was closed by its reader",
		"beametrics: done in ",
		"the output was closed by its reader: ",
		"code output_closed")
}

// TestNoSecretInAnyOutput: remote write to a receiver that answers 400
// quoting the request's Authorization header. The bearer token must appear
// in none of the run's outputs: standard output, standard error (logs,
// progress, summary), dead letters and the local exporter's file.
func TestNoSecretInAnyOutput(t *testing.T) {
	runChildIfAsked()
	const token = "tok-e2e-9a7d3c51"
	cfg, dead, localOut, echoed := echoingReceiver(t, token, "60s")
	cmd := child(cfg, webLogs(t, 3000), dead)
	outputs := runWithoutSecret(t, cmd, echoed, token, dead, localOut)
	// The failures went to the dead letters, with the echo masked.
	if d := string(outputs["dead.jsonl"]); !strings.Contains(d, "export_failed/prometheus/HTTP_400") || !strings.Contains(d, "Authorization: Bearer [redacted]") {
		t.Errorf("dead letters lack the masked export failures:\n%.2000s", d)
	}
}

// TestNoSecretInAnyOutputStreaming is TestNoSecretInAnyOutput for a
// streaming run from Pub/Sub, which also exports the beametrics/...
// self-metrics (a replay does not): the token must not be in their labels
// either, as the local exporter writes them.
func TestNoSecretInAnyOutputStreaming(t *testing.T) {
	runChildIfAsked()
	const token = "tok-stream-51c0e8aa"
	srv := pubsubtest.StartFake(t)
	c := e2eSubscription(t, srv, time.Minute)
	msgs, _, _ := e2eEvents(200)
	pubsubtest.Publish(t, c, e2eTopic, msgs)
	cfg, dead, localOut, echoed := echoingReceiver(t, token, "10s")
	cmd := child(cfg, "", dead)
	cmd.Env = append(cmd.Env, "PUBSUB_EMULATOR_HOST="+srv.Addr, childSubEnv+"="+e2eSub, childReadEnv+"="+strconv.Itoa(len(msgs)))
	outputs := runWithoutSecret(t, cmd, echoed, token, dead, localOut)
	// The check covered self-metrics with the failure in their labels.
	if l := string(outputs["metrics.jsonl"]); !strings.Contains(l, `"beametrics/export_failures"`) || !strings.Contains(l, "HTTP_400") {
		t.Errorf("the local output lacks the self-metric counting the failed exports:\n%.3000s\n%s", l, outputs["stderr"])
	}
	if d := string(outputs["dead.jsonl"]); !strings.Contains(d, "Authorization: Bearer [redacted]") {
		t.Errorf("dead letters lack the masked export failures:\n%.2000s", d)
	}
}

// TestRunInputDirectoryIsUsageError: `--input logs/` is a mistake to
// answer with exit 2 and one line saying how to give the files, before
// anything runs (not a stack trace from the file reader).
func TestRunInputDirectoryIsUsageError(t *testing.T) {
	cfg := writeFile(t, "c.yaml", []byte(goodConfig))
	dir := t.TempDir()
	out := t.TempDir() + "/out.jsonl"
	o := &pipeline.Options{Config: cfg, Inputs: []string{dir}, EventTimeField: "time"}
	o.Exporters.Local.Path = out
	stderr, err := runOptions(t, o)
	wantExit(t, err, stderr, 2, `^input `+regexp.QuoteMeta(dir)+` is a directory: give its files, e\.g\. --input '`+regexp.QuoteMeta(dir)+`/\*\.jsonl'$`, out)
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr holds a stack trace:\n%s", stderr)
	}
}

// echoingReceiver starts a remote-write receiver that answers 400 quoting
// the request's Authorization header, and writes a config (windows of
// window) that exports to it with token as the bearer token file and
// counts to a local file too. It returns the config, where the run's dead
// letters and local output are to go, and the receiver's request count.
func echoingReceiver(t *testing.T, token, window string) (cfg, dead, localOut string, echoed *atomic.Int64) {
	t.Helper()
	echoed = new(atomic.Int64)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echoed.Add(1)
		http.Error(w, "out of order sample; request had Authorization: "+r.Header.Get("Authorization"), http.StatusBadRequest)
	}))
	t.Cleanup(recv.Close)
	dir := t.TempDir()
	tokFile, localOut, dead := filepath.Join(dir, "token"), filepath.Join(dir, "metrics.jsonl"), filepath.Join(dir, "dead.jsonl")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = writeFile(t, "c.yaml", []byte(fmt.Sprintf(`event_time_field: time
window: %s
metrics:
  - {name: requests, type: count, dynamic_labels: {service: service}, export_type: prometheus}
  - {name: requests-local, type: count, export_type: local}
exporters:
  prometheus_remote_write: {url: %q, bearer_token_file: %q, max_retries: 1}
  local: {path: %q}
`, window, recv.URL+"/api/v1/write", tokFile, localOut)))
	return cfg, dead, localOut, echoed
}

// runWithoutSecret runs the child, checks that the receiver got a request
// (echoed), and returns every output it wrote (standard output and error,
// and the files), checking that none holds the secret.
func runWithoutSecret(t *testing.T, cmd *exec.Cmd, echoed *atomic.Int64, secret string, files ...string) map[string][]byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if echoed.Load() == 0 {
		t.Fatalf("the receiver got no request (child: %v)\n%s", err, stderr.String())
	}
	outputs := map[string][]byte{"stdout": stdout.Bytes(), "stderr": stderr.Bytes()}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (child: %s)", err, stderr.String())
		}
		outputs[filepath.Base(p)] = b
	}
	for name, b := range outputs {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the secret is in %s:\n%s", name, b)
		}
	}
	return outputs
}
