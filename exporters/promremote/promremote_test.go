package promremote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/testing/metrictest"
	"github.com/beametrics/beametrics/internal/testing/promtest"
)

// lbl keeps the many label lists in the tables below short.
var lbl = metrictest.Labels

var testMetrics = []metricdata.Descriptor{
	{Name: "beametrics-test-1", Aggregation: "count", ValueType: metricdata.Int64, Kind: metricdata.Gauge, LabelNames: []string{"http-method"}, ExportType: "prometheus", Window: time.Minute},
	{Name: "bytes", Aggregation: "sum", ValueType: metricdata.Double, Kind: metricdata.Cumulative, LabelNames: []string{"host"}, ExportType: "prometheus", Window: time.Minute},
	{Name: "latency.mean", Aggregation: "mean", ValueType: metricdata.Double, Kind: metricdata.Gauge, ExportType: "prometheus", Window: time.Minute},
	{Name: "size", Aggregation: "distribution", ValueType: metricdata.Distribution, Kind: metricdata.Gauge, Buckets: []float64{1, 5}, LabelNames: []string{"z"}, ExportType: "prometheus", Window: time.Minute},
}

// windowPoints returns points of two windows ending at we1 and we2, the
// second window listed first to check that samples are put in time order.
func windowPoints(start, we1, we2 time.Time) []metricdata.Point {
	return []metricdata.Point{
		{Metric: "beametrics-test-1", Labels: lbl("http-method", "GET"), Start: we1, End: we2, Type: metricdata.Int64, Int: 5},
		{Metric: "beametrics-test-1", Labels: lbl("http-method", "GET"), Start: start, End: we1, Type: metricdata.Int64, Int: 3},
		{Metric: "beametrics-test-1", Labels: lbl("http-method", "POST"), Start: start, End: we1, Type: metricdata.Int64, Int: 1},
		{Metric: "bytes", Labels: lbl("host", "a"), Start: start, End: we1, Type: metricdata.Double, Double: 1.5},
		{Metric: "bytes", Labels: lbl("host", "a"), Start: start, End: we2, Type: metricdata.Double, Double: 4.25},
		{Metric: "latency.mean", Start: start, End: we1, Type: metricdata.Double, Double: 0.125},
		{Metric: "size", Labels: lbl("z", "q"), Start: start, End: we1, Type: metricdata.Distribution, Dist: &metricdata.DistributionValue{
			Count: 6, Sum: 17, Min: 0.5, Max: 9, Bounds: []float64{1, 5}, BucketCounts: []int64{2, 3, 1}}},
	}
}

type want struct {
	t time.Time
	v float64
}

func expected(we1, we2 time.Time) map[string][]want {
	return map[string][]want{
		`beametrics_test_1{http_method="GET"}`:  {{we1, 3}, {we2, 5}},
		`beametrics_test_1{http_method="POST"}`: {{we1, 1}},
		`bytes_total{host="a"}`:                 {{we1, 1.5}, {we2, 4.25}},
		`latency_mean{}`:                        {{we1, 0.125}},
		`size_bucket{le="1",z="q"}`:             {{we1, 2}},
		`size_bucket{le="5",z="q"}`:             {{we1, 5}},
		`size_bucket{le="+Inf",z="q"}`:          {{we1, 6}},
		`size_sum{z="q"}`:                       {{we1, 17}},
		`size_count{z="q"}`:                     {{we1, 6}},
	}
}

func TestRemoteWriteToRealPrometheus(t *testing.T) {
	srv := promtest.Start(t)
	e, err := New(exporters.RemoteWriteSettings{URL: srv.WriteURL(), Timeout: 10 * time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Start(ctx, testMetrics); err != nil {
		t.Fatal(err)
	}
	we2 := time.Now().Truncate(time.Minute)
	we1 := we2.Add(-time.Minute)
	start := we1.Add(-time.Minute)
	if err := e.Export(ctx, windowPoints(start, we1, we2)); err != nil {
		t.Fatalf("export: %v\n%s", err, srv.Log())
	}
	got := map[string][]want{}
	series, err := srv.Raw(`{__name__=~"beametrics_test_1|bytes_total|latency_mean|size_.*"}`, we2, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range series {
		for _, smp := range s.Samples {
			got[promtest.Key(s.Labels)] = append(got[promtest.Key(s.Labels)], want{smp.Time, smp.Value})
		}
	}
	wantAll := expected(we1, we2)
	if len(got) != len(wantAll) {
		t.Errorf("got %d series, want %d: %v", len(got), len(wantAll), got)
	}
	for k, w := range wantAll {
		g := got[k]
		if len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", k, g, w)
			continue
		}
		for i := range w {
			if !g[i].t.Equal(w[i].t) || g[i].v != w[i].v {
				t.Errorf("%s sample %d: got %v@%v, want %v@%v", k, i, g[i].v, g[i].t, w[i].v, w[i].t)
			}
		}
	}
	// A second write of an older window is refused by Prometheus (samples
	// must move forward): the failure is counted, not hidden.
	err = e.Export(ctx, []metricdata.Point{{Metric: "latency.mean", Start: start, End: we1.Add(-time.Minute), Type: metricdata.Double, Double: 9}})
	var ee *exporters.ExportError
	if !errors.As(err, &ee) || len(ee.Failed) != 1 || ee.Failed[0].Code != "HTTP_400" {
		t.Fatalf("want one HTTP_400 failure for an out-of-order sample, got %v", err)
	}
}

// decoded is a remote-write request read back with protowire, independent
// of the encoder.
type decodedSeries struct {
	labels  []string // name=value in wire order
	samples [][2]float64
}

func decode(t *testing.T, b []byte) []decodedSeries {
	t.Helper()
	var out []decodedSeries
	fields := func(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64)) {
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				t.Fatalf("bad tag")
			}
			b = b[n:]
			switch typ {
			case protowire.BytesType:
				v, n := protowire.ConsumeBytes(b)
				if n < 0 {
					t.Fatalf("bad bytes")
				}
				f(num, typ, v, 0)
				b = b[n:]
			case protowire.VarintType:
				x, n := protowire.ConsumeVarint(b)
				f(num, typ, nil, x)
				b = b[n:]
			case protowire.Fixed64Type:
				x, n := protowire.ConsumeFixed64(b)
				f(num, typ, nil, x)
				b = b[n:]
			default:
				t.Fatalf("unexpected wire type %v", typ)
			}
		}
	}
	fields(b, func(num protowire.Number, _ protowire.Type, ts []byte, _ uint64) {
		if num != 1 {
			t.Fatalf("WriteRequest field %d", num)
		}
		var s decodedSeries
		fields(ts, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) {
			switch num {
			case 1:
				var name, value string
				fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) {
					if num == 1 {
						name = string(v)
					} else {
						value = string(v)
					}
				})
				s.labels = append(s.labels, name+"="+value)
			case 2:
				var smp [2]float64
				fields(v, func(num protowire.Number, _ protowire.Type, _ []byte, x uint64) {
					if num == 1 {
						smp[0] = math.Float64frombits(x)
					} else {
						smp[1] = float64(int64(x))
					}
				})
				s.samples = append(s.samples, smp)
			}
		})
		out = append(out, s)
	})
	return out
}

type recorder struct {
	mu       sync.Mutex
	statuses []int // replies, in order; 204 once exhausted
	requests []*http.Request
	bodies   [][]byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
	r.bodies = append(r.bodies, body)
	status := http.StatusNoContent
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	w.WriteHeader(status)
}

func TestHeadersAuthTenantAndEncoding(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	e, err := New(exporters.RemoteWriteSettings{URL: srv.URL + "/push", BasicAuth: &exporters.BasicAuth{Username: "u", PasswordFile: pw}, TenantHeader: "team-a"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), testMetrics)
	we1 := time.Unix(1764000060, 0)
	if err := e.Export(context.Background(), windowPoints(we1.Add(-time.Minute), we1, we1.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if len(rec.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(rec.requests))
	}
	req := rec.requests[0]
	if u, p, ok := req.BasicAuth(); !ok || u != "u" || p != "s3cret" {
		t.Errorf("basic auth = %q %q %v", u, p, ok)
	}
	for h, v := range map[string]string{"X-Scope-OrgID": "team-a", "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf", "X-Prometheus-Remote-Write-Version": "0.1.0"} {
		if got := req.Header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	if req.URL.Path != "/push" {
		t.Errorf("path %q, want /push", req.URL.Path)
	}
	raw, err := snappy.Decode(nil, rec.bodies[0])
	if err != nil {
		t.Fatalf("body is not snappy: %v", err)
	}
	got := map[string][][2]float64{}
	for _, s := range decode(t, raw) {
		if !sort.StringsAreSorted(s.labels) {
			t.Errorf("labels not sorted: %v", s.labels)
		}
		got[strings.Join(s.labels, ",")] = s.samples
	}
	ms := func(t time.Time) float64 { return float64(t.UnixMilli()) }
	we2 := we1.Add(time.Minute)
	wantS := map[string][][2]float64{
		"__name__=beametrics_test_1,http_method=GET":  {{3, ms(we1)}, {5, ms(we2)}},
		"__name__=beametrics_test_1,http_method=POST": {{1, ms(we1)}},
		"__name__=bytes_total,host=a":                 {{1.5, ms(we1)}, {4.25, ms(we2)}},
		"__name__=latency_mean":                       {{0.125, ms(we1)}},
		"__name__=size_bucket,le=1,z=q":               {{2, ms(we1)}},
		"__name__=size_bucket,le=5,z=q":               {{5, ms(we1)}},
		"__name__=size_bucket,le=+Inf,z=q":            {{6, ms(we1)}},
		"__name__=size_sum,z=q":                       {{17, ms(we1)}},
		"__name__=size_count,z=q":                     {{6, ms(we1)}},
	}
	if fmt.Sprint(got) != fmt.Sprint(wantS) {
		t.Errorf("decoded\n%v\nwant\n%v", got, wantS)
	}
}

func TestBearerToken(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tok, []byte("abc-token-1"), 0o600)
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	e, err := New(exporters.RemoteWriteSettings{URL: srv.URL, BearerTokenFile: tok}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), testMetrics)
	if err := e.Export(context.Background(), windowPoints(time.Unix(0, 0), time.Unix(60, 0), time.Unix(120, 0))[:1]); err != nil {
		t.Fatal(err)
	}
	if got := rec.requests[0].Header.Get("Authorization"); got != "Bearer abc-token-1" {
		t.Errorf("Authorization = %q", got)
	}
	if _, err := New(exporters.RemoteWriteSettings{URL: srv.URL, BearerTokenFile: tok + ".missing"}, Options{}); err == nil || !strings.Contains(err.Error(), "bearer_token_file") {
		t.Errorf("missing token file: got %v", err)
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name     string
		statuses []int
		requests int
		code     string // failure code, "" for success
	}{
		{"5xx then success", []int{500, 503}, 3, ""},
		{"429 then success", []int{429}, 2, ""},
		{"400 is not retried", []int{400}, 1, "HTTP_400"},
		{"persistent 503 gives up", []int{503, 503, 503, 503}, 3, "HTTP_503"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{statuses: c.statuses}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			e, err := New(exporters.RemoteWriteSettings{URL: srv.URL, MaxRetries: 2}, Options{BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			e.Start(context.Background(), testMetrics)
			pts := windowPoints(time.Unix(0, 0), time.Unix(60, 0), time.Unix(120, 0))
			err = e.Export(context.Background(), pts)
			if len(rec.requests) != c.requests {
				t.Errorf("%d requests, want %d", len(rec.requests), c.requests)
			}
			if c.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ee *exporters.ExportError
			if !errors.As(err, &ee) || len(ee.Failed) != len(pts) {
				t.Fatalf("want all %d points failed, got %v", len(pts), err)
			}
			for _, f := range ee.Failed {
				if f.Code != c.code || !strings.HasPrefix(f.Reason, srv.URL+": ") {
					t.Errorf("code %s, reason %q; want %s and the URL first", f.Code, f.Reason, c.code)
				}
			}
		})
	}
}

func TestUnknownMetricAndBrokenPointAreReported(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	e, _ := New(exporters.RemoteWriteSettings{URL: srv.URL}, Options{})
	e.Start(context.Background(), testMetrics)
	err := e.Export(context.Background(), []metricdata.Point{
		{Metric: "nope", End: time.Unix(60, 0), Type: metricdata.Int64, Int: 1},
		{Metric: "size", End: time.Unix(60, 0), Type: metricdata.Distribution},
		{Metric: "latency.mean", End: time.Unix(60, 0), Type: metricdata.Double, Double: 2},
	})
	var ee *exporters.ExportError
	if !errors.As(err, &ee) || len(ee.Failed) != 2 || ee.Failed[0].Code != "unknown_metric" || ee.Failed[1].Code != "encode" {
		t.Fatalf("got %v", err)
	}
	if len(rec.requests) != 1 {
		t.Errorf("the good point must still be sent; %d requests", len(rec.requests))
	}
}

func TestSplitsLargeBatches(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	e, _ := New(exporters.RemoteWriteSettings{URL: srv.URL}, Options{})
	e.Start(context.Background(), testMetrics)
	pts := benchPoints(maxSeriesPerRequest*2 + 1)
	if err := e.Export(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
	if len(rec.requests) != 3 {
		t.Fatalf("%d requests, want 3", len(rec.requests))
	}
	total := 0
	for _, b := range rec.bodies {
		raw, _ := snappy.Decode(nil, b)
		total += len(decode(t, raw))
	}
	if total != len(pts) {
		t.Errorf("%d series sent, want %d", total, len(pts))
	}
}

func benchPoints(n int) []metricdata.Point {
	pts := make([]metricdata.Point, n)
	for i := range pts {
		pts[i] = metricdata.Point{Metric: "beametrics-test-1", Labels: lbl("http-method", fmt.Sprintf("m%d", i)),
			Start: time.Unix(0, 0), End: time.Unix(60, 0), Type: metricdata.Int64, Int: int64(i)}
	}
	return pts
}

func BenchmarkEncode(b *testing.B) {
	e, _ := New(exporters.RemoteWriteSettings{URL: "http://127.0.0.1:1"}, Options{})
	e.Start(context.Background(), testMetrics)
	pts := benchPoints(1000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		batches, _ := e.encode(pts)
		for _, bt := range batches {
			_ = bt.req.Marshal()
		}
	}
	b.ReportMetric(float64(b.N*len(pts))/b.Elapsed().Seconds(), "points/s")
}
