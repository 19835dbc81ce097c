package config_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/eventtime"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/testing/exampleconfigs"
	"github.com/beametrics/beametrics/internal/testing/golden"
)

func mustParse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return cfg
}

func errorList(t *testing.T, text string) config.ErrorList {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text))
	if err == nil {
		t.Fatalf("Parse accepted:\n%s\nmetrics: %+v", text, cfg.Metrics)
	}
	var list config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, not an ErrorList: %v", err, err)
	}
	return list
}

// TestGoldenErrors: a file with many errors reports all of them at once,
// in file order, each as FILE:LINE:COL: message.
func TestGoldenErrors(t *testing.T) {
	for _, name := range []string{"many_errors", "syntax_error", "not_a_mapping"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".yaml")
			_, err := config.Load(path)
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			got := err.Error() + "\n"
			golden.Check(t, filepath.Join("testdata", name+".golden"), []byte(got))
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, path+":") {
					t.Errorf("line %q does not start with the file name", line)
				}
			}
		})
	}
}

// TestManyErrorsAllReported checks the golden file's content independently
// of its text: one error per planted mistake, positions in file order.
func TestManyErrorsAllReported(t *testing.T) {
	_, err := config.Load("testdata/many_errors.yaml")
	var list config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Load: %v", err)
	}
	if len(list) != 16 {
		t.Errorf("%d errors, want 16 (one per mistake in the file):\n%v", len(list), err)
	}
	for i := 1; i < len(list); i++ {
		a, b := list[i-1], list[i]
		if a.Line > b.Line || (a.Line == b.Line && a.Column > b.Column) {
			t.Errorf("errors out of order: %v before %v", a, b)
		}
	}
	for _, e := range list {
		if e.File != "testdata/many_errors.yaml" || e.Line == 0 || e.Column == 0 {
			t.Errorf("error without a full position: %#v", e)
		}
	}
}

// TestErrors pins the position and message of each kind of mistake.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []string // "LINE:COL: part of the message", in order
	}{
		{"yaml syntax: tab", "metrics:\n\t- name: a\n", []string{"2:1: found character that cannot start any token"}},
		{"yaml syntax: unclosed", "metrics: [\n", []string{"1:1: did not find expected node content"}},
		{"unknown top-level key", "metric:\n  - {name: a, type: count}\n", []string{
			`1:1: config: unknown key "metric"`, "1:1: missing key metrics"}},
		{"unknown metric key", "metrics:\n  - name: a\n    type: count\n    lables: {a: b}\n", []string{
			`4:5: metric: unknown key "lables"`}},
		{"unknown condition key", "metrics:\n  - name: a\n    type: count\n    filter-conditions:\n      - {field: a, op: equals, value: 1}\n", []string{
			`5:9: filter condition on "a" without an operator`, `5:20: filter condition: unknown key "op"`}},
		{"unknown type", "metrics:\n  - {name: a, type: median, field: x}\n", []string{
			`2:21: unknown metric type "median" (known: count, distinct, distribution, latest, max, mean, min, sum)`}},
		{"unknown operator", "metrics:\n  - name: a\n    type: count\n    filter-conditions:\n      - {field: a, operator: eq, value: 1}\n", []string{
			`5:30: filter condition on "a": unknown operator "eq"`}},
		{"sum without field", "metrics:\n  - {name: a, type: sum}\n", []string{
			`2:21: metric "a": type sum needs a field`}},
		{"min without field", "metrics:\n  - {name: a, type: min}\n", []string{"type min needs a field"}},
		{"distinct without field", "metrics:\n  - {name: a, type: distinct}\n", []string{"type distinct needs a field"}},
		{"bad regex", "metrics:\n  - name: a\n    type: count\n    filter-conditions:\n      - {field: a, operator: regex, value: '[a-'}\n", []string{
			// at the value (column 44), not at the operator (30)
			`5:44: filter condition on "a": bad regex`}},
		{"bad expression", "metrics:\n  - name: a\n    type: count\n    filter: 'status >= 500 &&'\n", []string{
			"4:13: bad filter expression"}},
		{"expression not bool", "metrics:\n  - name: a\n    type: count\n    filter: '1 + 2'\n", []string{
			"4:13: bad filter expression"}},
		{"duplicate metric name", "metrics:\n  - {name: a, type: count}\n  - {name: b, type: count}\n  - {name: a, type: count}\n", []string{
			`4:5: metric "a" is declared twice (first at line 2)`}},
		{"bad window", "window: 10x\nmetrics:\n  - {name: a, type: count}\n", []string{
			`1:9: window: "10x" is neither seconds nor a duration`}},
		{"window too short", "window: 0\nmetrics:\n  - {name: a, type: count}\n", []string{"1:9: window 0s is too short"}},
		{"window negative", "metrics:\n  - {name: a, type: count, window: -5s}\n", []string{"2:36: window -5s is too short"}},
		{"window too long", "metrics:\n  - {name: a, type: count, window: 25h}\n", []string{"window 25h0m0s is too long"}},
		{"window fraction of a millisecond", "window: 1.0005s\nmetrics:\n  - {name: a, type: count}\n", []string{
			"1:9: window 1.0005s must be a whole number of milliseconds"}},
		{"window not a scalar", "window: [1]\nmetrics:\n  - {name: a, type: count}\n", []string{"1:9: window must be a number"}},
		{"distribution without buckets", "metrics:\n  - {name: a, type: distribution, field: x}\n", []string{
			`2:21: metric "a": a distribution needs buckets`}},
		{"buckets not increasing", "metrics:\n  - {name: a, type: distribution, field: x, buckets: [1, 3, 2]}\n", []string{
			"2:61: bucket bounds must increase: 2 after 3"}},
		{"buckets equal", "metrics:\n  - {name: a, type: distribution, field: x, buckets: [1, 1]}\n", []string{
			"bucket bounds must increase: 1 after 1"}},
		{"buckets empty", "metrics:\n  - {name: a, type: distribution, field: x, buckets: []}\n", []string{
			"buckets must have 1 to 200 bounds, not 0"}},
		{"buckets not numbers", "metrics:\n  - {name: a, type: distribution, field: x, buckets: [a, b]}\n", []string{
			"buckets must be a list of numbers"}},
		{"buckets infinite", "metrics:\n  - {name: a, type: distribution, field: x, buckets: [1, .inf]}\n", []string{
			"bucket bound +Inf is not a finite number"}},
		{"buckets and exponential", "metrics:\n  - {name: a, type: distribution, field: x, buckets: [1], exponential_buckets: {start: 1, factor: 2, count: 3}}\n", []string{
			"give buckets or exponential_buckets, not both"}},
		{"buckets on a sum", "metrics:\n  - {name: a, type: sum, field: x, buckets: [1]}\n", []string{
			"buckets apply to type distribution only, not sum"}},
		{"exponential factor", "metrics:\n  - {name: a, type: distribution, field: x, exponential_buckets: {start: 1, factor: 1, count: 3}}\n", []string{
			"factor must be above 1"}},
		{"exponential start", "metrics:\n  - {name: a, type: distribution, field: x, exponential_buckets: {start: 0, factor: 2, count: 3}}\n", []string{
			"start must be above 0"}},
		{"exponential count", "metrics:\n  - {name: a, type: distribution, field: x, exponential_buckets: {start: 1, factor: 2, count: 0}}\n", []string{
			"count must be 1 to 200"}},
		{"exponential missing key", "metrics:\n  - {name: a, type: distribution, field: x, exponential_buckets: {start: 1, factor: 2}}\n", []string{
			"needs start, factor and count"}},
		{"exponential unknown key", "metrics:\n  - {name: a, type: distribution, field: x, exponential_buckets: {start: 1, factor: 2, count: 2, base: 3}}\n", []string{
			`exponential_buckets: unknown key "base"`}},
		{"exponential overflow", "metrics:\n  - {name: a, type: distribution, field: x, exponential_buckets: {start: 1e300, factor: 10, count: 200}}\n", []string{
			"the last bound overflows"}},
		{"static and dynamic label", "metrics:\n  - name: a\n    type: count\n    labels: {env: prod}\n    dynamic_labels: {env: environment}\n", []string{
			`2:5: metric "a": label "env" is both static and dynamic`}},
		{"bad label name", "metrics:\n  - {name: a, type: count, labels: {'1x': y}}\n", []string{`label name "1x"`}},
		{"label value not a string", "metrics:\n  - {name: a, type: count, labels: {x: [1]}}\n", []string{`the value of "x" must be a string`}},
		{"bad dynamic label path", "metrics:\n  - {name: a, type: count, dynamic_labels: {x: 'a..b'}}\n", []string{"empty element"}},
		{"bad field path", "metrics:\n  - {name: a, type: sum, field: 'a.'}\n", []string{"field: field path"}},
		{"bad metric name", "metrics:\n  - {name: 'my metric', type: count}\n", []string{`metric name "my metric"`}},
		{"metric without name", "metrics:\n  - {type: count}\n", []string{"2:5: metric without a name"}},
		{"metrics not a list", "metrics: {name: a}\n", []string{"1:10: metrics must be a list"}},
		{"metrics empty", "metrics: []\n", []string{"metrics is empty"}},
		{"metric not a mapping", "metrics:\n  - just a string\n", []string{"2:5: metric must be a mapping"}},
		{"both condition spellings", "metrics:\n  - name: a\n    type: count\n    filter-conditions:\n      - {field: a, operator: exists}\n    filter_conditions:\n      - {field: b, operator: exists}\n", []string{
			"6:5: metric: give filter-conditions or filter_conditions, not both"}},
		{"duplicate key", "metrics:\n  - name: a\n    type: count\n    type: sum\n", []string{
			"key type is given twice (first at line 3)"}},
		{"max_series zero", "metrics:\n  - {name: a, type: count, max_series: 0}\n", []string{"max_series must be a whole number of at least 1"}},
		{"max_series text", "metrics:\n  - {name: a, type: count, max_series: lots}\n", []string{"max_series must be a whole number"}},
		{"unknown export type", "metrics:\n  - {name: a, type: count, export_type: stdout}\n", []string{`unknown export_type "stdout"`}},
		{"unknown kind", "metrics:\n  - {name: a, type: count, kind: delta}\n", []string{`kind must be gauge or cumulative`}},
		{"cumulative mean", "metrics:\n  - {name: a, type: mean, field: x, kind: cumulative}\n", []string{"kind cumulative applies to count, sum and distribution"}},
		{"condition without field", "metrics:\n  - name: a\n    type: count\n    filter-conditions:\n      - {operator: exists}\n", []string{
			"5:9: filter condition without a field"}},
		{"condition value for exists", "metrics:\n  - name: a\n    type: count\n    filter-conditions:\n      - {field: a, operator: exists, value: 1}\n", []string{
			"takes no value"}},
		{"in without a list", "metrics:\n  - name: a\n    type: count\n    filter-conditions:\n      - {field: a, operator: in, value: x}\n", []string{
			"needs a list value"}},
		{"ordered operator with a string", "metrics:\n  - name: a\n    type: count\n    filter-conditions:\n      - {field: a, operator: greater_than, value: '5'}\n", []string{
			"needs a number value"}},
		{"conditions not a list", "metrics:\n  - {name: a, type: count, filter-conditions: {field: a}}\n", []string{"filter-conditions must be a list"}},
		{"unknown event_time_format", "event_time_format: iso\nmetrics:\n  - {name: a, type: count}\n", []string{
			`1:20: unknown event time format "iso"`}},
		{"bad event_time_field", "event_time_field: 'a..b'\nmetrics:\n  - {name: a, type: count}\n", []string{"1:19: event_time_field"}},
		{"negative lateness", "allowed_lateness: -1s\nmetrics:\n  - {name: a, type: count}\n", []string{"allowed_lateness must not be negative"}},
		{"scalar config", "just text\n", []string{"1:1: the config must be a mapping"}},
		{"no metrics key", "window: 60s\n", []string{"1:1: missing key metrics"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := errorList(t, tc.text)
			if len(list) != len(tc.want) {
				t.Errorf("%d errors, want %d:\n%v", len(list), len(tc.want), list)
			}
			for i, want := range tc.want {
				if i >= len(list) {
					break
				}
				got := list[i].Error()
				if list[i].File != "test.yaml" || !strings.HasPrefix(got, "test.yaml:") {
					t.Errorf("error %q does not name the file", got)
				}
				pos, msg, hasPos := strings.Cut(want, ": ")
				if hasPos && strings.Count(pos, ":") == 1 && !strings.ContainsAny(pos, " \"") {
					if !strings.HasPrefix(got, "test.yaml:"+pos+": ") {
						t.Errorf("error %q is not at %s", got, pos)
					}
					want = msg
				}
				if !strings.Contains(got, want) {
					t.Errorf("error %q does not say %q", got, want)
				}
			}
		})
	}
}

func TestEmptyConfig(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n"} {
		list := errorList(t, text)
		if len(list) != 1 || !strings.Contains(list[0].Msg, "empty") || list[0].File != "test.yaml" {
			t.Errorf("Parse(%q) = %v", text, list)
		}
	}
}

// TestTypeNames: type names are case-insensitive; each maps to its type.
func TestTypeNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field bool
		want  aggregate.Type
	}{
		{"count", false, aggregate.Count}, {"COUNT", false, aggregate.Count}, {"Count", false, aggregate.Count},
		{"sum", true, aggregate.Sum}, {"SUM", true, aggregate.Sum}, {"min", true, aggregate.Min},
		{"max", true, aggregate.Max}, {"Mean", true, aggregate.Mean}, {"distinct", true, aggregate.Distinct},
		{"LATEST", true, aggregate.Latest},
	} {
		text := "metrics:\n  - {name: a, type: " + tc.name
		if tc.field {
			text += ", field: x"
		}
		cfg := mustParse(t, text+"}\n")
		if got := cfg.Metrics[0].Type; got != tc.want {
			t.Errorf("type %s = %v, want %v", tc.name, got, tc.want)
		}
	}
	cfg := mustParse(t, "metrics:\n  - {name: a, type: Distribution, field: x, buckets: [1]}\n")
	if cfg.Metrics[0].Type != aggregate.Distribution {
		t.Errorf("Distribution = %v", cfg.Metrics[0].Type)
	}
}

func TestDefaultsAndOverrides(t *testing.T) {
	cfg := mustParse(t, `
metrics:
  - {name: a, type: count}
  - {name: b, type: count, window: 5m}
  - {name: c, type: count, window: 90}
  - {name: d, type: count, window: 1.5}
`)
	if cfg.Window != 60*time.Second {
		t.Errorf("default window %v, want 60s", cfg.Window)
	}
	wantWindows := []time.Duration{60 * time.Second, 5 * time.Minute, 90 * time.Second, 1500 * time.Millisecond}
	for i, w := range wantWindows {
		if cfg.Metrics[i].Window != w {
			t.Errorf("metric %s window %v, want %v", cfg.Metrics[i].Name, cfg.Metrics[i].Window, w)
		}
	}
	m := cfg.Metrics[0]
	if m.MaxSeries != config.DefaultMaxSeries || m.ExportType != "google-cloud-monitoring" || m.Kind != metricdata.Gauge {
		t.Errorf("defaults: max_series %d, export_type %q, kind %q", m.MaxSeries, m.ExportType, m.Kind)
	}
	if cfg.EventTimeField != "" || cfg.EventTimeFormat != eventtime.Auto {
		t.Errorf("event time defaults: %q %q", cfg.EventTimeField, cfg.EventTimeFormat)
	}

	cfg = mustParse(t, `
window: 10s
event_time_field: meta.time
event_time_format: UNIX_MILLIS
allowed_lateness: 30s
metrics:
  - {name: a, type: count}
  - {name: b, type: count, window: 1m, max_series: 5, export_type: LOCAL, kind: cumulative, description: d, unit: ms}
`)
	if cfg.Window != 10*time.Second || cfg.Metrics[0].Window != 10*time.Second || cfg.Metrics[1].Window != time.Minute {
		t.Errorf("windows: top %v, a %v, b %v", cfg.Window, cfg.Metrics[0].Window, cfg.Metrics[1].Window)
	}
	if cfg.EventTimeField != "meta.time" || cfg.EventTimeFormat != eventtime.UnixMillis || cfg.AllowedLateness != 30*time.Second {
		t.Errorf("top level: %q %q %v", cfg.EventTimeField, cfg.EventTimeFormat, cfg.AllowedLateness)
	}
	b := cfg.Metrics[1]
	if b.MaxSeries != 5 || b.ExportType != "local" || b.Kind != metricdata.Cumulative || b.Description != "d" || b.Unit != "ms" {
		t.Errorf("metric b: %+v", b)
	}
}

// The window key is read before the metrics whatever its place in the file.
func TestWindowAfterMetrics(t *testing.T) {
	cfg := mustParse(t, "metrics:\n  - {name: a, type: count}\nwindow: 10s\n")
	if cfg.Metrics[0].Window != 10*time.Second {
		t.Errorf("window given after the metrics: metric window %v, want 10s", cfg.Metrics[0].Window)
	}
}

func TestBuckets(t *testing.T) {
	cfg := mustParse(t, `
metrics:
  - {name: a, type: distribution, field: x, buckets: [0.5, 1, 2.5, 10]}
  - {name: b, type: distribution, field: x, exponential_buckets: {start: 1, factor: 2, count: 5}}
  - {name: c, type: distribution, field: x, exponential_buckets: {start: 0.1, factor: 10, count: 3}}
`)
	for i, want := range [][]float64{{0.5, 1, 2.5, 10}, {1, 2, 4, 8, 16}, {0.1, 1, 10}} {
		got := cfg.Metrics[i].Buckets
		if len(got) != len(want) {
			t.Errorf("metric %d buckets %v, want %v", i, got, want)
			continue
		}
		for j := range want {
			if d := got[j] - want[j]; d > 1e-12 || d < -1e-12 {
				t.Errorf("metric %d buckets %v, want %v", i, got, want)
				break
			}
		}
	}
}

func TestConditionsAndLabels(t *testing.T) {
	cfg := mustParse(t, `
metrics:
  - name: a
    type: count
    labels: {LABEL: HOGE1}
    dynamic_labels: {status: http.status, env: attributes.env}
    filter-conditions:
      - {field: http.status, operator: GREATER_OR_EQUAL, value: 500}
      - {field: user, operator: in, value: [a, 1, true, null]}
      - {field: trace, operator: exists}
    filter: service != "healthz"
  - name: b
    type: count
    filter_conditions:
      - {field: user, operator: equals, value: 500.5}
`)
	a := cfg.Metrics[0]
	if !reflect.DeepEqual(a.Labels, map[string]string{"LABEL": "HOGE1"}) ||
		!reflect.DeepEqual(a.DynamicLabels, map[string]string{"status": "http.status", "env": "attributes.env"}) {
		t.Errorf("labels %v, dynamic %v", a.Labels, a.DynamicLabels)
	}
	if got := a.LabelNames(); !reflect.DeepEqual(got, []string{"LABEL", "env", "status"}) {
		t.Errorf("LabelNames = %v", got)
	}
	if len(a.Conditions) != 3 {
		t.Fatalf("conditions: %+v", a.Conditions)
	}
	c0, c1, c2 := a.Conditions[0], a.Conditions[1], a.Conditions[2]
	if c0.Field != "http.status" || c0.Operator != "greater_or_equal" || c0.Value != 500 || !c0.HasValue || c0.Line != 8 {
		t.Errorf("condition 1: %+v", c0)
	}
	if !reflect.DeepEqual(c1.Value, []any{"a", 1, true, nil}) {
		t.Errorf("condition 2 value %#v", c1.Value)
	}
	if c2.HasValue || c2.Operator != "exists" {
		t.Errorf("condition 3: %+v", c2)
	}
	if a.Filter != `service != "healthz"` {
		t.Errorf("filter %q", a.Filter)
	}
	if b := cfg.Metrics[1]; len(b.Conditions) != 1 || b.Conditions[0].Value != 500.5 {
		t.Errorf("filter_conditions alias: %+v", b.Conditions)
	}
}

func TestWarnings(t *testing.T) {
	cfg := mustParse(t, "metrics:\n  - {name: a}\n  - {name: b, type: count, field: bytes}\n")
	if cfg.Metrics[0].Type != aggregate.Count {
		t.Errorf("a metric without a type counts, got %v", cfg.Metrics[0].Type)
	}
	if len(cfg.Warnings) != 2 {
		t.Fatalf("warnings: %v", cfg.Warnings)
	}
	if !strings.Contains(cfg.Warnings[0].Error(), "test.yaml:2:5: ") || !strings.Contains(cfg.Warnings[0].Msg, "no type") {
		t.Errorf("warning 1: %v", cfg.Warnings[0])
	}
	if !strings.Contains(cfg.Warnings[1].Error(), "test.yaml:3:") || !strings.Contains(cfg.Warnings[1].Msg, "field is ignored") {
		t.Errorf("warning 2: %v", cfg.Warnings[1])
	}
}

// A bare list of metrics is the original tool's --metrics flag.
func TestBareList(t *testing.T) {
	cfg := mustParse(t, "- {name: a, type: count}\n- {name: b, type: sum, field: x}\n")
	if len(cfg.Metrics) != 2 || cfg.Metrics[1].Field != "x" {
		t.Errorf("metrics: %+v", cfg.Metrics)
	}
}

// TestOriginalConfig: the original tool's config loads unchanged, with the
// meaning it had there.
func TestOriginalConfig(t *testing.T) {
	cfg, err := config.Load("../../examples/original.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	if len(cfg.Metrics) != 2 {
		t.Fatalf("%d metrics", len(cfg.Metrics))
	}
	m1, m2 := cfg.Metrics[0], cfg.Metrics[1]
	if m1.Name != "beametrics-test-1" || m1.Type != aggregate.Count || m1.Labels["LABEL"] != "HOGE1" ||
		m1.DynamicLabels["label_key"] != "some_key" || m1.ExportType != "local" {
		t.Errorf("metric 1: %+v", m1)
	}
	if len(m1.Conditions) != 1 || m1.Conditions[0].Field != "user" || m1.Conditions[0].Operator != "equals" || m1.Conditions[0].Value != "dummy" {
		t.Errorf("metric 1 conditions: %+v", m1.Conditions)
	}
	if m2.Type != aggregate.Sum || m2.Field != "bytes" || len(m2.Labels) != 0 {
		t.Errorf("metric 2: %+v", m2)
	}
	if m1.Window != 60*time.Second {
		t.Errorf("window %v", m1.Window)
	}
}

// TestOriginalExportTypes: the original's export_type values and its
// google-cloud-monitoring default.
func TestOriginalExportTypes(t *testing.T) {
	cfg := mustParse(t, `
metrics:
  - name: beametrics-test-1
    labels: {LABEL: HOGE1}
    dynamic_labels: {label_key: some_key}
    filter-conditions:
      - {field: user, value: dummy, operator: equals}
    type: count
    export_type: google-cloud-monitoring
  - name: beametrics-test-2
    type: sum
    field: bytes
`)
	if cfg.Metrics[0].ExportType != "google-cloud-monitoring" || cfg.Metrics[1].ExportType != "google-cloud-monitoring" {
		t.Errorf("export types %q %q", cfg.Metrics[0].ExportType, cfg.Metrics[1].ExportType)
	}
}

func TestExamplesLoad(t *testing.T) {
	for _, f := range exampleconfigs.List(t) {
		if _, err := config.Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("testdata/does-not-exist.yaml")
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	cfg := mustParse(t, `
metrics:
  - name: errors
    type: count
    labels: {team: sre}
    dynamic_labels: {status: http.status}
    filter-conditions:
      - {field: http.status, operator: greater_or_equal, value: 500}
      - {field: user, operator: in, value: [a, null]}
      - {field: trace, operator: exists}
    filter: service != "healthz"
    max_series: 50
  - {name: all, type: count, window: 10s, export_type: local}
  - {name: lat, type: distribution, field: ms, buckets: [1, 10]}
  - {name: users, type: distinct, field: user}
  - {name: bytes, type: sum, field: http.bytes, kind: cumulative}
  - name: live
    type: count
    dynamic_labels: {id: pipeline-id, env: pipeline-env}
    absent: {expected: [{id: "0", env: blue}, {env: green, id: "1"}]}
    alert: {silence: 5m, below: 3, above: 9, for: 10m, severity: critical}
  - name: learned
    type: count
    dynamic_labels: {id: pipeline-id}
    absent: {learn: 24h}
    alert: {below: 1}
`)
	want := []string{
		`errors: count of events where http.status greater_or_equal 500 and user in ["a", null] and trace exists and (service != "healthz"), by status=http.status (at most 50 series), labels {team="sre"}, per 1m0s window, gauge, to google-cloud-monitoring`,
		`all: count of events (all events), per 10s window, gauge, to local`,
		`lat: distribution of ms over buckets [1 10], per 1m0s window, gauge, to google-cloud-monitoring`,
		`users: approximate distinct count of user, per 1m0s window, gauge, to google-cloud-monitoring`,
		`bytes: sum of http.bytes, per 1m0s window, cumulative, to google-cloud-monitoring`,
		`live: count of events (all events), by env=pipeline-env, id=pipeline-id (at most 10000 series), per 1m0s window, gauge, to google-cloud-monitoring; zero when silent: {env="blue", id="0"}, {env="green", id="1"}; alert (critical) when silent for 5m0s or below 3 for 10m0s or above 9 for 10m0s`,
		`learned: count of events (all events), by id=pipeline-id (at most 10000 series), per 1m0s window, gauge, to google-cloud-monitoring; zero when silent: every series seen in the last 24h0m0s; alert when below 1`,
	}
	for i, w := range want {
		if got := cfg.Metrics[i].Describe(); got != w {
			t.Errorf("Describe:\n got %s\nwant %s", got, w)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	e := config.Error{File: "f.yaml", Line: 3, Column: 7, Msg: "bad"}
	if e.Error() != "f.yaml:3:7: bad" {
		t.Errorf("%q", e.Error())
	}
	e = config.Error{File: "f.yaml", Msg: "empty"}
	if e.Error() != "f.yaml: empty" {
		t.Errorf("%q", e.Error())
	}
	l := config.ErrorList{{File: "a", Line: 1, Column: 1, Msg: "x"}, {File: "a", Line: 2, Column: 3, Msg: "y"}}
	if l.Error() != "a:1:1: x\na:2:3: y" {
		t.Errorf("%q", l.Error())
	}
}
