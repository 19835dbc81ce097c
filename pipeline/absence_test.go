package pipeline_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/jobs/heartbeat"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/pipeline"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

// livenessMetric counts the heartbeats of two routes and zero-fills a
// route that stops; the stream tests add the metrics they check with it.
const livenessMetric = `
event_time_field: time
window: 10s
metrics:
  - name: pipeline-liveness
    type: count
    dynamic_labels: {pipeline_id: pipeline-id, pipeline_env: pipeline-env}
    filter-conditions:
      - {field: user_agent, operator: equals, value: beametrics-dummy}
    absent:
      expected:
        - {pipeline_id: "0", pipeline_env: blue}
        - {pipeline_id: "1", pipeline_env: blue}
    export_type: local
`

const livenessConfig = livenessMetric + `  - name: all-records
    type: count
    export_type: local
`

// TestBuildZeroFillsStoppedRoute runs the whole pipeline (Build) on prism
// with a test stream of heartbeat records: route 1 stops after window 2,
// and the local exporter must show it at 0 in windows 3, 4 and 5 exactly,
// with its seconds_since_last_seen gauge growing by the window.
func TestBuildZeroFillsStoppedRoute(t *testing.T) {
	cfg, err := config.Parse("liveness.yaml", []byte(livenessConfig))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "points.jsonl")
	t0 := time.Date(2025, 2, 7, 15, 12, 0, 0, time.UTC)
	const windows = 6
	records := beamtest.NewRecords(t)
	for w := 0; w < windows; w++ {
		var bodies []string
		for s := 0; s < 10; s += 3 { // a dummy at seconds 0, 3, 6, 9
			at := t0.Add(time.Duration(w)*10*time.Second + time.Duration(s)*time.Second)
			bodies = append(bodies, string(heartbeat.Record("0", "blue", at)))
			if w <= 2 {
				bodies = append(bodies, string(heartbeat.Record("1", "blue", at)))
			}
		}
		records.Add(t0.Add(time.Duration(w)*10*time.Second), bodies...)
		records.Advance(t0.Add(time.Duration(w+1) * 10 * time.Second))
	}

	plan := &pipeline.Plan{
		Source:      config.Source{Name: "liveness.yaml", Text: []byte(livenessConfig)},
		Config:      cfg,
		Exporters:   exporters.Settings{Local: exporters.LocalSettings{Path: out}},
		ReadRecords: records.Source(),
	}
	beamtest.Run(t, func(s beam.Scope) error { return pipeline.Build(s, plan) })
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}

	var got []string
	for _, pt := range runoutput.ReadPoints(t, out) {
		w := int(pt.WindowStart.Sub(t0) / (10 * time.Second))
		got = append(got, fmt.Sprintf("%s %s w%d %g", pt.Metric, pt.Labels["pipeline_id"], w, pt.Number(t)))
	}
	var want []string
	for w := 0; w < windows; w++ {
		want = append(want, fmt.Sprintf("pipeline-liveness 0 w%d 4", w))
		route1, all := 4, 8
		if w > 2 {
			route1, all = 0, 4 // stopped: an explicit zero
		}
		want = append(want, fmt.Sprintf("pipeline-liveness 1 w%d %d", w, route1))
		want = append(want, fmt.Sprintf("all-records  w%d %d", w, all))
		// The derived gauge: 0 with data, then the silence so far.
		want = append(want, fmt.Sprintf("pipeline-liveness/seconds_since_last_seen 0 w%d 0", w))
		since := 0
		if w > 2 {
			since = 10 * (w - 2)
		}
		want = append(want, fmt.Sprintf("pipeline-liveness/seconds_since_last_seen 1 w%d %d", w, since))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("exported points:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A config whose absent: does not fit its metric (the parser refuses it,
// so only a caller building a Config by hand gets here) makes Build fail
// naming the metric, instead of panicking.
func TestBuildRefusesBadAbsent(t *testing.T) {
	cfg, err := config.Parse("liveness.yaml", []byte(livenessConfig))
	if err != nil {
		t.Fatal(err)
	}
	delete(cfg.Metrics[0].Absent.Expected[1], "pipeline_env")
	plan := &pipeline.Plan{
		Source: config.Source{Name: "liveness.yaml", Text: []byte(livenessConfig)},
		Config: cfg,
		ReadRecords: func(s beam.Scope) beam.PCollection {
			return beam.Create(s, pubsubread.Message{ID: "1"})
		},
	}
	_, s := beam.NewPipelineWithRoot()
	err = pipeline.Build(s, plan)
	if err == nil || !strings.Contains(err.Error(), `"pipeline-liveness"`) || !strings.Contains(err.Error(), `"pipeline_env"`) {
		t.Fatalf("Build: %v, want an error naming the metric and the missing label", err)
	}
}
