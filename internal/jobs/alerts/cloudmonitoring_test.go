package alerts

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCloudMonitoringPolicies(t *testing.T) {
	policies, err := CloudMonitoringPolicies(loadExample(t), "custom.googleapis.com/")
	if err != nil {
		t.Fatal(err)
	}
	if len(policies) != 2 {
		t.Fatalf("%d policies, want 2", len(policies))
	}
	p := policies[0]
	if p.DisplayName != "beametrics pipeline-liveness" || p.Severity != "CRITICAL" || p.Combiner != "OR" || !p.Enabled {
		t.Errorf("policy %+v", p)
	}
	var got []string
	for _, c := range p.Conditions {
		switch {
		case c.Absent != nil:
			got = append(got, "absent "+c.Absent.Filter+" "+c.Absent.Duration+" "+c.Absent.Aggregations[0].AlignmentPeriod)
		case c.Threshold != nil:
			th := c.Threshold
			got = append(got, "threshold "+th.Filter+" "+th.Aggregations[0].PerSeriesAligner+" "+th.Comparison+" "+
				formatFloat(th.ThresholdValue)+" "+th.Duration)
		}
	}
	want := []string{
		`absent metric.type = "custom.googleapis.com/pipeline-liveness" 300s 60s`,
		`absent metric.type = "custom.googleapis.com/pipeline-liveness" AND metric.label.pipeline_env = "blue" AND metric.label.pipeline_id = "0" 300s 60s`,
		`absent metric.type = "custom.googleapis.com/pipeline-liveness" AND metric.label.pipeline_env = "blue" AND metric.label.pipeline_id = "1" 300s 60s`,
		`absent metric.type = "custom.googleapis.com/pipeline-liveness" AND metric.label.pipeline_env = "green" AND metric.label.pipeline_id = "0" 300s 60s`,
		`threshold metric.type = "custom.googleapis.com/pipeline-liveness" ALIGN_MAX COMPARISON_LT 0.5 300s`,
		`threshold metric.type = "custom.googleapis.com/pipeline-liveness" ALIGN_MAX COMPARISON_LT 3 600s`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("conditions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The JSON uses the API's field names.
	b, err := PolicyJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	conds := generic["conditions"].([]any)
	first := conds[0].(map[string]any)
	if _, ok := first["conditionAbsent"]; !ok || generic["displayName"] == nil || generic["documentation"].(map[string]any)["mimeType"] != "text/markdown" {
		t.Errorf("JSON fields:\n%s", b)
	}
}

func TestMainWritesFiles(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{example, "--format", "cloud-monitoring", "--out", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, name := range []string{"pipeline-liveness.json", "pipeline-liveness-any.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	stdout.Reset()
	if code := Main([]string{"--format=prometheus", example}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "alert: pipeline_liveness_silent") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout.String())
	}
	for _, args := range [][]string{
		{example},                                 // no format
		{example, "--format", "nagios"},           // unknown format
		{"--format", "prometheus"},                // no config
		{example, "--format", "cloud-monitoring"}, // two policies to stdout
		{"missing.yaml", "--format", "prometheus"},
	} {
		stderr.Reset()
		if code := Main(args, &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, stderr.String())
		}
	}
}
