package history

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// record gives a row's columns by name, whatever the file format.
type record interface {
	// get returns a column's text; ok is false when it is absent or null.
	get(name string) (s string, ok bool)
	// labels returns the job's labels from a "labels" column, if any.
	labels() (map[string]string, error)
}

// forEachRecord calls fn for every row of r with its 1-based line number, and
// bad for rows that are not even well-formed JSON or CSV. Its error is only
// for reading failures.
func forEachRecord(r io.Reader, file string, format Format, fn func(line int, rec record), bad func(BadRow)) error {
	switch format {
	case FormatJSON:
		return forEachJSON(r, file, fn, bad)
	case FormatCSV:
		return forEachCSV(r, file, fn, bad)
	}
	return fmt.Errorf("unknown format %q", format)
}

type jsonRecord struct{ v *fastjson.Value }

func (j jsonRecord) get(name string) (string, bool) {
	v := j.v.Get(name)
	if v == nil {
		return "", false
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return "", false
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b), true
	}
	return v.String(), true
}

func (j jsonRecord) labels() (map[string]string, error) {
	v := j.v.Get("labels")
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	if v.Type() == fastjson.TypeString {
		b, _ := v.StringBytes()
		return parseLabelsText(string(b))
	}
	return labelsFromJSON(v)
}

// labelsFromJSON accepts BigQuery's ARRAY<STRUCT<key, value>> as exported
// ([{"key":..,"value":..}]) and a plain {"key": "value"} object.
func labelsFromJSON(v *fastjson.Value) (map[string]string, error) {
	out := map[string]string{}
	switch v.Type() {
	case fastjson.TypeArray:
		arr, _ := v.Array()
		for _, kv := range arr {
			k, v := kv.GetStringBytes("key"), kv.GetStringBytes("value")
			if k == nil {
				return nil, errors.New(`labels: array item without "key"`)
			}
			out[string(k)] = string(v)
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		var bad error
		o.Visit(func(k []byte, v *fastjson.Value) {
			s, err := v.StringBytes()
			if err != nil {
				bad = fmt.Errorf("labels: value of %q is not a string", k)
			}
			out[string(k)] = string(s)
		})
		if bad != nil {
			return nil, bad
		}
	default:
		return nil, errors.New("labels: want an array of {key, value} or an object")
	}
	return out, nil
}

func parseLabelsText(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	v, err := fastjson.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("labels: not JSON: %w", err)
	}
	return labelsFromJSON(v)
}

func forEachJSON(r io.Reader, file string, fn func(int, record), bad func(BadRow)) error {
	sc := bufio.NewScanner(r)
	// Query texts can be long; BigQuery allows 1 MB queries.
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	var p fastjson.Parser
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		v, err := p.ParseBytes(b)
		if err != nil {
			bad(BadRow{file, line, "not JSON: " + err.Error()})
			continue
		}
		if v.Type() != fastjson.TypeObject {
			bad(BadRow{file, line, "not a JSON object"})
			continue
		}
		fn(line, jsonRecord{v})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: after line %d: %w", file, line, err)
	}
	return nil
}

type csvRecord struct {
	cols   map[string]int
	fields []string
}

func (c csvRecord) get(name string) (string, bool) {
	i, ok := c.cols[name]
	if !ok || i >= len(c.fields) || c.fields[i] == "" {
		// BigQuery writes NULL as an empty CSV field.
		return "", false
	}
	return c.fields[i], true
}

func (c csvRecord) labels() (map[string]string, error) {
	s, ok := c.get("labels")
	if !ok {
		return nil, nil
	}
	return parseLabelsText(s)
}

func forEachCSV(r io.Reader, file string, fn func(int, record), bad func(BadRow)) error {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: header: %w", file, err)
	}
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad(BadRow{file, pe.StartLine, "bad CSV: " + pe.Err.Error()})
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		line, _ := cr.FieldPos(0)
		if len(fields) != len(header) {
			bad(BadRow{file, line, fmt.Sprintf("has %d fields, the header has %d", len(fields), len(header))})
			continue
		}
		fn(line, csvRecord{cols, fields})
	}
}

// ReadJobs reads a BigQuery job history file of the given kind and calls use
// for every slot usage it holds. It returns the number of rows read (good and
// bad); err is only for failures to read the file.
func ReadJobs(r io.Reader, file string, kind Kind, format Format, use func(Usage), bad func(BadRow)) (rows int, err error) {
	var parse func(record) ([]Usage, error)
	switch kind {
	case KindTimeline:
		parse = parseTimeline
	case KindJobs:
		parse = parseJobs
	default:
		return 0, fmt.Errorf("unknown history kind %q", kind)
	}
	err = forEachRecord(r, file, format, func(line int, rec record) {
		rows++
		us, perr := parse(rec)
		if perr != nil {
			bad(BadRow{file, line, perr.Error()})
			return
		}
		for _, u := range us {
			use(u)
		}
	}, func(b BadRow) {
		rows++
		bad(b)
	})
	return rows, err
}

func need(rec record, name string) (string, error) {
	s, ok := rec.get(name)
	if !ok {
		return "", fmt.Errorf("missing %s", name)
	}
	return s, nil
}

func needInt(rec record, name string) (int64, error) {
	s, err := need(rec, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer: %q", name, s)
	}
	if n < 0 {
		return 0, fmt.Errorf("%s is negative: %d", name, n)
	}
	return n, nil
}

func jobLabels(rec record) (dag, task string, err error) {
	dag, _ = rec.get("airflow_dag")
	task, _ = rec.get("airflow_task")
	if dag == "" {
		l, err := rec.labels()
		if err != nil {
			return "", "", err
		}
		dag, task = l["airflow-dag"], l["airflow-task"]
	}
	if dag == "" {
		if q, ok := rec.get("query"); ok {
			dag, task = labelsFromComment(q)
		}
	}
	return dag, task, nil
}

var (
	commentDAG  = regexp.MustCompile(`airflow[-_]dag["']?\s*[:=]\s*["']?([A-Za-z0-9_.\-]+)`)
	commentTask = regexp.MustCompile(`airflow[-_]task["']?\s*[:=]\s*["']?([A-Za-z0-9_.\-]+)`)
)

// labelsFromComment finds "airflow-dag: X" / "airflow-task: Y" in a query's
// text (a comment such as `-- airflow-dag: sales_daily`), for jobs whose
// submitter did not set labels.
func labelsFromComment(q string) (dag, task string) {
	if m := commentDAG.FindStringSubmatch(q); m != nil {
		dag = m[1]
	}
	if m := commentTask.FindStringSubmatch(q); m != nil {
		task = m[1]
	}
	return dag, task
}

func parseTimeline(rec record) ([]Usage, error) {
	job, err := need(rec, "job_id")
	if err != nil {
		return nil, err
	}
	ps, err := need(rec, "period_start")
	if err != nil {
		return nil, err
	}
	at, err := ParseTime(ps)
	if err != nil {
		return nil, fmt.Errorf("period_start: %w", err)
	}
	ms, err := needInt(rec, "period_slot_ms")
	if err != nil {
		return nil, err
	}
	dag, task, err := jobLabels(rec)
	if err != nil {
		return nil, err
	}
	return []Usage{{JobID: job, At: at, SlotMs: ms, DAGLabel: dag, TaskLabel: task}}, nil
}

func parseJobs(rec record) ([]Usage, error) {
	job, err := need(rec, "job_id")
	if err != nil {
		return nil, err
	}
	var ts [2]string
	for i, c := range []string{"start_time", "end_time"} {
		if ts[i], err = need(rec, c); err != nil {
			return nil, err
		}
	}
	start, err := ParseTime(ts[0])
	if err != nil {
		return nil, fmt.Errorf("start_time: %w", err)
	}
	end, err := ParseTime(ts[1])
	if err != nil {
		return nil, fmt.Errorf("end_time: %w", err)
	}
	if end.Before(start) {
		return nil, fmt.Errorf("end_time %s is before start_time %s", ts[1], ts[0])
	}
	total, err := needInt(rec, "total_slot_ms")
	if err != nil {
		return nil, err
	}
	dag, task, err := jobLabels(rec)
	if err != nil {
		return nil, err
	}
	var out []Usage
	for _, p := range SpreadOverMinutes(start.UnixMilli(), end.UnixMilli(), total) {
		out = append(out, Usage{JobID: job, At: timeOfMilli(p.StartMs), SlotMs: p.SlotMs, DurMs: p.DurMs, DAGLabel: dag, TaskLabel: task})
	}
	return out, nil
}
