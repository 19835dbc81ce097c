package all

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/local"
	"github.com/beametrics/beametrics/exporters/promremote"
	"github.com/beametrics/beametrics/exporters/promscrape"
	"github.com/beametrics/beametrics/internal/metricdata"
)

func TestNewByType(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := exporters.Settings{
		CloudMonitoring: exporters.CloudMonitoringSettings{Project: "p"},
		RemoteWrite:     exporters.RemoteWriteSettings{URL: "http://127.0.0.1:1/api/v1/write"},
		Local:           exporters.LocalSettings{Path: path},
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	for typ, want := range map[string]string{
		"prometheus": fmt.Sprintf("%T", &promremote.Exporter{}),
		"local":      fmt.Sprintf("%T", &local.Exporter{}),
	} {
		e, err := New(ctx, typ, s)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if got := fmt.Sprintf("%T", e); got != want {
			t.Errorf("%s: got %s, want %s", typ, got, want)
		}
	}
	if _, err := New(ctx, "stackdriver", s); err == nil || !strings.Contains(err.Error(), `unknown export type "stackdriver" (known: google-cloud-monitoring, local, prometheus)`) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := New(ctx, "google-cloud-monitoring", exporters.Settings{}); err == nil || !strings.Contains(err.Error(), "project is required") {
		t.Errorf("missing project: %v", err)
	}
}

func TestScrape(t *testing.T) {
	if e, err := Scrape(exporters.Settings{}); e != nil || err != nil {
		t.Fatalf("no listen address: got %v, %v", e, err)
	}
	e, err := Scrape(exporters.Settings{PrometheusListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := metricdata.Descriptor{Name: "x", Aggregation: "count", ValueType: metricdata.Int64, Kind: metricdata.Gauge}
	e.Start(ctx, []metricdata.Descriptor{d})
	if err := e.Export(ctx, []metricdata.Point{{Metric: "x", End: time.Unix(60, 0), Type: metricdata.Int64, Int: 42}}); err != nil {
		t.Fatal(err)
	}
	srv, _ := promscrape.Shared("127.0.0.1:0") // the same server Scrape started
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nx 42\n") {
		t.Errorf("/metrics lacks x 42:\n%s", body)
	}
}
