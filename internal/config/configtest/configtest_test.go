package configtest_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/config/configtest"
	"github.com/beametrics/beametrics/internal/testing/exampleconfigs"
	"github.com/beametrics/beametrics/internal/testing/golden"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

func load(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestExamples runs the shipped example tests: every example config has
// one, and they pass.
func TestExamples(t *testing.T) {
	for _, c := range exampleconfigs.List(t) {
		testFile := strings.TrimSuffix(c, ".yaml") + "_test.yaml"
		t.Run(filepath.Base(c), func(t *testing.T) {
			if _, err := os.Stat(testFile); err != nil {
				t.Fatalf("example %s has no test file %s", c, testFile)
			}
			var out bytes.Buffer
			failed, err := configtest.Run(load(t, c), testFile, &out)
			if err != nil || failed != 0 {
				t.Errorf("failed %d, err %v:\n%s", failed, err, out.String())
			}
			if !strings.Contains(out.String(), " passed, 0 failed\n") {
				t.Errorf("no summary line:\n%s", out.String())
			}
		})
	}
}

func TestPassing(t *testing.T) {
	var out bytes.Buffer
	failed, err := configtest.Run(load(t, "testdata/config.yaml"), "testdata/passing_test.yaml", &out)
	if err != nil || failed != 0 {
		t.Fatalf("failed %d, err %v:\n%s", failed, err, out.String())
	}
	want := "ok   everything as expected\nok   messages with attributes and publish time\n2 passed, 0 failed\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestFailingReport: every kind of mismatch is reported, case by case, with
// the line of the expectation and got/want values; compared to a golden
// file.
func TestFailingReport(t *testing.T) {
	var out bytes.Buffer
	failed, err := configtest.Run(load(t, "testdata/config.yaml"), "testdata/failing_test.yaml", &out)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 3 {
		t.Errorf("%d cases failed, want 3", failed)
	}
	golden.Check(t, "testdata/failing_test.golden", out.Bytes())
	textcheck.Contains(t, "report", out.String(),
		"ok   a passing case among failing ones",
		"FAIL wrong values",
		`requests{status="200"} (line 12): got 1, want 2`,
		`missing series requests{status="503"} (line 13)`,
		"bytes{} (line 14): got 30, want 31",
		"count got 2, want 3",
		"buckets got [1 0 1], want [1 0 0]",
		`unexpected series requests{status="404"}`,
		"is in 2 windows: give window_start",
		"dead letters not_an_object: got 1, want 0",
		"dropped values bytes: got 3, want 2",
		"want a number, not many",
		"window_start: parsing time",
		"1 passed, 3 failed",
	)
}

func TestFileErrors(t *testing.T) {
	cfg := load(t, "testdata/config.yaml")
	for _, tc := range []struct{ file, msg string }{
		{"testdata/does_not_exist.yaml", "no such file"},
		// Positioned, in the file's words, with the likely key.
		{"testdata/unknown_key_test.yaml", `testdata/unknown_key_test.yaml:5:5: a test case: unknown key "expects" (known: dead_letters, dropped_values, events, expect, filter_errors, messages, name); did you mean expect?`},
		{"testdata/bad_shape_test.yaml", `testdata/bad_shape_test.yaml:4:28: an expectation: unknown key "valeu" (known: labels, metric, value, window_start); did you mean value?`},
		{"testdata/bad_shape_test.yaml", `testdata/bad_shape_test.yaml:5:21: dropped_values must be a mapping of name to count`},
		{"testdata/bad_type_test.yaml", `testdata/bad_type_test.yaml: line 4: cannot unmarshal !!str ` + "`many`" + ` into a whole number`},
		{"testdata/empty_test.yaml", "no tests"},
	} {
		var out bytes.Buffer
		_, err := configtest.Run(cfg, tc.file, &out)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want an error saying %q", tc.file, err, tc.msg)
		}
	}
	// A bad publish time fails its case, not the run.
	var out bytes.Buffer
	failed, err := configtest.Run(cfg, "testdata/bad_publish_time_test.yaml", &out)
	if err != nil || failed != 1 || !strings.Contains(out.String(), "message 1: publish_time") {
		t.Errorf("failed %d, err %v:\n%s", failed, err, out.String())
	}
}

// A name in a test that is no metric of the config says so, rather than
// reporting a missing series of a metric that cannot exist.
func TestUnknownMetric(t *testing.T) {
	var out bytes.Buffer
	failed, err := configtest.Run(load(t, "testdata/config.yaml"), "testdata/unknown_metric_test.yaml", &out)
	if err != nil || failed != 1 {
		t.Fatalf("failed %d, err %v:\n%s", failed, err, out.String())
	}
	want := `FAIL names that are not metrics
     expectation (line 6): no metric named "nosuch-metric" in the config (metrics: bytes, latency, requests, users)
     dropped_values: no metric named "byts" in the config (metrics: bytes, latency, requests, users)
0 passed, 1 failed
`
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
}

// Filter errors fail a case unless it expects them, and the report gives
// their reason.
func TestFilterErrors(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(`
window: 10s
metrics:
  - {name: slow, type: count, filter: 'status >= 500'}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// One event with a string status (a type error), one without status
	// (no match, no error), one that matches.
	events := `    events:
      - {status: "500"}
      - {other: 1}
      - {status: 503}
    expect:
      - {metric: slow, value: 1}
`
	var out bytes.Buffer
	failed, err := configtest.Run(cfg, write("a_test.yaml", "tests:\n  - name: unexpected\n"+events), &out)
	if err != nil || failed != 1 {
		t.Fatalf("failed %d, err %v:\n%s", failed, err, out.String())
	}
	textcheck.Contains(t, "report", out.String(), "filter errors slow: got 1, want 0", "filter error of slow: >= needs two numbers or two strings")
	out.Reset()
	failed, err = configtest.Run(cfg, write("b_test.yaml", "tests:\n  - name: expected\n"+events+"    filter_errors: {slow: 1}\n"), &out)
	if err != nil || failed != 0 {
		t.Errorf("failed %d, err %v:\n%s", failed, err, out.String())
	}
}
