package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/config"
)

func TestAbsentExpected(t *testing.T) {
	cfg := mustParse(t, `
metrics:
  - name: live
    type: count
    dynamic_labels: {pipeline_id: pipeline-id, pipeline_env: pipeline-env}
    absent:
      expected:
        - {pipeline_id: "0", pipeline_env: blue}
        - {pipeline_id: "1", pipeline_env: green}
`)
	a := cfg.Metrics[0].Absent
	if a == nil || a.Learn != 0 || a.Line != 7 {
		t.Fatalf("absent = %+v", a)
	}
	want := []map[string]string{{"pipeline_id": "0", "pipeline_env": "blue"}, {"pipeline_id": "1", "pipeline_env": "green"}}
	if !reflect.DeepEqual(a.Expected, want) {
		t.Errorf("expected = %v, want %v", a.Expected, want)
	}
	if cfg.Metrics[0].Alert != nil {
		t.Errorf("alert set without alert: key: %+v", cfg.Metrics[0].Alert)
	}
}

func TestAbsentLearnAndAlert(t *testing.T) {
	cfg := mustParse(t, `
window: 60s
metrics:
  - name: live
    type: count
    dynamic_labels: {pipeline_id: pipeline-id}
    absent: {learn: 24h}
    alert: {silence: 10m, below: 1, above: 100, for: 5m, severity: critical, summary: route is quiet}
`)
	m := cfg.Metrics[0]
	if m.Absent.Learn != 24*time.Hour || m.Absent.Expected != nil {
		t.Errorf("absent = %+v", m.Absent)
	}
	want := &config.Alert{Silence: 10 * time.Minute, Below: &config.Threshold{Value: 1, For: 5 * time.Minute},
		Above: &config.Threshold{Value: 100, For: 5 * time.Minute}, Severity: "critical", Summary: "route is quiet", Line: 8, Column: 12}
	if !reflect.DeepEqual(m.Alert, want) {
		t.Errorf("alert = %+v\nwant %+v", m.Alert, want)
	}
}

func TestLivenessErrors(t *testing.T) {
	head := "window: 60s\nmetrics:\n  - name: live\n    type: count\n    dynamic_labels: {pipeline_id: pipeline-id, env: e}\n"
	cases := []struct{ yaml, want string }{
		{"    absent: {}\n", "test.yaml:6:13: absent needs exactly one of expected"},
		{"    absent: {learn: 1h, expected: [{pipeline_id: a, env: b}]}\n", "test.yaml:6:13: absent needs exactly one of"},
		{"    absent: {learn: 10s}\n", "test.yaml:6:13: metric \"live\": absent.learn 10s is shorter than the window 1m0s"},
		{"    absent: {learn: 0s}\n", "test.yaml:6:21: absent.learn must be above 0"},
		{"    absent: {learn: 1000h}\n", "test.yaml:6:21: absent.learn 1000h0m0s is too long"},
		{"    absent: {lern: 1h}\n", "test.yaml:6:14: absent: unknown key \"lern\" (known: expected, learn)"},
		{"    absent: {expected: []}\n", "test.yaml:6:24: absent.expected must be a non-empty list"},
		{"    absent: {expected: [a]}\n", "test.yaml:6:25: absent.expected: each entry must be a mapping"},
		{"    absent: {expected: [{pipeline_id: a}]}\n", "test.yaml:6:13: metric \"live\": absent.expected[0] must give every dynamic label; missing: env"},
		{"    absent: {expected: [{pipeline_id: a, env: b, zone: c}]}\n", "absent.expected[0]: label \"zone\" is not a dynamic label"},
		{"    absent: {expected: [{pipeline_id: a, env: b}, {env: b, pipeline_id: a}]}\n", "absent.expected[1] repeats entry 0"},
		{"    absent: 5\n", "test.yaml:6:13: absent must be a mapping"},
		{"    alert: {}\n", "test.yaml:6:12: alert needs at least one of silence"},
		{"    alert: {silence: 30s}\n", "alert.silence 30s is shorter than the window 1m0s"},
		{"    alert: {below: ten}\n", "test.yaml:6:20: alert.below must be a number"},
		{"    alert: {below: 10, above: 5}\n", "test.yaml:6:31: alert: above (5) must be higher than below (10)"},
		{"    alert: {silence: 5m, for: 1m}\n", "test.yaml:6:31: alert.for applies to below and above"},
		{"    alert: {below: 1, for: -1m}\n", "alert.for must not be negative"},
		{"    alert: {silence: 5m, severity: page}\n", "test.yaml:6:36: alert.severity \"page\" is unknown (known: critical, error, warning)"},
		{"    alert: {silence: 5m, silence: 6m}\n", "key silence is given twice"},
	}
	for _, c := range cases {
		list := errorList(t, head+c.yaml)
		if !strings.Contains(list.Error(), c.want) {
			t.Errorf("%s: got\n%v\nwant an error containing %q", strings.TrimSpace(c.yaml), list, c.want)
		}
	}
}

func TestLivenessTypeChecks(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"metrics:\n  - {name: m, type: mean, field: v, absent: {learn: 1h}}\n", "test.yaml:2:45: metric \"m\": absent applies to count, sum, distinct and distribution"},
		{"metrics:\n  - {name: m, type: distribution, field: v, buckets: [1], alert: {above: 3}}\n", "alert below/above needs a single value"},
		{"metrics:\n  - {name: m, type: count, kind: cumulative, alert: {below: 3}}\n", "use kind gauge"},
	}
	for _, c := range cases {
		list := errorList(t, c.yaml)
		if !strings.Contains(list.Error(), c.want) {
			t.Errorf("got\n%v\nwant an error containing %q", list, c.want)
		}
	}
	// Silence on a cumulative count and a distribution is fine.
	mustParse(t, "metrics:\n  - {name: m, type: distribution, field: v, buckets: [1], kind: cumulative, alert: {silence: 5m}, absent: {learn: 1h}}\n")
}
