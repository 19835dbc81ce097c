package exportsink_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
	"github.com/beametrics/beametrics/transforms/absence"
	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func TestMain(m *testing.M) {
	ptest.Main(m)
}

func init() {
	register.Function2x1(decodeSeries)
}

// decodeSeries reads "key-base64 windowstart-unix-ms acc-base64" into a
// combined series stamped inside its window. (beam.Create needs simple
// element types.)
func decodeSeries(s string, emit func(beam.EventTime, string, aggregate.Acc)) error {
	var k, a string
	var ms int64
	if _, err := fmt.Sscanf(s, "%s %d %s", &k, &ms, &a); err != nil {
		return err
	}
	key, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(a)
	if err != nil {
		return err
	}
	acc, err := aggregate.DecodeBinary(raw)
	if err != nil {
		return err
	}
	emit(mtime.FromMilliseconds(ms), string(key), *acc)
	return nil
}

// recorder is a strict fake exporter per export type.
type recorder struct {
	mu      sync.Mutex
	starts  map[string][]string // export type -> metric names given to Start
	points  map[string][]string // export type -> formatted points
	misuse  []string
	failOne bool  // make the local exporter lose the first point of each call
	failAll error // make every Export fail with this plain error
}

type fake struct {
	r       *recorder
	typ     string
	started bool
}

func install(t *testing.T, r *recorder) {
	t.Helper()
	_ = exportsink.CloseAll()
	r.starts, r.points = map[string][]string{}, map[string][]string{}
	old := exportsink.NewExporter
	exportsink.NewExporter = func(_ context.Context, typ string, _ exporters.Settings) (exporters.Exporter, error) {
		return &fake{r: r, typ: typ}, nil
	}
	t.Cleanup(func() { _ = exportsink.CloseAll(); exportsink.NewExporter = old })
}

func (f *fake) Start(_ context.Context, descs []metricdata.Descriptor) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if f.started {
		f.r.misuse = append(f.r.misuse, "Start twice")
	}
	f.started = true
	for _, d := range descs {
		f.r.starts[f.typ] = append(f.r.starts[f.typ], d.Name)
	}
	return nil
}

func (f *fake) Export(_ context.Context, points []metricdata.Point) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if !f.started {
		f.r.misuse = append(f.r.misuse, "Export before Start")
	}
	for _, p := range points {
		var ls []string
		for _, l := range p.Labels {
			ls = append(ls, l.Name+"="+l.Value)
		}
		v := fmt.Sprint(p.Int)
		if p.Type == metricdata.Double {
			v = fmt.Sprint(p.Double)
		}
		f.r.points[f.typ] = append(f.r.points[f.typ], fmt.Sprintf("%s{%s} %s/%s = %s", p.Metric, strings.Join(ls, ","),
			p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339), v))
	}
	switch {
	case f.r.failAll != nil:
		return f.r.failAll
	case f.r.failOne && f.typ == "local":
		return &exporters.ExportError{Exporter: f.typ, Total: len(points),
			Failed: []exporters.PointFailure{{Point: points[0], Code: "test", Reason: "refused by the test"}}}
	}
	return nil
}

func (f *fake) Close() error { return nil }

const sinkConfig = `
event_time_field: time
window: 60s
metrics:
  - {name: requests, type: count, dynamic_labels: {service: service}, export_type: local}
  - {name: bytes, type: sum, field: bytes, export_type: prometheus}
`

// partials runs the engine over events (input production only) and encodes
// each series for decodeSeries.
func partials(t *testing.T, src config.Source, events []string) []any {
	t.Helper()
	cfg, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	proc := eng.NewProcessor()
	for _, e := range events {
		if err := proc.Process([]byte(e), nil, 0); err != nil {
			t.Fatalf("event %s: %v", e, err)
		}
	}
	var out []any
	proc.Flush(func(s engine.Series, acc *aggregate.Acc) {
		b, err := acc.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %s", base64.StdEncoding.EncodeToString([]byte(metricagg.SeriesKey(s.Metric, s.LabelKey))),
			time.Unix(0, s.WindowStart).UnixMilli(), base64.StdEncoding.EncodeToString(b)))
	})
	return out
}

var sinkEvents = []string{
	`{"time":"2025-11-24T16:00:01Z","service":"checkout","bytes":10}`,
	`{"time":"2025-11-24T16:00:59.999Z","service":"checkout","bytes":20}`,
	`{"time":"2025-11-24T16:00:30Z","service":"auth","bytes":5}`,
	`{"time":"2025-11-24T16:01:00Z","service":"auth","bytes":1}`,
}

func runSink(t *testing.T, src config.Source, elems []any) error {
	return runSinkTo(t, src, elems, "")
}

func runSinkTo(t *testing.T, src config.Source, elems []any, deadLetter string) error {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	combined := beam.ParDo(s, decodeSeries, beam.Create(s, elems...))
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), combined)
	exportsink.Write(s, src, exporters.Settings{}, deadLetter, windowed)
	return ptest.Run(p)
}

// TestWriteRoutesByExportType checks that each point reaches the exporter
// of its metric's export type, started once with that type's metrics, with
// labels decoded and the window of the element.
func TestWriteRoutesByExportType(t *testing.T) {
	r := &recorder{}
	install(t, r)
	src := config.Source{Name: "sink.yaml", Text: []byte(sinkConfig)}
	before := selfmetrics.PointsExported.Load()
	if err := runSink(t, src, partials(t, src, sinkEvents)); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.misuse {
		t.Errorf("exporter misuse: %s", m)
	}
	if fmt.Sprint(r.starts) != "map[local:[requests] prometheus:[bytes]]" {
		t.Errorf("exporters started with %v, want local:[requests] prometheus:[bytes]", r.starts)
	}
	for typ := range r.points {
		sort.Strings(r.points[typ])
	}
	wantLocal := []string{
		"requests{service=auth} 2025-11-24T16:00:00Z/2025-11-24T16:01:00Z = 1",
		"requests{service=auth} 2025-11-24T16:01:00Z/2025-11-24T16:02:00Z = 1",
		"requests{service=checkout} 2025-11-24T16:00:00Z/2025-11-24T16:01:00Z = 2",
	}
	wantProm := []string{
		"bytes{} 2025-11-24T16:00:00Z/2025-11-24T16:01:00Z = 35",
		"bytes{} 2025-11-24T16:01:00Z/2025-11-24T16:02:00Z = 1",
	}
	if fmt.Sprint(r.points["local"]) != fmt.Sprint(wantLocal) {
		t.Errorf("local points %q, want %q", r.points["local"], wantLocal)
	}
	if fmt.Sprint(r.points["prometheus"]) != fmt.Sprint(wantProm) {
		t.Errorf("prometheus points %q, want %q", r.points["prometheus"], wantProm)
	}
	if got := selfmetrics.PointsExported.Load() - before; got != 5 {
		t.Errorf("points exported counter grew by %d, want 5", got)
	}
}

// TestWriteDeadLettersLostPoints: with a dead-letter destination, every
// point lost after the exporter's retries is written there as a local JSON
// line, with the exporter and code in the reason.
func TestWriteDeadLettersLostPoints(t *testing.T) {
	src := config.Source{Name: "sink.yaml", Text: []byte(sinkConfig)}
	r := &recorder{failAll: errors.New("destination down")}
	install(t, r)
	dest := filepath.Join(t.TempDir(), "dead.jsonl")
	if err := runSinkTo(t, src, partials(t, src, sinkEvents), dest); err != nil {
		t.Fatalf("a lost point failed the pipeline: %v", err)
	}
	if err := deadletter.CloseFiles(); err != nil {
		t.Fatal(err)
	}
	letters := runoutput.ReadDeadLetters(t, dest)
	if len(letters) != 5 {
		t.Fatalf("%d dead letters, want the 5 lost points:\n%+v", len(letters), letters)
	}
	for _, l := range letters {
		if !strings.HasPrefix(l.Reason, "export_failed/") || !strings.HasSuffix(l.Reason, "/unknown") ||
			!strings.Contains(l.Detail, "destination down") || !strings.Contains(string(l.Data()), `"metric_name":`) {
			t.Errorf("dead letter %+v (data %s): want reason export_failed/<exporter>/unknown, the error and the point as a JSON line", l, l.Data())
		}
	}
}

// TestWriteBadSeriesKey: a key that names no metric fails the bundle
// rather than exporting a wrong series.
func TestWriteBadSeriesKey(t *testing.T) {
	install(t, &recorder{})
	src := config.Source{Name: "sink.yaml", Text: []byte(sinkConfig)}
	var acc aggregate.Acc
	acc.AddCount()
	b, _ := acc.AppendBinary(nil)
	elem := fmt.Sprintf("%s %d %s", base64.StdEncoding.EncodeToString([]byte(metricagg.SeriesKey(7, ""))),
		time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC).UnixMilli(), base64.StdEncoding.EncodeToString(b))
	err := runSink(t, src, []any{elem})
	if err == nil || !strings.Contains(err.Error(), "bad series key") {
		t.Errorf("err = %v, want a bad series key error", err)
	}
}

func init() {
	register.Function2x1(decodeSince)
}

// decodeSince reads "key-base64 window-end-unix-ms seconds" into one
// seconds-since-last-seen value stamped at the end of its window.
func decodeSince(s string, emit func(beam.EventTime, string, float64)) error {
	var k string
	var ms int64
	var secs float64
	if _, err := fmt.Sscanf(s, "%s %d %g", &k, &ms, &secs); err != nil {
		return err
	}
	key, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return err
	}
	emit(mtime.FromMilliseconds(ms-1), string(key), secs)
	return nil
}

const sinceConfig = `
event_time_field: time
window: 60s
metrics:
  - name: liveness
    type: count
    dynamic_labels: {id: id}
    export_type: local
    absent: {expected: [{id: a}, {id: b}]}
`

// since encodes one value of the series id of sinceConfig's metric for
// the window ending at end.
func since(id string, end time.Time, secs float64) any {
	key := metricagg.SeriesKey(0, absence.LabelKey([]string{id}))
	return fmt.Sprintf("%s %d %g", base64.StdEncoding.EncodeToString([]byte(key)), end.UnixMilli(), secs)
}

// The seconds_since_last_seen gauges reach /metrics, and a second DoFn
// instance in the same process (a new bundle processor, a second run) does
// not empty the endpoint: defining a metric again would drop its series.
func TestSinceSurvivesSecondInstance(t *testing.T) {
	r := &recorder{}
	install(t, r)
	src := config.Source{Name: "since.yaml", Text: []byte(sinceConfig)}
	const listen = "localhost:0" // not shared with the other scrape test's config
	t1 := time.Date(2025, 11, 24, 16, 2, 0, 0, time.UTC)
	run := func(elems ...any) {
		p, s := beam.NewPipelineWithRoot()
		vals := beam.ParDo(s, decodeSince, beam.Create(s, elems...))
		windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), vals)
		exportsink.WriteSince(s, src, exporters.Settings{PrometheusListen: listen}, "", windowed)
		if err := ptest.Run(p); err != nil {
			t.Fatalf("pipeline failed: %v", err)
		}
	}
	run(since("a", t1, 5), since("b", t1, 7))
	// An older window never replaces a newer one, so after the second
	// instance the first run's values must still be served.
	run(since("a", t1.Add(-time.Minute), 2))

	body := scrape(t, listen)
	textcheck.Contains(t, "/metrics", string(body),
		`liveness_seconds_since_last_seen{id="a"} 5`+"\n",
		`liveness_seconds_since_last_seen{id="b"} 7`+"\n")
	// The export type's exporter got all three points, as gauges
	// covering their windows.
	want := []string{
		`liveness/seconds_since_last_seen{id=a} 2025-11-24T16:01:00Z/2025-11-24T16:02:00Z = 5`,
		`liveness/seconds_since_last_seen{id=b} 2025-11-24T16:01:00Z/2025-11-24T16:02:00Z = 7`,
		`liveness/seconds_since_last_seen{id=a} 2025-11-24T16:00:00Z/2025-11-24T16:01:00Z = 2`,
	}
	r.mu.Lock()
	got := r.points["local"]
	r.mu.Unlock()
	if strings.Join(sorted(got), "\n") != strings.Join(sorted(want), "\n") {
		t.Errorf("local exporter got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func TestSinceDescriptor(t *testing.T) {
	d := exportsink.SinceDescriptor(metricdata.Descriptor{Name: "pipeline-liveness", Aggregation: "count", ValueType: metricdata.Int64,
		Kind: metricdata.Cumulative, LabelNames: []string{"pipeline_id"}, ExportType: "local", Window: time.Minute})
	if d.Name != "pipeline-liveness/seconds_since_last_seen" || d.ValueType != metricdata.Double || d.Kind != metricdata.Gauge ||
		d.Unit != "s" || d.ExportType != "local" || d.Window != time.Minute || len(d.LabelNames) != 1 {
		t.Errorf("descriptor %+v", d)
	}
	if got := exporters.PrometheusFamily(d); got != "pipeline_liveness_seconds_since_last_seen" {
		t.Errorf("Prometheus name %q", got)
	}
}
