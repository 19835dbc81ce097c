package cumulative_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/pipeline"
	"github.com/beametrics/beametrics/transforms/exportsink"
)

const buildConfig = `
event_time_field: time
window: 10s
metrics:
  - name: bytes_total
    type: sum
    field: bytes
    kind: cumulative
    dynamic_labels: {service: service}
    export_type: local
  - name: requests
    type: count
    export_type: local
`

// Through the whole pipeline to the real local exporter: a cumulative
// metric's points carry the running total and its fixed start as
// window_start; the gauge next to it keeps per-window values.
func TestBuildExportsRunningTotals(t *testing.T) {
	src := config.Source{Name: "cumulative.yaml", Text: []byte(buildConfig)}
	cfg, err := src.Load()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	out := filepath.Join(t.TempDir(), "points.jsonl")
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}
	records := beamtest.NewRecords(t)
	for _, e := range []struct {
		at      time.Duration
		service string
		bytes   int
	}{
		{1 * time.Second, "a", 10}, {3 * time.Second, "a", 5},
		{12 * time.Second, "a", 1},
		{25 * time.Second, "b", 7}, {26 * time.Second, "a", 2},
	} {
		at := base.Add(e.at)
		records.Add(at, fmt.Sprintf(`{"time":%q,"service":%q,"bytes":%d}`, at.Format(time.RFC3339Nano), e.service, e.bytes))
	}
	plan := &pipeline.Plan{Source: src, Config: cfg,
		Exporters:   exporters.Settings{Local: exporters.LocalSettings{Path: out}},
		ReadRecords: records.Source()}
	beamtest.Run(t, func(s beam.Scope) error { return pipeline.Build(s, plan) })
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}

	var got []string
	for _, l := range runoutput.ReadPoints(t, out) {
		got = append(got, fmt.Sprintf("%s%v %s-%s = %g", l.Metric, l.Labels,
			l.WindowStart.Format("15:04:05"), l.WindowEnd.Format("15:04:05"), l.Number(t)))
	}
	sort.Strings(got)
	want := []string{
		"bytes_totalmap[service:a] 00:00:00-00:00:10 = 15",
		"bytes_totalmap[service:a] 00:00:00-00:00:20 = 16",
		"bytes_totalmap[service:a] 00:00:00-00:00:30 = 18",
		"bytes_totalmap[service:b] 00:00:20-00:00:30 = 7",
		"requestsmap[] 00:00:00-00:00:10 = 2",
		"requestsmap[] 00:00:10-00:00:20 = 1",
		"requestsmap[] 00:00:20-00:00:30 = 2",
	}
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("local exporter wrote\n  %q\nwant\n  %q", got, want)
	}
}
