// Package promremote pushes points to a Prometheus remote-write 1.0 endpoint
// (Prometheus with --web.enable-remote-write-receiver, Mimir, Thanos,
// Cortex, VictoriaMetrics), snappy-compressed, with retries on 5xx and 429.
package promremote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/secrets"
)

// maxSeriesPerRequest keeps requests well under receivers' size limits
// (Mimir's default is 10 MiB); each series carries all its samples.
const maxSeriesPerRequest = 2000

// Exporter writes points to one remote-write endpoint.
type Exporter struct {
	api     *remote.API
	url     string // with secrets masked, for failure reasons
	mu      sync.RWMutex
	metrics map[string]metricdata.Descriptor
	family  map[string]string // metric -> Prometheus family name
	labels  map[string]string // config label name -> Prometheus label name
}

// Options tune an Exporter beyond its settings; zero fields take the
// defaults.
type Options struct {
	// BackoffMin and BackoffMax are the first and the longest wait
	// between retries (default 500ms and 10s).
	BackoffMin, BackoffMax time.Duration
	// Logger gets the client's retries (default slog.Default()).
	Logger *slog.Logger
}

// New builds an exporter. It reads the password or token files now, so a
// missing file is an error at start-up.
func New(s exporters.RemoteWriteSettings, o Options) (*Exporter, error) {
	if o.BackoffMin <= 0 {
		o.BackoffMin = 500 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if s.URL == "" {
		return nil, errors.New("prometheus remote write: url is required (flag --prometheus-remote-write-url)")
	}
	base, err := secrets.CheckURL(s.URL, exporters.RemoteWritePasswordHint)
	if err != nil {
		return nil, fmt.Errorf("prometheus remote write: url %w", err)
	}
	headers := http.Header{}
	if ba := s.BasicAuth; ba != nil {
		pw, err := secrets.ReadFile(ba.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("prometheus remote write: basic_auth.password_file: %w", err)
		}
		secrets.RegisterBasicAuth(ba.Username, pw)
		req, _ := http.NewRequest("POST", "/", nil)
		req.SetBasicAuth(ba.Username, pw)
		headers.Set("Authorization", req.Header.Get("Authorization"))
	}
	if s.BearerTokenFile != "" {
		tok, err := secrets.ReadFile(s.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("prometheus remote write: bearer_token_file: %w", err)
		}
		headers.Set("Authorization", "Bearer "+tok)
	}
	if s.TenantHeader != "" {
		headers.Set("X-Scope-OrgID", s.TenantHeader)
	}
	client := &http.Client{
		Timeout:       exporters.TimeoutOr(s.Timeout),
		Transport:     headerTransport{base: base, headers: headers, next: http.DefaultTransport},
		CheckRedirect: secrets.CheckRedirect,
	}
	api, err := remote.NewAPI(s.URL,
		remote.WithAPIPath(""), // the URL is the full endpoint
		remote.WithAPIHTTPClient(client),
		remote.WithAPIBackoff(remote.BackoffConfig{Min: o.BackoffMin, Max: o.BackoffMax, MaxRetries: exporters.RetriesOr(s.MaxRetries)}),
		remote.WithAPILogger(o.Logger),
	)
	if err != nil {
		return nil, fmt.Errorf("prometheus remote write: %s", secrets.Redact(err.Error()))
	}
	return &Exporter{api: api, url: secrets.URL(s.URL)}, nil
}

// maxBodyRead bounds how much of an error answer is read; secrets are
// masked in all of it before it is cut to secrets.MaxText.
const maxBodyRead = 64 << 10

// headerTransport adds fixed headers (auth, tenant) to requests for the
// configured origin only, and makes error answers safe to print before the
// remote-write client quotes them in its errors and logs: a receiver may
// echo the request's Authorization header in its body.
type headerTransport struct {
	base    *url.URL
	headers http.Header
	next    http.RoundTripper
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 && secrets.SameOrigin(t.base, r.URL) {
		r = r.Clone(r.Context())
		for k, v := range t.headers {
			r.Header[k] = v
		}
	}
	resp, err := t.next.RoundTrip(r)
	if a, ok := r.Context().Value(attemptKey{}).(*lastAttempt); ok {
		a.record(r.Context(), resp, err)
	}
	if err != nil || resp.StatusCode/100 == 2 {
		return resp, err
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	resp.Body.Close()
	text := secrets.Untrusted(b)
	if rerr != nil {
		text += " (reading the body: " + secrets.Redact(rerr.Error()) + ")"
	}
	resp.Body = io.NopCloser(strings.NewReader(text))
	resp.ContentLength = int64(len(text))
	return resp, nil
}

// Start records the metrics so points can be named and typed.
func (e *Exporter) Start(_ context.Context, metrics []metricdata.Descriptor) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.metrics == nil {
		e.metrics = map[string]metricdata.Descriptor{}
		e.family = map[string]string{}
		e.labels = map[string]string{}
	}
	for _, m := range metrics {
		e.metrics[m.Name] = m
		e.family[m.Name] = exporters.PrometheusFamily(m)
		for _, l := range m.LabelNames {
			e.labels[l] = exporters.PrometheusLabelName(l)
		}
	}
	return nil
}

// Export converts the points to samples (timestamp = window end) and writes
// them. Points of unknown metrics or with broken values are not sent and
// are reported in the returned *exporters.ExportError with the requests
// that failed after retries.
func (e *Exporter) Export(ctx context.Context, points []metricdata.Point) error {
	batches, failed := e.encode(points)
	for _, b := range batches {
		last := &lastAttempt{}
		wctx := context.WithValue(ctx, attemptKey{}, last)
		if _, err := e.api.Write(wctx, remote.WriteV1MessageType, b.req); err != nil {
			// Not logged here: the caller logs the loss once, with
			// this reason.
			code, reason := classify(err, last)
			reason = e.url + ": " + reason
			for _, p := range b.points {
				failed = append(failed, exporters.PointFailure{Point: p, Code: code, Reason: reason})
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &exporters.ExportError{Exporter: exporters.TypeRemoteWrite, Total: len(points), Failed: failed}
}

// lastAttempt is what the last HTTP attempt of one Write got: the
// remote-write client returns its errors as text only, so the transport
// keeps the status and the transport error for classify.
type lastAttempt struct {
	mu     sync.Mutex
	status int
	err    error
}

type attemptKey struct{}

func (a *lastAttempt) record(ctx context.Context, resp *http.Response, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if deadline, ok := ctx.Deadline(); ok && err != nil && !time.Now().Before(deadline) {
		// http.Client's Timeout is the request context's deadline, but it
		// may cancel the request before the context expires, and the
		// transport then says only "request canceled".
		err = fmt.Errorf("%w: %w", err, context.DeadlineExceeded)
	}
	a.status, a.err = 0, err
	if err == nil {
		a.status = resp.StatusCode
	}
}

// classify turns a failed write into a failure code (HTTP_429, timeout,
// network, ...) from what its last attempt got. The reason has secrets
// masked (bodies were made safe by headerTransport; transport errors may
// quote other text).
func classify(err error, last *lastAttempt) (code, reason string) {
	reason = secrets.Redact(err.Error())
	last.mu.Lock()
	status, attemptErr := last.status, last.err
	last.mu.Unlock()
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled", reason
	case errors.Is(err, context.DeadlineExceeded), isTimeout(attemptErr):
		return "timeout", reason
	case status != 0:
		return fmt.Sprintf("HTTP_%d", status), reason
	}
	return "network", reason
}

// isTimeout tells a request that ran out of time (the exporter's timeout,
// a hung server) from other network errors.
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// Close has nothing to release; requests are synchronous.
func (e *Exporter) Close() error { return nil }

type batch struct {
	req    *writeRequest
	points []metricdata.Point
}

// encode groups points into requests of at most maxSeriesPerRequest series,
// every series whole in one request with its samples in time order, as
// receivers require.
func (e *Exporter) encode(points []metricdata.Point) ([]batch, []exporters.PointFailure) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var failed []exporters.PointFailure
	index := map[string]int{} // series key -> position in series
	var series []timeSeries
	var owners [][]int // series position -> indexes of its points
	var key []byte
	add := func(pi int, labels []label, s sample) {
		slices.SortFunc(labels, func(a, b label) int { return strings.Compare(a.name, b.name) })
		key = key[:0]
		for _, l := range labels {
			key = append(key, l.name...)
			key = append(key, 0)
			key = append(key, l.value...)
			key = append(key, 0)
		}
		i, ok := index[string(key)] // no allocation for the lookup
		if !ok {
			i = len(series)
			index[string(key)] = i
			series = append(series, timeSeries{labels: labels})
			owners = append(owners, nil)
		}
		series[i].samples = append(series[i].samples, s)
		if o := owners[i]; len(o) == 0 || o[len(o)-1] != pi {
			owners[i] = append(o, pi)
		}
	}
	for pi, p := range points {
		_, ok := e.metrics[p.Metric]
		if !ok {
			failed = append(failed, exporters.PointFailure{Point: p, Code: "unknown_metric", Reason: fmt.Sprintf("metric %q was not given to Start", p.Metric)})
			continue
		}
		if err := toSamples(p, e.family[p.Metric], e.labelName, func(labels []label, s sample) { add(pi, labels, s) }); err != nil {
			failed = append(failed, exporters.PointFailure{Point: p, Code: "encode", Reason: err.Error()})
		}
	}
	var batches []batch
	for start := 0; start < len(series); start += maxSeriesPerRequest {
		end := min(start+maxSeriesPerRequest, len(series))
		b := batch{req: &writeRequest{series: series[start:end]}}
		seen := map[int]bool{}
		for i := start; i < end; i++ {
			ts := &series[i]
			slices.SortStableFunc(ts.samples, func(a, b sample) int { return cmp.Compare(a.ts, b.ts) })
			for _, pi := range owners[i] {
				if !seen[pi] {
					seen[pi] = true
					b.points = append(b.points, points[pi])
				}
			}
		}
		batches = append(batches, b)
	}
	return batches, failed
}

// labelName returns the Prometheus name of a label, cached for declared
// labels. Callers hold e.mu.
func (e *Exporter) labelName(n string) string {
	if s, ok := e.labels[n]; ok {
		return s
	}
	return exporters.PrometheusLabelName(n)
}

// toSamples emits the samples of one point: one for counts, sums and gauges;
// _bucket (cumulative, with le), _sum and _count for distributions.
func toSamples(p metricdata.Point, family string, labelName func(string) string, emit func([]label, sample)) error {
	ts := p.End.UnixMilli()
	base := func(name string, extra int) []label {
		ls := make([]label, 0, len(p.Labels)+1+extra)
		ls = append(ls, label{"__name__", name})
		for _, l := range p.Labels {
			ls = append(ls, label{labelName(l.Name), l.Value})
		}
		return ls
	}
	switch p.Type {
	case metricdata.Int64:
		emit(base(family, 0), sample{float64(p.Int), ts})
	case metricdata.Double:
		emit(base(family, 0), sample{p.Double, ts})
	case metricdata.Distribution:
		dv := p.Dist
		if dv == nil {
			return errors.New("distribution point without value")
		}
		if len(dv.BucketCounts) != len(dv.Bounds)+1 {
			return fmt.Errorf("distribution has %d bucket counts for %d bounds, want %d", len(dv.BucketCounts), len(dv.Bounds), len(dv.Bounds)+1)
		}
		var cum int64
		for i, c := range dv.BucketCounts {
			cum += c
			le := "+Inf"
			if i < len(dv.Bounds) {
				le = FormatBound(dv.Bounds[i])
			}
			emit(append(base(family+"_bucket", 1), label{"le", le}), sample{float64(cum), ts})
		}
		emit(base(family+"_sum", 0), sample{dv.Sum, ts})
		emit(base(family+"_count", 0), sample{float64(dv.Count), ts})
	default:
		return fmt.Errorf("point of unknown value type %d", p.Type)
	}
	return nil
}

// FormatBound formats a bucket bound the way Prometheus' Go client writes
// the le label.
func FormatBound(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
