package seriesorder_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/internal/testing/promtest"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/metricagg"
	"github.com/beametrics/beametrics/transforms/seriesorder"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.DoFn2x1[string, func(string, aggregate.Acc), error](&parseFn{})
}

// parseFn turns "metric|count" into a series of metric (no labels) with
// that count; the TestStream stamps each with its window's last instant.
type parseFn struct{}

func (parseFn) ProcessElement(s string, emit func(string, aggregate.Acc)) error {
	m, n, ok := strings.Cut(s, "|")
	if !ok {
		return fmt.Errorf("bad element %q", s)
	}
	mi, err1 := strconv.Atoi(m)
	c, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad element %q", s)
	}
	emit(metricagg.SeriesKey(mi, ""), aggregate.Acc{Count: int64(c)})
	return nil
}

func testConfig(exportType string) config.Source {
	return config.Source{Name: "order.yaml", Text: []byte(fmt.Sprintf(`
window: 60s
metrics:
  - {name: order-a, type: count, export_type: %[1]s}
  - {name: order-b, type: count, export_type: %[1]s}
`, exportType))}
}

// windowOrder is the order in which windows (minutes after base) arrive:
// each in its own TestStream batch, so its own bundle, newest first and
// then shuffled, before the watermark moves at all.
var windowOrder = []int{9, 3, 7, 1, 8, 2, 6, 4, 0, 5}

// countOf is the count of metric m in window w, different for each.
func countOf(m, w int) int { return 100*m + w + 1 }

// pipelineOf sends windowOrder's windows, after base, through the
// ordering step (unless ordered is false) into exportsink.
func pipelineOf(t *testing.T, base time.Time, ordered bool, src config.Source, settings exporters.Settings) *beam.Pipeline {
	t.Helper()
	stream := beamtest.NewStream(t)
	for _, w := range windowOrder {
		end := base.Add(time.Duration(w+1) * time.Minute)
		stream.Add(end.Add(-time.Millisecond), fmt.Sprintf("0|%d", countOf(0, w)), fmt.Sprintf("1|%d", countOf(1, w)))
	}
	p, s := beam.NewPipelineWithRoot()
	series := beam.ParDo(s, &parseFn{}, stream.Create(s))
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), series)
	if ordered {
		windowed = seriesorder.InWindowOrder(s, time.Minute, windowed)
	}
	exportsink.Write(s, src, settings, "", windowed)
	return p
}

// recording is a fake exporter that keeps the order of the points.
type recording struct {
	mu     sync.Mutex
	points []metricdata.Point
}

type recordingExporter struct{ r *recording }

func (e recordingExporter) Start(context.Context, []metricdata.Descriptor) error { return nil }
func (e recordingExporter) Close() error                                         { return nil }
func (e recordingExporter) Export(_ context.Context, points []metricdata.Point) error {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	e.r.points = append(e.r.points, points...)
	return nil
}

func installRecording(t *testing.T) *recording {
	t.Helper()
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}
	r := &recording{}
	old := exportsink.NewExporter
	exportsink.NewExporter = func(context.Context, string, exporters.Settings) (exporters.Exporter, error) {
		return recordingExporter{r}, nil
	}
	t.Cleanup(func() {
		_ = exportsink.CloseAll()
		exportsink.NewExporter = old
	})
	return r
}

// checkOrder returns how many points came before a point of the same
// series with a later window, and fails the test if a point is missing or
// wrong.
func checkOrder(t *testing.T, base time.Time, points []metricdata.Point) (outOfOrder int) {
	t.Helper()
	last := map[string]time.Time{}
	seen := map[string]int{}
	for _, p := range points {
		if !p.End.After(last[p.Metric]) {
			outOfOrder++
		}
		last[p.Metric] = p.End
		m := map[string]int{"order-a": 0, "order-b": 1}[p.Metric]
		w := int(p.End.Sub(base)/time.Minute) - 1
		if p.Int != int64(countOf(m, w)) {
			t.Errorf("%s window %d: value %d, want %d", p.Metric, w, p.Int, countOf(m, w))
		}
		seen[p.Metric]++
	}
	for _, m := range []string{"order-a", "order-b"} {
		if seen[m] != len(windowOrder) {
			t.Errorf("%s: %d points exported, want %d", m, seen[m], len(windowOrder))
		}
	}
	return outOfOrder
}

// TestWindowsReachExporterInOrder sends each series' windows newest
// first and shuffled, one bundle each: without the ordering step the
// recording exporter sees them out of order (the test can fail), with it
// in window order.
func TestWindowsReachExporterInOrder(t *testing.T) {
	base := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	src := testConfig("local")
	r := installRecording(t)
	if err := ptest.Run(pipelineOf(t, base, false, src, exporters.Settings{})); err != nil {
		t.Fatal(err)
	}
	if n := checkOrder(t, base, r.points); n == 0 {
		t.Fatalf("without the ordering step the windows arrived in order: the test does not force disorder")
	}
	r = installRecording(t)
	if err := ptest.Run(pipelineOf(t, base, true, src, exporters.Settings{})); err != nil {
		t.Fatal(err)
	}
	if n := checkOrder(t, base, r.points); n != 0 {
		t.Errorf("%d points arrived before an earlier window of their series", n)
	}
}

// TestWindowsReachPrometheusInOrder sends the same shuffled windows
// through the real remote-write exporter into a stock Prometheus, which
// refuses a sample older than its series' last one: every sample is
// stored, and no export failed.
func TestWindowsReachPrometheusInOrder(t *testing.T) {
	srv := promtest.Start(t)
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exportsink.CloseAll() })
	base := time.Now().Truncate(time.Minute).Add(-30 * time.Minute)
	settings := exporters.Settings{RemoteWrite: exporters.RemoteWriteSettings{URL: srv.WriteURL(), Timeout: 10 * time.Second}}
	failuresBefore := selfmetrics.ExportFailures.Load()
	if err := ptest.Run(pipelineOf(t, base, true, testConfig("prometheus"), settings)); err != nil {
		t.Fatal(err)
	}
	if n := selfmetrics.ExportFailures.Load() - failuresBefore; n != 0 {
		t.Errorf("%d points failed to export\n%s", n, srv.Log())
	}
	series, err := srv.Raw(`{__name__=~"order_.*"}`, base.Add(20*time.Minute), 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []metricdata.Point
	for _, s := range series {
		name := map[string]string{"order_a": "order-a", "order_b": "order-b"}[s.Labels["__name__"]]
		for _, smp := range s.Samples {
			got = append(got, metricdata.Point{Metric: name, End: smp.Time, Int: int64(smp.Value)})
		}
	}
	if len(series) != 2 {
		t.Errorf("%d series stored, want 2: %v", len(series), series)
	}
	checkOrder(t, base, got)
}
