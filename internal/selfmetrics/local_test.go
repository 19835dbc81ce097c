package selfmetrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/promscrape"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

const selfMetricsConfig = `
window: %s
metrics:
  - name: requests
    type: count
    export_type: local
`

// localOptions returns a local run's options whose metrics go to the real
// local exporter writing into a temporary file, and the file's path.
func localOptions(t *testing.T, window, listen string) (Options, string) {
	t.Helper()
	src := config.Source{Name: "self.yaml", Text: []byte(fmt.Sprintf(selfMetricsConfig, window))}
	cfg, err := src.Load()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	out := filepath.Join(t.TempDir(), "points.jsonl")
	settings := exporters.Settings{Local: exporters.LocalSettings{Path: out}, PrometheusListen: listen}
	return LocalOptions(cfg, settings, os.Stderr), out
}

// readLines returns the local exporter's lines as "metric{k=v} start-end = value".
func readLines(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, l := range runoutput.ReadPoints(t, path) {
		labels := make([]string, 0, len(l.Labels))
		for _, k := range []string{"code", "exporter", "metric", "reason"} {
			if v, ok := l.Labels[k]; ok {
				labels = append(labels, k+"="+v)
			}
		}
		out = append(out, fmt.Sprintf("%s{%s} %s-%s = %g", l.Metric, strings.Join(labels, ","),
			l.WindowStart.Format("15:04:05"), l.WindowEnd.Format("15:04:05"), l.Number(t)))
	}
	return out
}

// Each window's self-metrics hold what happened in that window only, go
// to the metrics' exporter and the scrape endpoint, and name their labels.
func TestLocalWindowCounts(t *testing.T) {
	o, out := localOptions(t, "10s", "127.0.0.1:0")
	// Far from the test data of other tests, whose windows also move the
	// process's newest window end.
	t0 := time.Date(2030, 1, 2, 10, 0, 3, 0, time.UTC)
	clock := t0
	o.Now = func() time.Time { return clock }
	sm, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer sm.Close()

	Events.Add(7)
	DeadLettersByReason.Add("invalid_json", 2)
	DroppedByMetric.Add("requests", 1)
	OverflowedByMetric.Add("requests", 4)
	PointsByExporter.Add(exporters.TypeLocal, 5)
	WindowsByExporter.Add(exporters.TypeLocal, 1)
	FailuresByExporter.Add(Failure{Exporter: exporters.TypeLocal, Code: "write"}, 3)
	ObserveWindowEnd(t0.Add(-3 * time.Second)) // 10:00:00
	clock = t0.Add(7 * time.Second)
	sm.Export(context.Background(), clock)

	Events.Add(3)
	clock = t0.Add(17 * time.Second)
	sm.Export(context.Background(), clock)

	got := readLines(t, out)
	for _, want := range []string{
		"beametrics/events_read{} 10:00:00-10:00:10 = 7",
		"beametrics/dead_letters{reason=invalid_json} 10:00:00-10:00:10 = 2",
		"beametrics/dropped_values{metric=requests} 10:00:00-10:00:10 = 1",
		"beametrics/series_overflowed{metric=requests} 10:00:00-10:00:10 = 4",
		"beametrics/points_exported{exporter=local} 10:00:00-10:00:10 = 5",
		"beametrics/windows_exported{exporter=local} 10:00:00-10:00:10 = 1",
		"beametrics/export_failures{code=write,exporter=local} 10:00:00-10:00:10 = 3",
		"beametrics/watermark_lag{} 10:00:00-10:00:10 = 10",
		"beametrics/events_read{} 10:00:10-10:00:20 = 3",
		"beametrics/dead_letters{reason=invalid_json} 10:00:10-10:00:20 = 0",
		"beametrics/export_failures{code=write,exporter=local} 10:00:10-10:00:20 = 0",
		"beametrics/watermark_lag{} 10:00:10-10:00:20 = 20",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %q", want)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", strings.Join(got, "\n"))
	}

	srv, err := promscrape.Shared("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	textcheck.Contains(t, "/metrics", string(body), "beametrics_events_read 3\n", `beametrics_dead_letters{reason="invalid_json"} 0`)
}

// The goroutine exports at window boundaries and, when stopped, the last
// partial window: every event read while it ran is in some window.
func TestLocalRunAndStop(t *testing.T) {
	o, out := localOptions(t, "1s", "")
	stop := StartLocal(context.Background(), o, os.Stderr)
	Events.Add(5)
	time.Sleep(1200 * time.Millisecond) // at least one boundary passes
	Events.Add(6)
	stop()
	stop() // a second stop is harmless

	var total float64
	var windows int
	for _, l := range readLines(t, out) {
		if !strings.HasPrefix(l, "beametrics/events_read{} ") {
			continue
		}
		windows++
		var v float64
		fmt.Sscanf(l[strings.LastIndex(l, "= ")+2:], "%g", &v)
		total += v
	}
	if windows < 2 || total != 11 {
		t.Fatalf("events_read: %d windows adding up to %g; want at least 2 windows (a boundary and the last partial one) adding up to 11", windows, total)
	}
}

// Self-metrics that collide with a metric's name are refused, loudly.
func TestLocalRefuseCollidingMetric(t *testing.T) {
	src := config.Source{Name: "self.yaml", Text: []byte(`
window: 10s
metrics:
  - name: beametrics/events_read
    type: count
    export_type: local
`)}
	cfg, err := src.Load()
	if err != nil {
		t.Skipf("the config refuses the name itself: %v", err)
	}
	o := LocalOptions(cfg, exporters.Settings{Local: exporters.LocalSettings{Path: filepath.Join(t.TempDir(), "x")}}, os.Stderr)
	if _, err := New(context.Background(), o); err == nil {
		t.Fatal("a metric named beametrics/events_read was accepted next to the self-metric of that name")
	}
}
