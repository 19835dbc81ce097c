package selfmetrics

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/local"
	"github.com/beametrics/beametrics/internal/metricdata"
)

func TestPointsThroughLocalExporter(t *testing.T) {
	start := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	prev := Snapshot{EventsRead: 100, DeadLetters: map[string]int64{"bad_json": 2},
		ExportFailures: map[Failure]int64{{Exporter: "prometheus", Code: "HTTP_503"}: 1}}
	cur := Snapshot{EventsRead: 160, DeadLetters: map[string]int64{"bad_json": 5, "missing_field": 1},
		DroppedValues:  map[string]int64{"latency": 0},
		PointsExported: map[string]int64{"local": 12},
		ExportFailures: map[Failure]int64{{Exporter: "prometheus", Code: "HTTP_503"}: 4},
		WatermarkLag:   1500 * time.Millisecond}
	path := filepath.Join(t.TempDir(), "self.jsonl")
	e, err := local.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), Descriptors(time.Minute, "local"))
	if err := e.Export(context.Background(), Delta(prev, cur).Points(start, end)); err != nil {
		t.Fatal(err)
	}
	tail := `,"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}` + "\n"
	want := `{"metric_name":"beametrics/events_read","labels":{},"value":60` + tail +
		`{"metric_name":"beametrics/dead_letters","labels":{"reason":"bad_json"},"value":3` + tail +
		`{"metric_name":"beametrics/dead_letters","labels":{"reason":"missing_field"},"value":1` + tail +
		`{"metric_name":"beametrics/dropped_values","labels":{"metric":"latency"},"value":0` + tail +
		`{"metric_name":"beametrics/points_exported","labels":{"exporter":"local"},"value":12` + tail +
		`{"metric_name":"beametrics/export_failures","labels":{"code":"HTTP_503","exporter":"prometheus"},"value":3` + tail +
		`{"metric_name":"beametrics/watermark_lag","labels":{},"value":1.5` + tail
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestDescriptorsAreValidForEveryExporter(t *testing.T) {
	for _, typ := range []string{exporters.TypeCloudMonitoring, exporters.TypeRemoteWrite, exporters.TypeLocal} {
		s := exporters.Settings{
			CloudMonitoring:  exporters.CloudMonitoringSettings{Project: "p"},
			RemoteWrite:      exporters.RemoteWriteSettings{URL: "http://127.0.0.1:9090/api/v1/write"},
			PrometheusListen: ":9464",
		}
		if err := s.Validate(Descriptors(time.Minute, typ)); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

// A worker label goes on every descriptor and every point, in sorted
// place, and the result is still valid for every exporter.
func TestWorkerLabel(t *testing.T) {
	for _, typ := range []string{exporters.TypeCloudMonitoring, exporters.TypeRemoteWrite, exporters.TypeLocal} {
		descs := Descriptors(time.Minute, typ, WorkerLabel)
		s := exporters.Settings{
			CloudMonitoring: exporters.CloudMonitoringSettings{Project: "p"},
			RemoteWrite:     exporters.RemoteWriteSettings{URL: "http://127.0.0.1:9090/api/v1/write"},
		}
		if err := s.Validate(descs); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
		for _, d := range descs {
			if !slices.Contains(d.LabelNames, WorkerLabel) {
				t.Errorf("%s: %s declares labels %v, without %q", typ, d.Name, d.LabelNames, WorkerLabel)
			}
		}
	}
	declared := map[string][]string{}
	for _, d := range Descriptors(time.Minute, exporters.TypeLocal, WorkerLabel) {
		declared[d.Name] = d.LabelNames
	}
	start := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	snap := Snapshot{EventsRead: 4, DeadLetters: map[string]int64{"invalid_json": 1},
		ExportFailures: map[Failure]int64{{Exporter: "prometheus", Code: "HTTP_503"}: 2}}
	pts := snap.Points(start, start.Add(time.Minute), metricdata.Label{Name: WorkerLabel, Value: "host-7"})
	if len(pts) != 4 {
		t.Fatalf("%d points, want 4: %+v", len(pts), pts)
	}
	for _, p := range pts {
		var names []string
		for _, l := range p.Labels {
			names = append(names, l.Name)
		}
		if strings.Join(names, ",") != strings.Join(declared[p.Metric], ",") {
			t.Errorf("%s has labels %v, its descriptor declares %v", p.Metric, names, declared[p.Metric])
		}
		if got := p.Labels[len(p.Labels)-1]; got != (metricdata.Label{Name: WorkerLabel, Value: "host-7"}) {
			t.Errorf("%s: last label %+v, want worker=host-7", p.Metric, got)
		}
	}
	// Without extra labels, nothing changes: local runs keep their series.
	for _, p := range snap.Points(start, start.Add(time.Minute)) {
		for _, l := range p.Labels {
			if l.Name == WorkerLabel {
				t.Errorf("%s carries a worker label without being given one", p.Metric)
			}
		}
	}
}
