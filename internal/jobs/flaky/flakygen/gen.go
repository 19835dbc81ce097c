// Package flakygen writes synthetic Airflow task-try histories with known
// answers, for tests and benchmarks of flaky. Failure messages follow
// real ones (Kubernetes evictions, BigQuery errors with job ids, timeouts,
// temporary paths) with fresh random ids in every message.
package flakygen

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// Config says what to generate.
type Config struct {
	Seed  uint64
	DAGs  int
	Tasks int // per DAG
	Runs  int // per DAG
	// DAGPrefix starts every DAG id, to keep files of one test apart.
	DAGPrefix string
	// CSV writes CSV with a header instead of JSON lines.
	CSV bool
	// BadEvery inserts a malformed row after every BadEvery good rows
	// (0: none). Malformed rows cycle through several kinds of damage.
	BadEvery int
	// Duplicates repeats every 97th good row, which must be reported.
	Duplicates bool
}

// Truth is what a correct analysis must find.
type Truth struct {
	Rows     int // good rows written, duplicates excluded
	Tasks    map[string]*TaskTruth
	BadLines []int // 1-based line numbers of malformed rows
	DupLines []int // line numbers of duplicated rows
}

// TaskTruth is the expected statistics of one task, keyed "dag.task".
type TaskTruth struct {
	Instances, FlakyRuns, FailedRuns, Retries int
	WastedMillis                              int64
	// Causes counts failed tries by the cause that produced their message.
	Causes map[string]int
}

// Causes are the message families; each must fold to one signature.
var Causes = []string{"eviction", "storage", "bigquery", "timeout", "tmpfile", "sigterm"}

func message(cause string, r *rand.Rand, at time.Time) string {
	id := func(n int) string {
		const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, n)
		for i := range b {
			b[i] = alnum[r.IntN(len(alnum))]
		}
		b[0] = byte('0' + r.IntN(10)) // generated suffixes mix digits in
		b[n-1] = byte('a' + r.IntN(26))
		return string(b)
	}
	hex := func(n int) string {
		const h = "0123456789abcdef"
		b := make([]byte, n)
		for i := range b {
			b[i] = h[r.IntN(16)]
		}
		b[0], b[1] = '7', 'f'
		return string(b)
	}
	switch cause {
	case "eviction":
		return fmt.Sprintf("Pod airflow/etl-load-events-%s was evicted: The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: %dKi.", id(8), 1000000+r.IntN(9000000))
	case "storage":
		return fmt.Sprintf("[%s] {pod_manager.py:%d} ERROR - Pod ephemeral local storage usage exceeds the total limit of containers 5119Mi.", at.Format("2006-01-02, 15:04:05 UTC"), 400+r.IntN(50))
	case "bigquery":
		return fmt.Sprintf("[%s] {taskinstance.py:2698} ERROR - Task failed with exception\nTraceback (most recent call last):\n  File \"/opt/airflow/dags/load.py\", line 88, in load\ngoogle.api_core.exceptions.BadRequest: 400 Resources exceeded during query execution: Not enough resources for query planning. Job ID: airflow_%d_%s\n[%s] {taskinstance.py:1138} INFO - Marking task as UP_FOR_RETRY.",
			at.Format("2006-01-02, 15:04:05 UTC"), at.Unix(), hex(16), at.Format("2006-01-02, 15:04:05 UTC"))
	case "timeout":
		return fmt.Sprintf("airflow.exceptions.AirflowTaskTimeout: Timeout, PID: %d after %d.%d seconds", 100+r.IntN(60000), 3600+r.IntN(100), r.IntN(10))
	case "tmpfile":
		return fmt.Sprintf("FileNotFoundError: [Errno 2] No such file or directory: '/tmp/tmp%s/extract/part-%05d.csv'", id(8), r.IntN(100))
	case "sigterm":
		return fmt.Sprintf("Task received SIGTERM signal at %s; worker %s-%s-%s", at.Format(time.RFC3339Nano), "airflow-worker", hex(9), id(5))
	}
	panic("unknown cause " + cause)
}

type row struct {
	DagID     string  `json:"dag_id"`
	TaskID    string  `json:"task_id"`
	RunID     string  `json:"dag_run_id"`
	TryNumber int     `json:"try_number"`
	State     string  `json:"state"`
	Start     string  `json:"start_date"`
	End       string  `json:"end_date"`
	Message   *string `json:"log_tail"`
}

var header = []string{"dag_id", "task_id", "run_id", "try_number", "state", "start_date", "end_date", "message"}

// Write writes the history to w and returns what an analysis must find.
func Write(w io.Writer, c Config) (*Truth, error) {
	g := &generator{
		w: w, c: c, enc: json.NewEncoder(w),
		r:     rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
		truth: &Truth{Tasks: map[string]*TaskTruth{}},
	}
	if c.CSV {
		g.cw = csv.NewWriter(w)
		if err := g.cw.Write(header); err != nil {
			return nil, err
		}
		g.line++
	}
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for d := 0; d < c.DAGs; d++ {
		dag := fmt.Sprintf("%sdag_%02d", c.DAGPrefix, d)
		for run := 0; run < c.Runs; run++ {
			runStart := base.Add(time.Duration(run) * time.Hour)
			for t := 0; t < c.Tasks; t++ {
				if err := g.instance(dag, t, runStart); err != nil {
					return nil, err
				}
			}
		}
	}
	if c.CSV {
		g.cw.Flush()
		return g.truth, g.cw.Error()
	}
	return g.truth, nil
}

// generator writes one history; line is the last line written, good the
// good rows so far.
type generator struct {
	w     io.Writer
	c     Config
	cw    *csv.Writer // with c.CSV
	enc   *json.Encoder
	r     *rand.Rand
	truth *Truth
	line  int
	good  int
	// badKind picks the damage of the next malformed row.
	badKind int
}

// instance writes the tries of task t of dag in the run starting at
// runStart, and what they must count for in the truth.
func (g *generator) instance(dag string, t int, runStart time.Time) error {
	task := fmt.Sprintf("task_%02d", t)
	runID := "scheduled__" + runStart.Format(time.RFC3339)
	key := dag + "." + task
	tt := g.truth.Tasks[key]
	if tt == nil {
		tt = &TaskTruth{Causes: map[string]int{}}
		g.truth.Tasks[key] = tt
	}
	tt.Instances++
	// Task t fails with probability growing with t; task 0 never.
	failures := 0
	for failures < 3 && g.r.Float64() < float64(t)*0.08 {
		failures++
	}
	finalFails := failures == 3 && g.r.IntN(2) == 0
	at := runStart.Add(time.Duration(t) * time.Minute)
	tries := failures + 1
	if finalFails {
		tries = failures
	}
	var wasted int64
	for try := 1; try <= tries; try++ {
		dur := time.Duration(30+g.r.IntN(600)) * time.Second
		x := row{DagID: dag, TaskID: task, RunID: runID, TryNumber: try, Start: at.Format(time.RFC3339Nano), End: at.Add(dur).Format(time.RFC3339Nano)}
		if try <= failures {
			x.State = "up_for_retry"
			if try == tries {
				x.State = "failed"
			}
			cause := Causes[(t+try+g.r.IntN(2))%len(Causes)]
			m := message(cause, g.r, at)
			x.Message = &m
			tt.Causes[cause]++
			if !finalFails {
				wasted += dur.Milliseconds()
			}
		} else {
			x.State = "success"
		}
		if err := g.goodRow(x); err != nil {
			return err
		}
		at = at.Add(dur + 5*time.Minute)
	}
	tt.Retries += tries - 1
	if finalFails {
		tt.FailedRuns++
	} else if failures > 0 {
		tt.FlakyRuns++
		tt.WastedMillis += wasted
	}
	return nil
}

// goodRow writes x, then the duplicate or malformed row due after it.
func (g *generator) goodRow(x row) error {
	if err := g.emit(x); err != nil {
		return err
	}
	g.truth.Rows++
	g.good++
	if g.c.Duplicates && g.good%97 == 0 {
		if err := g.emit(x); err != nil {
			return err
		}
		g.truth.DupLines = append(g.truth.DupLines, g.line)
	}
	if g.c.BadEvery > 0 && g.good%g.c.BadEvery == 0 {
		if err := g.emitBad(g.badKind); err != nil {
			return err
		}
		g.truth.BadLines = append(g.truth.BadLines, g.line)
		g.badKind++
	}
	return nil
}

func (g *generator) emit(x row) error {
	g.line++
	if !g.c.CSV {
		return g.enc.Encode(x)
	}
	msg := ""
	if x.Message != nil {
		msg = *x.Message
	}
	err := g.cw.Write([]string{x.DagID, x.TaskID, x.RunID, strconv.Itoa(x.TryNumber), x.State, x.Start, x.End, msg})
	// A quoted multi-line message spans several lines.
	for _, ch := range msg {
		if ch == '\n' {
			g.line++
		}
	}
	return err
}

// emitBad writes a malformed row of the given kind of damage.
func (g *generator) emitBad(kind int) error {
	if g.cw != nil {
		g.cw.Flush() // raw writes below must come after the buffered rows
	}
	var s string
	switch kind % 5 {
	case 0:
		if g.c.CSV {
			s = "etl,bro\"ken,r,1,success,2024-05-01T00:00:00Z,2024-05-01T00:01:00Z,\n" // a bare quote
		} else {
			s = `{"dag_id": "etl", "task_id": ` + "\n" // cut-off JSON
		}
	case 1:
		return emitRaw(g.w, g.c, &g.line, row{DagID: "", TaskID: "t", RunID: "r", TryNumber: 1, State: "success", Start: "2024-05-01T00:00:00Z", End: "2024-05-01T00:01:00Z"})
	case 2:
		return emitRaw(g.w, g.c, &g.line, row{DagID: "etl", TaskID: "t", RunID: "r", TryNumber: 0, State: "failed", Start: "2024-05-01T00:00:00Z", End: "2024-05-01T00:01:00Z"})
	case 3:
		return emitRaw(g.w, g.c, &g.line, row{DagID: "etl", TaskID: "t", RunID: "r", TryNumber: 1, State: "exploded", Start: "2024-05-01T00:00:00Z", End: "2024-05-01T00:01:00Z"})
	case 4:
		return emitRaw(g.w, g.c, &g.line, row{DagID: "etl", TaskID: "t", RunID: "r", TryNumber: 1, State: "success", Start: "2024-05-01T00:05:00Z", End: "2024-05-01T00:01:00Z"})
	}
	g.line++
	_, err := io.WriteString(g.w, s)
	return err
}

func emitRaw(w io.Writer, c Config, line *int, x row) error {
	*line++
	if !c.CSV {
		return json.NewEncoder(w).Encode(x)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{x.DagID, x.TaskID, x.RunID, strconv.Itoa(x.TryNumber), x.State, x.Start, x.End, ""}); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
