package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/testing/syncbuf"
)

var (
	ws = time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	we = ws.Add(time.Minute)
)

func TestExactLines(t *testing.T) {
	var out bytes.Buffer
	e := &Exporter{w: &out, mu: new(sync.Mutex)}
	pts := []metricdata.Point{
		{Metric: "NAME", Labels: []metricdata.Label{{Name: "k", Value: "v"}}, Start: ws, End: we, Type: metricdata.Int64, Int: 12},
		{Metric: "latency", Labels: []metricdata.Label{{Name: "a", Value: "x\"y"}, {Name: "b", Value: "é"}}, Start: ws, End: we, Type: metricdata.Double, Double: 0.25},
		{Metric: "big", Start: ws, End: we, Type: metricdata.Double, Double: 3e21},
		{Metric: "whole", Start: ws.In(time.FixedZone("X", 3600)), End: we, Type: metricdata.Double, Double: 2},
		{Metric: "nan", Start: ws, End: we, Type: metricdata.Double, Double: math.NaN()},
		{Metric: "h", Start: ws, End: we, Type: metricdata.Distribution, Dist: &metricdata.DistributionValue{
			Count: 4, Sum: 10.5, Min: 0.5, Max: 6, Bounds: []float64{1, 5}, BucketCounts: []int64{1, 2, 1}}},
	}
	if err := e.Export(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
	want := `{"metric_name":"NAME","labels":{"k":"v"},"value":12,"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}
{"metric_name":"latency","labels":{"a":"x\"y","b":"é"},"value":0.25,"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}
{"metric_name":"big","labels":{},"value":3e+21,"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}
{"metric_name":"whole","labels":{},"value":2,"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}
{"metric_name":"nan","labels":{},"value":"NaN","window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}
{"metric_name":"h","labels":{},"value":{"count":4,"sum":10.5,"min":0.5,"max":6,"buckets":[{"le":1,"count":1},{"le":5,"count":2},{"le":"+Inf","count":1}]},"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}
`
	if got := out.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("invalid JSON: %s", line)
		}
	}
}

func TestFloatsMatchEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, -0.5, 1e-7, 1.5e-6, 123456789, 1e20, 1e21, -2.5e-300, math.MaxFloat64} {
		want, _ := json.Marshal(f)
		if got := string(appendFloat(nil, f)); got != string(want) {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
}

func TestBadPointIsReportedAndOthersWritten(t *testing.T) {
	var out bytes.Buffer
	e := &Exporter{w: &out, mu: new(sync.Mutex)}
	pts := []metricdata.Point{
		{Metric: "ok", Start: ws, End: we, Type: metricdata.Int64, Int: 1},
		{Metric: "broken", Start: ws, End: we, Type: metricdata.Distribution, Dist: &metricdata.DistributionValue{Bounds: []float64{1}, BucketCounts: []int64{1}}},
	}
	err := e.Export(context.Background(), pts)
	var ee *exporters.ExportError
	if !errors.As(err, &ee) || len(ee.Failed) != 1 || ee.Failed[0].Point.Metric != "broken" || ee.Failed[0].Code != "encode" {
		t.Fatalf("want one encode failure for broken, got %v", err)
	}
	if !strings.Contains(err.Error(), "1 bucket counts for 1 bounds") {
		t.Errorf("reason missing from %q", err)
	}
	if got := strings.Count(out.String(), "\n"); got != 1 || !strings.Contains(out.String(), `"ok"`) {
		t.Errorf("want only the good line, got %q", out.String())
	}
}

func TestConcurrentExportsNeverInterleave(t *testing.T) {
	var w syncbuf.Buffer // locked, like a shared stdout
	e := &Exporter{w: &w, mu: new(sync.Mutex)}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				pts := make([]metricdata.Point, 5)
				for j := range pts {
					pts[j] = metricdata.Point{Metric: strings.Repeat("m", 50+g), Start: ws, End: we, Type: metricdata.Int64, Int: int64(i)}
				}
				if err := e.Export(context.Background(), pts); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	if len(lines) != 8*200*5 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200*5)
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	p := metricdata.Point{Metric: "requests", Labels: []metricdata.Label{{Name: "method", Value: "GET"}, {Name: "status", Value: "200"}}, Start: ws, End: we, Type: metricdata.Double, Double: 12.5}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = AppendLine(buf[:0], p)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

func TestOpenSharesOneFilePerPath(t *testing.T) {
	path := t.TempDir() + "/out.jsonl"
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Open(path)
	if a.mu != b.mu {
		t.Fatal("two exporters of one path must share the lock")
	}
	p := metricdata.Point{Metric: "m", Start: ws, End: we, Type: metricdata.Int64, Int: 1}
	a.Export(context.Background(), []metricdata.Point{p})
	b.Export(context.Background(), []metricdata.Point{p})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	line := `{"metric_name":"m","labels":{},"value":1,"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}` + "\n"
	if string(got) != line+line {
		t.Errorf("file holds %q", got)
	}
	if a, b := Stdout(), Stdout(); a.mu != b.mu {
		t.Error("stdout exporters must share the lock")
	}
}
