package cloudmonitoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/genproto/googleapis/api/label"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/grpc/codes"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/testing/fakemonitoring"
	"github.com/beametrics/beametrics/internal/testing/metrictest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// lbl keeps the many label lists in the tables below short.
var lbl = metrictest.Labels

var testMetrics = []metricdata.Descriptor{
	{Name: "requests", Aggregation: "count", ValueType: metricdata.Int64, Kind: metricdata.Gauge, LabelNames: []string{"method"}, Unit: "1", Description: "requests per window", Window: time.Minute},
	{Name: "latency_mean", Aggregation: "mean", ValueType: metricdata.Double, Kind: metricdata.Gauge, Unit: "s", Window: time.Minute},
	{Name: "bytes_total", Aggregation: "sum", ValueType: metricdata.Double, Kind: metricdata.Cumulative, LabelNames: []string{"host"}, Window: time.Minute},
	{Name: "size", Aggregation: "distribution", ValueType: metricdata.Distribution, Kind: metricdata.Gauge, Buckets: []float64{1, 5}, Window: time.Minute},
}

func setup(t testing.TB, s exporters.CloudMonitoringSettings) (*fakemonitoring.Server, *Exporter) {
	t.Helper()
	srv, err := fakemonitoring.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if s.Project == "" {
		s.Project = "proj"
	}
	e, err := New(context.Background(), s, Options{Client: srv.ClientOptions(), BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return srv, e
}

func started(t testing.TB, s exporters.CloudMonitoringSettings) (*fakemonitoring.Server, *Exporter) {
	srv, e := setup(t, s)
	if err := e.Start(context.Background(), testMetrics); err != nil {
		t.Fatal(err)
	}
	return srv, e
}

// window returns the start and end of the n-th one-minute window before now.
func window(n int) (time.Time, time.Time) {
	end := time.Now().Truncate(time.Minute).Add(-time.Duration(n) * time.Minute)
	return end.Add(-time.Minute), end
}

func TestStartCreatesDescriptors(t *testing.T) {
	srv, _ := started(t, exporters.CloudMonitoringSettings{MetricPrefix: "workload.googleapis.com/"})
	d := srv.Descriptor("workload.googleapis.com/requests")
	if d == nil {
		t.Fatal("descriptor not created")
	}
	if d.MetricKind != metric.MetricDescriptor_GAUGE || d.ValueType != metric.MetricDescriptor_INT64 || d.Unit != "1" ||
		d.Description != "requests per window" || len(d.Labels) != 1 || d.Labels[0].Key != "method" || d.Name != "projects/proj/metricDescriptors/workload.googleapis.com/requests" {
		t.Errorf("requests descriptor: %v", d)
	}
	if d := srv.Descriptor("workload.googleapis.com/bytes_total"); d.MetricKind != metric.MetricDescriptor_CUMULATIVE || d.ValueType != metric.MetricDescriptor_DOUBLE {
		t.Errorf("bytes_total: %v", d)
	}
	if d := srv.Descriptor("workload.googleapis.com/size"); d.ValueType != metric.MetricDescriptor_DISTRIBUTION {
		t.Errorf("size: %v", d)
	}
}

func TestStartConflictIsAClearError(t *testing.T) {
	srv, e := setup(t, exporters.CloudMonitoringSettings{})
	srv.PutDescriptor(&metric.MetricDescriptor{Type: "custom.googleapis.com/requests", MetricKind: metric.MetricDescriptor_CUMULATIVE, ValueType: metric.MetricDescriptor_INT64})
	err := e.Start(context.Background(), testMetrics)
	if err == nil || !strings.Contains(err.Error(), `metric "requests" conflicts with the existing descriptor custom.googleapis.com/requests: it is CUMULATIVE INT64 there, the config makes it GAUGE INT64`) {
		t.Fatalf("got %v", err)
	}
}

func TestStartRefusesShortWindow(t *testing.T) {
	srv, e := setup(t, exporters.CloudMonitoringSettings{})
	fast := testMetrics[0]
	fast.Window = time.Second
	err := e.Start(context.Background(), []metricdata.Descriptor{fast})
	if err == nil || !strings.Contains(err.Error(), "window 1s is shorter than the per-series write limit") {
		t.Fatalf("got %v", err)
	}
	if srv.Descriptor("custom.googleapis.com/requests") != nil {
		t.Error("descriptor created for a refused metric")
	}
}

func TestStartAddsLabelsToExistingDescriptor(t *testing.T) {
	srv, e := setup(t, exporters.CloudMonitoringSettings{})
	srv.PutDescriptor(&metric.MetricDescriptor{Type: "custom.googleapis.com/requests", MetricKind: metric.MetricDescriptor_GAUGE, ValueType: metric.MetricDescriptor_INT64,
		Labels: []*label.LabelDescriptor{{Key: "old", ValueType: label.LabelDescriptor_STRING}}})
	if err := e.Start(context.Background(), testMetrics); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range srv.Descriptor("custom.googleapis.com/requests").Labels {
		keys = append(keys, l.Key)
	}
	if fmt.Sprint(keys) != "[method old]" {
		t.Errorf("labels %v, want [method old]", keys)
	}
}

func TestExportWritesEveryKindAtWindowEnd(t *testing.T) {
	srv, e := started(t, exporters.CloudMonitoringSettings{})
	s1, e1 := window(2)
	_, e2 := window(1)
	runStart := s1.Add(-time.Hour)
	pts := []metricdata.Point{
		{Metric: "requests", Labels: lbl("method", "GET"), Start: e1, End: e2, Type: metricdata.Int64, Int: 7}, // later window first
		{Metric: "requests", Labels: lbl("method", "GET"), Start: s1, End: e1, Type: metricdata.Int64, Int: 3},
		{Metric: "latency_mean", Start: s1, End: e1, Type: metricdata.Double, Double: 0.25},
		{Metric: "bytes_total", Labels: lbl("host", "a"), Start: runStart, End: e1, Type: metricdata.Double, Double: 10},
		{Metric: "bytes_total", Labels: lbl("host", "a"), Start: runStart, End: e2, Type: metricdata.Double, Double: 12.5},
		{Metric: "size", Start: s1, End: e1, Type: metricdata.Distribution, Dist: &metricdata.DistributionValue{Count: 4, Sum: 10, Min: 0.5, Max: 6, Bounds: []float64{1, 5}, BucketCounts: []int64{1, 2, 1}}},
	}
	if err := e.Export(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, se := range srv.Series() {
		if se.ResourceType != "global" || se.ResourceLabels["project_id"] != "proj" || len(se.ResourceLabels) != 1 {
			t.Errorf("resource %s %v", se.ResourceType, se.ResourceLabels)
		}
		var parts []string
		for _, p := range se.Points {
			v := ""
			switch x := p.Value.Value.(type) {
			case *monitoringpb.TypedValue_Int64Value:
				v = fmt.Sprint(x.Int64Value)
			case *monitoringpb.TypedValue_DoubleValue:
				v = fmt.Sprint(x.DoubleValue)
			case *monitoringpb.TypedValue_DistributionValue:
				d := x.DistributionValue
				v = fmt.Sprintf("n=%d mean=%v range=%v..%v bounds=%v counts=%v", d.Count, d.Mean, d.Range.Min, d.Range.Max,
					d.BucketOptions.GetExplicitBuckets().Bounds, d.BucketCounts)
			}
			st := "-"
			if !p.Start.IsZero() {
				st = p.Start.Format(time.TimeOnly)
			}
			parts = append(parts, fmt.Sprintf("%s@%s..%s", v, st, p.End.Format(time.TimeOnly)))
		}
		got[fakemonitoring.SeriesKey(se)] = strings.Join(parts, " ")
	}
	f := func(t time.Time) string { return t.Format(time.TimeOnly) }
	want := map[string]string{
		`custom.googleapis.com/requests{method="GET"}`: fmt.Sprintf("3@-..%s 7@-..%s", f(e1), f(e2)),
		`custom.googleapis.com/latency_mean{}`:         fmt.Sprintf("0.25@-..%s", f(e1)),
		`custom.googleapis.com/bytes_total{host="a"}`:  fmt.Sprintf("10@%s..%s 12.5@%s..%s", f(runStart), f(e1), f(runStart), f(e2)),
		`custom.googleapis.com/size{}`:                 fmt.Sprintf("n=4 mean=2.5 range=0.5..6 bounds=[1 5] counts=[1 2 1]@-..%s", f(e1)),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored\n%v\nwant\n%v", got, want)
	}
}

func manySeries(n int, start, end time.Time) []metricdata.Point {
	pts := make([]metricdata.Point, n)
	for i := range pts {
		pts[i] = metricdata.Point{Metric: "requests", Labels: lbl("method", fmt.Sprintf("m%05d", i)), Start: start, End: end, Type: metricdata.Int64, Int: int64(i)}
	}
	return pts
}

func TestBatchesOfAtMost200(t *testing.T) {
	srv, e := started(t, exporters.CloudMonitoringSettings{})
	s, end := window(1)
	if err := e.Export(context.Background(), manySeries(450, s, end)); err != nil {
		t.Fatal(err)
	}
	req, maxSeries, written := srv.Stats()
	if req != 3 || maxSeries != 200 || written != 450 {
		t.Errorf("requests=%d max series=%d written=%d, want 3, 200, 450", req, maxSeries, written)
	}
}

func TestRetriesTransientErrors(t *testing.T) {
	srv, e := started(t, exporters.CloudMonitoringSettings{})
	srv.FailNext(codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted)
	s, end := window(1)
	if err := e.Export(context.Background(), manySeries(10, s, end)); err != nil {
		t.Fatal(err)
	}
	if req, _, written := srv.Stats(); req != 4 || written != 10 {
		t.Errorf("requests=%d written=%d, want 4 and 10", req, written)
	}
}

func TestGivesUpAfterRetriesAndCounts(t *testing.T) {
	srv, e := started(t, exporters.CloudMonitoringSettings{MaxRetries: 2})
	srv.FailNext(codes.Unavailable, codes.Unavailable, codes.Unavailable)
	s, end := window(1)
	err := e.Export(context.Background(), manySeries(10, s, end))
	var ee *exporters.ExportError
	if !errors.As(err, &ee) || len(ee.Failed) != 10 {
		t.Fatalf("got %v", err)
	}
	wantCodes(t, ee, "UNAVAILABLE")
	if req, _, _ := srv.Stats(); req != 3 {
		t.Errorf("%d requests, want 3", req)
	}
}

func TestNonRetryableCodeIsNotRetried(t *testing.T) {
	srv, e := started(t, exporters.CloudMonitoringSettings{})
	srv.FailNext(codes.PermissionDenied)
	s, end := window(1)
	err := e.Export(context.Background(), manySeries(3, s, end))
	var ee *exporters.ExportError
	if !errors.As(err, &ee) || len(ee.Failed) != 3 {
		t.Fatalf("want 3 points lost, got %v", err)
	}
	wantCodes(t, ee, "PERMISSION_DENIED")
	if req, _, _ := srv.Stats(); req != 1 {
		t.Errorf("%d requests, want 1", req)
	}
}

// One bad series in a batch of 200 must not sink the other 199, whether
// the API names it by index or the exporter has to split to find it.
func TestInvalidArgumentIsolatesTheBadSeries(t *testing.T) {
	for _, omit := range []bool{false, true} {
		t.Run(fmt.Sprintf("omitIndexes=%v", omit), func(t *testing.T) {
			srv, e := started(t, exporters.CloudMonitoringSettings{})
			srv.OmitIndexes = omit
			srv.RejectSeries(func(ts *monitoringpb.TimeSeries) string {
				if ts.Metric.Labels["method"] == "m00137" {
					return "Field timeSeries[].metric.labels had an invalid value: nope."
				}
				return ""
			})
			s, end := window(1)
			err := e.Export(context.Background(), manySeries(200, s, end))
			var ee *exporters.ExportError
			if !errors.As(err, &ee) || len(ee.Failed) != 1 || ee.Failed[0].Point.Labels[0].Value != "m00137" || ee.Failed[0].Code != "INVALID_ARGUMENT" {
				t.Fatalf("want only m00137 failed, got %v", err)
			}
			if !strings.Contains(ee.Failed[0].Reason, "nope") {
				t.Errorf("reason %q", ee.Failed[0].Reason)
			}
			req, _, written := srv.Stats()
			if written != 199 {
				t.Errorf("written %d, want 199", written)
			}
			for _, se := range srv.Series() {
				if len(se.Points) != 1 {
					t.Errorf("%s has %d points", fakemonitoring.SeriesKey(se), len(se.Points))
				}
			}
			if omit && req < 9 {
				t.Errorf("splitting needs about log2(200) requests, saw %d", req)
			}
			if !omit && req != 1 {
				t.Errorf("with indexes one request suffices, saw %d", req)
			}
		})
	}
}

func TestRefusedByAPIRules(t *testing.T) {
	s, end := window(1)
	cases := []struct {
		name   string
		points []metricdata.Point
		reason string
	}{
		{"too frequent", []metricdata.Point{
			{Metric: "latency_mean", Start: s, End: end.Add(-2 * time.Second), Type: metricdata.Double, Double: 1},
			{Metric: "latency_mean", Start: s, End: end, Type: metricdata.Double, Double: 2},
		}, fakemonitoring.MsgTooFrequent},
		{"cumulative start over 25h back", []metricdata.Point{
			{Metric: "bytes_total", Start: end.Add(-26 * time.Hour), End: end, Type: metricdata.Double, Double: 1},
		}, "25 hours"},
		{"end over 5 min ahead", []metricdata.Point{
			{Metric: "latency_mean", Start: s, End: time.Now().Add(10 * time.Minute), Type: metricdata.Double, Double: 1},
		}, "5 minutes in the future"},
		{"label value too long (checked before sending)", []metricdata.Point{
			{Metric: "requests", Labels: lbl("method", strings.Repeat("x", 1025)), Start: s, End: end, Type: metricdata.Int64, Int: 1},
		}, "at most 1024"},
		{"unknown metric", []metricdata.Point{{Metric: "nope", End: end, Type: metricdata.Int64}}, "not given to Start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, e := started(t, exporters.CloudMonitoringSettings{})
			err := e.Export(context.Background(), c.points)
			var ee *exporters.ExportError
			if !errors.As(err, &ee) || len(ee.Failed) != 1 || !strings.Contains(ee.Failed[0].Reason, c.reason) {
				t.Fatalf("want one failure with %q, got %v", c.reason, err)
			}
		})
	}
}

func TestOldPointIsAlreadyWrittenAfterRetry(t *testing.T) {
	// A request that timed out may still have been applied; its retry then
	// meets "Points must be written in order", which is not a loss.
	srv, e := started(t, exporters.CloudMonitoringSettings{})
	s, end := window(1)
	pts := manySeries(5, s, end)
	if err := e.Export(context.Background(), pts[:2]); err != nil { // written once
		t.Fatal(err)
	}
	srv.FailNext(codes.DeadlineExceeded) // as if the first attempt was applied, answer lost
	if err := e.Export(context.Background(), pts); err != nil {
		t.Fatalf("points already stored must not count as lost: %v", err)
	}
	if _, _, written := srv.Stats(); written != 5 {
		t.Errorf("written %d, want 5", written)
	}
}

func TestGenericTaskResource(t *testing.T) {
	srv, e := started(t, exporters.CloudMonitoringSettings{Resource: exporters.MonitoredResource{Type: "generic_task",
		Labels: map[string]string{"location": "europe-west1", "namespace": "ns", "job": "beametrics"}}})
	s, end := window(1)
	if err := e.Export(context.Background(), manySeries(1, s, end)); err != nil {
		t.Fatal(err)
	}
	se := srv.Series()[0]
	if se.ResourceType != "generic_task" || se.ResourceLabels["task_id"] == "" || se.ResourceLabels["project_id"] != "proj" || se.ResourceLabels["job"] != "beametrics" {
		t.Errorf("resource %s %v", se.ResourceType, se.ResourceLabels)
	}
}

func TestFakeRefusesDeltaAndOversizedRequests(t *testing.T) {
	srv, e := started(t, exporters.CloudMonitoringSettings{})
	_, err := e.client.CreateMetricDescriptor(context.Background(), &monitoringpb.CreateMetricDescriptorRequest{Name: "projects/proj",
		MetricDescriptor: &metric.MetricDescriptor{Type: "custom.googleapis.com/d", MetricKind: metric.MetricDescriptor_DELTA, ValueType: metric.MetricDescriptor_INT64}})
	if err == nil || !strings.Contains(err.Error(), "DELTA") {
		t.Errorf("DELTA descriptor: %v", err)
	}
	s, end := window(1)
	var series []*monitoringpb.TimeSeries
	for _, p := range manySeries(201, s, end) {
		ts, _ := e.timeSeries(p, testMetrics[0])
		series = append(series, ts)
	}
	err = e.client.CreateTimeSeries(context.Background(), &monitoringpb.CreateTimeSeriesRequest{Name: "projects/proj", TimeSeries: series})
	if err == nil || !strings.Contains(err.Error(), "maximum of 200") {
		t.Errorf("201 series: %v", err)
	}
	if _, _, written := srv.Stats(); written != 0 {
		t.Errorf("written %d", written)
	}
}

func BenchmarkEncode(b *testing.B) {
	_, e := started(b, exporters.CloudMonitoringSettings{})
	s, end := window(1)
	pts := manySeries(1000, s, end)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range pts {
			if _, err := e.timeSeries(p, testMetrics[0]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(pts))/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkExport10kSeries writes one window of 10,000 series per
// iteration to the fake server: 50 requests of 200 series.
func BenchmarkExport10kSeries(b *testing.B) {
	srv, e := started(b, exporters.CloudMonitoringSettings{})
	srv.KeepHistory = false
	base := time.Now().Truncate(time.Minute).Add(-24 * time.Hour)
	var clock atomic.Int64
	srv.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		end := base.Add(time.Duration(i+1) * time.Minute)
		clock.Store(end.UnixNano())
		if err := e.Export(context.Background(), manySeries(10000, end.Add(-time.Minute), end)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "windows/s")
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "points/s")
}

// wantCodes checks that every point ee lists was lost with code.
func wantCodes(t *testing.T, ee *exporters.ExportError, code string) {
	t.Helper()
	for _, f := range ee.Failed {
		if f.Code != code {
			t.Errorf("%s lost with code %s, want %s", exporters.SeriesString(f.Point), f.Code, code)
		}
	}
}
