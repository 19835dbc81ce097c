package exportsink_test

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/promscrape"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
	"github.com/beametrics/beametrics/transforms/exportsink"
)

// diff returns after minus before for every key of after.
func diff[K comparable](before, after map[K]int64) map[K]int64 {
	out := map[K]int64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// TestWriteCountsLostPoints: points an exporter loses are counted, and the
// pipeline goes on. The self-metrics' counts: points by exporter, failures
// by exporter and code (an error without a list of points loses them all,
// as "unknown").
func TestWriteCountsLostPoints(t *testing.T) {
	src := config.Source{Name: "sink.yaml", Text: []byte(sinkConfig)}
	elems := partials(t, src, sinkEvents)
	for _, tc := range []struct {
		name string
		r    *recorder
		code string
	}{
		{"partial", &recorder{failOne: true}, "test"},
		{"all", &recorder{failAll: errors.New("destination down")}, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			install(t, tc.r)
			failBefore, outBefore := selfmetrics.ExportFailures.Load(), selfmetrics.PointsExported.Load()
			pointsBefore := selfmetrics.PointsByExporter.Snapshot()
			failsBefore := selfmetrics.FailuresByExporter.Snapshot()
			windowsBefore := selfmetrics.WindowsByExporter.Snapshot()
			if err := runSink(t, src, elems); err != nil {
				t.Fatalf("a lost point failed the pipeline: %v", err)
			}

			tc.r.mu.Lock()
			calls := len(tc.r.points["local"]) + len(tc.r.points["prometheus"])
			tc.r.mu.Unlock()
			lost := selfmetrics.ExportFailures.Load() - failBefore
			out := selfmetrics.PointsExported.Load() - outBefore
			if lost+out != int64(calls) || calls != 5 {
				t.Errorf("%d points given to exporters, %d counted lost, %d exported; want 5 in all", calls, lost, out)
			}
			if tc.name == "all" && (lost != 5 || out != 0) {
				t.Errorf("every export failed: lost %d, exported %d; want 5 and 0", lost, out)
			}
			if tc.name == "partial" && (lost < 1 || lost > 3) {
				// One lost per local Export call; the 3 local points may
				// come in 1 to 3 calls.
				t.Errorf("the local exporter lost one point per call: counted %d, want 1 to 3", lost)
			}

			points := diff(pointsBefore, selfmetrics.PointsByExporter.Snapshot())
			fails := diff(failsBefore, selfmetrics.FailuresByExporter.Snapshot())
			windows := diff(windowsBefore, selfmetrics.WindowsByExporter.Snapshot())
			localLost := fails[selfmetrics.Failure{Exporter: "local", Code: tc.code}]
			promLost := fails[selfmetrics.Failure{Exporter: "prometheus", Code: tc.code}]
			if points["local"]+localLost != 3 || points["prometheus"]+promLost != 2 {
				t.Errorf("local: %d written + %d lost, prometheus: %d + %d; want 3 and 2 in all (failures %v)",
					points["local"], localLost, points["prometheus"], promLost, fails)
			}
			if len(fails) > 2 || localLost == 0 {
				t.Errorf("failures %v, want code %q only", fails, tc.code)
			}
			if tc.name == "all" && promLost != 2 {
				t.Errorf("prometheus lost %d of 2 points to a plain error", promLost)
			}
			// Two windows per export type; a window split over two
			// bundles counts in each.
			if windows["local"] < 2 || windows["prometheus"] < 2 {
				t.Errorf("windows by exporter %v, want at least 2 each", windows)
			}
		})
	}
}

// With --prometheus-listen every metric's points also reach /metrics: the
// endpoint must have been told the metrics, or it refuses their points.
func TestWriteFeedsScrapeEndpoint(t *testing.T) {
	install(t, &recorder{})
	src := config.Source{Name: "sink.yaml", Text: []byte(sinkConfig)}
	const listen = "127.0.0.1:0"
	failsBefore := selfmetrics.FailuresByExporter.Snapshot()
	run := func(events []string) {
		p, s := beam.NewPipelineWithRoot()
		combined := beam.ParDo(s, decodeSeries, beam.Create(s, partials(t, src, events)...))
		windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), combined)
		exportsink.Write(s, src, exporters.Settings{PrometheusListen: listen}, "", windowed)
		if err := ptest.Run(p); err != nil {
			t.Fatalf("pipeline failed: %v", err)
		}
	}
	run(sinkEvents)
	// New DoFn instances of the same process must not empty the endpoint:
	// a second run with an older point (which never replaces a newer one)
	// leaves the first run's values on /metrics.
	run([]string{`{"time":"2025-11-24T15:00:00Z","bytes":3}`})
	if fails := diff(failsBefore, selfmetrics.FailuresByExporter.Snapshot()); len(fails) != 0 {
		t.Errorf("points lost: %v", fails)
	}
	body := scrape(t, listen)
	textcheck.Contains(t, "/metrics", string(body), `requests{service="auth"} 1`+"\n", "bytes 1\n")
}

// scrape returns what the process's /metrics endpoint on listen serves.
func scrape(t *testing.T, listen string) string {
	t.Helper()
	srv, err := promscrape.Shared(listen)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
