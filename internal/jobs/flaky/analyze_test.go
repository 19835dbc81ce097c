package flaky_test

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/flaky"
	"github.com/beametrics/beametrics/internal/jobs/flaky/flakygen"
)

func readAll(t *testing.T, data []byte, format flaky.Format) ([]flaky.TaskTry, []flaky.BadRow) {
	t.Helper()
	var tries []flaky.TaskTry
	var bad []flaky.BadRow
	err := flaky.ReadHistory(bytes.NewReader(data), "history", format, flaky.ReadOptions{},
		func(x flaky.TaskTry) { tries = append(tries, x) },
		func(b flaky.BadRow) { bad = append(bad, b) })
	if err != nil {
		t.Fatal(err)
	}
	return tries, bad
}

// causeOf recognises which generator cause produced a message.
func causeOf(example string) string {
	for _, c := range []struct{ cause, marker string }{
		{"eviction", "was evicted"}, {"storage", "ephemeral local storage usage"}, {"bigquery", "Resources exceeded"},
		{"timeout", "AirflowTaskTimeout"}, {"tmpfile", "FileNotFoundError"}, {"sigterm", "SIGTERM"},
	} {
		if strings.Contains(example, c.marker) {
			return c.cause
		}
	}
	return "unknown: " + example
}

func TestGeneratedHistoryMatchesTruth(t *testing.T) {
	for _, csv := range []bool{false, true} {
		t.Run(fmt.Sprintf("csv=%v", csv), func(t *testing.T) {
			var buf bytes.Buffer
			truth, err := flakygen.Write(&buf, flakygen.Config{Seed: 7, DAGs: 3, Tasks: 8, Runs: 40, CSV: csv, BadEvery: 53, Duplicates: true})
			if err != nil {
				t.Fatal(err)
			}
			format := flaky.JSONLines
			if csv {
				format = flaky.CSV
			}
			tries, bad := readAll(t, buf.Bytes(), format)
			stats, dups := flaky.Analyze(tries)
			rep := flaky.BuildReport([]string{"history"}, "memory", stats, append(bad, dups...), 0)

			if rep.Tries != truth.Rows {
				t.Errorf("tries %d, want %d", rep.Tries, truth.Rows)
			}
			var gotLines []int
			for _, b := range rep.BadRows {
				gotLines = append(gotLines, b.Line)
			}
			wantLines := append(append([]int(nil), truth.BadLines...), truth.DupLines...)
			sort.Ints(wantLines)
			if len(truth.BadLines) == 0 || len(truth.DupLines) == 0 || !reflect.DeepEqual(gotLines, wantLines) {
				t.Errorf("bad row lines\n got %v\nwant %v\nrows %+v", gotLines, wantLines, rep.BadRows)
			}

			if len(rep.Tasks) != len(truth.Tasks) {
				t.Fatalf("%d tasks, want %d", len(rep.Tasks), len(truth.Tasks))
			}
			signatures := map[string]bool{}
			for i, got := range rep.Tasks {
				want := truth.Tasks[got.DagID+"."+got.TaskID]
				if want == nil {
					t.Fatalf("unexpected task %s.%s", got.DagID, got.TaskID)
				}
				if got.Instances != want.Instances || got.FlakyRuns != want.FlakyRuns || got.FailedRuns != want.FailedRuns ||
					got.Retries != want.Retries || got.WastedMillis != want.WastedMillis {
					t.Errorf("%s.%s: got instances %d flaky %d failed %d retries %d wasted %d; want %+v",
						got.DagID, got.TaskID, got.Instances, got.FlakyRuns, got.FailedRuns, got.Retries, got.WastedMillis, *want)
				}
				causes := map[string]int{}
				for _, s := range got.Signatures {
					signatures[s.Signature] = true
					cause := causeOf(s.Example)
					if _, dup := causes[cause]; dup {
						t.Errorf("%s.%s: cause %s split into several signatures", got.DagID, got.TaskID, cause)
					}
					causes[cause] = s.Count
				}
				if !reflect.DeepEqual(causes, want.Causes) {
					t.Errorf("%s.%s: signatures by cause %v, want %v", got.DagID, got.TaskID, causes, want.Causes)
				}
				if i > 0 && rep.Tasks[i-1].WastedMillis < got.WastedMillis {
					t.Errorf("rank %d wasted %d ranks above %d", i, rep.Tasks[i-1].WastedMillis, got.WastedMillis)
				}
			}
			if len(signatures) != len(flakygen.Causes) {
				t.Errorf("%d distinct signatures, want %d: %v", len(signatures), len(flakygen.Causes), signatures)
			}
		})
	}
}

func try(run string, n int, state, start, end, msg string) string {
	return fmt.Sprintf(`{"dag_id":"etl","task_id":"load","dag_run_id":%q,"try_number":%d,"state":%q,"start_date":%q,"end_date":%q,"log_tail":%q}`,
		run, n, state, start, end, msg)
}

func TestInstanceSemantics(t *testing.T) {
	lines := []string{
		// r1: failed twice, then succeeded: flaky, 2 retries, 10+20 min wasted.
		try("r1", 1, "up_for_retry", "2024-05-01T00:00:00Z", "2024-05-01T00:10:00Z", "Pod ephemeral local storage usage exceeds the total limit of containers 5119Mi."),
		try("r1", 3, "success", "2024-05-01T01:00:00Z", "2024-05-01T01:05:00Z", ""),
		try("r1", 2, "up_for_retry", "2024-05-01T00:30:00+00:00", "2024-05-01T00:50:00+00:00", "Pod ephemeral local storage usage exceeds the total limit of containers 5119Mi."),
		// r2: only the last try exported, try 2 succeeded: flaky, time unknown.
		try("r2", 2, "success", "2024-05-02 00:00:00.123456+00", "2024-05-02 00:01:00.123456+00", ""),
		// r3: failed for good: not flaky, a failed run.
		try("r3", 1, "failed", "2024-05-03T00:00:00Z", "2024-05-03T00:02:00Z", "TimeoutError: operation timed out after 120 seconds"),
		// r4: clean success.
		try("r4", 1, "success", "2024-05-04T00:00:00Z", "2024-05-04T00:03:00Z", ""),
		// r5: mapped task, two map indexes are two instances.
		`{"dag_id":"etl","task_id":"load","run_id":"r5","map_index":0,"try_number":1,"state":"success","start_date":"2024-05-05T00:00:00Z","end_date":"2024-05-05T00:01:00Z"}`,
		`{"dag_id":"etl","task_id":"load","run_id":"r5","map_index":1,"try_number":1,"state":"success","start_date":"2024-05-05T00:00:00Z","end_date":"2024-05-05T00:01:00Z"}`,
		// still running, no end date: counted, decides nothing.
		`{"dag_id":"etl","task_id":"load","run_id":"r6","try_number":1,"state":"running","start_date":"2024-05-06T00:00:00Z","end_date":null}`,
	}
	tries, bad := readAll(t, []byte(strings.Join(lines, "\n")), flaky.JSONLines)
	if len(bad) != 0 {
		t.Fatalf("bad rows: %+v", bad)
	}
	stats, dups := flaky.Analyze(tries)
	if len(stats) != 1 || len(dups) != 0 {
		t.Fatalf("stats %+v dups %+v", stats, dups)
	}
	s := stats[0]
	want := flaky.TaskStats{DagID: "etl", TaskID: "load", Instances: 7, Tries: 9, FlakyRuns: 2, FailedRuns: 1, Retries: 3,
		FailedTries: 3, WastedMillis: 30 * 60000}
	got := s
	got.Signatures, got.FirstSeenUnix, got.FirstEndUnix, got.LastSeenUnix = nil, 0, 0, 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats\n got %+v\nwant %+v", got, want)
	}
	if len(s.Signatures) != 2 || s.Signatures[0].Count != 2 || s.Signatures[1].Count != 1 {
		t.Errorf("signatures %+v", s.Signatures)
	}
	if s.FlakyRate() != 2.0/7 || s.WastedMinutes() != 30 {
		t.Errorf("rate %v minutes %v", s.FlakyRate(), s.WastedMinutes())
	}
	if first := s.FirstSeenUnix; first != mustMillis("2024-05-01T00:00:00Z") {
		t.Errorf("first seen %d", first)
	}
	if last := s.LastSeenUnix; last != mustMillis("2024-05-06T00:00:00Z") {
		t.Errorf("last seen %d", last)
	}
}

func TestBadRowsAreReportedWithLineAndReason(t *testing.T) {
	input := strings.Join([]string{
		try("r1", 1, "success", "2024-05-01T00:00:00Z", "2024-05-01T00:10:00Z", ""),
		`not json`,
		``,
		`{"dag_id":"etl","task_id":"load","dag_run_id":"r2","try_number":"two","state":"success","end_date":"2024-05-01T00:10:00Z"}`,
		`{"dag_id":"etl","task_id":"load","dag_run_id":"r2","try_number":1,"state":"sucess","end_date":"2024-05-01T00:10:00Z"}`,
		`{"dag_id":"etl","task_id":"load","dag_run_id":"r2","try_number":1,"state":"failed","start_date":"2024-05-01T00:00:00Z"}`,
		`{"dag_id":"etl","task_id":"load","dag_run_id":"r2","try_number":1,"state":"success","start_date":"2024-05-01 00:00:00","end_date":"2024-05-01 00:10:00"}`,
		`{"dag_id":"etl","task_id":"load","dag_run_id":"r2","try_number":1,"state":"success","end_date":"yesterday"}`,
		`{"task_id":"load","dag_run_id":"r2","try_number":1,"state":"success","end_date":"2024-05-01T00:10:00Z"}`,
		`{"dag_id":"etl","task_id":"load","dag_run_id":"r2","try_number":1,"map_index":"x","state":"success","end_date":"2024-05-01T00:10:00Z"}`,
		`{"task_instances":[{"dag_id":"etl","task_id":"load","dag_run_id":"r3","try_number":1,"state":"success","end_date":"2024-05-01T00:10:00Z"},{"dag_id":"etl"}]}`,
		try("r1", 1, "success", "2024-05-01T00:00:00Z", "2024-05-01T00:10:00Z", ""),
	}, "\n")
	tries, bad := readAll(t, []byte(input), flaky.JSONLines)
	_, dups := flaky.Analyze(tries)
	all := append(bad, dups...)
	flaky.SortBadRows(all)
	want := []struct {
		line   int
		reason string
	}{
		{2, "not a JSON object"}, {4, `try_number "two" is not a positive integer`}, {5, `unknown state "sucess"`},
		{6, "state failed without end_date"}, {7, "has no time zone"}, {8, `cannot parse timestamp "yesterday"`},
		{9, "missing dag_id"}, {10, `map_index "x"`}, {11, "task_instances[1]: missing task_id"}, {12, "duplicate of try 1 of etl.load run r1, first read at history line 1"},
	}
	if len(all) != len(want) {
		t.Fatalf("%d bad rows, want %d: %+v", len(all), len(want), all)
	}
	for i, w := range want {
		if all[i].Line != w.line || !strings.Contains(all[i].Reason, w.reason) {
			t.Errorf("bad row %d: got line %d %q, want line %d containing %q", i, all[i].Line, all[i].Reason, w.line, w.reason)
		}
	}
	if len(tries) != 3 {
		t.Errorf("%d good tries, want 3 (r1 twice, r3)", len(tries))
	}
}

func TestAssumeUTCAcceptsZonelessTimestamps(t *testing.T) {
	in := `{"dag_id":"etl","task_id":"load","dag_run_id":"r2","try_number":1,"state":"success","start_date":"2024-05-01 00:00:00","end_date":"2024-05-01 00:10:00.5"}`
	var got []flaky.TaskTry
	err := flaky.ReadHistory(strings.NewReader(in), "h", flaky.JSONLines, flaky.ReadOptions{AssumeUTC: true},
		func(x flaky.TaskTry) { got = append(got, x) }, func(b flaky.BadRow) { t.Errorf("bad row: %+v", b) })
	if err != nil || len(got) != 1 || got[0].End.Sub(got[0].Start).Milliseconds() != 600500 {
		t.Fatalf("err %v tries %+v", err, got)
	}
}

func TestCSVNeedsHeaderColumns(t *testing.T) {
	err := flaky.ReadHistory(strings.NewReader("dag_id,task_id,state\netl,load,success\n"), "h.csv", flaky.CSV, flaky.ReadOptions{},
		func(flaky.TaskTry) {}, func(flaky.BadRow) {})
	if err == nil || !strings.Contains(err.Error(), "run_id or dag_run_id, try_number") {
		t.Errorf("err = %v", err)
	}
	csvIn := "\ufeffDAG_ID,task_id,run_id,try_number,state,start_date,end_date,hostname\n" +
		"etl,load,r1,1,up_for_retry,2024-05-01 00:00:00+00,2024-05-01 00:10:00+00,w1\n" +
		"etl,load,r1,2,success,2024-05-01 00:20:00+00,2024-05-01 00:30:00+00,w1\n" +
		"etl,load,r2,1,success,\\N,2024-05-02 00:30:00+00\n" +
		"e\"tl,load,r3,1,success,,2024-05-02 00:30:00+00,w1\n" +
		"etl,load,r4,1,success,,2024-05-02 00:30:00+00,w1\n"
	tries, bad := readAll(t, []byte(csvIn), flaky.CSV)
	if len(tries) != 3 || len(bad) != 2 || bad[0].Line != 4 || !strings.Contains(bad[0].Reason, "wrong number of fields") ||
		bad[1].Line != 5 || !strings.Contains(bad[1].Reason, "bare \"") {
		t.Errorf("tries %d bad %+v", len(tries), bad)
	}
}

func mustMillis(s string) int64 {
	ts, err := timeParse(s)
	if err != nil {
		panic(err)
	}
	return ts
}

func timeParse(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339, s)
	return t.UnixMilli(), err
}
