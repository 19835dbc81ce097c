// Package fakemonitoring is an in-process Cloud Monitoring MetricService
// for tests. It is strict: it enforces the API rules beametrics depends on
// (at most 200 time series per CreateTimeSeries, one point each, points of a
// series moving forward at most once per 5 s, metric type and label limits,
// no DELTA for custom metrics, cumulative start at most 25 h back, end at
// most 5 min ahead) and writes the valid series of a partly bad request, as
// the real API does, answering INVALID_ARGUMENT with a CreateTimeSeriesSummary
// and per-series reasons ("...: timeSeries[3,7-9]"). Failures can be injected.
package fakemonitoring

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/distribution"
	"google.golang.org/genproto/googleapis/api/label"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// API limits the fake enforces.
const (
	MaxSeriesPerRequest = 200
	MaxMetricTypeLen    = 200
	MaxLabelKeyLen      = 100
	MaxLabelValueLen    = 1024
	MaxLabels           = 30
	MinSamplingPeriod   = 5 * time.Second
	MaxCumulativeAge    = 25 * time.Hour
	MaxFuture           = 5 * time.Minute
)

// Messages of the real API for the errors the exporter must recognise.
const (
	MsgOutOfOrder   = "Points must be written in order. One or more of the points specified had an older start time than the most recent point."
	MsgTooFrequent  = "One or more points were written more frequently than the maximum sampling period configured for the metric."
	msgCouldNotOpen = "One or more TimeSeries could not be written"
)

var (
	labelKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	customRE   = regexp.MustCompile(`^(custom|workload|external)\.googleapis\.com/`)
)

var resourceLabels = map[string][]string{
	"global":       {"project_id"},
	"generic_task": {"job", "location", "namespace", "project_id", "task_id"},
	"generic_node": {"location", "namespace", "node_id", "project_id"},
}

// Server is the fake. Its exported fields may be set before use.
type Server struct {
	monitoringpb.UnimplementedMetricServiceServer

	// Now is the server's clock, for the 25 h / 5 min rules. Default
	// time.Now.
	Now func() time.Time
	// KeepHistory keeps every written point (default true); benchmarks turn
	// it off and use Written.
	KeepHistory bool
	// OmitIndexes leaves the timeSeries[i] indexes out of error messages,
	// so that a client must find bad series by splitting.
	OmitIndexes bool

	mu          sync.Mutex
	descriptors map[string]*metric.MetricDescriptor
	series      map[string]*series
	failNext    []codes.Code
	reject      func(*monitoringpb.TimeSeries) string
	requests    int
	maxSeries   int
	written     int

	grpc *grpc.Server
	lis  net.Listener
}

type series struct {
	ts     *monitoringpb.TimeSeries // metric and resource of the series
	start  time.Time
	last   time.Time
	points []*monitoringpb.Point
}

// Start serves a new fake on a free loopback port.
func Start() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Now:         time.Now,
		KeepHistory: true,
		descriptors: map[string]*metric.MetricDescriptor{},
		series:      map[string]*series{},
		grpc:        grpc.NewServer(),
		lis:         lis,
	}
	monitoringpb.RegisterMetricServiceServer(s.grpc, s)
	go s.grpc.Serve(lis)
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// ClientOptions point a monitoring client at the fake, without credentials.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Addr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Close stops the server.
func (s *Server) Close() { s.grpc.Stop() }

// FailNext makes the next CreateTimeSeries calls fail with the given codes,
// one code per call, writing nothing.
func (s *Server) FailNext(c ...codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, c...)
}

// RejectSeries makes every series for which f returns a reason fail with
// INVALID_ARGUMENT and that reason, while the rest of its request is written.
func (s *Server) RejectSeries(f func(*monitoringpb.TimeSeries) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = f
}

// PutDescriptor stores a descriptor as if it existed already.
func (s *Server) PutDescriptor(d *metric.MetricDescriptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.descriptors[d.Type] = proto.Clone(d).(*metric.MetricDescriptor)
}

// Descriptor returns a stored descriptor or nil.
func (s *Server) Descriptor(metricType string) *metric.MetricDescriptor {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.descriptors[metricType]; d != nil {
		return proto.Clone(d).(*metric.MetricDescriptor)
	}
	return nil
}

// Stats returns the CreateTimeSeries calls so far, the most series seen in
// one call and the points written.
func (s *Server) Stats() (requests, maxSeries, written int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.maxSeries, s.written
}

// Point is one written point of one series.
type Point struct {
	Start, End time.Time
	Value      *monitoringpb.TypedValue
}

// Series is one stored time series.
type Series struct {
	MetricType     string
	Labels         map[string]string
	ResourceType   string
	ResourceLabels map[string]string
	Points         []Point
}

// Series returns every stored series with its points (needs KeepHistory),
// sorted by metric type and labels.
func (s *Server) Series() []Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Series
	for _, se := range s.series {
		o := Series{
			MetricType: se.ts.Metric.Type, Labels: se.ts.Metric.Labels,
			ResourceType: se.ts.Resource.Type, ResourceLabels: se.ts.Resource.Labels,
		}
		for _, p := range se.points {
			var st time.Time
			if p.Interval.StartTime != nil {
				st = p.Interval.StartTime.AsTime()
			}
			o.Points = append(o.Points, Point{Start: st, End: p.Interval.EndTime.AsTime(), Value: p.Value})
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return SeriesKey(out[i]) < SeriesKey(out[j]) })
	return out
}

// SeriesKey formats a series as type{k="v",...}, labels sorted.
func SeriesKey(se Series) string {
	keys := make([]string, 0, len(se.Labels))
	for k := range se.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(se.MetricType)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, se.Labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

func descriptorName(project, typ string) string {
	return "projects/" + project + "/metricDescriptors/" + typ
}

func projectOf(name string) (string, error) {
	p, ok := strings.CutPrefix(name, "projects/")
	if !ok || p == "" || strings.Contains(p, "/") {
		return "", status.Errorf(codes.InvalidArgument, "name %q must be projects/PROJECT_ID", name)
	}
	return p, nil
}

// GetMetricDescriptor returns a stored descriptor or NOT_FOUND.
func (s *Server) GetMetricDescriptor(_ context.Context, req *monitoringpb.GetMetricDescriptorRequest) (*metric.MetricDescriptor, error) {
	rest, ok := strings.CutPrefix(req.Name, "projects/")
	project, typ, ok2 := strings.Cut(rest, "/metricDescriptors/")
	if !ok || !ok2 || project == "" || typ == "" {
		return nil, status.Errorf(codes.InvalidArgument, "bad descriptor name %q", req.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, found := s.descriptors[typ]
	if !found {
		return nil, status.Errorf(codes.NotFound, "Could not find descriptor for metric '%s'.", typ)
	}
	return proto.Clone(d).(*metric.MetricDescriptor), nil
}

// CreateMetricDescriptor checks the descriptor and stores it. Changing the
// kind or value type of an existing metric is refused.
func (s *Server) CreateMetricDescriptor(_ context.Context, req *monitoringpb.CreateMetricDescriptorRequest) (*metric.MetricDescriptor, error) {
	project, err := projectOf(req.Name)
	if err != nil {
		return nil, err
	}
	d := req.MetricDescriptor
	if d == nil {
		return nil, status.Error(codes.InvalidArgument, "metric_descriptor is required")
	}
	if !customRE.MatchString(d.Type) {
		return nil, status.Errorf(codes.PermissionDenied, "metric type %q is not a user-defined metric", d.Type)
	}
	if len(d.Type) > MaxMetricTypeLen {
		return nil, status.Errorf(codes.InvalidArgument, "metric type %q is longer than %d", d.Type, MaxMetricTypeLen)
	}
	switch d.MetricKind {
	case metric.MetricDescriptor_GAUGE, metric.MetricDescriptor_CUMULATIVE:
	case metric.MetricDescriptor_DELTA:
		return nil, status.Errorf(codes.InvalidArgument, "metric %q: custom metrics cannot have DELTA kind", d.Type)
	default:
		return nil, status.Errorf(codes.InvalidArgument, "metric %q: metric kind is required", d.Type)
	}
	switch d.ValueType {
	case metric.MetricDescriptor_INT64, metric.MetricDescriptor_DOUBLE, metric.MetricDescriptor_DISTRIBUTION:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "metric %q: value type %v not supported here", d.Type, d.ValueType)
	}
	if len(d.Labels) > MaxLabels {
		return nil, status.Errorf(codes.InvalidArgument, "metric %q: %d labels, at most %d", d.Type, len(d.Labels), MaxLabels)
	}
	for _, l := range d.Labels {
		if len(l.Key) > MaxLabelKeyLen || !labelKeyRE.MatchString(l.Key) {
			return nil, status.Errorf(codes.InvalidArgument, "metric %q: bad label key %q", d.Type, l.Key)
		}
		if l.ValueType != label.LabelDescriptor_STRING {
			return nil, status.Errorf(codes.InvalidArgument, "metric %q: label %q must be STRING here", d.Type, l.Key)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.descriptors[d.Type]; ok && (old.MetricKind != d.MetricKind || old.ValueType != d.ValueType) {
		return nil, status.Errorf(codes.InvalidArgument, "metric %q exists as %v %v; cannot change to %v %v", d.Type, old.MetricKind, old.ValueType, d.MetricKind, d.ValueType)
	}
	c := proto.Clone(d).(*metric.MetricDescriptor)
	c.Name = descriptorName(project, d.Type)
	s.descriptors[d.Type] = c
	return proto.Clone(c).(*metric.MetricDescriptor), nil
}

// CreateTimeSeries applies the API's rules; see the package comment.
func (s *Server) CreateTimeSeries(_ context.Context, req *monitoringpb.CreateTimeSeriesRequest) (*emptypb.Empty, error) {
	if _, err := projectOf(req.Name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if len(s.failNext) > 0 {
		c := s.failNext[0]
		s.failNext = s.failNext[1:]
		return nil, status.Errorf(c, "injected %v", c)
	}
	n := len(req.TimeSeries)
	if n == 0 {
		return nil, status.Error(codes.InvalidArgument, "At least one TimeSeries is required.")
	}
	if n > MaxSeriesPerRequest {
		return nil, status.Errorf(codes.InvalidArgument, "Field timeSeries had an invalid value: A maximum of %d TimeSeries can be written in a single request, got %d.", MaxSeriesPerRequest, n)
	}
	s.maxSeries = max(s.maxSeries, n)
	now := s.Now()
	seen := map[string]bool{}
	reasons := map[string][]int{} // reason -> indexes
	for i, ts := range req.TimeSeries {
		key, reason := s.check(ts, now)
		if reason == "" && seen[key] {
			reason = "Field timeSeries had an invalid value: Duplicate TimeSeries encountered. Only one point can be written per TimeSeries per request."
		}
		if reason == "" && s.reject != nil {
			reason = s.reject(ts)
		}
		if reason != "" {
			reasons[reason] = append(reasons[reason], i)
			continue
		}
		seen[key] = true
		s.store(key, ts)
	}
	if len(reasons) == 0 {
		return &emptypb.Empty{}, nil
	}
	summary := &monitoringpb.CreateTimeSeriesSummary{TotalPointCount: int32(n)}
	var parts []string
	failed := 0
	for r, idx := range reasons {
		failed += len(idx)
		summary.Errors = append(summary.Errors, &monitoringpb.CreateTimeSeriesSummary_Error{
			Status: status.New(codes.InvalidArgument, r).Proto(), PointCount: int32(len(idx)),
		})
		if s.OmitIndexes {
			parts = append(parts, r)
		} else {
			parts = append(parts, r+": timeSeries["+formatIndexes(idx)+"]")
		}
	}
	sort.Strings(parts)
	summary.SuccessPointCount = int32(n - failed)
	st, err := status.New(codes.InvalidArgument, msgCouldNotOpen+": "+strings.Join(parts, "; ")).WithDetails(summary)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "details: %v", err)
	}
	return nil, st.Err()
}

// formatIndexes writes sorted indexes as the API does: 0-2,5.
func formatIndexes(idx []int) string {
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, strconv.Itoa(idx[i])+"-"+strconv.Itoa(idx[j]))
		} else {
			parts = append(parts, strconv.Itoa(idx[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func (s *Server) store(key string, ts *monitoringpb.TimeSeries) {
	p := ts.Points[0]
	se := s.series[key]
	if se == nil {
		se = &series{ts: &monitoringpb.TimeSeries{Metric: ts.Metric, Resource: ts.Resource}}
		s.series[key] = se
	}
	if p.Interval.StartTime != nil {
		se.start = p.Interval.StartTime.AsTime()
	}
	se.last = p.Interval.EndTime.AsTime()
	if s.KeepHistory {
		se.points = append(se.points, p)
	}
	s.written++
}

// check returns the series' identity and, if it may not be written, why.
func (s *Server) check(ts *monitoringpb.TimeSeries, now time.Time) (key, reason string) {
	if ts.Metric == nil || ts.Resource == nil {
		return "", "Field timeSeries.metric and timeSeries.resource are required."
	}
	d := s.descriptors[ts.Metric.Type]
	if d == nil {
		return "", fmt.Sprintf("The metric descriptor for %q does not exist.", ts.Metric.Type)
	}
	if ts.MetricKind == metric.MetricDescriptor_DELTA {
		return "", "DELTA metric kind is not supported for custom metrics."
	}
	if ts.MetricKind != metric.MetricDescriptor_METRIC_KIND_UNSPECIFIED && ts.MetricKind != d.MetricKind {
		return "", fmt.Sprintf("The metric kind %v does not match the descriptor's %v.", ts.MetricKind, d.MetricKind)
	}
	if ts.ValueType != metric.MetricDescriptor_VALUE_TYPE_UNSPECIFIED && ts.ValueType != d.ValueType {
		return "", fmt.Sprintf("The value type %v does not match the descriptor's %v.", ts.ValueType, d.ValueType)
	}
	allowed := map[string]bool{}
	for _, l := range d.Labels {
		allowed[l.Key] = true
	}
	for k, v := range ts.Metric.Labels {
		if !allowed[k] {
			return "", fmt.Sprintf("Label %q is not in the metric descriptor of %q.", k, ts.Metric.Type)
		}
		if len(k) > MaxLabelKeyLen {
			return "", fmt.Sprintf("Label key %q is longer than %d.", k, MaxLabelKeyLen)
		}
		if len(v) > MaxLabelValueLen {
			return "", fmt.Sprintf("The value of label %q is longer than %d bytes.", k, MaxLabelValueLen)
		}
	}
	want, ok := resourceLabels[ts.Resource.Type]
	if !ok {
		return "", fmt.Sprintf("Unknown monitored resource type %q.", ts.Resource.Type)
	}
	if len(ts.Resource.Labels) != len(want) {
		return "", fmt.Sprintf("The set of resource labels is incomplete or has extra labels; %s needs %v, got %v.", ts.Resource.Type, want, ts.Resource.Labels)
	}
	for _, k := range want {
		if ts.Resource.Labels[k] == "" {
			return "", fmt.Sprintf("Resource label %q is missing or empty.", k)
		}
	}
	if len(ts.Points) != 1 {
		return "", fmt.Sprintf("Field timeSeries.points must have exactly one point, got %d.", len(ts.Points))
	}
	p := ts.Points[0]
	if p.Interval == nil || p.Interval.EndTime == nil {
		return "", "Field points[0].interval.end_time is required."
	}
	end := p.Interval.EndTime.AsTime()
	if end.After(now.Add(MaxFuture)) {
		return "", "Points cannot be written more than 5 minutes in the future."
	}
	if end.Before(now.Add(-MaxCumulativeAge)) {
		return "", "Points cannot be written more than 25 hours in the past."
	}
	var start time.Time
	switch d.MetricKind {
	case metric.MetricDescriptor_GAUGE:
		if p.Interval.StartTime != nil && !p.Interval.StartTime.AsTime().Equal(end) {
			return "", "The start time of a GAUGE point must equal its end time."
		}
	case metric.MetricDescriptor_CUMULATIVE:
		if p.Interval.StartTime == nil {
			return "", "A CUMULATIVE point needs a start time."
		}
		start = p.Interval.StartTime.AsTime()
		if !start.Before(end) {
			return "", "The start time must be before the end time for a CUMULATIVE point."
		}
		if start.Before(now.Add(-MaxCumulativeAge)) {
			return "", "The start time of a CUMULATIVE point cannot be more than 25 hours in the past."
		}
	}
	if r := checkValue(p.Value, d.ValueType); r != "" {
		return "", r
	}
	key = identity(ts)
	if se := s.series[key]; se != nil {
		if !end.After(se.last) {
			return key, MsgOutOfOrder
		}
		if end.Sub(se.last) < MinSamplingPeriod {
			return key, MsgTooFrequent
		}
		if d.MetricKind == metric.MetricDescriptor_CUMULATIVE && !start.Equal(se.start) && start.Before(se.last) {
			return key, "A reset of a CUMULATIVE series must start after its previous point."
		}
	}
	return key, ""
}

func checkValue(v *monitoringpb.TypedValue, want metric.MetricDescriptor_ValueType) string {
	if v == nil {
		return "Field points[0].value is required."
	}
	switch x := v.Value.(type) {
	case *monitoringpb.TypedValue_Int64Value:
		if want == metric.MetricDescriptor_INT64 {
			return ""
		}
	case *monitoringpb.TypedValue_DoubleValue:
		if want == metric.MetricDescriptor_DOUBLE {
			return ""
		}
	case *monitoringpb.TypedValue_DistributionValue:
		if want == metric.MetricDescriptor_DISTRIBUTION {
			return checkDistribution(x.DistributionValue)
		}
	}
	return fmt.Sprintf("The point's value type does not match the descriptor's %v.", want)
}

func checkDistribution(d *distribution.Distribution) string {
	ex := d.GetBucketOptions().GetExplicitBuckets()
	if ex == nil {
		return "Distribution needs explicit bucket options here."
	}
	for i := 1; i < len(ex.Bounds); i++ {
		if !(ex.Bounds[i-1] < ex.Bounds[i]) {
			return "Distribution bucket bounds must increase strictly."
		}
	}
	if len(d.BucketCounts) > len(ex.Bounds)+1 {
		return "Distribution has more bucket counts than buckets."
	}
	var sum int64
	for _, c := range d.BucketCounts {
		if c < 0 {
			return "Distribution bucket counts must not be negative."
		}
		sum += c
	}
	if sum != d.Count {
		return fmt.Sprintf("Distribution count %d does not equal the sum of its bucket counts %d.", d.Count, sum)
	}
	if d.Count == 0 && d.Range != nil {
		return "Distribution range must be absent when count is zero."
	}
	return ""
}

func identity(ts *monitoringpb.TimeSeries) string {
	var b strings.Builder
	b.WriteString(ts.Metric.Type)
	writeMap(&b, ts.Metric.Labels)
	b.WriteString(ts.Resource.Type)
	writeMap(&b, ts.Resource.Labels)
	return b.String()
}

func writeMap(b *strings.Builder, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
	}
	b.WriteByte(1)
}
