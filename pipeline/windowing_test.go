package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/pipeline"
)

// base is aligned to every window size used here.
var base = time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)

// logEvent is one test record: its event time and fields.
type logEvent struct {
	at      time.Duration // after base
	service string
	env     string
	bytes   int
}

func (e logEvent) body() string {
	return fmt.Sprintf(`{"time":%q,"service":%q,"bytes":%d}`, base.Add(e.at).Format(time.RFC3339Nano), e.service, e.bytes)
}

// streamStep is one TestStream step: elements stamped with their event
// times, or a watermark move.
type streamStep struct {
	events    []logEvent
	watermark time.Duration // after base; used when events is nil
}

// runStream runs the real Build path over a TestStream of steps and
// returns the recorded points.
func runStream(t *testing.T, yaml string, steps []streamStep) []string {
	t.Helper()
	rec := installRecorder(t)
	runStreamWith(t, rec, yaml, steps)
	return rec.lines(t)
}

func runStreamWith(t *testing.T, rec *recorder, yaml string, steps []streamStep) {
	t.Helper()
	src := config.Source{Name: "test.yaml", Text: []byte(yaml)}
	cfg, err := src.Load()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	records := beamtest.NewRecords(t)
	for _, st := range steps {
		if st.events == nil {
			records.Advance(base.Add(st.watermark))
			continue
		}
		// One element per event: each carries its own timestamp.
		for _, e := range st.events {
			records.AddWithAttributes(base.Add(e.at), map[string]string{"env": e.env}, e.body())
		}
	}
	plan := &pipeline.Plan{Source: src, Config: cfg, ReadRecords: records.Source()}
	beamtest.Run(t, func(s beam.Scope) error { return pipeline.Build(s, plan) })
}

// Two metrics with different windows in one config: windows are aligned
// to multiples of their size and half-open, [start, end).
const twoWindowsConfig = `
event_time_field: time
window: 10s
metrics:
  - name: requests
    type: count
    dynamic_labels: {service: service}
    export_type: local
  - name: prod-bytes
    type: sum
    field: bytes
    window: 60s
    filter-conditions:
      - {field: attributes.env, operator: equals, value: prod}
    export_type: local
`

func TestWindowsAlignedHalfOpenTwoSizes(t *testing.T) {
	ms := time.Millisecond
	events := []logEvent{
		{0, "a", "prod", 1},                    // first instant of [16:00:00, 16:00:10)
		{7500 * ms, "b", "prod", 2},            // inside
		{10*time.Second - ms, "a", "dev", 4},   // last millisecond of [16:00:00, 16:00:10)
		{10 * time.Second, "a", "prod", 8},     // first instant of the next 10 s window
		{60*time.Second - ms, "b", "prod", 16}, // last millisecond of the first minute
		{60 * time.Second, "b", "prod", 32},    // first instant of the second minute
		{95 * time.Second, "a", "dev", 64},
	}
	got := runStream(t, twoWindowsConfig, []streamStep{
		{events: events[:4]},
		{watermark: 30 * time.Second},
		{events: events[4:]},
	})
	w := func(start, size time.Duration) string {
		return base.Add(start).Format(time.RFC3339Nano) + "/" + base.Add(start+size).Format(time.RFC3339Nano)
	}
	s10, s60 := 10*time.Second, 60*time.Second
	want := []string{
		"requests{service=a} " + w(0, s10) + " = 2",
		"requests{service=b} " + w(0, s10) + " = 1",
		"requests{service=a} " + w(10*time.Second, s10) + " = 1",
		"requests{service=b} " + w(50*time.Second, s10) + " = 1",
		"requests{service=b} " + w(60*time.Second, s10) + " = 1",
		"requests{service=a} " + w(90*time.Second, s10) + " = 1",
		"prod-bytes{} " + w(0, s60) + " = 27",              // 1+2+8+16; the dev event is filtered out
		"prod-bytes{} " + w(60*time.Second, s60) + " = 32", // the dev event at 95 s too
	}
	diffLines(t, got, want)
}

// Data later than the allowed lateness is dropped before aggregation; data
// within it still counts for its window.
const latenessConfig = `
event_time_field: time
window: 10s
allowed_lateness: 30s
metrics:
  - name: requests
    type: count
    export_type: local
  - name: bytes
    type: sum
    field: bytes
    export_type: local
`

// latenessSteps put two events on time in [0 s, 10 s), one 5 s late (within
// the 30 s allowed), and one after the window expired (end + lateness =
// 40 s < watermark 60 s), next to an on-time event of a later window.
func latenessSteps() []streamStep {
	s := time.Second
	return []streamStep{
		{events: []logEvent{{1 * s, "a", "prod", 1}, {2 * s, "a", "prod", 2}}},
		{watermark: 15 * s},
		{events: []logEvent{{3 * s, "a", "prod", 4}}},
		{watermark: 60 * s},
		{events: []logEvent{{4 * s, "a", "prod", 8}, {65 * s, "a", "prod", 16}}},
	}
}

func tenSeconds(start time.Duration) string {
	return base.Add(start).Format(time.RFC3339Nano) + "/" + base.Add(start+10*time.Second).Format(time.RFC3339Nano)
}

// TestAllowedLateness follows every point exported for a window: the
// on-time and the allowed late data count, the expired event does not, and
// a window is exported again only when late data changed its total, which
// the later point then carries whole (accumulating panes).
func TestAllowedLateness(t *testing.T) {
	rec := installRecorder(t)
	runStreamWith(t, rec, latenessConfig, latenessSteps())
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range rec.problems {
		if !strings.Contains(p, "exported more than once") {
			t.Errorf("exporter misuse: %s", p)
		}
	}
	seq := map[string][]float64{}
	for _, p := range rec.points {
		id := seriesID(p.Metric, p.Labels, p.Start, p.End)
		seq[id] = append(seq[id], float64(p.Int)+p.Double)
	}
	s := time.Second
	want := map[string][]float64{
		"requests{} " + tenSeconds(0):    {2, 3},
		"bytes{} " + tenSeconds(0):       {3, 7}, // 1+2, then +4; never the expired 8
		"requests{} " + tenSeconds(60*s): {1},
		"bytes{} " + tenSeconds(60*s):    {16},
	}
	for id, v := range want {
		if fmt.Sprint(seq[id]) != fmt.Sprint(v) {
			t.Errorf("%s: exported %v, want %v", id, seq[id], v)
		}
	}
	if len(seq) != len(want) {
		t.Errorf("got series %v, want exactly %v", seq, want)
	}
}
