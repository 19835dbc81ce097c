package selfmetrics

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/local"
)

func TestPointsThroughLocalExporter(t *testing.T) {
	start := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	prev := Snapshot{EventsRead: 100, DeadLetters: map[string]int64{"bad_json": 2},
		ExportFailures: map[exporters.FailureKey]int64{{Exporter: "prometheus", Code: "HTTP_503"}: 1}}
	cur := Snapshot{EventsRead: 160, DeadLetters: map[string]int64{"bad_json": 5, "missing_field": 1},
		DroppedValues:  map[string]int64{"latency": 0},
		PointsExported: map[string]int64{"local": 12},
		ExportFailures: map[exporters.FailureKey]int64{{Exporter: "prometheus", Code: "HTTP_503"}: 4},
		WatermarkLag:   1500 * time.Millisecond}
	var out bytes.Buffer
	e := local.New(&out)
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
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
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
