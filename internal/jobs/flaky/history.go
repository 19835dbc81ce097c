// Package flakytasks finds Airflow tasks that fail and then pass on retry,
// ranks them by the time their failed tries wasted, and folds their failure
// messages into signatures so that one cause shows as one line.
package flaky

import (
	"strconv"
	"time"
)

// TaskTry is one try of one Airflow task instance, as exported from the
// Airflow REST API or the metadata database.
type TaskTry struct {
	DagID  string `json:"dag_id"`
	TaskID string `json:"task_id"`
	RunID  string `json:"run_id"`
	// MapIndex tells apart the instances of a dynamically mapped task in
	// one run; -1 for unmapped tasks, as in Airflow.
	MapIndex  int       `json:"map_index"`
	TryNumber int       `json:"try_number"`
	State     string    `json:"state"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Message   string    `json:"message,omitempty"`
	// Source and Line say where the row was read, for error reports.
	Source string `json:"source"`
	Line   int    `json:"line"`
}

// BadRow is an input row that could not be used, and why.
type BadRow struct {
	Source string `json:"source"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	// Text is the start of the row as read, to find it again.
	Text string `json:"text,omitempty"`
}

// InstanceKey identifies a task instance: every try of one task in one run
// (and one map index) shares it.
func InstanceKey(t TaskTry) string {
	return t.DagID + "\x00" + t.TaskID + "\x00" + t.RunID + "\x00" + strconv.Itoa(t.MapIndex)
}

// TaskKey identifies a task across runs.
func TaskKey(dag, task string) string { return dag + "\x00" + task }

// Airflow task instance states. Only success and the two failure states
// decide flakiness; the others are counted as other tries.
var knownStates = map[string]outcome{
	"success":           succeeded,
	"failed":            failedTry,
	"up_for_retry":      failedTry,
	"upstream_failed":   otherOutcome,
	"skipped":           otherOutcome,
	"running":           otherOutcome,
	"queued":            otherOutcome,
	"scheduled":         otherOutcome,
	"removed":           otherOutcome,
	"restarting":        otherOutcome,
	"up_for_reschedule": otherOutcome,
	"deferred":          otherOutcome,
	"shutdown":          otherOutcome,
	"none":              otherOutcome,
	"":                  otherOutcome,
}

type outcome int

const (
	otherOutcome outcome = iota
	succeeded
	failedTry
)

func outcomeOf(state string) outcome { return knownStates[state] }
