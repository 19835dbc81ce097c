package selfmetrics

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"

	"github.com/beametrics/beametrics/exporters"
)

func counter(step, ns, name string, committed int64) metrics.CounterResult {
	return metrics.CounterResult{Committed: committed, Key: metrics.StepKey{Step: step, Namespace: ns, Name: name}}
}

// The summary adds the job's counters over steps and names, and counts an
// exporter's failures once (its total, not the split by code).
func TestBeamTotals(t *testing.T) {
	r := metrics.NewResults([]metrics.CounterResult{
		counter("parse1", BeamNamespace, "events", 70),
		counter("parse2", BeamNamespace, "events", 30),
		counter("parse1", BeamNamespace, "dead_letters/invalid_json", 2),
		counter("parse2", BeamNamespace, "dead_letters/bad_event_time", 3),
		counter("parse1", BeamNamespace, "late_values", 4),
		counter("sink", BeamNamespace, "points_exported/local", 11),
		counter("sink", BeamNamespace, "points_exported/prometheus", 5),
		counter("sink", BeamNamespace, "windows_exported", 6),
		counter("sink", BeamNamespace, "export_failures/prometheus", 7),
		counter("sink", BeamNamespace, "export_failures/prometheus/HTTP_400", 7),
		counter("sink", BeamNamespace, "export_failures/local", 1),
		counter("sink", BeamNamespace, "export_failures/local/output_closed", 1),
		counter("parse1", BeamNamespace, "dropped_values/latency", 8),
		counter("parse2", BeamNamespace, "dropped_values/bytes", 1),
		counter("parse1", BeamNamespace, "overflowed/latency", 9),
		counter("parse1", BeamNamespace, "filter_errors/latency", 10),
		counter("parse1", BeamNamespace, "dead_letters/", 1), // the parse step's unnamed reason
		counter("read", "pubsubread", "events", 1000),        // another namespace
	}, nil, nil, nil, nil)
	got := BeamTotals(*r)
	want := Totals{Events: 100, DeadLetters: 6, Late: 4, WindowsExported: 6, PointsExported: 16, ExportFailures: 8,
		Dropped: 9, Overflowed: 9, FilterErrors: 10,
		DeadLetterReasons: map[string]int64{"invalid_json": 2, "bad_event_time": 3, "error": 1},
		Failures:          map[Failure]int64{{"prometheus", "HTTP_400"}: 7, {"local", "output_closed"}: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BeamTotals = %+v, want %+v", got, want)
	}
}

// A result whose Metrics panics (Beam's universal runner after a failed
// metrics query) gives no totals rather than a crash.
func TestResultTotalsWithoutMetrics(t *testing.T) {
	if _, ok := ResultTotals(nil); ok {
		t.Error("nil result gave totals")
	}
	if _, ok := ResultTotals(panickyResult{}); ok {
		t.Error("a result without metrics gave totals")
	}
}

type panickyResult struct{}

func (panickyResult) Metrics() metrics.Results { var p *metrics.Results; return *p }
func (panickyResult) JobID() string            { return "job" }

// CountLost counts the points an ExportError lists, and every point for
// any other error, in this process's counters.
func TestCountLost(t *testing.T) {
	before := FailuresByExporter.Snapshot()
	total := ExportFailures.Load()
	err := &exporters.ExportError{Exporter: "test-lost", Total: 5, Failed: []exporters.PointFailure{{Code: "HTTP_400"}, {Code: "HTTP_400"}, {Code: "encode"}}}
	if n := CountLost(context.Background(), "test-lost", 5, err); n != 3 {
		t.Errorf("lost %d, want 3", n)
	}
	if n := CountLost(context.Background(), "test-lost", 4, errors.New("connection refused")); n != 4 {
		t.Errorf("lost %d, want 4", n)
	}
	after := FailuresByExporter.Snapshot()
	for code, want := range map[string]int64{"HTTP_400": 2, "encode": 1, "unknown": 4} {
		k := Failure{Exporter: "test-lost", Code: code}
		if got := after[k] - before[k]; got != want {
			t.Errorf("%s: %d, want %d", code, got, want)
		}
	}
	if got := ExportFailures.Load() - total; got != 7 {
		t.Errorf("ExportFailures grew by %d, want 7", got)
	}
}

func TestSummary(t *testing.T) {
	got := Summary(Totals{Events: 500, DeadLetters: 2, Late: 1, PointsExported: 9, ExportFailures: 3}, 2*time.Second, "")
	want := "beametrics: done in 2s: 500 events (250/s), 2 dead letters, 1 late, 9 points exported, 3 export failures"
	if got != want {
		t.Errorf("Summary =\n%s\nwant\n%s", got, want)
	}
	// Values and events metrics could not use are named when there are any.
	got = Summary(Totals{Events: 10, Dropped: 4, FilterErrors: 2}, time.Second, "")
	want = "beametrics: done in 1s: 10 events (10/s), 0 dead letters, 0 late, 4 dropped values, 2 filter errors, 0 points exported, 0 export failures"
	if got != want {
		t.Errorf("Summary =\n%s\nwant\n%s", got, want)
	}
	line := progressLine(Totals{Events: 10, Overflowed: 7}, 10, time.Unix(100, 0), time.Second)
	if !strings.HasSuffix(line, ", 0 export failures, no window exported yet") {
		t.Errorf("progress line before the first export: %s", line)
	}
	line2 := progressLine(Totals{NewestWindowEnd: time.Unix(90, 0)}, 0, time.Unix(100, 0), time.Second)
	if !strings.HasSuffix(line2, ", newest window closed 10s ago") {
		t.Errorf("progress line after an export: %s", line2)
	}
	if !strings.Contains(line, ", 0 late, 7 overflowed (max_series), 0 windows") {
		t.Errorf("progress line does not name overflowed events: %s", line)
	}
	if got := Summary(Totals{}, 0, "this process's counts"); !strings.HasSuffix(got, "(this process's counts)") {
		t.Errorf("Summary does not say where its counts come from: %s", got)
	}
}
