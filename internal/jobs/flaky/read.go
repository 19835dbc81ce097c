package flaky

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Format is an input file format.
type Format string

const (
	JSONLines Format = "jsonl"
	CSV       Format = "csv"
)

// FormatFromName infers the format from a file name's extension
// (.jsonl, .ndjson, .json for JSON lines; .csv for CSV), looking through a
// trailing .gz.
func FormatFromName(name string) (Format, error) {
	switch strings.ToLower(filepath.Ext(strings.TrimSuffix(name, ".gz"))) {
	case ".jsonl", ".ndjson", ".json":
		return JSONLines, nil
	case ".csv":
		return CSV, nil
	}
	return "", fmt.Errorf("cannot tell the format of %q from its extension: use --input-format jsonl or csv", name)
}

// ReadOptions control how rows are interpreted.
type ReadOptions struct {
	// AssumeUTC accepts timestamps without a time zone as UTC. Airflow
	// stores UTC, but a zoneless export may come from a local-time view,
	// so this is a choice the user makes, never a default.
	AssumeUTC bool
}

// Column names accepted for each field, first match wins. They cover the
// REST API's task instance objects (dag_run_id, start_date, ...) and the
// metadata database's task_instance / task_instance_history tables.
var fieldNames = map[string][]string{
	"dag_id":     {"dag_id"},
	"task_id":    {"task_id"},
	"run_id":     {"run_id", "dag_run_id"},
	"map_index":  {"map_index"},
	"try_number": {"try_number"},
	"state":      {"state"},
	"start":      {"start_date", "start"},
	"end":        {"end_date", "end"},
	"message":    {"message", "log_tail", "error", "failure_message"},
}

var requiredFields = []string{"dag_id", "task_id", "run_id", "try_number", "state"}

// maxTextInReport bounds how much of a bad row is echoed back.
const maxTextInReport = 200

// ReadHistory reads task tries from r, calling emit for each good row and
// bad for each row that cannot be used. source names r in reports. The
// returned error is for input that cannot be read at all (I/O errors, a
// CSV header without the required columns).
func ReadHistory(r io.Reader, source string, format Format, opts ReadOptions, emit func(TaskTry), bad func(BadRow)) error {
	switch format {
	case JSONLines:
		return readJSONLines(r, source, opts, emit, bad)
	case CSV:
		return readCSV(r, source, opts, emit, bad)
	}
	return fmt.Errorf("unknown input format %q (want jsonl or csv)", format)
}

func clip(s string) string {
	if len(s) <= maxTextInReport {
		return s
	}
	return s[:maxTextInReport] + "..."
}

func readJSONLines(r io.Reader, source string, opts ReadOptions, emit func(TaskTry), bad func(BadRow)) error {
	br := bufio.NewReaderSize(r, 1<<20)
	line := 0
	for {
		raw, err := br.ReadBytes('\n')
		if len(raw) > 0 {
			line++
			readJSONLine(bytes.TrimSpace(raw), source, line, opts, emit, bad)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", source, line+1, err)
		}
	}
}

func readJSONLine(raw []byte, source string, line int, opts ReadOptions, emit func(TaskTry), bad func(BadRow)) {
	if len(raw) == 0 {
		return // blank lines separate nothing and hold no row
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		bad(BadRow{Source: source, Line: line, Reason: "not a JSON object: " + err.Error(), Text: clip(string(raw))})
		return
	}
	// A saved REST API page ({"task_instances": [...], "total_entries": N})
	// on one line is accepted too.
	if page, ok := obj["task_instances"]; ok {
		var items []map[string]json.RawMessage
		if err := json.Unmarshal(page, &items); err != nil {
			bad(BadRow{Source: source, Line: line, Reason: "task_instances is not a list of objects: " + err.Error(), Text: clip(string(raw))})
			return
		}
		for i, item := range items {
			t, err := tryFromJSON(item, opts)
			if err != nil {
				bad(BadRow{Source: source, Line: line, Reason: fmt.Sprintf("task_instances[%d]: %v", i, err), Text: clip(string(raw))})
				continue
			}
			t.Source, t.Line = source, line
			emit(t)
		}
		return
	}
	t, err := tryFromJSON(obj, opts)
	if err != nil {
		bad(BadRow{Source: source, Line: line, Reason: err.Error(), Text: clip(string(raw))})
		return
	}
	t.Source, t.Line = source, line
	emit(t)
}

// tryFromJSON turns one object into a try; JSON null counts as absent.
func tryFromJSON(obj map[string]json.RawMessage, opts ReadOptions) (TaskTry, error) {
	get := func(field string) (string, bool, error) {
		for _, name := range fieldNames[field] {
			raw, ok := obj[name]
			if !ok || string(raw) == "null" {
				continue
			}
			var s string
			if err := json.Unmarshal(raw, &s); err == nil {
				return s, true, nil
			}
			var n json.Number
			if err := json.Unmarshal(raw, &n); err == nil {
				return n.String(), true, nil
			}
			return "", false, fmt.Errorf("%s is neither a string nor a number: %s", name, clip(string(raw)))
		}
		return "", false, nil
	}
	return buildTry(get, opts)
}

func readCSV(r io.Reader, source string, opts ReadOptions, emit func(TaskTry), bad func(BadRow)) error {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty CSV file: a header row is needed", source)
		}
		return fmt.Errorf("%s: reading CSV header: %w", source, err)
	}
	column := map[string]int{}
	for i, h := range header {
		column[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	index := map[string]int{}
	for field, names := range fieldNames {
		for _, n := range names {
			if i, ok := column[n]; ok {
				index[field] = i
				break
			}
		}
	}
	var missing []string
	for _, f := range requiredFields {
		if _, ok := index[f]; !ok {
			missing = append(missing, strings.Join(fieldNames[f], " or "))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: CSV header lacks required columns: %s", source, strings.Join(missing, ", "))
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			// The reader resumes at the next record after a parse error.
			bad(BadRow{Source: source, Line: perr.StartLine, Reason: "CSV: " + perr.Err.Error(), Text: clip(strings.Join(rec, ","))})
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		line, _ := cr.FieldPos(0)
		get := func(field string) (string, bool, error) {
			i, ok := index[field]
			if !ok {
				return "", false, nil
			}
			v := rec[i]
			if v == "" || v == `\N` || v == "NULL" {
				return "", false, nil // CSV and database spellings of null
			}
			return v, true, nil
		}
		t, err := buildTry(get, opts)
		if err != nil {
			bad(BadRow{Source: source, Line: line, Reason: err.Error(), Text: clip(strings.Join(rec, ","))})
			continue
		}
		t.Source, t.Line = source, line
		emit(t)
	}
}

// buildTry validates the fields of one row, whatever its format.
func buildTry(get func(field string) (string, bool, error), opts ReadOptions) (TaskTry, error) {
	var t TaskTry
	str := func(field string, dst *string, required bool) error {
		v, ok, err := get(field)
		if err != nil {
			return err
		}
		if required && (!ok || strings.TrimSpace(v) == "") {
			return fmt.Errorf("missing %s", fieldNames[field][0])
		}
		*dst = v
		return nil
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"dag_id", &t.DagID}, {"task_id", &t.TaskID}, {"run_id", &t.RunID}} {
		if err := str(f.name, f.dst, true); err != nil {
			return t, err
		}
	}
	var try string
	if err := str("try_number", &try, true); err != nil {
		return t, err
	}
	n, err := strconv.Atoi(try)
	if err != nil || n < 1 {
		return t, fmt.Errorf("try_number %q is not a positive integer", try)
	}
	t.TryNumber = n

	t.MapIndex = -1
	if v, ok, err := get("map_index"); err != nil {
		return t, err
	} else if ok {
		m, err := strconv.Atoi(v)
		if err != nil || m < -1 {
			return t, fmt.Errorf("map_index %q is not an integer >= -1", v)
		}
		t.MapIndex = m
	}

	state, _, err := get("state")
	if err != nil {
		return t, err
	}
	state = strings.ToLower(strings.TrimSpace(state))
	state = strings.TrimPrefix(state, "taskinstancestate.") // Python enum repr in some exports
	if _, ok := knownStates[state]; !ok {
		return t, fmt.Errorf("unknown state %q", state)
	}
	t.State = state

	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"start", &t.Start}, {"end", &t.End}} {
		v, ok, err := get(f.name)
		if err != nil {
			return t, err
		}
		if !ok {
			continue
		}
		ts, err := parseTime(v, opts.AssumeUTC)
		if err != nil {
			return t, fmt.Errorf("%s: %w", fieldNames[f.name][0], err)
		}
		*f.dst = ts
	}
	if !t.Start.IsZero() && !t.End.IsZero() && t.End.Before(t.Start) {
		return t, fmt.Errorf("end_date %s is before start_date %s", t.End.Format(time.RFC3339), t.Start.Format(time.RFC3339))
	}
	if outcomeOf(t.State) != otherOutcome && t.End.IsZero() {
		return t, fmt.Errorf("state %s without end_date", t.State)
	}
	msg, _, err := get("message")
	if err != nil {
		return t, err
	}
	t.Message = msg
	return t, nil
}

// parseTime accepts RFC 3339 (the REST API) and the database's
// "2024-05-01 12:00:00.123456+00" forms.
func parseTime(v string, assumeUTC bool) (time.Time, error) {
	s := strings.TrimSpace(v)
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	s = strings.Replace(s, " +", "+", 1)
	if strings.HasSuffix(s, " UTC") {
		s = strings.TrimSuffix(s, " UTC") + "Z"
	}
	// "+00" (PostgreSQL's short offset) -> "+00:00"
	if n := len(s); n > 3 && (s[n-3] == '+' || s[n-3] == '-') && isDigits(s[n-2:]) && strings.Contains(s, "T") && strings.LastIndex(s, ":") < n-3 {
		s += ":00"
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		if !assumeUTC {
			return time.Time{}, fmt.Errorf("timestamp %q has no time zone (pass --assume-utc if the export is in UTC)", v)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse timestamp %q", v)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
