package history

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 3, 1, 2, 3, 4, 500000000, time.UTC)
	for _, s := range []string{
		"2026-03-01T02:03:04.5Z",
		"2026-03-01T03:03:04.5+01:00",
		"2026-03-01 02:03:04.5 UTC",
		"2026-03-01 02:03:04.500000+00:00",
		"2026-03-01 02:03:04.5+00",
		"2026-03-01 02:03:04.5",
	} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"", "yesterday", "2026-03-01 02:03:04 PST", "03/01/2026 02:03"} {
		if _, err := ParseTime(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestSpreadOverMinutes(t *testing.T) {
	start := time.Date(2026, 3, 1, 2, 0, 30, 0, time.UTC).UnixMilli()
	ps := SpreadOverMinutes(start, start+150_000, 1_000_001) // 02:00:30 to 02:03:00
	if len(ps) != 3 {
		t.Fatalf("pieces %v", ps)
	}
	var sum int64
	for _, p := range ps {
		sum += p.SlotMs
	}
	if sum != 1_000_001 || ps[0].SlotMs != 200_000 || ps[1].SlotMs != 400_000 || ps[0].StartMs != start || ps[1].StartMs != start+30_000 {
		t.Errorf("pieces %v, sum %d", ps, sum)
	}
	if ps := SpreadOverMinutes(start, start, 7); len(ps) != 1 || ps[0].SlotMs != 7 {
		t.Errorf("instant job: %v", ps)
	}
}

// TestSplitByRunMinute: a run that started at 02:00:30; a piece covering
// the calendar minute 02:01:00-02:02:00 with 6,000,001 slot-ms is half in
// run minute 0 and half in run minute 1 (the odd millisecond goes to the
// second part); a piece that ends on the run-minute boundary stays whole.
func TestSplitByRunMinute(t *testing.T) {
	run := &DagRun{Start: time.Date(2026, 3, 1, 2, 0, 30, 0, time.UTC)}
	type part struct {
		offset int
		ms     int64
	}
	var got []part
	emit := func(o int, ms int64) { got = append(got, part{o, ms}) }
	SplitByRunMinute(run, Usage{At: time.Date(2026, 3, 1, 2, 1, 0, 0, time.UTC), DurMs: 60_000, SlotMs: 6_000_001}, emit)
	SplitByRunMinute(run, Usage{At: time.Date(2026, 3, 1, 2, 10, 0, 0, time.UTC), DurMs: 30_000, SlotMs: 3_000_000}, emit)
	SplitByRunMinute(run, Usage{At: time.Date(2026, 3, 1, 2, 0, 40, 0, time.UTC), SlotMs: 5}, emit) // a timeline point
	want := []part{{0, 3_000_000}, {1, 3_000_001}, {9, 3_000_000}, {0, 5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parts %v, want %v", got, want)
	}
}

func collect(t *testing.T, body string, kind Kind, format Format) ([]Usage, []BadRow, int) {
	t.Helper()
	var us []Usage
	var bad []BadRow
	n, err := ReadJobs(strings.NewReader(body), "f", kind, format, func(u Usage) { us = append(us, u) }, func(b BadRow) { bad = append(bad, b) })
	if err != nil {
		t.Fatal(err)
	}
	return us, bad, n
}

func TestReadTimelineCSV(t *testing.T) {
	body := "job_id,period_start,period_slot_ms,labels,query\n" +
		`j1,2026-03-01 02:00:00 UTC,1000,"[{""key"":""airflow-dag"",""value"":""sales""}]",` + "\n" +
		`j2,2026-03-01 02:00:01 UTC,2000,,"SELECT 1 -- airflow-dag: orders.daily` + "\n" + `-- airflow-task: load"` + "\n" +
		"j3,2026-03-01 02:00:02 UTC,3000\n" +
		"j4,2026-03-01 02:00:03 UTC,x,,\n" +
		`j5,2026-03-01 02:00:04 UTC,5,"{bad",` + "\n" +
		`j6,"2026-03-01,5,,` + "\n"
	us, bad, n := collect(t, body, KindTimeline, FormatCSV)
	if n != 6 || len(us) != 2 {
		t.Fatalf("n=%d usages %+v bad %v", n, us, bad)
	}
	if us[0].DAGLabel != "sales" || us[1].DAGLabel != "orders.daily" || us[1].TaskLabel != "load" || us[1].SlotMs != 2000 {
		t.Errorf("usages %+v", us)
	}
	want := []struct {
		line   int
		reason string
	}{{5, "has 3 fields"}, {6, "period_slot_ms is not an integer"}, {7, "labels: not JSON"}, {8, "bad CSV"}}
	if len(bad) != len(want) {
		t.Fatalf("bad %v", bad)
	}
	for i, w := range want {
		if bad[i].Line != w.line || !strings.Contains(bad[i].Reason, w.reason) {
			t.Errorf("bad[%d] = %v, want line %d %q", i, bad[i], w.line, w.reason)
		}
	}
}

func TestReadJobsJSON(t *testing.T) {
	body := `{"job_id":"a","start_time":"2026-03-01T02:00:00Z","end_time":"2026-03-01T02:02:00Z","total_slot_ms":"240000","labels":{"airflow-dag":"x"}}` + "\n" +
		"\n" +
		`{"job_id":"b","start_time":"2026-03-01T02:00:00Z","end_time":"2026-03-01T01:00:00Z","total_slot_ms":1}` + "\n" +
		`{"job_id":"c","start_time":"2026-03-01T02:00:00Z","end_time":"2026-03-01T02:00:00Z"}` + "\n" +
		`[1,2]` + "\n" +
		`{"job_id":"d","start_time":null,"end_time":"2026-03-01T02:00:00Z","total_slot_ms":1}` + "\n"
	us, bad, n := collect(t, body, KindJobs, FormatJSON)
	if n != 5 || len(us) != 2 || us[0].SlotMs != 120000 || us[1].SlotMs != 120000 || us[0].DAGLabel != "x" {
		t.Fatalf("n=%d usages %+v", n, us)
	}
	want := map[int]string{3: "end_time", 4: "missing total_slot_ms", 5: "not a JSON object", 6: "missing start_time"}
	if len(bad) != len(want) {
		t.Fatalf("bad %v", bad)
	}
	for _, b := range bad {
		if !strings.Contains(b.Reason, want[b.Line]) {
			t.Errorf("bad %v, want %q", b, want[b.Line])
		}
	}
}

func TestFormatFromName(t *testing.T) {
	for name, want := range map[string]Format{"a.csv": FormatCSV, "gs://b/x.JSONL": FormatJSON, "x.ndjson.gz": FormatJSON, "y.json": FormatJSON} {
		if got, err := FormatFromName(name); err != nil || got != want {
			t.Errorf("%s: %v %v", name, got, err)
		}
	}
	if _, err := FormatFromName("export.txt"); err == nil {
		t.Error("guessed a format for .txt")
	}
}

func TestReadRuns(t *testing.T) {
	body := "dag_id,run_id,execution_date,start_date,end_date,schedule_interval\n" +
		`Orders.Daily,r1,2026-03-01T00:00:00+00:00,2026-03-02T02:00:10+00:00,2026-03-02T02:30:00+00:00,"{""__type"": ""CronExpression"", ""value"": ""0 2 * * *""}"` + "\n" +
		"b,r2,,2026-03-02T02:00:00Z,,0 2 * * *\n" +
		"b,r3,,2026-03-02T02:00:00Z,2026-03-02T01:00:00Z,\n" +
		`c,r4,,2026-03-02 02:00:00.5+00,2026-03-02 02:10:00+00,"""0 3 * * *"""` + "\n"
	runs, bad, err := ReadRuns(strings.NewReader(body), "runs.csv", FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[1].Schedule != "0 3 * * *" || runs[0].Schedule != "0 2 * * *" || runs[0].Line != 2 || runs[0].End.Sub(runs[0].Start) != 29*time.Minute+50*time.Second {
		t.Fatalf("runs %+v", runs)
	}
	if len(bad) != 2 || bad[0].Line != 3 || !strings.Contains(bad[0].Reason, "not finished") || bad[1].Line != 4 {
		t.Fatalf("bad %v", bad)
	}
}

func TestAttribute(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, time.UTC) }
	runs := []DagRun{
		{DagID: "Orders.Daily", RunID: "o", Start: at(2, 0), End: at(3, 0)},
		{DagID: "b", RunID: "b1", Start: at(2, 30), End: at(4, 0)},
		{DagID: "b", RunID: "b2", Start: at(3, 50), End: at(5, 0)}, // overlaps b1: same DAG
	}
	ix := NewRunIndex(runs)
	for _, tc := range []struct {
		u      Usage
		dag    string
		run    int
		method string
	}{
		{Usage{At: at(2, 10), DAGLabel: "orders-daily"}, "Orders.Daily", 0, ByLabel},
		{Usage{At: at(4, 10), DAGLabel: "orders-daily"}, "Orders.Daily", -1, ByLabel},
		{Usage{At: at(2, 10), DAGLabel: "elsewhere"}, "elsewhere", -1, ByLabel},
		{Usage{At: at(2, 10)}, "Orders.Daily", 0, ByOverlap},
		{Usage{At: at(2, 40)}, "", -1, Ambiguous},
		{Usage{At: at(3, 55)}, "b", 2, ByOverlap},
		{Usage{At: at(3, 55), DAGLabel: "b"}, "b", 2, ByLabel},
		{Usage{At: at(3, 20), DAGLabel: "b"}, "b", 1, ByLabel},
		{Usage{At: at(6, 0)}, "", -1, None},
		{Usage{At: at(1, 0)}, "", -1, None},
	} {
		a := ix.Attribute(tc.u)
		if a.DAG != tc.dag || a.Run != tc.run || a.Method != tc.method {
			t.Errorf("%v label %q: got %+v, want %s run %d %s", tc.u.At.Format("15:04"), tc.u.DAGLabel, a, tc.dag, tc.run, tc.method)
		}
	}
	if got := OffsetMinute(&runs[0], at(2, 10).Add(59*time.Second)); got != 10 {
		t.Errorf("offset %d, want 10", got)
	}
}

// TestReadRunsTimezone: the DAG's zone as an IANA name or as Airflow's DAG
// details spell it, empty for UTC; an unknown zone is a bad row.
func TestReadRunsTimezone(t *testing.T) {
	body := `{"dag_id":"a","run_id":"1","start_date":"2026-03-02T00:00:00Z","end_date":"2026-03-02T00:10:00Z","timezone":"Asia/Tokyo"}` + "\n" +
		`{"dag_id":"b","run_id":"1","start_date":"2026-03-02T00:00:00Z","end_date":"2026-03-02T00:10:00Z","timezone":"Timezone('America/New_York')"}` + "\n" +
		`{"dag_id":"c","run_id":"1","start_date":"2026-03-02T00:00:00Z","end_date":"2026-03-02T00:10:00Z"}` + "\n" +
		`{"dag_id":"d","run_id":"1","start_date":"2026-03-02T00:00:00Z","end_date":"2026-03-02T00:10:00Z","timezone":"Asia/Tokio"}` + "\n"
	runs, bad, err := ReadRuns(strings.NewReader(body), "runs.jsonl", FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Timezone != "Asia/Tokyo" || runs[1].Timezone != "America/New_York" || runs[2].Timezone != "" {
		t.Errorf("runs %+v, want zones Asia/Tokyo, America/New_York and none", runs)
	}
	if len(bad) != 1 || bad[0].Line != 4 || !strings.Contains(bad[0].Reason, `time zone "Asia/Tokio"`) {
		t.Errorf("bad %v, want line 4's unknown zone", bad)
	}
}
