package cumulative_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/pipeline"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

func init() {
	register.Function2x1(toMessage)
}

func toMessage(t beam.EventTime, s string) pubsubread.Message {
	return pubsubread.Message{ID: s, Data: []byte(s), PublishTime: t.ToTime()}
}

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
	ts := teststream.NewConfig()
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
		rec := fmt.Sprintf(`{"time":%q,"service":%q,"bytes":%d}`, at.Format(time.RFC3339Nano), e.service, e.bytes)
		if err := ts.AddElements(at.UnixMilli(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	plan := &pipeline.Plan{Source: src, Config: cfg,
		Exporters: exporters.Settings{Local: exporters.LocalSettings{Path: out}},
		ReadRecords: func(s beam.Scope) beam.PCollection {
			return beam.ParDo(s, toMessage, teststream.Create(s, ts))
		}}
	if err := pipeline.Build(s, plan); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			Metric string            `json:"metric_name"`
			Labels map[string]string `json:"labels"`
			Value  float64           `json:"value"`
			Start  time.Time         `json:"window_start"`
			End    time.Time         `json:"window_end"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		got = append(got, fmt.Sprintf("%s%v %s-%s = %g", l.Metric, l.Labels,
			l.Start.Format("15:04:05"), l.End.Format("15:04:05"), l.Value))
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
