package history

import (
	"fmt"
	"io"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/beametrics/beametrics/internal/jobs/slots/cronshift"
)

// ReadRuns reads an Airflow DAG run history. Columns (JSON keys or CSV
// header): dag_id, dag_run_id (or run_id), logical_date (or
// execution_date), start_date, end_date, and optionally schedule (or
// schedule_interval: a cron string or the REST API's
// {"__type": "CronExpression", "value": ...} object), run_type, state and
// timezone (the DAG's, in which its cron fields are read).
// Runs without an end (still running, or never started) are bad rows: they
// have no duration to learn from.
func ReadRuns(r io.Reader, file string, format Format) ([]DagRun, []BadRow, error) {
	var runs []DagRun
	var bad []BadRow
	err := forEachRecord(r, file, format, func(line int, rec record) {
		run, err := parseRun(rec)
		if err != nil {
			bad = append(bad, BadRow{file, line, err.Error()})
			return
		}
		run.Line = line
		runs = append(runs, run)
	}, func(b BadRow) { bad = append(bad, b) })
	return runs, bad, err
}

func firstOf(rec record, names ...string) (string, error) {
	for _, n := range names {
		if s, ok := rec.get(n); ok {
			return s, nil
		}
	}
	return "", fmt.Errorf("missing %s", strings.Join(names, " or "))
}

func parseRun(rec record) (DagRun, error) {
	var run DagRun
	var err error
	if run.DagID, err = firstOf(rec, "dag_id"); err != nil {
		return run, err
	}
	if run.RunID, err = firstOf(rec, "dag_run_id", "run_id"); err != nil {
		return run, err
	}
	if s, err := firstOf(rec, "logical_date", "execution_date"); err == nil {
		if run.LogicalDate, err = ParseTime(s); err != nil {
			return run, fmt.Errorf("logical_date: %w", err)
		}
	}
	s, err := firstOf(rec, "start_date")
	if err != nil {
		return run, fmt.Errorf("%w (run never started)", err)
	}
	if run.Start, err = ParseTime(s); err != nil {
		return run, fmt.Errorf("start_date: %w", err)
	}
	if s, err = firstOf(rec, "end_date"); err != nil {
		return run, fmt.Errorf("%w (run not finished)", err)
	}
	if run.End, err = ParseTime(s); err != nil {
		return run, fmt.Errorf("end_date: %w", err)
	}
	if run.End.Before(run.Start) {
		return run, fmt.Errorf("end_date %s is before start_date", s)
	}
	if s, err := firstOf(rec, "schedule", "schedule_interval", "timetable"); err == nil {
		run.Schedule = scheduleText(s)
	}
	run.RunType, _ = rec.get("run_type")
	if s, ok := rec.get("timezone"); ok {
		loc, err := cronshift.LoadZone(s)
		if err != nil {
			return run, err
		}
		run.Timezone = loc.String()
	}
	return run, nil
}

// scheduleText unwraps the REST API's {"__type": ..., "value": ...} form and
// the metadata DB's JSON-quoted "\"0 2 * * *\"".
func scheduleText(s string) string {
	t := strings.TrimSpace(s)
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		if v, err := fastjson.Parse(t); err == nil {
			if b, err := v.StringBytes(); err == nil {
				return string(b)
			}
		}
	}
	if strings.HasPrefix(t, "{") {
		if v, err := fastjson.Parse(t); err == nil {
			if b := v.GetStringBytes("value"); b != nil {
				return string(b)
			}
		}
	}
	return t
}

// NormalizeLabel turns a DAG id into the form Airflow's Google provider
// writes into the airflow-dag label (label values are lower case, and only
// letters, digits, '_' and '-' are allowed), so that ids and labels compare.
func NormalizeLabel(id string) string {
	b := []byte(strings.ToLower(id))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return string(b)
}
