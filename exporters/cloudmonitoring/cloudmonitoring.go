// Package cloudmonitoring writes points to Google Cloud Monitoring as custom
// (or workload) metrics: descriptors are created or checked at Start, points
// go out in CreateTimeSeries requests of at most 200 series with one point
// each, stamped with the window end.
package cloudmonitoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/distribution"
	"google.golang.org/genproto/googleapis/api/label"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/secrets"
)

// msgOutOfOrder starts the API's answer to a point that is not newer than
// the series' last one; after a request that may have been written, it means
// the point is already there.
const msgOutOfOrder = "Points must be written in order"

// Exporter writes to one project on one monitored resource.
type Exporter struct {
	client   *monitoring.MetricClient
	settings exporters.CloudMonitoringSettings
	resource *monitoredres.MonitoredResource
	opts     Options

	mu      sync.RWMutex
	metrics map[string]metricdata.Descriptor
}

// Options tune an Exporter beyond its settings; zero fields take the
// defaults.
type Options struct {
	// Client goes to the monitoring client (a fake's endpoint, with
	// option.WithEndpoint and option.WithoutAuthentication).
	Client []option.ClientOption
	// BackoffMin and BackoffMax are the first and the longest wait
	// between retries (default 1s and 30s).
	BackoffMin, BackoffMax time.Duration
	// Logger gets the retries (default slog.Default()).
	Logger *slog.Logger
}

// concurrency is how many requests of one round may be in flight.
const concurrency = 4

// New connects to Cloud Monitoring. For generic_task without task_id the
// task_id becomes host-pid, so that parallel workers never write the same
// series.
func New(ctx context.Context, s exporters.CloudMonitoringSettings, o Options) (*Exporter, error) {
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if s.Project == "" {
		return nil, errors.New("google-cloud-monitoring: project is required (flag --monitoring-project)")
	}
	res := &monitoredres.MonitoredResource{Type: s.ResourceType(), Labels: map[string]string{}}
	for k, v := range s.Resource.Labels {
		res.Labels[k] = v
	}
	if res.Labels["project_id"] == "" {
		res.Labels["project_id"] = s.Project
	}
	if res.Type == "generic_task" && res.Labels["task_id"] == "" {
		host, _ := os.Hostname()
		res.Labels["task_id"] = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	client, err := monitoring.NewMetricClient(ctx, o.Client...)
	if err != nil {
		return nil, fmt.Errorf("google-cloud-monitoring: %w", err)
	}
	return &Exporter{client: client, settings: s, resource: res, opts: o, metrics: map[string]metricdata.Descriptor{}}, nil
}

// Resource returns the monitored resource the exporter writes on.
func (e *Exporter) Resource() *monitoredres.MonitoredResource { return e.resource }

// MetricType is the Cloud Monitoring type of a metric.
func (e *Exporter) MetricType(name string) string { return e.settings.Prefix() + name }

func (e *Exporter) projectName() string { return "projects/" + e.settings.Project }

// Descriptor returns the Cloud Monitoring descriptor for a metric.
func (e *Exporter) Descriptor(d metricdata.Descriptor) *metric.MetricDescriptor {
	md := &metric.MetricDescriptor{
		Type:        e.MetricType(d.Name),
		DisplayName: d.Name,
		Description: d.Description,
		Unit:        d.Unit,
		MetricKind:  metric.MetricDescriptor_GAUGE,
	}
	if d.Kind == metricdata.Cumulative {
		md.MetricKind = metric.MetricDescriptor_CUMULATIVE
	}
	switch d.ValueType {
	case metricdata.Int64:
		md.ValueType = metric.MetricDescriptor_INT64
	case metricdata.Double:
		md.ValueType = metric.MetricDescriptor_DOUBLE
	case metricdata.Distribution:
		md.ValueType = metric.MetricDescriptor_DISTRIBUTION
	}
	for _, l := range d.LabelNames {
		md.Labels = append(md.Labels, &label.LabelDescriptor{Key: l, ValueType: label.LabelDescriptor_STRING})
	}
	return md
}

// Start creates each metric's descriptor, or checks the existing one. An
// existing descriptor of another kind or value type is a conflict: changing
// it would need deleting the metric's data, so it is left to a person.
// Labels the config adds are added by updating the descriptor.
func (e *Exporter) Start(ctx context.Context, metrics []metricdata.Descriptor) error {
	var errs []error
	for _, d := range metrics {
		if d.Window > 0 && d.Window < exporters.MinCloudMonitoringWindow {
			errs = append(errs, fmt.Errorf("google-cloud-monitoring: metric %q: window %v is shorter than the per-series write limit of one point per %v", d.Name, d.Window, exporters.MinCloudMonitoringWindow))
			continue
		}
		if err := e.ensureDescriptor(ctx, d); err != nil {
			errs = append(errs, err)
			continue
		}
		e.mu.Lock()
		e.metrics[d.Name] = d
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (e *Exporter) ensureDescriptor(ctx context.Context, d metricdata.Descriptor) error {
	want := e.Descriptor(d)
	have, err := e.client.GetMetricDescriptor(ctx, &monitoringpb.GetMetricDescriptorRequest{
		Name: e.projectName() + "/metricDescriptors/" + want.Type,
	})
	switch status.Code(err) {
	case codes.OK:
		if have.MetricKind != want.MetricKind || have.ValueType != want.ValueType {
			return fmt.Errorf("google-cloud-monitoring: metric %q conflicts with the existing descriptor %s: it is %v %v there, the config makes it %v %v; delete the descriptor (its data goes with it) or rename the metric",
				d.Name, want.Type, have.MetricKind, have.ValueType, want.MetricKind, want.ValueType)
		}
		if !needsUpdate(have, want) {
			return nil
		}
		// Keep labels the existing descriptor has: data written with them
		// stays readable.
		seen := map[string]bool{}
		for _, l := range want.Labels {
			seen[l.Key] = true
		}
		for _, l := range have.Labels {
			if !seen[l.Key] {
				want.Labels = append(want.Labels, l)
			}
		}
	case codes.NotFound:
	default:
		return fmt.Errorf("google-cloud-monitoring: reading descriptor %s: %w", want.Type, err)
	}
	if _, err := e.client.CreateMetricDescriptor(ctx, &monitoringpb.CreateMetricDescriptorRequest{
		Name: e.projectName(), MetricDescriptor: want,
	}); err != nil {
		return fmt.Errorf("google-cloud-monitoring: creating descriptor %s: %w", want.Type, err)
	}
	return nil
}

func needsUpdate(have, want *metric.MetricDescriptor) bool {
	if have.Unit != want.Unit || have.Description != want.Description {
		return true
	}
	haveLabels := map[string]bool{}
	for _, l := range have.Labels {
		haveLabels[l.Key] = true
	}
	for _, l := range want.Labels {
		if !haveLabels[l.Key] {
			return true
		}
	}
	return false
}

// item is one point on its way out.
type item struct {
	point metricdata.Point
	ts    *monitoringpb.TimeSeries
}

// Export writes the points. Each series' points go in time order, one per
// request; a round of requests holds each series at most once.
func (e *Exporter) Export(ctx context.Context, points []metricdata.Point) error {
	var (
		mu     sync.Mutex
		failed []exporters.PointFailure
	)
	fail := func(it item, code, reason string) {
		// The API's messages are text from another program: masked, cut.
		reason = secrets.Untrusted([]byte(reason))
		mu.Lock()
		failed = append(failed, exporters.PointFailure{Point: it.point, Code: code, Reason: reason})
		mu.Unlock()
	}
	// Build every series, refusing points the API would refuse anyway.
	bySeries := map[string][]item{}
	var order []string
	e.mu.RLock()
	for _, p := range points {
		d, ok := e.metrics[p.Metric]
		if !ok {
			fail(item{point: p}, "unknown_metric", fmt.Sprintf("metric %q was not given to Start", p.Metric))
			continue
		}
		ts, err := e.timeSeries(p, d)
		if err != nil {
			fail(item{point: p}, "INVALID_ARGUMENT", "not sent: "+err.Error())
			continue
		}
		k := seriesKey(p)
		if _, ok := bySeries[k]; !ok {
			order = append(order, k)
		}
		bySeries[k] = append(bySeries[k], item{p, ts})
	}
	e.mu.RUnlock()
	rounds := 0
	for _, k := range order {
		its := bySeries[k]
		sort.SliceStable(its, func(i, j int) bool { return its[i].point.End.Before(its[j].point.End) })
		rounds = max(rounds, len(its))
	}
	// Round r holds the r-th point of every series, so each request has a
	// series at most once and a series' points leave in time order.
	for r := 0; r < rounds; r++ {
		var round []item
		for _, k := range order {
			if its := bySeries[k]; r < len(its) {
				round = append(round, its[r])
			}
		}
		sem := make(chan struct{}, concurrency)
		var wg sync.WaitGroup
		for start := 0; start < len(round); start += exporters.MaxSeriesPerRequest {
			chunk := round[start:min(start+exporters.MaxSeriesPerRequest, len(round))]
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				e.write(ctx, chunk, false, fail)
			}()
		}
		wg.Wait()
	}
	if len(failed) == 0 {
		return nil
	}
	// The caller counts and logs the loss (the error names a series and
	// reason per code).
	return &exporters.ExportError{Exporter: exporters.TypeCloudMonitoring, Total: len(points), Failed: failed}
}

// write sends one request, retrying transient errors. On INVALID_ARGUMENT it
// finds the bad series from the per-series indexes in the error, or, where
// the error has none, by splitting the batch. mayBeWritten says an earlier
// attempt of these points may have reached the API, so "written in order"
// errors mean the point is already stored.
func (e *Exporter) write(ctx context.Context, items []item, mayBeWritten bool, fail func(item, string, string)) {
	req := &monitoringpb.CreateTimeSeriesRequest{Name: e.projectName(), TimeSeries: make([]*monitoringpb.TimeSeries, len(items))}
	for i, it := range items {
		req.TimeSeries[i] = it.ts
	}
	err, retried := e.call(ctx, req)
	mayBeWritten = mayBeWritten || retried
	code := status.Code(err)
	switch {
	case err == nil:
		return
	case code != codes.InvalidArgument:
		for _, it := range items {
			fail(it, codeName(code), status.Convert(err).Message())
		}
		return
	}
	msg := status.Convert(err).Message()
	summary := summaryOf(err)
	partial := summary != nil && summary.SuccessPointCount > 0
	if bad, ok := badSeries(msg, len(items), summary); ok {
		for i, reason := range bad {
			if mayBeWritten && strings.HasPrefix(reason, msgOutOfOrder) {
				continue // stored by an earlier attempt
			}
			fail(items[i], codeName(code), reason)
		}
		return
	}
	if len(items) == 1 {
		if mayBeWritten && strings.Contains(msg, msgOutOfOrder) {
			return
		}
		fail(items[0], codeName(code), msg)
		return
	}
	half := len(items) / 2
	e.write(ctx, items[:half], mayBeWritten || partial, fail)
	e.write(ctx, items[half:], mayBeWritten || partial, fail)
}

// call runs CreateTimeSeries with retries on UNAVAILABLE, DEADLINE_EXCEEDED
// and RESOURCE_EXHAUSTED. retried reports whether an attempt that may have
// been applied was repeated.
func (e *Exporter) call(ctx context.Context, req *monitoringpb.CreateTimeSeriesRequest) (err error, retried bool) {
	wait := e.opts.BackoffMin
	retries := exporters.RetriesOr(e.settings.MaxRetries)
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, exporters.TimeoutOr(e.settings.Timeout))
		err = e.client.CreateTimeSeries(actx, req)
		cancel()
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		default:
			return err, retried
		}
		if attempt >= retries || ctx.Err() != nil {
			return err, retried
		}
		retried = true
		// Full jitter spreads the retries of parallel workers.
		d := time.Duration(rand.Int64N(int64(wait) + 1))
		e.opts.Logger.Warn("google-cloud-monitoring: retrying", "code", status.Code(err), "attempt", attempt+1, "wait", d, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err(), retried
		case <-time.After(d):
		}
		wait = min(2*wait, e.opts.BackoffMax)
	}
}

// codeName spells a gRPC code as the API documents it: INVALID_ARGUMENT.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func summaryOf(err error) *monitoringpb.CreateTimeSeriesSummary {
	for _, d := range status.Convert(err).Details() {
		if s, ok := d.(*monitoringpb.CreateTimeSeriesSummary); ok {
			return s
		}
	}
	return nil
}

var indexRE = regexp.MustCompile(`timeSeries\[([0-9,\-]+)\]`)

// badSeries reads "reason: timeSeries[1,4-6]; reason2: timeSeries[9]" into
// index -> reason. ok is false unless every failed point is accounted for.
// The message is the only place the API names the failed series: its
// structured CreateTimeSeriesSummary counts failures per status, without
// indexes. So the text is checked against the summary's counts; when they
// disagree, write splits the request in halves to find the bad series.
func badSeries(msg string, n int, summary *monitoringpb.CreateTimeSeriesSummary) (map[int]string, bool) {
	if summary == nil {
		return nil, false
	}
	msg = strings.TrimPrefix(msg, "One or more TimeSeries could not be written: ")
	bad := map[int]string{}
	for _, part := range strings.Split(msg, "; ") {
		m := indexRE.FindStringSubmatchIndex(part)
		if m == nil {
			return nil, false
		}
		reason := strings.TrimSuffix(strings.TrimSpace(part[:m[0]]), ":")
		for _, r := range strings.Split(part[m[2]:m[3]], ",") {
			lo, hi, isRange := strings.Cut(r, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 0 || b >= n || a > b {
				return nil, false
			}
			for i := a; i <= b; i++ {
				bad[i] = reason
			}
		}
	}
	failed := int(summary.TotalPointCount - summary.SuccessPointCount)
	if int(summary.TotalPointCount) != n || len(bad) != failed {
		return nil, false
	}
	return bad, true
}

func seriesKey(p metricdata.Point) string {
	var b strings.Builder
	b.WriteString(p.Metric)
	for _, l := range p.Labels {
		b.WriteByte(0)
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(l.Value)
	}
	return b.String()
}

// timeSeries converts a point, checking what the API would refuse.
func (e *Exporter) timeSeries(p metricdata.Point, d metricdata.Descriptor) (*monitoringpb.TimeSeries, error) {
	if p.Type != d.ValueType {
		return nil, fmt.Errorf("point is %v, metric is %v", p.Type, d.ValueType)
	}
	labels := make(map[string]string, len(p.Labels))
	for _, l := range p.Labels {
		if len(l.Value) > exporters.MaxLabelValueLen {
			return nil, fmt.Errorf("label %s value is %d bytes, at most %d allowed", l.Name, len(l.Value), exporters.MaxLabelValueLen)
		}
		labels[l.Name] = l.Value
	}
	interval := &monitoringpb.TimeInterval{EndTime: timestamppb.New(p.End)}
	kind := metric.MetricDescriptor_GAUGE
	if d.Kind == metricdata.Cumulative {
		kind = metric.MetricDescriptor_CUMULATIVE
		if !p.Start.Before(p.End) {
			return nil, fmt.Errorf("cumulative start %v is not before end %v", p.Start, p.End)
		}
		interval.StartTime = timestamppb.New(p.Start)
	}
	value := &monitoringpb.TypedValue{}
	var vt metric.MetricDescriptor_ValueType
	switch p.Type {
	case metricdata.Int64:
		vt = metric.MetricDescriptor_INT64
		value.Value = &monitoringpb.TypedValue_Int64Value{Int64Value: p.Int}
	case metricdata.Double:
		vt = metric.MetricDescriptor_DOUBLE
		if math.IsNaN(p.Double) || math.IsInf(p.Double, 0) {
			return nil, fmt.Errorf("value %v is not finite", p.Double)
		}
		value.Value = &monitoringpb.TypedValue_DoubleValue{DoubleValue: p.Double}
	case metricdata.Distribution:
		vt = metric.MetricDescriptor_DISTRIBUTION
		dist, err := toDistribution(p.Dist)
		if err != nil {
			return nil, err
		}
		value.Value = &monitoringpb.TypedValue_DistributionValue{DistributionValue: dist}
	default:
		return nil, fmt.Errorf("unknown value type %d", p.Type)
	}
	return &monitoringpb.TimeSeries{
		Metric:     &metric.Metric{Type: e.MetricType(d.Name), Labels: labels},
		Resource:   e.resource,
		MetricKind: kind,
		ValueType:  vt,
		Points:     []*monitoringpb.Point{{Interval: interval, Value: value}},
	}, nil
}

func toDistribution(d *metricdata.DistributionValue) (*distribution.Distribution, error) {
	if d == nil {
		return nil, errors.New("distribution point without value")
	}
	if len(d.BucketCounts) != len(d.Bounds)+1 {
		return nil, fmt.Errorf("distribution has %d bucket counts for %d bounds, want %d", len(d.BucketCounts), len(d.Bounds), len(d.Bounds)+1)
	}
	var sum int64
	for _, c := range d.BucketCounts {
		sum += c
	}
	if sum != d.Count {
		return nil, fmt.Errorf("distribution count %d is not the sum of its buckets %d", d.Count, sum)
	}
	// Cloud Monitoring's explicit buckets have an underflow bucket below
	// the first bound, as ours do: counts map one to one.
	out := &distribution.Distribution{
		Count:        d.Count,
		BucketCounts: d.BucketCounts,
		BucketOptions: &distribution.Distribution_BucketOptions{Options: &distribution.Distribution_BucketOptions_ExplicitBuckets{
			ExplicitBuckets: &distribution.Distribution_BucketOptions_Explicit{Bounds: d.Bounds},
		}},
	}
	if d.Count > 0 {
		out.Mean = d.Sum / float64(d.Count)
		out.Range = &distribution.Distribution_Range{Min: d.Min, Max: d.Max}
	}
	return out, nil
}

// Close closes the client.
func (e *Exporter) Close() error { return e.client.Close() }
