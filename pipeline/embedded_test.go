package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/pipeline"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

// optionsFromArgs parses command-line flags into Options, with the flags'
// own defaults.
func optionsFromArgs(t *testing.T, args ...string) *pipeline.Options {
	t.Helper()
	var o pipeline.Options
	fs := flag.NewFlagSet("beametrics", flag.ContinueOnError)
	o.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &o
}

// TestEmbeddedQuickStartDrains runs the README's first command (no source:
// the embedded Pub/Sub server and generator) with the quick start config,
// drains it as SIGTERM does, and checks that it exits cleanly and that
// every event read was exported: requests (every record but the liveness
// ones) and pipeline-liveness (those) add up to the events counted.
func TestEmbeddedQuickStartDrains(t *testing.T) {
	out := t.TempDir() + "/metrics.jsonl"
	// A minute of allowed lateness: on a loaded machine a bundle may reach
	// the windows after the watermark (now - 2 s) passed them.
	o := optionsFromArgs(t, "--config", "../examples/quickstart.yaml", "--allowed-lateness", "1m",
		"--export-type", "local", "--local-output", out, "--progress-interval", "0")
	eventsBefore := selfmetrics.Events.Load()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(context.Background(), o, &stderr) }()

	deadline := time.Now().Add(60 * time.Second)
	for selfmetrics.Events.Load()-eventsBefore < 100 {
		select {
		case err := <-done:
			t.Fatalf("Run ended before the drain: %v\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			pubsubread.StopAll()
			t.Fatalf("after 60 s only %d events were read", selfmetrics.Events.Load()-eventsBefore)
		}
	}
	pubsubread.StopAll()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after StopAll: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("Run did not end within 60 s of StopAll\n%s", stderr.String())
	}
	events := selfmetrics.Events.Load() - eventsBefore
	if !strings.Contains(stderr.String(), "in-process Pub/Sub server") {
		t.Errorf("stderr does not say it streams from the embedded server:\n%s", stderr.String())
	}

	var counted int64
	metrics := map[string]int{}
	for _, e := range runoutput.ReadPoints(t, out) {
		metrics[e.Metric]++
		if strings.HasPrefix(e.Metric, "beametrics/") {
			// Self-metrics are windows of the processing clock, aligned
			// like the metrics' ones, the last one too.
			if !e.Timestamp.Equal(e.WindowEnd) || !e.WindowEnd.After(e.WindowStart) || e.WindowEnd.UnixNano()%int64(10*time.Second) != 0 {
				t.Errorf("self-metric line %s: want a window stamped at its aligned end (timestamp %v)", e.Series(), e.Timestamp)
			}
			if e.Metric == "beametrics/watermark_lag" && strings.HasPrefix(string(e.Value), "-") {
				t.Errorf("self-metric line %s: a negative lag %s", e.Series(), e.Value)
			}
			continue
		}
		if e.WindowEnd.Sub(e.WindowStart) != 10*time.Second || !e.Timestamp.Equal(e.WindowEnd) || e.WindowStart.UnixNano()%int64(10*time.Second) != 0 {
			t.Errorf("line %s: want an aligned 10 s window stamped at its end (timestamp %v)", e.Series(), e.Timestamp)
		}
		if e.Metric == "requests" || e.Metric == "pipeline-liveness" {
			var n int64
			if err := json.Unmarshal(e.Value, &n); err != nil {
				t.Errorf("requests value %s is not an integer", e.Value)
			}
			counted += n
		}
	}
	if counted != events {
		t.Errorf("requests and pipeline-liveness add up to %d, but %d events were read: the drain lost or added some (metrics seen: %v)", counted, events, metrics)
	}
}
