package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/pipeline"
)

const oneLine = `{"time":"2025-11-24T16:00:01Z","service":"checkout","http":{"status":500}}` + "\n"

const goodConfig = `event_time_field: time
metrics:
  - {name: requests, type: count, export_type: local}
`

// runOptions runs o through pipeline.Run and returns its error and stderr.
func runOptions(t *testing.T, o *pipeline.Options) (stderr string, err error) {
	t.Helper()
	var buf bytes.Buffer
	o.ProgressInterval = 0
	err = pipeline.Run(context.Background(), o, &buf)
	return buf.String(), err
}

// runOneLine runs o over a file holding oneLine, exporting to a new local
// file; it returns that file's path, stderr and Run's error.
func runOneLine(t *testing.T, o *pipeline.Options) (out, stderr string, err error) {
	t.Helper()
	o.Inputs = []string{writeFile(t, "in.jsonl", []byte(oneLine))}
	out = t.TempDir() + "/out.jsonl"
	o.Exporters.Local.Path = out
	stderr, err = runOptions(t, o)
	return out, stderr, err
}

// wantExit checks that err is an *ExitError with code and a message
// matching pattern, and that nothing was started: no runner line on
// stderr and no exporter output.
func wantExit(t *testing.T, err error, stderr string, code int, pattern string, out string) {
	t.Helper()
	var exit *pipeline.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("err = %v (%T), want *pipeline.ExitError", err, err)
	}
	if exit.Code != code {
		t.Errorf("exit code %d, want %d (%v)", exit.Code, code, err)
	}
	if !regexp.MustCompile(pattern).MatchString(err.Error()) {
		t.Errorf("error %q does not match %q", err, pattern)
	}
	if strings.Contains(stderr, "beametrics: runner") {
		t.Errorf("the pipeline was announced before the error:\n%s", stderr)
	}
	if out != "" {
		if _, err := os.Stat(out); err == nil {
			t.Errorf("exporter output %s exists: something ran", out)
		}
	}
}

func TestRunBadConfigIsUsageErrorWithPosition(t *testing.T) {
	cfg := writeFile(t, "bad.yaml", []byte("event_time_field: time\nmetrics:\n  - name: requests\n    type: cuont\n"))
	out, stderr, err := runOneLine(t, &pipeline.Options{Config: cfg})
	wantExit(t, err, stderr, 2, regexp.QuoteMeta(cfg)+`:4:11: .*unknown metric type "cuont"`, out)
}

// A bad config must be refused before anything starts, also when the run
// would start the embedded Pub/Sub server and generator.
func TestRunBadConfigStartsNoEmbeddedServer(t *testing.T) {
	cfg := writeFile(t, "bad.yaml", []byte("metrics:\n  - name: requests\n    type: cuont\n"))
	stderr, err := runOptions(t, &pipeline.Options{Config: cfg})
	wantExit(t, err, stderr, 2, regexp.QuoteMeta(cfg)+`:3:11:`, "")
	if strings.Contains(stderr, "in-process Pub/Sub") {
		t.Errorf("the embedded server started before the config was checked:\n%s", stderr)
	}
}

func TestRunInputWithoutEventTimeField(t *testing.T) {
	cfg := writeFile(t, "c.yaml", []byte("metrics:\n  - {name: requests, type: count, export_type: local}\n"))
	o := &pipeline.Options{Config: cfg}
	out, stderr, err := runOneLine(t, o)
	wantExit(t, err, stderr, 2, `--input needs an event time field`, out)

	// The flag supplies it.
	o = &pipeline.Options{Config: cfg, Inputs: o.Inputs, EventTimeField: "time"}
	o.Exporters.Local.Path = out
	if stderr, err := runOptions(t, o); err != nil {
		t.Fatalf("with --event-time-field: %v\n%s", err, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(got), `"value":1,"window_start":"2025-11-24T16:00:00Z"`) {
		t.Errorf("output %q (%v), want one count of 1 in the 16:00 window", got, err)
	}
}

func TestRunGlobMatchingNothing(t *testing.T) {
	cfg := writeFile(t, "c.yaml", []byte(goodConfig))
	out := t.TempDir() + "/out.jsonl"
	o := &pipeline.Options{Config: cfg, Inputs: []string{t.TempDir() + "/*.jsonl"}}
	o.Exporters.Local.Path = out
	stderr, err := runOptions(t, o)
	wantExit(t, err, stderr, 2, `\*\.jsonl: no such file`, out)
}

func TestRunSingleMetricNeedsFilter(t *testing.T) {
	o := &pipeline.Options{MetricName: "errors", MetricType: "count", EventTimeField: "time", ExportType: "local"}
	out, stderr, err := runOneLine(t, o)
	wantExit(t, err, stderr, 2, `--filter-conditions is required`, out)

	// With the filter the same flags run.
	o.FilterConditions = `[{"field":"http.status","operator":"equals","value":500}]`
	if stderr, err := runOptions(t, o); err != nil {
		t.Fatalf("with --filter-conditions: %v\n%s", err, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(got), `{"metric_name":"errors","labels":{},"value":1,`) {
		t.Errorf("output %q (%v), want errors = 1", got, err)
	}
}

func TestRunMetricsJSONThatDoesNotParse(t *testing.T) {
	// The original fell back to the single-metric flags here; the flags
	// would make a valid config, so a fallback would run.
	o := &pipeline.Options{Metrics: `[{"name":"requests","type":"count"`, EventTimeField: "time", ExportType: "local",
		MetricName: "errors", FilterConditions: `[{"field":"http.status","operator":"equals","value":500}]`}
	out, stderr, err := runOneLine(t, o)
	wantExit(t, err, stderr, 2, `--metrics is not a JSON array`, out)

	o.Metrics = `{"name":"requests","type":"count"}` // an object, not an array
	stderr, err = runOptions(t, o)
	wantExit(t, err, stderr, 2, `--metrics`, out)
}

// Prepare's usage errors keep their cause for errors.Is and errors.As: a
// missing --config file is fs.ErrNotExist, a --metrics that does not parse
// a *json.SyntaxError.
func TestPrepareErrorsKeepTheirCause(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	_, err := pipeline.Prepare(context.Background(), &pipeline.Options{Config: missing})
	var exit *pipeline.ExitError
	if !errors.As(err, &exit) || exit.Code != 2 || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing --config: %v (%T), want a usage error wrapping fs.ErrNotExist", err, err)
	}
	_, err = pipeline.Prepare(context.Background(), &pipeline.Options{Metrics: `[{"name"`})
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		t.Errorf("bad --metrics: %v (%T), want it to wrap a *json.SyntaxError", err, err)
	}
}
