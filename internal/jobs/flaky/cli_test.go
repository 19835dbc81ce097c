package flaky_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/jobs/flaky"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

func runMain(t *testing.T, beam flaky.Engine, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := flaky.Main(context.Background(), args, &out, &errb, beam)
	return code, out.String(), errb.String()
}

// testdata/api_tries.jsonl is shaped like the Airflow REST API's task
// instance tries. Its numbers are worked out by hand in the comments.
func TestMainOnAPIExportAllFormats(t *testing.T) {
	code, out, errOut := runMain(t, nil, "--format=json", "testdata/api_tries.jsonl")
	if code != flaky.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep flaky.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	// load_bq: 2 flaky runs wasting 747.639528 s + 848.43 s; extract: 2 of
	// 3 runs flaky wasting 240 s + 66 s + 66 s; notify: never flaky.
	if len(rep.Tasks) != 2 || rep.Tasks[0].TaskID != "load_bq" || rep.Tasks[1].TaskID != "extract" {
		t.Fatalf("ranking %+v", rep.Tasks)
	}
	lb, ex := rep.Tasks[0], rep.Tasks[1]
	if lb.WastedMillis != 747639+848430 || lb.FlakyRuns != 2 || lb.FlakyRate != 1 || len(lb.Signatures) != 1 || lb.Signatures[0].Count != 2 {
		t.Errorf("load_bq %+v", lb)
	}
	if ex.WastedMillis != (240+66+66)*1000 || ex.FlakyRuns != 2 || ex.Instances != 3 || ex.Retries != 3 || len(ex.Signatures) != 2 {
		t.Errorf("extract %+v", ex)
	}
	if rep.TasksSeen != 3 || rep.Tries != 11 || len(rep.BadRows) != 1 || rep.BadRows[0].Line != 12 {
		t.Errorf("tasks seen %d tries %d bad %+v", rep.TasksSeen, rep.Tries, rep.BadRows)
	}
	if !strings.Contains(errOut, "1 bad rows were not counted; first: testdata/api_tries.jsonl:12: unknown state") {
		t.Errorf("stderr does not report the bad row: %q", errOut)
	}

	_, table, _ := runMain(t, nil, "testdata/api_tries.jsonl")
	textcheck.Contains(t, "table", table,
		"11 tries read, 1 bad rows; 3 tasks, 2 with at least 1 flaky run(s) (engine: memory)",
		"1  etl_events  load_bq  100.0%  2/2",
		"2x  google.api_core.exceptions.BadRequest: <n> Resources exceeded during query execution: Not enough resources for query planning. Job ID: <job>",
		"testdata/api_tries.jsonl:12: unknown state \"sucess\"",
	)
	_, md, _ := runMain(t, nil, "--format", "markdown", "--min-flaky-runs", "0", "testdata/api_tries.jsonl")
	textcheck.Contains(t, "markdown", md,
		"| 1 | etl\\_events | load\\_bq | 100.0% | 2/2 | 0 | 2 | 26.6 |",
		"| 3 | etl\\_events | notify | 0.0% | 0/1 |",
		"- **1×** ` evicted: ephemeral storage over its limit `  \n  evidence: ` Pod ephemeral local storage usage exceeds the total limit of containers 5119Mi. `",
		"- **2×** ` evicted: node low on disk (ephemeral-storage) `",
		"What to do:\n\n- evicted: node low on disk (ephemeral-storage) (2×): the node's disk filled up",
		"### 3. etl\\_events.notify\n\nNo failed tries.",
	)
}

func TestMainEngineChoiceAndExitCodes(t *testing.T) {
	var beamCalls int
	fakeBeam := func(ctx context.Context, in []flaky.Input, o flaky.ReadOptions) ([]flaky.TaskStats, []flaky.BadRow, error) {
		beamCalls++
		return flaky.ReadAndAnalyze(ctx, in, o)
	}
	if code, out, _ := runMain(t, fakeBeam, "testdata/api_tries.jsonl"); code != 0 || beamCalls != 0 || !strings.Contains(out, "engine: memory") {
		t.Errorf("default engine: code %d calls %d", code, beamCalls)
	}
	if code, out, _ := runMain(t, fakeBeam, "--engine=beam", "testdata/api_tries.jsonl"); code != 0 || beamCalls != 1 || !strings.Contains(out, "engine: beam") {
		t.Errorf("--engine=beam: code %d calls %d", code, beamCalls)
	}
	if code, _, _ := runMain(t, fakeBeam, "--strict", "testdata/api_tries.jsonl"); code != flaky.ExitBadRows {
		t.Errorf("--strict with a bad row: exit %d", code)
	}

	csvPath := filepath.Join(t.TempDir(), "h.txt")
	if err := os.WriteFile(csvPath, []byte("dag_id,task_id,run_id,try_number,state,end_date\netl,x,r,1,success,2024-05-01T00:00:00Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runMain(t, nil, "--input-format=csv", "--strict", csvPath); code != 0 || !strings.Contains(out, "1 tries read, 0 bad rows") {
		t.Errorf("csv with --input-format: exit %d %s %s", code, out, errOut)
	}
	gzPath := filepath.Join(t.TempDir(), "h.csv.gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("dag_id,task_id,run_id,try_number,state,end_date\netl,x,r,1,success,2024-05-01T00:00:00Z\n"))
	zw.Close()
	if err := os.WriteFile(gzPath, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runMain(t, nil, "--strict", gzPath); code != 0 || !strings.Contains(out, "1 tries read, 0 bad rows") {
		t.Errorf("gzipped csv: exit %d %s %s", code, out, errOut)
	}
	for _, args := range [][]string{
		{}, {csvPath}, {"testdata/missing.jsonl"}, {"--format=xml", "testdata/api_tries.jsonl"},
		{"--engine=spark", "testdata/api_tries.jsonl"}, {"--engine=auto", "testdata/api_tries.jsonl"}, {"--engine=beam", "testdata/api_tries.jsonl"},
		{"-"}, {"--input-format=xml", csvPath}, {"--nope"}, {"--min-flaky-runs=-1", "testdata/api_tries.jsonl"},
	} {
		if code, _, errOut := runMain(t, nil, args...); code != flaky.ExitBadInput || errOut == "" {
			t.Errorf("%q: exit %d stderr %q, want %d with a message", args, code, errOut, flaky.ExitBadInput)
		}
	}
}
