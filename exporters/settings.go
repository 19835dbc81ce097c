package exporters

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/secrets"
)

// Export types a metric's export_type may name.
const (
	TypeCloudMonitoring = "google-cloud-monitoring"
	TypeRemoteWrite     = "prometheus"
	TypeLocal           = "local"
)

// ExportTypes lists every export type, sorted.
var ExportTypes = []string{TypeCloudMonitoring, TypeLocal, TypeRemoteWrite}

// Settings configures every exporter. It is the top-level `exporters:` section
// of the metrics YAML, may be overridden by flags, and is copied as JSON into
// the Beam sink DoFns, so it holds only plain data (file paths, not secrets).
type Settings struct {
	CloudMonitoring CloudMonitoringSettings `json:"cloud_monitoring" yaml:"cloud_monitoring"`
	RemoteWrite     RemoteWriteSettings     `json:"prometheus_remote_write" yaml:"prometheus_remote_write"`
	// PrometheusListen, when set (e.g. ":9464"), serves /metrics with the
	// latest window of every metric, whatever its export type. One process
	// only: on Dataflow use remote write.
	PrometheusListen string        `json:"prometheus_listen" yaml:"prometheus_listen"`
	Local            LocalSettings `json:"local" yaml:"local"`
}

// CloudMonitoringSettings configures the google-cloud-monitoring exporter.
type CloudMonitoringSettings struct {
	// Project is the Google Cloud project written to. Required.
	Project string `json:"project" yaml:"project"`
	// MetricPrefix goes before the metric name to form the metric type;
	// empty means DefaultMetricPrefix.
	MetricPrefix string            `json:"metric_prefix" yaml:"metric_prefix"`
	Resource     MonitoredResource `json:"resource" yaml:"resource"`
	// Timeout bounds one CreateTimeSeries call; empty means 30s.
	Timeout time.Duration `json:"timeout" yaml:"timeout"`
	// MaxRetries bounds the retries of one request on UNAVAILABLE,
	// DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED; empty means 5.
	MaxRetries int `json:"max_retries" yaml:"max_retries"`
}

// MonitoredResource is the resource every time series is written on.
type MonitoredResource struct {
	// Type is "global" (the default when empty) or "generic_task".
	Type   string            `json:"type" yaml:"type"`
	Labels map[string]string `json:"labels" yaml:"labels"`
}

// DefaultMetricPrefix is the metric type prefix when none is configured.
const DefaultMetricPrefix = "custom.googleapis.com/"

// Prefix returns the configured metric prefix or the default.
func (c CloudMonitoringSettings) Prefix() string {
	if c.MetricPrefix == "" {
		return DefaultMetricPrefix
	}
	return c.MetricPrefix
}

// ResourceType returns the configured resource type or "global".
func (c CloudMonitoringSettings) ResourceType() string {
	if c.Resource.Type == "" {
		return "global"
	}
	return c.Resource.Type
}

// resourceLabels lists, per supported resource type, the labels the API
// requires. project_id is filled from Project when missing.
var resourceLabels = map[string][]string{
	"global":       {"project_id"},
	"generic_task": {"project_id", "location", "namespace", "job", "task_id"},
	"generic_node": {"project_id", "location", "namespace", "node_id"},
}

// RemoteWriteSettings configures the prometheus (remote write) exporter.
type RemoteWriteSettings struct {
	// URL is the full remote-write endpoint, e.g.
	// http://prometheus:9090/api/v1/write. Required.
	URL       string     `json:"url" yaml:"url"`
	BasicAuth *BasicAuth `json:"basic_auth,omitempty" yaml:"basic_auth"`
	// BearerTokenFile holds a token sent as "Authorization: Bearer ...".
	BearerTokenFile string `json:"bearer_token_file" yaml:"bearer_token_file"`
	// TenantHeader, when set, is sent as X-Scope-OrgID (Mimir, Cortex, Loki).
	TenantHeader string `json:"tenant_header" yaml:"tenant_header"`
	// Timeout bounds one HTTP request; empty means 30s.
	Timeout time.Duration `json:"timeout" yaml:"timeout"`
	// MaxRetries bounds the retries of one request on 5xx and 429; empty
	// means 5.
	MaxRetries int `json:"max_retries" yaml:"max_retries"`
}

// RemoteWritePasswordHint says where a remote-write password belongs: a URL
// with user:password@ is refused, pointing here.
const RemoteWritePasswordHint = "--prometheus-remote-write-username and --prometheus-remote-write-password-file (basic_auth in the YAML)"

// BasicAuth is HTTP basic authentication with the password read from a file.
type BasicAuth struct {
	Username     string `json:"username" yaml:"username"`
	PasswordFile string `json:"password_file" yaml:"password_file"`
}

// LocalSettings configures the local exporter.
type LocalSettings struct {
	// Path receives the JSON lines; empty or "-" means standard output.
	Path string `json:"path" yaml:"path"`
}

// Defaults used where a setting is left empty; they are documented in
// docs/exporters.md.
const (
	DefaultTimeout    = 30 * time.Second
	DefaultMaxRetries = 5
)

// TimeoutOr returns d, or DefaultTimeout when d is zero.
func TimeoutOr(d time.Duration) time.Duration {
	if d == 0 {
		return DefaultTimeout
	}
	return d
}

// RetriesOr returns n, or DefaultMaxRetries when n is zero.
func RetriesOr(n int) int {
	if n == 0 {
		return DefaultMaxRetries
	}
	return n
}

// RegisterFlags adds the flag forms of the settings to fs. A flag writes into
// s only when it is given on the command line, so decoding the YAML into s
// first and parsing flags afterwards makes flags override the YAML. (Parsing
// into a separate Settings and calling Override gives the same result in the
// other order.)
func (s *Settings) RegisterFlags(fs *flag.FlagSet) {
	str := func(name string, dst *string, usage string) {
		fs.Func(name, usage, func(v string) error { *dst = v; return nil })
	}
	dur := func(name string, dst *time.Duration, usage string) {
		fs.Func(name, usage, func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			*dst = d
			return nil
		})
	}
	cm := &s.CloudMonitoring
	str("monitoring-project", &cm.Project, "Google Cloud project the google-cloud-monitoring exporter writes to")
	str("monitoring-metric-prefix", &cm.MetricPrefix, "metric type prefix (default "+DefaultMetricPrefix+")")
	str("monitoring-resource-type", &cm.Resource.Type, "monitored resource type: global (default), generic_task or generic_node")
	fs.Func("monitoring-resource-labels", "monitored resource labels as k=v,k=v (e.g. location=europe-west1,namespace=ns,job=j)", func(v string) error {
		m, err := parseKeyValues(v)
		if err != nil {
			return err
		}
		cm.Resource.Labels = m
		return nil
	})
	dur("monitoring-timeout", &cm.Timeout, "timeout of one CreateTimeSeries call (default 30s)")

	rw := &s.RemoteWrite
	str("prometheus-remote-write-url", &rw.URL, "Prometheus remote-write endpoint, e.g. http://host:9090/api/v1/write")
	fs.Func("prometheus-remote-write-username", "basic auth user name for remote write", func(v string) error {
		if rw.BasicAuth == nil {
			rw.BasicAuth = &BasicAuth{}
		}
		rw.BasicAuth.Username = v
		return nil
	})
	fs.Func("prometheus-remote-write-password-file", "file holding the basic auth password for remote write", func(v string) error {
		if rw.BasicAuth == nil {
			rw.BasicAuth = &BasicAuth{}
		}
		rw.BasicAuth.PasswordFile = v
		return nil
	})
	str("prometheus-remote-write-bearer-token-file", &rw.BearerTokenFile, "file holding a bearer token for remote write")
	str("prometheus-remote-write-tenant", &rw.TenantHeader, "tenant sent as X-Scope-OrgID with remote write")
	dur("prometheus-remote-write-timeout", &rw.Timeout, "timeout of one remote-write request (default 30s)")

	str("prometheus-listen", &s.PrometheusListen, "serve /metrics with the latest window of every metric on this address, e.g. :9464 (one process only)")
	str("local-output", &s.Local.Path, "file the local exporter appends JSON lines to (default standard output)")
}

func parseKeyValues(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		if kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		m[k] = val
	}
	return m, nil
}

// Override returns s with every non-empty field of o taking precedence.
func (s Settings) Override(o Settings) Settings {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	cm, ocm := &s.CloudMonitoring, o.CloudMonitoring
	set(&cm.Project, ocm.Project)
	set(&cm.MetricPrefix, ocm.MetricPrefix)
	set(&cm.Resource.Type, ocm.Resource.Type)
	if ocm.Resource.Labels != nil {
		cm.Resource.Labels = ocm.Resource.Labels
	}
	if ocm.Timeout != 0 {
		cm.Timeout = ocm.Timeout
	}
	if ocm.MaxRetries != 0 {
		cm.MaxRetries = ocm.MaxRetries
	}
	rw, orw := &s.RemoteWrite, o.RemoteWrite
	set(&rw.URL, orw.URL)
	if orw.BasicAuth != nil {
		ba := BasicAuth{}
		if rw.BasicAuth != nil {
			ba = *rw.BasicAuth
		}
		set(&ba.Username, orw.BasicAuth.Username)
		set(&ba.PasswordFile, orw.BasicAuth.PasswordFile)
		rw.BasicAuth = &ba
	}
	set(&rw.BearerTokenFile, orw.BearerTokenFile)
	set(&rw.TenantHeader, orw.TenantHeader)
	if orw.Timeout != 0 {
		rw.Timeout = orw.Timeout
	}
	if orw.MaxRetries != 0 {
		rw.MaxRetries = orw.MaxRetries
	}
	set(&s.PrometheusListen, o.PrometheusListen)
	set(&s.Local.Path, o.Local.Path)
	return s
}

// MinCloudMonitoringWindow is Cloud Monitoring's per-series write limit: one
// point per 5 s. Shorter windows would have points rejected.
const MinCloudMonitoringWindow = 5 * time.Second

// Cloud Monitoring limits on custom metrics.
const (
	MaxMetricTypeLen    = 200
	MaxLabelKeyLen      = 100
	MaxLabelValueLen    = 1024
	MaxLabelsPerMetric  = 30
	MaxSeriesPerRequest = 200
)

var (
	gcmLabelName   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	gcmPrefix      = regexp.MustCompile(`^[a-z0-9.-]+\.googleapis\.com/([A-Za-z0-9_./-]*/)?$`)
	gcmMetricChars = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)
)

// Validate refuses settings that cannot work for the given metrics, before
// any data flows. Every problem found is reported, one per line.
func (s Settings) Validate(metrics []metricdata.Descriptor) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	used := map[string]bool{}
	names := map[string]bool{}
	for _, m := range metrics {
		if names[m.Name] {
			bad("metric %q is declared twice", m.Name)
		}
		names[m.Name] = true
		switch m.ExportType {
		case TypeCloudMonitoring, TypeRemoteWrite, TypeLocal:
			used[m.ExportType] = true
		default:
			bad("metric %q: unknown export_type %q (known: %s)", m.Name, m.ExportType, strings.Join(ExportTypes, ", "))
		}
		errs = append(errs, validateDescriptor(m)...)
	}

	if used[TypeCloudMonitoring] {
		errs = append(errs, s.CloudMonitoring.validate(metrics)...)
	}
	if used[TypeRemoteWrite] {
		errs = append(errs, s.RemoteWrite.validate()...)
	}
	if used[TypeRemoteWrite] || s.PrometheusListen != "" {
		// The scrape endpoint serves every metric, remote write only its own.
		var prom []metricdata.Descriptor
		for _, m := range metrics {
			if s.PrometheusListen != "" || m.ExportType == TypeRemoteWrite {
				prom = append(prom, m)
			}
		}
		errs = append(errs, validatePrometheusNames(prom)...)
	}
	if s.PrometheusListen != "" {
		if _, _, err := net.SplitHostPort(s.PrometheusListen); err != nil {
			bad("prometheus_listen %q: %v (want host:port, e.g. :9464)", s.PrometheusListen, err)
		}
	}
	return errors.Join(errs...)
}

func validateDescriptor(m metricdata.Descriptor) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("metric %q: "+format, append([]any{m.Name}, a...)...))
	}
	if m.Name == "" {
		bad("empty name")
	}
	switch m.ValueType {
	case metricdata.Int64, metricdata.Double:
	case metricdata.Distribution:
		if len(m.Buckets) == 0 {
			bad("distribution without buckets")
		}
		for i := 1; i < len(m.Buckets); i++ {
			if !(m.Buckets[i-1] < m.Buckets[i]) {
				bad("bucket bounds must increase strictly, got %v", m.Buckets)
				break
			}
		}
	default:
		bad("value type not set")
	}
	switch m.Kind {
	case metricdata.Gauge:
	case metricdata.Cumulative:
		switch m.Aggregation {
		case "count", "sum", "distribution":
		default:
			bad("kind cumulative needs aggregation count, sum or distribution, not %q", m.Aggregation)
		}
	default:
		bad("kind not set")
	}
	if !sort.StringsAreSorted(m.LabelNames) {
		bad("label names are not sorted: %v", m.LabelNames)
	}
	return errs
}

func (c CloudMonitoringSettings) validate(metrics []metricdata.Descriptor) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("cloud_monitoring: "+format, a...))
	}
	if c.Project == "" {
		bad("project is required (flag --monitoring-project)")
	}
	if !gcmPrefix.MatchString(c.Prefix()) {
		bad("metric_prefix %q must look like custom.googleapis.com/ or workload.googleapis.com/ and end with /", c.Prefix())
	}
	want, ok := resourceLabels[c.ResourceType()]
	if !ok {
		bad("resource type %q not supported (supported: global, generic_task, generic_node)", c.ResourceType())
	} else {
		have := map[string]bool{"project_id": true}
		for k, v := range c.Resource.Labels {
			have[k] = true
			if !slices.Contains(want, k) {
				bad("resource %s has no label %q (its labels: %s)", c.ResourceType(), k, strings.Join(want, ", "))
			}
			if v == "" && !(c.ResourceType() == "generic_task" && k == "task_id") {
				bad("resource label %q is empty", k)
			}
		}
		for _, k := range want {
			if !have[k] && !(c.ResourceType() == "generic_task" && k == "task_id") {
				bad("resource %s needs label %q", c.ResourceType(), k)
			}
		}
	}
	if c.Timeout < 0 || c.MaxRetries < 0 {
		bad("timeout and max_retries must not be negative")
	}
	for _, m := range metrics {
		if m.ExportType != TypeCloudMonitoring {
			continue
		}
		if m.Window < MinCloudMonitoringWindow {
			bad("metric %q: window %v is shorter than the per-series write limit of one point per %v", m.Name, m.Window, MinCloudMonitoringWindow)
		}
		typ := c.Prefix() + m.Name
		if len(typ) > MaxMetricTypeLen {
			bad("metric %q: metric type %q is longer than %d characters", m.Name, typ, MaxMetricTypeLen)
		}
		if !gcmMetricChars.MatchString(m.Name) {
			bad("metric %q: name may only hold letters, digits, _ . / -", m.Name)
		}
		if len(m.LabelNames) > MaxLabelsPerMetric {
			bad("metric %q: %d labels, at most %d allowed", m.Name, len(m.LabelNames), MaxLabelsPerMetric)
		}
		for _, l := range m.LabelNames {
			if len(l) > MaxLabelKeyLen || !gcmLabelName.MatchString(l) {
				bad("metric %q: label name %q must match [a-z][a-z0-9_]* and be at most %d characters", m.Name, l, MaxLabelKeyLen)
			}
		}
	}
	return errs
}

func (r RemoteWriteSettings) validate() []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("prometheus_remote_write: "+format, a...))
	}
	if r.URL == "" {
		bad("url is required (flag --prometheus-remote-write-url)")
	} else if _, err := secrets.CheckURL(r.URL, RemoteWritePasswordHint); err != nil {
		bad("url %v", err)
	}
	readable := func(what, path string) {
		if f, err := os.Open(path); err != nil {
			bad("%s: %v", what, err)
		} else {
			f.Close()
		}
	}
	if ba := r.BasicAuth; ba != nil {
		if ba.Username == "" || ba.PasswordFile == "" {
			bad("basic_auth needs both username and password_file")
		} else {
			readable("basic_auth.password_file", ba.PasswordFile)
		}
		if r.BearerTokenFile != "" {
			bad("basic_auth and bearer_token_file are mutually exclusive")
		}
	}
	if r.BearerTokenFile != "" {
		readable("bearer_token_file", r.BearerTokenFile)
	}
	if r.Timeout < 0 || r.MaxRetries < 0 {
		bad("timeout and max_retries must not be negative")
	}
	return errs
}

// validatePrometheusNames refuses metrics whose sanitised names or labels
// would collide in Prometheus.
func validatePrometheusNames(metrics []metricdata.Descriptor) []error {
	var errs []error
	owner := map[string]string{} // series name -> metric that produces it
	for _, m := range metrics {
		for _, n := range PrometheusSeriesNames(m) {
			if o, ok := owner[n]; ok {
				errs = append(errs, fmt.Errorf("metrics %q and %q both become the Prometheus series %q", o, m.Name, n))
			}
			owner[n] = m.Name
		}
		seen := map[string]string{}
		for _, l := range m.LabelNames {
			s := PrometheusLabelName(l)
			if strings.HasPrefix(s, "__") {
				errs = append(errs, fmt.Errorf("metric %q: label %q: names starting with __ are reserved in Prometheus", m.Name, l))
			}
			if m.ValueType == metricdata.Distribution && s == "le" {
				errs = append(errs, fmt.Errorf("metric %q: label le is reserved for histogram buckets", m.Name))
			}
			if o, ok := seen[s]; ok {
				errs = append(errs, fmt.Errorf("metric %q: labels %q and %q both become %q in Prometheus", m.Name, o, l, s))
			}
			seen[s] = l
		}
	}
	return errs
}
