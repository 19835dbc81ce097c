// Package profile is the Beam batch pipeline behind `beametrics slots
// profile`: from a BigQuery job history and an Airflow run history it
// learns each DAG's slot usage relative to its start, the total usage per
// minute of the day, and the minutes in which the total went over the cap.
package profile

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/slots/history"
)

// DocVersion is bumped when Doc changes incompatibly.
const DocVersion = 1

// Doc is the profile written by the pipeline and read by `slots plan`.
type Doc struct {
	Version int    `json:"version"`
	Kind    string `json:"kind"` // timeline or jobs
	// CapSlots is the cap the over-cap minutes were measured against.
	CapSlots float64  `json:"cap_slots"`
	Inputs   []string `json:"inputs"`
	RunsFile string   `json:"runs_file"`
	// From and To are the first and last minute with slot usage; Days is the
	// number of calendar days (UTC) they span.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Days int       `json:"days"`
	// Rows counts input rows per file, good and bad.
	Rows map[string]int64 `json:"rows"`
	// BadRows are all rows that could not be used, sorted by file and line.
	BadRows    []history.BadRow `json:"bad_rows"`
	BadRunRows []history.BadRow `json:"bad_run_rows"`
	// SlotMsByMethod is the slot time per attribution method (label,
	// overlap, ambiguous, none).
	SlotMsByMethod map[string]int64 `json:"slot_ms_by_method"`
	DAGs           []DAGProfile     `json:"dags"`
	// MinuteOfDay has 1440 entries, minute 0 = 00:00 UTC.
	MinuteOfDay []MinuteStats `json:"minute_of_day"`
	OverCap     []OverCapMin  `json:"over_cap"`
	// History is the real usage minute by minute, the days the profile was
	// made from, so that a plan can be checked against each day that
	// happened and not only against the model's typical day. Profiles
	// written before it existed have none.
	History *History `json:"history,omitempty"`
}

// History splits every calendar minute's usage into what each scheduled
// DAG's runs used (which a plan moves) and the rest (which stays).
type History struct {
	// Background is the usage no DAG profile models, in the minutes with any.
	Background []MinuteUse `json:"background"`
	// DAGs holds each scheduled DAG's own usage, in the minutes with any.
	DAGs map[string][]MinuteUse `json:"dags"`
}

// MinuteUse is [minute since the Unix epoch (UTC), slot-ms in it]: a pair
// rather than an object because a month of history has millions of them.
type MinuteUse [2]int64

// DAGProfile is one DAG's usual slot usage relative to its run's start.
type DAGProfile struct {
	DAG      string `json:"dag"`
	Schedule string `json:"schedule"`
	// ScheduleError says why the schedule is not a usable cron, if it is not.
	ScheduleError string `json:"schedule_error,omitempty"`
	// Runs is the number of runs starting inside the usage data's time
	// range that the profile is made from; RunsOutsideRange were left out
	// of it because the job history does not cover them.
	Runs             int `json:"runs"`
	RunsOutsideRange int `json:"runs_outside_range"`
	// Attribution counts slot time of the in-range runs by method.
	SlotMsByMethod map[string]int64 `json:"slot_ms_by_method"`
	// Durations of the runs in minutes.
	MedianDurationMin float64 `json:"median_duration_min"`
	P90DurationMin    float64 `json:"p90_duration_min"`
	// Timezone is the DAG's time zone from the run history (an IANA name),
	// in which its cron fields are read; empty when the history has none.
	Timezone string `json:"timezone,omitempty"`
	// StartDelaySec is the median time from the cron tick (in Timezone, UTC
	// when empty) to the run's actual start (scheduled runs only).
	StartDelaySec int64 `json:"start_delay_sec"`
	// ScheduledStarts are those runs' starts, so that a plan given another
	// time zone for the DAG can measure the delay again.
	ScheduledStarts []time.Time `json:"scheduled_starts,omitempty"`
	// MedianSlots and P90Slots hold, per minute since the run's start, the
	// average number of slots in use in that minute.
	MedianSlots []float64 `json:"median_slots"`
	P90Slots    []float64 `json:"p90_slots"`
}

// MinuteStats is the slot usage in one minute of the day over all days.
type MinuteStats struct {
	Minute    int     `json:"minute"`
	MeanSlots float64 `json:"mean_slots"`
	MaxSlots  float64 `json:"max_slots"`
	// MeanBackgroundSlots is the part of MeanSlots that no DAG profile
	// accounts for (unattributed jobs, unscheduled DAGs, usage outside runs).
	MeanBackgroundSlots float64 `json:"mean_background_slots"`
}

// OverCapMin is a calendar minute in which the total went over the cap.
type OverCapMin struct {
	At    time.Time  `json:"at"`
	Slots float64    `json:"slots"`
	DAGs  []DAGSlots `json:"dags"`
}

// DAGSlots is one DAG's share of an over-cap minute.
type DAGSlots struct {
	DAG    string  `json:"dag"`
	Slots  float64 `json:"slots"`
	Method string  `json:"method"`
}

// Names used in over-cap lists for usage no DAG owns.
const (
	UnattributedName = "(unattributed)"
	AmbiguousName    = "(several DAGs running)"
)

// ReadDoc reads a profile written by the pipeline.
func ReadDoc(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Doc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: not a slots profile: %w", path, err)
	}
	if d.Version != DocVersion {
		return nil, fmt.Errorf("%s: profile version %d, this binary reads %d", path, d.Version, DocVersion)
	}
	if len(d.MinuteOfDay) != 1440 {
		return nil, fmt.Errorf("%s: minute_of_day has %d entries, want 1440", path, len(d.MinuteOfDay))
	}
	return &d, nil
}
