// Package history reads the files a user exports for `beametrics slots`:
// BigQuery job timelines (INFORMATION_SCHEMA.JOBS_TIMELINE_BY_PROJECT or the
// coarser JOBS_BY_PROJECT) and Airflow DAG run histories, as newline-delimited
// JSON or CSV. Every row either parses or becomes a BadRow with its line
// number and the reason; nothing is dropped without a trace.
package history

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Kind says which BigQuery export a job history file holds.
type Kind string

const (
	// KindTimeline is JOBS_TIMELINE_BY_PROJECT: one row per job per second.
	KindTimeline Kind = "timeline"
	// KindJobs is JOBS_BY_PROJECT: one row per job with its total slot time.
	KindJobs Kind = "jobs"
)

// Format is the encoding of an input file.
type Format string

const (
	FormatJSON Format = "json" // newline-delimited JSON, one object a line
	FormatCSV  Format = "csv"  // CSV with a header row
)

// FormatFromName picks the format from a file name's extension. It refuses
// to guess for other extensions: the caller must then say it.
func FormatFromName(name string) (Format, error) {
	switch strings.ToLower(path.Ext(strings.TrimSuffix(name, ".gz"))) {
	case ".json", ".jsonl", ".ndjson":
		return FormatJSON, nil
	case ".csv":
		return FormatCSV, nil
	}
	return "", fmt.Errorf("cannot tell the format of %q from its extension (.json, .jsonl, .ndjson or .csv); pass --format", name)
}

// BadRow is an input row that could not be used, with where it was and why.
type BadRow struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func (b BadRow) String() string { return fmt.Sprintf("%s:%d: %s", b.File, b.Line, b.Reason) }

// Usage is slot time spent by one BigQuery job inside one calendar minute
// (for a timeline row: one second of it).
type Usage struct {
	JobID string
	// At is the time the slot time was spent (period_start, or the start of
	// the minute a JOBS row was spread over).
	At     time.Time
	SlotMs int64
	// DurMs is how long after At the slot time was spread evenly (a JOBS
	// row's piece of a calendar minute); 0 for a point (a timeline period).
	DurMs int64
	// DAGLabel and TaskLabel are the airflow-dag / airflow-task labels, or
	// the same names found in the query's comment; empty when neither.
	DAGLabel  string
	TaskLabel string
}

// Minute returns the Unix minute (minutes since the epoch) of At.
func (u Usage) Minute() int64 { return floorDiv(u.At.Unix(), 60) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// DagRun is one Airflow DAG run.
type DagRun struct {
	DagID       string    `json:"dag_id"`
	RunID       string    `json:"run_id"`
	LogicalDate time.Time `json:"logical_date"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	// Schedule is the DAG's schedule as Airflow shows it: a cron expression,
	// a preset such as @daily, or empty/"None" for unscheduled DAGs.
	Schedule string `json:"schedule"`
	RunType  string `json:"run_type,omitempty"`
	// Timezone is the DAG's time zone (an IANA name), in which Airflow reads
	// its cron fields; empty for UTC.
	Timezone string `json:"timezone,omitempty"`
	// Line is the input line the run came from, for messages.
	Line int `json:"line"`
}

// timeLayouts are the timestamp spellings BigQuery (JSON and CSV exports,
// the bq tool) and Airflow (REST API, metadata DB dumps) produce.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999 MST",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// ParseTime reads a timestamp; those without a zone are taken as UTC, which
// is what BigQuery and Airflow write.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if strings.HasSuffix(l, "MST") && t.Location().String() != "UTC" {
				// time.Parse accepts any zone abbreviation; only UTC is
				// unambiguous.
				continue
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q", s)
}
