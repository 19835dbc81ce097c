package exportsink_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/transforms/exportsink"
)

// sumSelf adds up the values of one self-metric series (its labels, the
// worker label excluded, as "k=v,...") over every window recorded for an
// export type, and checks that each point carries this worker's label.
func sumSelf(t *testing.T, r *recorder, typ, metric, labels string) (sum int64, windows int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	worker := selfmetrics.WorkerLabel + "=" + selfmetrics.WorkerID()
	want := labels
	if want != "" {
		want += ","
	}
	want = metric + "{" + want + worker + "} "
	for _, p := range r.points[typ] {
		if strings.HasPrefix(p, selfmetrics.Prefix) && !strings.Contains(p, worker+"}") {
			t.Errorf("self-metric point without %s: %s", worker, p)
		}
		if !strings.HasPrefix(p, want) {
			continue
		}
		v, err := strconv.ParseInt(p[strings.LastIndex(p, " = ")+3:], 10, 64)
		if err != nil {
			t.Fatalf("point %s: %v", p, err)
		}
		sum += v
		windows++
	}
	return sum, windows
}

// With worker self-metrics on, the first sink set up in the process starts
// one reporter (however many DoFn instances and pipelines follow); its
// points carry the worker label and add up to everything this process
// counted, including what it counted before the reporter started.
func TestWorkerSelfMetrics(t *testing.T) {
	r := &recorder{}
	install(t, r)
	src := config.Source{Name: "sink.yaml", Text: []byte(sinkConfig)}
	elems := partials(t, src, sinkEvents)
	run := func() {
		p, s := beam.NewPipelineWithRoot()
		combined := beam.ParDo(s, decodeSeries, beam.Create(s, elems...))
		windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), combined)
		// The reporter checks the settings as a launch would.
		settings := exporters.Settings{RemoteWrite: exporters.RemoteWriteSettings{URL: "http://127.0.0.1:9/api/v1/write"}}
		exportsink.Write(s, src, settings, "", windowed, exportsink.WithWorkerSelfMetrics(true))
		if err := ptest.Run(p); err != nil {
			t.Fatalf("pipeline failed: %v", err)
		}
	}
	run()
	run()
	selfmetrics.StopWorker() // the last, partial window
	totals := selfmetrics.PointsByExporter.Snapshot()
	windowTotals := selfmetrics.WindowsByExporter.Snapshot()

	r.mu.Lock()
	for _, m := range r.misuse {
		t.Errorf("exporter misuse: %s", m)
	}
	starts := fmt.Sprint(r.starts)
	r.mu.Unlock()
	// One reporter: each export type's self-metrics were started once.
	if n := strings.Count(starts, selfmetrics.MetricEventsRead); n != 2 {
		t.Errorf("%s given to Start %d times, want twice (once per export type of one reporter): %s", selfmetrics.MetricEventsRead, n, starts)
	}
	for _, typ := range []string{exporters.TypeLocal, exporters.TypeRemoteWrite} {
		got, windows := sumSelf(t, r, typ, selfmetrics.MetricPointsExported, "exporter="+typ)
		if windows == 0 || got != totals[typ] {
			t.Errorf("%s: points_exported adds up to %d over %d windows; the process counted %d", typ, got, windows, totals[typ])
		}
		got, _ = sumSelf(t, r, typ, selfmetrics.MetricWindowsExported, "exporter="+typ)
		if got != windowTotals[typ] {
			t.Errorf("%s: windows_exported adds up to %d; the process counted %d", typ, got, windowTotals[typ])
		}
	}
	// The two runs exported 5 points each; the self-metrics saw them.
	if totals[exporters.TypeLocal] < 6 || totals[exporters.TypeRemoteWrite] < 4 {
		t.Errorf("process totals %v: the runs' points were not counted", totals)
	}

	// Stopped, the next sink set up starts a new reporter.
	run()
	selfmetrics.StopWorker()
	r.mu.Lock()
	starts = fmt.Sprint(r.starts)
	r.mu.Unlock()
	if n := strings.Count(starts, selfmetrics.MetricEventsRead); n != 4 {
		t.Errorf("after a stop, %s given to Start %d times in all, want 4", selfmetrics.MetricEventsRead, n)
	}
}

// Without the option no reporter starts.
func TestNoWorkerSelfMetricsByDefault(t *testing.T) {
	r := &recorder{}
	install(t, r)
	src := config.Source{Name: "sink.yaml", Text: []byte(sinkConfig)}
	if err := runSink(t, src, partials(t, src, sinkEvents)); err != nil {
		t.Fatal(err)
	}
	selfmetrics.StopWorker()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := fmt.Sprint(r.starts, r.points); strings.Contains(s, selfmetrics.Prefix) {
		t.Errorf("self-metrics exported without WithWorkerSelfMetrics: %s", s)
	}
}
