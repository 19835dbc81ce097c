package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/testing/hang"
	"github.com/beametrics/beametrics/pipeline"
)

// Six events, two in each of three 10 s windows: one count metric gives
// three points (each 2), so an exporter that refuses everything loses
// exactly three points.
const exitStatusEvents = `{"time":"2025-11-24T16:00:01Z","service":"a"}
{"time":"2025-11-24T16:00:02Z","service":"a"}
{"time":"2025-11-24T16:00:11Z","service":"a"}
{"time":"2025-11-24T16:00:12Z","service":"a"}
{"time":"2025-11-24T16:00:21Z","service":"a"}
{"time":"2025-11-24T16:00:22Z","service":"a"}
`

const exitStatusPoints = 3

func remoteWriteConfig(t *testing.T, url string) string {
	return writeFile(t, "remote.yaml", []byte(`event_time_field: time
window: 10s
exporters:
  prometheus_remote_write:
    url: `+url+`
    timeout: 1s
    max_retries: 1
metrics:
  - name: requests
    type: count
    export_type: prometheus
`))
}

// runExit replays exitStatusEvents with config and returns Run's stderr,
// the dead-letter file's lines and Run's error.
func runExit(t *testing.T, config, eventTimeField string) (stderr string, dead []string, err error) {
	t.Helper()
	input := writeFile(t, "logs.jsonl", []byte(exitStatusEvents))
	deadPath := t.TempDir() + "/dead.jsonl"
	var buf bytes.Buffer
	o := &pipeline.Options{Config: config, Inputs: []string{input}, DeadLetter: deadPath, EventTimeField: eventTimeField}
	o.Exporters.Local.Path = t.TempDir() + "/out.jsonl"
	err = pipeline.Run(context.Background(), o, &buf)
	if f, ferr := os.Open(deadPath); ferr == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			dead = append(dead, sc.Text())
		}
		f.Close()
	}
	return buf.String(), dead, err
}

func wantExitStatus(t *testing.T, err error, code int, stderr string) {
	t.Helper()
	var exit *pipeline.ExitError
	if !errors.As(err, &exit) || exit.Code != code {
		t.Fatalf("Run = %v, want exit status %d\nstderr:\n%s", err, code, stderr)
	}
}

// Every point refused, however the exporter refuses it, ends a bounded run
// with exit status 3, the summary and error counting the three points, and
// the three points in the dead-letter file under the exporter's code.
func TestExitStatusWhenPointsAreLost(t *testing.T) {
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/api/v1/write"
	}
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "refused by the test", code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/api/v1/write"
	}
	hanging := func() string { return hang.Start(t).URL + "/api/v1/write" }
	for _, c := range []struct {
		name, code string
		url        func() string
	}{
		{"connection refused", "network", closedPort},
		{"HTTP 500", "HTTP_500", func() string { return status(500) }},
		{"HTTP 400", "HTTP_400", func() string { return status(400) }},
		{"hanging server", "timeout", hanging},
	} {
		t.Run(c.name, func(t *testing.T) {
			stderr, dead, err := runExit(t, remoteWriteConfig(t, c.url()), "")
			wantExitStatus(t, err, pipeline.ExitLosses, stderr)
			want := fmt.Sprintf("%d points were not written after retries (prometheus %s: %d)", exitStatusPoints, c.code, exitStatusPoints)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "they are in --dead-letter") {
				t.Errorf("error %q does not say %q and where the points went", err, want)
			}
			if want := fmt.Sprintf(", %d export failures", exitStatusPoints); !strings.Contains(stderr, want) {
				t.Errorf("summary does not say %q:\n%s", want, stderr)
			}
			if len(dead) != exitStatusPoints {
				t.Fatalf("dead letters = %d, want %d: %q", len(dead), exitStatusPoints, dead)
			}
			for _, line := range dead {
				var d struct{ Reason string }
				if err := json.Unmarshal([]byte(line), &d); err != nil || d.Reason != "export_failed/prometheus/"+c.code {
					t.Errorf("dead letter %s: reason %q, want export_failed/prometheus/%s (%v)", line, d.Reason, c.code, err)
				}
			}
		})
	}
}

// A run whose records are nearly all refused for one reason is a
// configuration mistake: exit status 4, naming the count, the reason and
// the likely fix. A few bad records among good ones are not.
func TestExitStatusWhenMostRecordsAreRefused(t *testing.T) {
	local := writeFile(t, "local.yaml", []byte(`event_time_field: time
window: 10s
metrics:
  - name: requests
    type: count
    export_type: local
`))
	stderr, dead, err := runExit(t, local, "no_such_field")
	wantExitStatus(t, err, pipeline.ExitMostRefused, stderr)
	for _, want := range []string{"6 of 6 records are dead letters", "6 of them bad_event_time", "--event-time-field", "they are in --dead-letter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(dead) != 6 {
		t.Errorf("dead letters = %d, want 6", len(dead))
	}

	// One bad line of seven: counted and dead-lettered, exit 0.
	input := writeFile(t, "logs.jsonl", []byte(exitStatusEvents+"not json\n"))
	o := &pipeline.Options{Config: local, Inputs: []string{input}, DeadLetter: t.TempDir() + "/dead.jsonl"}
	o.Exporters.Local.Path = t.TempDir() + "/out.jsonl"
	var buf bytes.Buffer
	if err := pipeline.Run(context.Background(), o, &buf); err != nil {
		t.Errorf("one bad record of seven: Run = %v, want nil\n%s", err, buf.String())
	}
}

// A drain that cannot finish (the exporter hangs on every request) is cut
// at --drain-timeout: Run returns exit status 1 saying so, well before the
// exporter's own retries would have given up.
func TestDrainTimeoutWithAHangingExporter(t *testing.T) {
	hung := hang.Start(t)
	config := writeFile(t, "remote.yaml", []byte(`event_time_field: time
window: 10s
exporters:
  prometheus_remote_write:
    url: `+hung.URL+`/api/v1/write
    timeout: 1m
    max_retries: 3
metrics:
  - name: requests
    type: count
    export_type: prometheus
`))
	input := writeFile(t, "logs.jsonl", []byte(exitStatusEvents))
	drain := make(chan struct{})
	o := &pipeline.Options{Config: config, Inputs: []string{input}, Drain: drain, DrainTimeout: 2 * time.Second}
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(context.Background(), o, &stderr) }()
	select {
	case <-hung.Reached:
	case err := <-done:
		t.Fatalf("Run ended before the exporter was reached: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the exporter was not reached within 60 s")
	}
	drainedAt := time.Now()
	close(drain)
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not end within 30 s of a drain with --drain-timeout 2s\n%s", stderr.String())
	}
	took := time.Since(drainedAt)
	wantExitStatus(t, err, 1, stderr.String())
	if !strings.Contains(err.Error(), "the drain did not finish within 2s (--drain-timeout)") || !strings.Contains(err.Error(), "run the replay again") {
		t.Errorf("error %q does not name the drain timeout and what to do", err)
	}
	// A minute per request and three retries: only the timeout ends it
	// this soon.
	if took > 20*time.Second {
		t.Errorf("Run took %v after the drain", took)
	}
}
