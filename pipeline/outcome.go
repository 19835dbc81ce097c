package pipeline

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/event"
	"github.com/beametrics/beametrics/internal/selfmetrics"
)

// Exit statuses of a local run that finished but did not count everything,
// besides 1 (the run failed or was stopped) and 2 (bad flags or config,
// nothing started). A script can tell them apart; README lists them all.
const (
	// ExitLosses: points were lost after the exporters' retries (or
	// because the output was closed). They are counted by exporter and
	// code, and were written to --dead-letter when given.
	ExitLosses = 3
	// ExitMostRefused: more records were refused than counted, which is
	// a configuration mistake (the wrong event-time field, input that is
	// not JSON lines) far more often than bad data.
	ExitMostRefused = 4
)

// outcome judges a finished local run by its totals: nil when every point
// was written and at most half the records were refused. Refused records
// are not losses by themselves: they are counted and dead-lettered, and a
// few are normal; most of them is not.
func outcome(t selfmetrics.Totals, deadLetter string) error {
	if t.DeadLetters > 0 && t.DeadLetters > t.Events {
		reason, n := largest(t.DeadLetterReasons)
		msg := fmt.Sprintf("most records were refused, which usually means a configuration mistake: %d of %d records are dead letters",
			t.DeadLetters, t.DeadLetters+t.Events)
		if n > 0 {
			msg += fmt.Sprintf(", %d of them %s", n, reason)
			if hint := refusalHint[reason]; hint != "" {
				msg += " (" + hint + ")"
			}
		}
		return &ExitError{Code: ExitMostRefused, Err: fmt.Errorf("%s; %s", msg, whereDeadLettersWent(deadLetter))}
	}
	if t.ExportFailures > 0 {
		var parts []string
		for _, f := range slices.SortedFunc(maps.Keys(t.Failures), func(a, b selfmetrics.Failure) int {
			return cmp.Or(cmp.Compare(a.Exporter, b.Exporter), cmp.Compare(a.Code, b.Code))
		}) {
			parts = append(parts, fmt.Sprintf("%s %s: %d", f.Exporter, f.Code, t.Failures[f]))
		}
		by := ""
		if len(parts) > 0 {
			by = " (" + strings.Join(parts, ", ") + ")"
		}
		return &ExitError{Code: ExitLosses, Err: fmt.Errorf("finished with losses: %d points were not written after retries%s; %s",
			t.ExportFailures, by, whereDeadLettersWent(deadLetter))}
	}
	return nil
}

// refusalHint says what usually causes most records to be refused for a
// reason, so the error leads with the likely fix.
var refusalHint = map[string]string{
	engine.ReasonBadEventTime: "check event_time_field in the config or --event-time-field, and --event-time-format",
	event.ReasonInvalidJSON:   "is the input newline-delimited JSON?",
	event.ReasonInvalidUTF8:   "is the input compressed or binary? .gz files are read by name",
	event.ReasonNotObject:     "each record must be a JSON object",
}

func whereDeadLettersWent(dest string) string {
	if dest == "" {
		return "give --dead-letter FILE to keep them"
	}
	return "they are in --dead-letter " + dest
}

// largest returns the key with the largest count (the first in key order
// on a tie, so the message does not change from run to run).
func largest(m map[string]int64) (key string, n int64) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > n {
			key, n = k, m[k]
		}
	}
	return key, n
}
