package profile

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/slots/history"
)

// genMillion writes a JOBS_TIMELINE CSV of exactly rows data rows: nDAGs
// daily DAGs over days days, each running runSec seconds from 30 s after
// its tick at a constant 10+i slots, plus three bad rows at known lines.
func genMillion(t testing.TB, dir string, nDAGs, days, runSec int) (timeline, runs string, badLines []int) {
	tf, err := os.Create(filepath.Join(dir, "timeline.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := os.Create(filepath.Join(dir, "runs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	tw, rw := bufio.NewWriterSize(tf, 1<<20), bufio.NewWriter(rf)
	fmt.Fprintln(tw, "job_id,project_id,period_start,period_slot_ms,airflow_dag,airflow_task")
	fmt.Fprintln(rw, "dag_id,dag_run_id,logical_date,start_date,end_date,schedule,run_type")
	line := 1
	day0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	buf := make([]byte, 0, 128)
	for d := 0; d < days; d++ {
		for i := 0; i < nDAGs; i++ {
			tick := (i * 13) % 1380
			start := day0.AddDate(0, 0, d).Add(time.Duration(tick)*time.Minute + 30*time.Second)
			fmt.Fprintf(rw, "Dag.%03d,scheduled__%d,%s,%s,%s,%d %d * * *,scheduled\n", i, d,
				start.Add(-24*time.Hour).Format(time.RFC3339), start.Format(time.RFC3339Nano),
				start.Add(time.Duration(runSec)*time.Second).Format(time.RFC3339), tick%60, tick/60)
			for s := 0; s < runSec; s++ {
				buf = buf[:0]
				buf = fmt.Appendf(buf, "job_%d_%d,proj,", i, d)
				buf = start.Add(time.Duration(s)*time.Second).AppendFormat(buf, "2006-01-02 15:04:05 UTC")
				buf = fmt.Appendf(buf, ",%d,dag-%03d,task\n", (10+i)*1000, i)
				tw.Write(buf)
				line++
			}
			if i == 7 && d < 3 {
				bad := []string{
					"job_bad,proj,,1000,dag-007,task\n",
					"job_bad,proj,2026-02-01 25:00:00 UTC,1000,dag-007,task\n",
					"job_bad,proj,2026-02-01 01:00:00 UTC,-1000,dag-007,task\n",
				}
				tw.WriteString(bad[d])
				line++
				badLines = append(badLines, line)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	rw.Flush()
	tf.Close()
	rf.Close()
	return tf.Name(), rf.Name(), badLines
}

// TestProfileMillionRows runs the pipeline on prism over 1,000,000 timeline
// rows (100 DAGs, 5 days, 2000 one-second rows per run).
func TestProfileMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 1,000,000-row prism run")
	}
	dir := t.TempDir()
	const nDAGs, days, runSec = 100, 5, 2000
	tl, runs, badLines := genMillion(t, dir, nDAGs, days, runSec)
	start := time.Now()
	d := runProfile(t, Config{Inputs: []string{tl}, Kind: history.KindTimeline, RunsFile: runs, CapSlots: 1000, Out: filepath.Join(dir, "profile.json")})
	t.Logf("1,000,000 rows profiled on prism in %v", time.Since(start))

	if got := d.Rows[tl]; got != nDAGs*days*runSec+3 {
		t.Errorf("rows = %d, want %d", got, nDAGs*days*runSec+3)
	}
	if len(d.BadRows) != 3 {
		t.Fatalf("bad rows = %v", d.BadRows)
	}
	for i, b := range d.BadRows {
		if b.Line != badLines[i] {
			t.Errorf("bad row %d at line %d, want %d (%s)", i, b.Line, badLines[i], b.Reason)
		}
	}
	if len(d.DAGs) != nDAGs {
		t.Fatalf("%d DAG profiles, want %d", len(d.DAGs), nDAGs)
	}
	var wantTotal int64
	for i, p := range d.DAGs {
		want := float64(10 + i)
		wantTotal += int64(10+i) * 1000 * runSec * days
		if p.DAG != fmt.Sprintf("Dag.%03d", i) || p.Runs != days || p.StartDelaySec != 30 || len(p.MedianSlots) != 34 {
			t.Fatalf("profile %d = %+v", i, p)
		}
		for off := 0; off < 33; off++ {
			if p.MedianSlots[off] != want || p.P90Slots[off] != want {
				t.Fatalf("%s minute %d: %v/%v, want %v", p.DAG, off, p.MedianSlots[off], p.P90Slots[off], want)
			}
		}
		if last := p.MedianSlots[33]; last != round3(want/3) {
			t.Errorf("%s last minute = %v, want %v", p.DAG, last, round3(want/3))
		}
	}
	if got := d.SlotMsByMethod[history.ByLabel]; got != wantTotal {
		t.Errorf("labelled slot-ms = %d, want %d", got, wantTotal)
	}
}
