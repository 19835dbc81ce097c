package profile

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/slots/history"
)

// TestProfileJobsGlobGzip reads a JOBS_BY_PROJECT export split in two files
// (one gzipped) through a glob: each job's total is spread over its minutes.
func TestProfileJobsGlobGzip(t *testing.T) {
	dir := t.TempDir()
	runs := write(t, dir, "runs.csv", "dag_id,run_id,start_date,end_date,schedule\n"+
		"d,r1,2026-03-01T02:00:00Z,2026-03-01T02:10:00Z,0 2 * * *\n"+
		"d,r2,2026-03-02T02:00:00Z,2026-03-02T02:10:00Z,0 2 * * *\n")
	write(t, dir, "jobs-1.json", `{"job_id":"a","start_time":"2026-03-01T02:00:00Z","end_time":"2026-03-01T02:10:00Z","total_slot_ms":"60000000","airflow_dag":"d"}`+"\n")
	f, err := os.Create(filepath.Join(dir, "jobs-2.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(`{"job_id":"b","start_time":"2026-03-02T02:00:00Z","end_time":"2026-03-02T02:05:00Z","total_slot_ms":"60000000","airflow_dag":"d"}` + "\n" +
		`{"job_id":"c","start_time":"2026-03-02T02:00:00Z","end_time":"2026-03-02T02:05:00Z","total_slot_ms":"-1"}` + "\n"))
	zw.Close()
	f.Close()

	d := runProfile(t, Config{Inputs: []string{filepath.Join(dir, "jobs-*")}, Kind: history.KindJobs, RunsFile: runs, CapSlots: 150, Out: filepath.Join(dir, "p.json")})
	if len(d.Inputs) != 2 || d.Rows[d.Inputs[0]] != 1 || d.Rows[d.Inputs[1]] != 2 {
		t.Fatalf("inputs %v rows %v", d.Inputs, d.Rows)
	}
	if len(d.BadRows) != 1 || d.BadRows[0].Line != 2 || !strings.HasSuffix(d.BadRows[0].File, ".gz") {
		t.Fatalf("bad rows %v", d.BadRows)
	}
	if len(d.DAGs) != 1 || d.DAGs[0].Runs != 2 {
		t.Fatalf("dags %+v", d.DAGs)
	}
	p := d.DAGs[0]
	// Run 1: 100 slots for 10 minutes; run 2: 200 slots for 5 minutes.
	// Median of (100, 200) = 150 for the first 5 minutes, (100, 0) = 50 after.
	if len(p.MedianSlots) != 10 || p.MedianSlots[0] != 150 || p.MedianSlots[9] != 50 || p.P90Slots[0] != 200 || p.P90Slots[9] != 100 {
		t.Errorf("profile %+v", p)
	}
	if len(d.OverCap) != 5 {
		t.Errorf("over cap %+v, want the five minutes at 200 slots", d.OverCap)
	}
}

// TestProfileEmptyHistory: a history with no rows still gives a profile
// that says so, rather than no file.
func TestProfileEmptyHistory(t *testing.T) {
	dir := t.TempDir()
	tl := write(t, dir, "t.csv", "job_id,period_start,period_slot_ms\n")
	runs := write(t, dir, "r.jsonl", "")
	d := runProfile(t, Config{Inputs: []string{tl}, Kind: history.KindTimeline, RunsFile: runs, CapSlots: 1, Out: filepath.Join(dir, "p.json")})
	if d.Days != 0 || len(d.DAGs) != 0 || d.Rows[tl] != 0 || len(d.MinuteOfDay) != 1440 {
		t.Errorf("doc %+v", d)
	}
}

func TestBuildRejects(t *testing.T) {
	dir := t.TempDir()
	runs := write(t, dir, "r.jsonl", "")
	txt := write(t, dir, "t.txt", "")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Inputs: []string{filepath.Join(dir, "none-*.csv")}, Kind: history.KindTimeline, RunsFile: runs, CapSlots: 1, Out: "x"}, "no file matches"},
		{Config{Inputs: []string{txt}, Kind: history.KindTimeline, RunsFile: runs, CapSlots: 1, Out: "x"}, "pass --format"},
		{Config{Inputs: []string{txt}, Kind: history.KindTimeline, RunsFile: runs, CapSlots: 0, Out: "x"}, "cap must be"},
		{Config{Inputs: []string{txt}, Kind: history.KindTimeline, Format: history.FormatCSV, CapSlots: 1, Out: "x"}, "no Airflow run history"},
	} {
		if _, err := Build(t.Context(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
}

// TestProfileJobsRunStartingMidMinute is the case from issue 18: one job
// from 02:00:30 to 02:10:30 with 60,000,000 slot-ms (100 slots for 10
// minutes), in a run that started at 02:00:30. Counted in minutes since
// the run started it is 100 slots in each of 10 minutes; splitting at
// calendar minutes gave 150 in the first.
func TestProfileJobsRunStartingMidMinute(t *testing.T) {
	dir := t.TempDir()
	runs := write(t, dir, "runs.csv", "dag_id,run_id,start_date,end_date,schedule\n"+
		"d,r1,2026-03-01T02:00:30Z,2026-03-01T02:10:30Z,0 2 * * *\n")
	jobs := write(t, dir, "jobs.json", `{"job_id":"a","start_time":"2026-03-01T02:00:30Z","end_time":"2026-03-01T02:10:30Z","total_slot_ms":"60000000","airflow_dag":"d"}`+"\n")
	d := runProfile(t, Config{Inputs: []string{jobs}, Kind: history.KindJobs, RunsFile: runs, CapSlots: 150, Out: filepath.Join(dir, "p.json")})
	if len(d.DAGs) != 1 {
		t.Fatalf("dags %+v", d.DAGs)
	}
	want := []float64{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}
	if got := d.DAGs[0].MedianSlots; !reflect.DeepEqual(got, want) {
		t.Errorf("median_slots = %v, want %v", got, want)
	}
}

// TestProfileTimezone: a DAG whose runs name Asia/Tokyo has its cron read
// there: `0 9 * * *` ticks at 00:00 UTC, so runs starting 00:01 UTC are 60 s
// late (not 15 h 1 min), and the profile keeps the zone and the starts.
func TestProfileTimezone(t *testing.T) {
	dir := t.TempDir()
	runs := write(t, dir, "runs.csv", "dag_id,run_id,start_date,end_date,schedule,timezone\n"+
		"d,r1,2026-03-01T00:01:00Z,2026-03-01T00:11:00Z,0 9 * * *,Asia/Tokyo\n"+
		"d,r2,2026-03-02T00:01:00Z,2026-03-02T00:11:00Z,0 9 * * *,Asia/Tokyo\n")
	jobs := write(t, dir, "jobs.json", `{"job_id":"a","start_time":"2026-03-01T00:01:00Z","end_time":"2026-03-01T00:11:00Z","total_slot_ms":"60000000","airflow_dag":"d"}`+"\n"+
		`{"job_id":"b","start_time":"2026-03-02T00:01:00Z","end_time":"2026-03-02T00:11:00Z","total_slot_ms":"60000000","airflow_dag":"d"}`+"\n")
	d := runProfile(t, Config{Inputs: []string{jobs}, Kind: history.KindJobs, RunsFile: runs, CapSlots: 150, Out: filepath.Join(dir, "p.json")})
	if len(d.DAGs) != 1 {
		t.Fatalf("dags %+v", d.DAGs)
	}
	p := d.DAGs[0]
	if p.Timezone != "Asia/Tokyo" || p.StartDelaySec != 60 || len(p.ScheduledStarts) != 2 || !p.ScheduledStarts[0].Equal(time.Date(2026, 3, 1, 0, 1, 0, 0, time.UTC)) {
		t.Errorf("profile zone %q delay %d s starts %v; want Asia/Tokyo, 60 s, the two starts", p.Timezone, p.StartDelaySec, p.ScheduledStarts)
	}
}
