package alerts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/config"
)

const example = "../../../examples/liveness.yaml"

func loadExample(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus: apt-get install prometheus); skipping the rule checks")
	}
	return p
}

func writeRules(t *testing.T, dir string) map[string]PromRule {
	t.Helper()
	rules, err := PrometheusRules(loadExample(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := PrometheusFile("beametrics-liveness", rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	byName := map[string]PromRule{}
	for _, r := range rules {
		byName[r.Alert] = r
	}
	return byName
}

func TestPromtoolCheckRules(t *testing.T) {
	pt := promtool(t)
	dir := t.TempDir()
	rules := writeRules(t, dir)
	if len(rules) != 3 {
		t.Errorf("rules %v, want silent and below for pipeline-liveness, silent for pipeline-liveness-any", rules)
	}
	out, err := exec.Command(pt, "check", "rules", filepath.Join(dir, "rules.yaml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 3 rules found") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// TestPromtoolRulesFire evaluates the generated rules with Prometheus's own
// rule engine: one route stops at minute 10 (its series then carries the
// zeros of absent:), another expected route never reports.
func TestPromtoolRulesFire(t *testing.T) {
	pt := promtool(t)
	dir := t.TempDir()
	rules := writeRules(t, dir)
	silent, below := rules["pipeline_liveness_silent"], rules["pipeline_liveness_below"]
	ann := func(r PromRule, value string) string {
		return fmt.Sprintf("{summary: %q, description: %q}", r.Annotations["summary"],
			strings.ReplaceAll(r.Annotations["description"], "{{ $value }}", value))
	}
	test := fmt.Sprintf(`rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - {series: 'pipeline_liveness{pipeline_id="0",pipeline_env="blue"}', values: '6x30'}
      - {series: 'pipeline_liveness{pipeline_id="1",pipeline_env="blue"}', values: '6x10 0x20'}
      - {series: 'pipeline_liveness{pipeline_id="0",pipeline_env="green"}', values: '6x30'}
      - {series: 'pipeline_liveness_any{pipeline_id="0",pipeline_env="blue"}', values: '6x30'}
    alert_rule_test:
      - {eval_time: 10m, alertname: pipeline_liveness_silent, exp_alerts: []}
      # The zeros start at minute 11: the 5 minute range holds only zeros at 16.
      - {eval_time: 15m, alertname: pipeline_liveness_silent, exp_alerts: []}
      - eval_time: 16m
        alertname: pipeline_liveness_silent
        exp_alerts:
          - exp_labels: {pipeline_id: "1", pipeline_env: blue, severity: critical, beametrics_metric: pipeline-liveness}
            exp_annotations: %[1]s
      - {eval_time: 20m, alertname: pipeline_liveness_below, exp_alerts: []}
      - eval_time: 21m
        alertname: pipeline_liveness_below
        exp_alerts:
          - exp_labels: {pipeline_id: "1", pipeline_env: blue, severity: critical, beametrics_metric: pipeline-liveness}
            exp_annotations: %[2]s
      - {eval_time: 30m, alertname: pipeline_liveness_any_silent, exp_alerts: []}
  - interval: 1m
    input_series:
      - {series: 'pipeline_liveness{pipeline_id="0",pipeline_env="blue"}', values: '6x10'}
      - {series: 'pipeline_liveness{pipeline_id="1",pipeline_env="blue"}', values: '6x10'}
    alert_rule_test:
      # The green route never reported: absent_over_time names it.
      - eval_time: 5m
        alertname: pipeline_liveness_silent
        exp_alerts:
          - exp_labels: {pipeline_id: "0", pipeline_env: green, severity: critical, beametrics_metric: pipeline-liveness}
            exp_annotations: %[1]s
`, ann(silent, ""), ann(below, "0"))
	if err := os.WriteFile(filepath.Join(dir, "test.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pt, "test", "rules", "test.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

func TestPrometheusExpressions(t *testing.T) {
	cfg, err := config.Parse("x.yaml", []byte(`
metrics:
  - {name: bytes.out, type: sum, field: b, kind: cumulative, alert: {silence: 90m}}
  - {name: lat, type: distribution, field: l, buckets: [1], dynamic_labels: {route-id: r}, absent: {expected: [{route-id: "a"}]}, alert: {silence: 2m}}
  - {name: q, type: mean, field: v, alert: {above: 2.5, for: 90s}}
  - {name: quiet, type: count}
`))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := PrometheusRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.Alert+" for="+r.For+": "+strings.ReplaceAll(r.Expr, "\n", " "))
	}
	want := []string{
		`bytes_out_total_silent for=: absent_over_time(bytes_out_total[1h30m])`,
		`lat_silent for=: max_over_time(lat_count[2m]) == 0 or absent_over_time(lat_count{route_id="a"}[2m]) or absent_over_time(lat_count[2m])`,
		`q_above for=1m30s: q > 2.5`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoAlerts(t *testing.T) {
	cfg, err := config.Parse("x.yaml", []byte("metrics:\n  - {name: a, type: count}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PrometheusRules(cfg); err == nil || !strings.Contains(err.Error(), "no metric has an alert: setting") {
		t.Errorf("err = %v", err)
	}
}
