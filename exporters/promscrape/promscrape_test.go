package promscrape

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/testing/metrictest"
)

// lbl keeps the many label lists in the tables below short.
var lbl = metrictest.Labels

var testMetrics = []metricdata.Descriptor{
	{Name: "beametrics-test-1", Aggregation: "count", ValueType: metricdata.Int64, Kind: metricdata.Gauge, LabelNames: []string{"http-method", "zone"}},
	{Name: "bytes", Aggregation: "sum", ValueType: metricdata.Double, Kind: metricdata.Cumulative, LabelNames: []string{"host"}, Description: "bytes seen"},
	{Name: "size", Aggregation: "distribution", ValueType: metricdata.Distribution, Kind: metricdata.Gauge, Buckets: []float64{1, 5}},
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// flat turns families into name{labels} -> value lines.
// wantScrape fails t unless a scrape of addr gives want (flat lines, in
// order); when names the moment.
func wantScrape(t *testing.T, addr, when string, want ...string) {
	t.Helper()
	if got := flat(scrape(t, addr)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n%s\nwant\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func flat(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			id := fmt.Sprintf("%s %s{%s}", mf.GetType(), name, strings.Join(ls, ","))
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				out = append(out, fmt.Sprintf("%s %v", id, m.Gauge.GetValue()))
			case dto.MetricType_COUNTER:
				out = append(out, fmt.Sprintf("%s %v", id, m.Counter.GetValue()))
			case dto.MetricType_HISTOGRAM:
				h := m.Histogram
				var bs []string
				for _, b := range h.Bucket {
					bs = append(bs, fmt.Sprintf("%v:%d", b.GetUpperBound(), b.GetCumulativeCount()))
				}
				out = append(out, fmt.Sprintf("%s count=%d sum=%v %s", id, h.GetSampleCount(), h.GetSampleSum(), strings.Join(bs, " ")))
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestScrapeServesLatestWindow(t *testing.T) {
	srv, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	e := NewExporter(srv.Store)
	ctx := context.Background()
	e.Start(ctx, testMetrics)
	t0 := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	w1, w2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	err = e.Export(ctx, []metricdata.Point{
		{Metric: "beametrics-test-1", Labels: lbl("http-method", "GET"), Start: t0, End: w1, Type: metricdata.Int64, Int: 3},
		{Metric: "beametrics-test-1", Labels: lbl("http-method", "POST", "zone", "b"), Start: t0, End: w1, Type: metricdata.Int64, Int: 1},
		{Metric: "bytes", Labels: lbl("host", "a"), Start: t0, End: w1, Type: metricdata.Double, Double: 10},
		{Metric: "bytes", Labels: lbl("host", "b"), Start: t0, End: w1, Type: metricdata.Double, Double: 2},
		{Metric: "size", Start: t0, End: w1, Type: metricdata.Distribution, Dist: &metricdata.DistributionValue{Count: 6, Sum: 17, Bounds: []float64{1, 5}, BucketCounts: []int64{2, 3, 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantScrape(t, srv.Addr(), "window 1",
		"COUNTER bytes_total{host=a} 10",
		"COUNTER bytes_total{host=b} 2",
		"GAUGE beametrics_test_1{http_method=GET,zone=} 3",
		"GAUGE beametrics_test_1{http_method=POST,zone=b} 1",
		"HISTOGRAM size{} count=6 sum=17 1:2 5:5 +Inf:6",
	)
	// Window 2: only GET has data; POST leaves the gauge, counters stay,
	// and size, which had no point in window 2 yet, keeps its latest.
	// An older point arriving late does not replace a newer one.
	e.Export(ctx, []metricdata.Point{
		{Metric: "beametrics-test-1", Labels: lbl("http-method", "GET"), Start: w1, End: w2, Type: metricdata.Int64, Int: 8},
		{Metric: "bytes", Labels: lbl("host", "a"), Start: t0, End: w2, Type: metricdata.Double, Double: 15},
		{Metric: "bytes", Labels: lbl("host", "b"), Start: t0, End: t0.Add(30 * time.Second), Type: metricdata.Double, Double: 1},
	})
	wantScrape(t, srv.Addr(), "window 2",
		"COUNTER bytes_total{host=a} 15",
		"COUNTER bytes_total{host=b} 2",
		"GAUGE beametrics_test_1{http_method=GET,zone=} 8",
		"HISTOGRAM size{} count=6 sum=17 1:2 5:5 +Inf:6",
	)
	mfs := scrape(t, srv.Addr())
	if h := mfs["bytes_total"].GetHelp(); h != "bytes seen" {
		t.Errorf("help %q", h)
	}
}

func TestScrapeRefusesUnknownAndUndeclared(t *testing.T) {
	e := NewExporter(NewStore())
	e.Start(context.Background(), testMetrics)
	err := e.Export(context.Background(), []metricdata.Point{
		{Metric: "nope", Type: metricdata.Int64},
		{Metric: "beametrics-test-1", Labels: lbl("other", "x"), Type: metricdata.Int64},
	})
	var ee *exporters.ExportError
	if !errors.As(err, &ee) || len(ee.Failed) != 2 || ee.Failed[0].Code != "unknown_metric" || !strings.Contains(ee.Failed[1].Reason, `"other" is not declared`) {
		t.Fatalf("got %v", err)
	}
}

func TestSharedIsOnePerAddress(t *testing.T) {
	a, err := Shared("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Shared("127.0.0.1:0")
	if a != b {
		t.Error("two servers for one address")
	}
	a.Close()
	sharedMu.Lock()
	delete(shared, "127.0.0.1:0")
	sharedMu.Unlock()
}

func BenchmarkExportAndCollect(b *testing.B) {
	store := NewStore()
	e := NewExporter(store)
	e.Start(context.Background(), testMetrics)
	pts := make([]metricdata.Point, 1000)
	end := time.Unix(60, 0)
	for i := range pts {
		pts[i] = metricdata.Point{Metric: "beametrics-test-1", Labels: lbl("http-method", fmt.Sprintf("m%d", i)), End: end, Type: metricdata.Int64, Int: int64(i)}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.Export(context.Background(), pts)
		ch := make(chan prometheus.Metric, len(pts))
		go func() { store.Collect(ch); close(ch) }()
		for range ch {
		}
	}
	b.ReportMetric(float64(b.N*len(pts))/b.Elapsed().Seconds(), "points/s")
}
