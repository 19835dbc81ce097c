package exporters

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/metricdata"
	"gopkg.in/yaml.v3"
)

const sampleYAML = `
cloud_monitoring:
  project: P
  metric_prefix: workload.googleapis.com/
  resource:
    type: generic_task
    labels: {location: europe-west1, namespace: ns, job: beametrics}
  timeout: 20s
prometheus_remote_write:
  url: http://mimir:9009/api/v1/push
  basic_auth: {username: u, password_file: /etc/pw}
  tenant_header: team-a
  timeout: 15s
prometheus_listen: ":9464"
local:
  path: out.jsonl
`

func TestYAMLAndJSON(t *testing.T) {
	var s Settings
	dec := yaml.NewDecoder(strings.NewReader(sampleYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		t.Fatal(err)
	}
	want := Settings{
		CloudMonitoring: CloudMonitoringSettings{Project: "P", MetricPrefix: "workload.googleapis.com/",
			Resource: MonitoredResource{Type: "generic_task", Labels: map[string]string{"location": "europe-west1", "namespace": "ns", "job": "beametrics"}},
			Timeout:  20 * time.Second},
		RemoteWrite: RemoteWriteSettings{URL: "http://mimir:9009/api/v1/push", BasicAuth: &BasicAuth{Username: "u", PasswordFile: "/etc/pw"},
			TenantHeader: "team-a", Timeout: 15 * time.Second},
		PrometheusListen: ":9464",
		Local:            LocalSettings{Path: "out.jsonl"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("yaml:\n%+v\nwant\n%+v", s, want)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Settings
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("json round trip:\n%+v", back)
	}
	var typo Settings
	dec = yaml.NewDecoder(strings.NewReader("prometheus_remote_write: {urll: x}"))
	dec.KnownFields(true)
	if err := dec.Decode(&typo); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestFlagsOverrideYAML(t *testing.T) {
	var s Settings
	if err := yaml.Unmarshal([]byte(sampleYAML), &s); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	s.RegisterFlags(fs)
	err := fs.Parse([]string{"--monitoring-project=Q", "--prometheus-remote-write-url=http://other/api/v1/write",
		"--monitoring-resource-labels=location=us,namespace=n2,job=j2", "--prometheus-remote-write-timeout=3s", "--prometheus-listen=127.0.0.1:9999"})
	if err != nil {
		t.Fatal(err)
	}
	if s.CloudMonitoring.Project != "Q" || s.CloudMonitoring.MetricPrefix != "workload.googleapis.com/" ||
		s.RemoteWrite.URL != "http://other/api/v1/write" || s.RemoteWrite.TenantHeader != "team-a" ||
		s.RemoteWrite.Timeout != 3*time.Second || s.PrometheusListen != "127.0.0.1:9999" ||
		!reflect.DeepEqual(s.CloudMonitoring.Resource.Labels, map[string]string{"location": "us", "namespace": "n2", "job": "j2"}) {
		t.Errorf("after flags: %+v", s)
	}
	// The other order: flags parsed first into their own Settings.
	var fromFlags, fromYAML Settings
	fs = flag.NewFlagSet("y", flag.ContinueOnError)
	fromFlags.RegisterFlags(fs)
	fs.Parse([]string{"--monitoring-project=Q", "--prometheus-remote-write-username=v"})
	yaml.Unmarshal([]byte(sampleYAML), &fromYAML)
	m := fromYAML.Override(fromFlags)
	if m.CloudMonitoring.Project != "Q" || m.RemoteWrite.BasicAuth.Username != "v" || m.RemoteWrite.BasicAuth.PasswordFile != "/etc/pw" || m.RemoteWrite.URL != "http://mimir:9009/api/v1/push" {
		t.Errorf("override: %+v %+v", m, m.RemoteWrite.BasicAuth)
	}
	fs = flag.NewFlagSet("w", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	(&Settings{}).RegisterFlags(fs)
	if err := fs.Parse([]string{"--prometheus-remote-write-timeout=soon"}); err == nil {
		t.Error("bad duration accepted")
	}
}

func desc(name, typ string) metricdata.Descriptor {
	return metricdata.Descriptor{Name: name, Aggregation: "count", ValueType: metricdata.Int64, Kind: metricdata.Gauge, ExportType: typ, Window: time.Minute}
}

func TestValidate(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("x"), 0o600)
	good := Settings{
		CloudMonitoring: CloudMonitoringSettings{Project: "p"},
		RemoteWrite:     RemoteWriteSettings{URL: "https://m/api/v1/push", BasicAuth: &BasicAuth{Username: "u", PasswordFile: pw}},
	}
	if err := good.Validate([]metricdata.Descriptor{desc("a", TypeCloudMonitoring), desc("b", TypeRemoteWrite), desc("c", TypeLocal)}); err != nil {
		t.Fatalf("good settings refused: %v", err)
	}
	short := desc("fast", TypeCloudMonitoring)
	short.Window = 2 * time.Second
	cum := desc("peak", TypeRemoteWrite)
	cum.Aggregation, cum.Kind, cum.ValueType = "max", metricdata.Cumulative, metricdata.Double
	hist := metricdata.Descriptor{Name: "h", Aggregation: "distribution", ValueType: metricdata.Distribution, Kind: metricdata.Gauge, LabelNames: []string{"le"}, ExportType: TypeRemoteWrite}
	badLabel := desc("l", TypeCloudMonitoring)
	badLabel.LabelNames = []string{"Bad-metricdata.Label"}
	cases := []struct {
		name    string
		s       Settings
		metrics []metricdata.Descriptor
		want    string
	}{
		{"window below the write limit", good, []metricdata.Descriptor{short}, `metric "fast": window 2s is shorter than the per-series write limit of one point per 5s`},
		{"no project", Settings{}, []metricdata.Descriptor{desc("a", TypeCloudMonitoring)}, "project is required"},
		{"unknown export type", good, []metricdata.Descriptor{desc("a", "stackdriver")}, `unknown export_type "stackdriver"`},
		{"no url", Settings{}, []metricdata.Descriptor{desc("a", TypeRemoteWrite)}, "url is required"},
		{"relative url", Settings{RemoteWrite: RemoteWriteSettings{URL: "/api/v1/write"}}, []metricdata.Descriptor{desc("a", TypeRemoteWrite)}, "absolute http or https"},
		{"missing password file", Settings{RemoteWrite: RemoteWriteSettings{URL: "http://m", BasicAuth: &BasicAuth{Username: "u", PasswordFile: pw + "x"}}}, []metricdata.Descriptor{desc("a", TypeRemoteWrite)}, "basic_auth.password_file"},
		{"basic and bearer", Settings{RemoteWrite: RemoteWriteSettings{URL: "http://m", BasicAuth: &BasicAuth{Username: "u", PasswordFile: pw}, BearerTokenFile: pw}}, []metricdata.Descriptor{desc("a", TypeRemoteWrite)}, "mutually exclusive"},
		{"prometheus name clash", good, []metricdata.Descriptor{desc("a-b", TypeRemoteWrite), desc("a_b", TypeRemoteWrite)}, `both become the Prometheus series "a_b"`},
		{"cumulative max", good, []metricdata.Descriptor{cum}, "kind cumulative needs aggregation count, sum or distribution"},
		{"le label on histogram", good, []metricdata.Descriptor{hist}, "distribution without buckets"},
		{"le label on histogram 2", good, []metricdata.Descriptor{hist}, "label le is reserved"},
		{"resource labels", Settings{CloudMonitoring: CloudMonitoringSettings{Project: "p", Resource: MonitoredResource{Type: "generic_task", Labels: map[string]string{"location": "x"}}}}, []metricdata.Descriptor{desc("a", TypeCloudMonitoring)}, `resource generic_task needs label "namespace"`},
		{"bad resource type", Settings{CloudMonitoring: CloudMonitoringSettings{Project: "p", Resource: MonitoredResource{Type: "k8s_pod"}}}, []metricdata.Descriptor{desc("a", TypeCloudMonitoring)}, `resource type "k8s_pod" not supported`},
		{"gcm label name", good, []metricdata.Descriptor{badLabel}, `label name "Bad-metricdata.Label" must match`},
		{"bad prefix", Settings{CloudMonitoring: CloudMonitoringSettings{Project: "p", MetricPrefix: "custom.googleapis.com"}}, []metricdata.Descriptor{desc("a", TypeCloudMonitoring)}, "end with /"},
		{"listen", Settings{PrometheusListen: "9464"}, []metricdata.Descriptor{desc("a", TypeLocal)}, "prometheus_listen"},
		{"duplicate", good, []metricdata.Descriptor{desc("a", TypeLocal), desc("a", TypeLocal)}, `"a" is declared twice`},
		{"metric type too long", good, []metricdata.Descriptor{desc(strings.Repeat("x", 190), TypeCloudMonitoring)}, "longer than 200"},
	}
	for _, c := range cases {
		err := c.s.Validate(c.metrics)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestPrometheusNames(t *testing.T) {
	for in, want := range map[string]string{"beametrics-test-1": "beametrics_test_1", "1abc": "_1abc", "a:b": "a:b", "beametrics/events_read": "beametrics_events_read", "": "_"} {
		if got := PrometheusName(in); got != want {
			t.Errorf("PrometheusName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := PrometheusLabelName("a:b.c"); got != "a_b_c" {
		t.Errorf("label: %q", got)
	}
	d := metricdata.Descriptor{Name: "bytes", Aggregation: "sum", ValueType: metricdata.Double, Kind: metricdata.Cumulative}
	if got := PrometheusFamily(d); got != "bytes_total" {
		t.Errorf("counter family %q", got)
	}
	d.Name = "bytes_total"
	if got := PrometheusFamily(d); got != "bytes_total" {
		t.Errorf("counter family %q", got)
	}
}
