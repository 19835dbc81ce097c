package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCmd(run func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func validate(args []string, o, e *bytes.Buffer) int   { return runValidate(args, o, e) }
func configTest(args []string, o, e *bytes.Buffer) int { return runConfigTest(args, o, e) }

func TestValidateExample(t *testing.T) {
	code, out, errOut := runCmd(validate, "../../examples/quickstart.yaml")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Seven declared metrics; the freshness one is three series.
	if len(lines) != 10 || lines[0] != "event time: field time (auto)" {
		t.Errorf("want the event time and 9 metric lines, got:\n%s", out)
	}
	for _, want := range []string{
		`requests: count of events where user_agent not_equals "beametrics-dummy", by service=service, status=http.status (at most 10000 series), per 10s window, gauge, to local`,
		`server-errors: count of events where user_agent not_equals "beametrics-dummy" and (http.status >= 500 && service != "healthz"), per 10s window`,
		"api-latency: distribution of http.latency_ms over buckets [5 10 25 50 100 250 500] where http.path regex \"^/api/\"",
		"log-freshness/stale_events: count of events older than 1h0m0s when processed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}

	code, out, _ = runCmd(validate, "../../examples/original.yaml")
	if code != 0 || !strings.Contains(out, "the source's time (Pub/Sub publish time)") ||
		!strings.Contains(out, `beametrics-test-1: count of events where user equals "dummy", by label_key=some_key`) {
		t.Errorf("original.yaml: exit %d:\n%s", code, out)
	}
}

var positioned = regexp.MustCompile(`^(\S+?):(\d+):(\d+): \S`)

// TestValidateErrors: a bad config exits 2 and prints every error as
// FILE:LINE:COL: message, nothing on stdout.
func TestValidateErrors(t *testing.T) {
	path := "../../internal/config/testdata/many_errors.yaml"
	code, out, errOut := runCmd(validate, path)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if out != "" {
		t.Errorf("stdout for a bad config:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 16 {
		t.Errorf("%d error lines, want 16:\n%s", len(lines), errOut)
	}
	for _, l := range lines {
		m := positioned.FindStringSubmatch(l)
		if m == nil || m[1] != path {
			t.Errorf("not FILE:LINE:COL: message: %q", l)
		}
	}
	want, err := os.ReadFile("../../internal/config/testdata/many_errors.golden")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ReplaceAll(errOut, path, "testdata/many_errors.yaml") != string(want) {
		t.Errorf("stderr differs from config/testdata/many_errors.golden:\n%s", errOut)
	}
}

func TestValidateWarnings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("metrics:\n  - {name: a}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The metric goes to Cloud Monitoring by default, which needs a project,
	// as in the run.
	code, out, errOut := runCmd(validate, path, "--monitoring-project", "p")
	if code != 0 || !strings.HasPrefix(errOut, "warning: "+path+":2:5: ") || !strings.Contains(out, "a: count of events") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

func TestValidateUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"a.yaml", "b.yaml"}, {"-nosuchflag", "a.yaml"}} {
		code, _, errOut := runCmd(validate, args...)
		if code != 2 || !strings.Contains(errOut, "usage: beametrics validate CONFIG") {
			t.Errorf("validate %q: exit %d, stderr %q", args, code, errOut)
		}
	}
	code, _, errOut := runCmd(validate, "no/such/file.yaml")
	if code != 2 || !strings.Contains(errOut, "no/such/file.yaml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

func TestConfigTestExamples(t *testing.T) {
	for _, name := range []string{"quickstart", "original"} {
		code, out, errOut := runCmd(configTest, "../../examples/"+name+".yaml", "../../examples/"+name+"_test.yaml")
		if code != 0 || errOut != "" || !strings.Contains(out, " passed, 0 failed") {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", name, code, out, errOut)
		}
	}
}

// TestConfigTestFailure: a failing config test exits 1 and prints a
// readable diff: the case, the series and got/want.
func TestConfigTestFailure(t *testing.T) {
	code, out, _ := runCmd(configTest, "../../internal/config/configtest/testdata/config.yaml", "../../internal/config/configtest/testdata/failing_test.yaml")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"FAIL wrong values\n",
		`     requests{status="200"} (line 12): got 1, want 2` + "\n",
		"1 passed, 3 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not say %q:\n%s", want, out)
		}
	}
}

func TestConfigTestErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "usage: beametrics test CONFIG TESTFILE"},
		{[]string{"../../examples/quickstart.yaml"}, "usage: beametrics test CONFIG TESTFILE"},
		{[]string{"../../internal/config/testdata/many_errors.yaml", "../../examples/quickstart_test.yaml"}, "many_errors.yaml:3:9: window 500ms is too short"},
		{[]string{"../../examples/quickstart.yaml", "no/such/test.yaml"}, "no/such/test.yaml"},
		{[]string{"../../internal/config/configtest/testdata/config.yaml", "../../internal/config/configtest/testdata/unknown_key_test.yaml"}, "unknown key \"expects\""},
	} {
		code, out, errOut := runCmd(configTest, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("test %q: exit %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.msg)
		}
		if strings.Contains(out, "passed") {
			t.Errorf("test %q ran cases:\n%s", tc.args, out)
		}
	}
}
