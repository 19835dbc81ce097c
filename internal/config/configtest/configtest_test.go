package configtest_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/config/configtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

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
	configs, _ := filepath.Glob("../../../examples/*.yaml")
	n := 0
	for _, c := range configs {
		if strings.HasSuffix(c, "_test.yaml") {
			continue
		}
		n++
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
	if n == 0 {
		t.Fatal("no example configs")
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
	golden := "testdata/failing_test.golden"
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("report differs from %s\ngot:\n%s\nwant:\n%s", golden, out.String(), want)
	}
	for _, must := range []string{
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
	} {
		if !strings.Contains(out.String(), must) {
			t.Errorf("report does not say %q", must)
		}
	}
}

func TestFileErrors(t *testing.T) {
	cfg := load(t, "testdata/config.yaml")
	for _, tc := range []struct{ file, msg string }{
		{"testdata/does_not_exist.yaml", "no such file"},
		{"testdata/unknown_key_test.yaml", "field expects not found"},
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
