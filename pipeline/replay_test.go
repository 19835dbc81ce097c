package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/loggen"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/pipeline"
)

// badLine is a record the replay must refuse, with its reason.
type badLine struct {
	data   string
	reason string
}

var badLines = []badLine{
	{`not json at all`, "invalid_json"},
	{`[1,2,3]`, "not_an_object"},
	{`{"time":"yesterday","service":"checkout","http":{"status":500}}`, "bad_event_time"},
	{`{"service":"checkout","http":{"status":500}}`, "bad_event_time"},
	{`"just a string"`, "not_an_object"},
	{`{"time": "2025-11-24T16:00:01Z", "service": "checkout"`, "invalid_json"},
}

// logLine is what the test reads of a generated line, with encoding/json.
type logLine struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"`
	User    string    `json:"user"`
	Region  string    `json:"region"`
	HTTP    struct {
		Path      string  `json:"path"`
		Status    int     `json:"status"`
		Bytes     int     `json:"bytes"`
		LatencyMs float64 `json:"latency_ms"`
	} `json:"http"`
}

type distValue struct {
	Count   int64   `json:"count"`
	Sum     float64 `json:"sum"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Buckets []struct {
		Le    any   `json:"le"`
		Count int64 `json:"count"`
	} `json:"buckets"`
}

// want is the expected value of one series: a number, or a distribution.
type want struct {
	num      float64
	dist     *distValue
	distinct bool // approximate: within 3 %
}

func seriesKey(metric string, labels map[string]string, start time.Time, size time.Duration) string {
	return runoutput.SeriesKey(metric, labels, start, start.Add(size))
}

// expectReplay computes every series of testdata/replay.yaml over lines
// with plain Go.
func expectReplay(t *testing.T, lines [][]byte) map[string]*want {
	t.Helper()
	bounds := []float64{5, 10, 25, 50, 100, 250, 500}
	out := map[string]*want{}
	users := map[string]map[string]bool{}
	get := func(k string) *want {
		w := out[k]
		if w == nil {
			w = &want{}
			out[k] = w
		}
		return w
	}
	for _, b := range lines {
		var l logLine
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("generated line %s: %v", b, err)
		}
		m1 := l.Time.Truncate(time.Minute)
		m5 := l.Time.Truncate(5 * time.Minute)
		get(seriesKey("requests", map[string]string{"service": l.Service, "status": fmt.Sprint(l.HTTP.Status)}, m1, time.Minute)).num++
		if l.HTTP.Status >= 500 && l.Service != "healthz" {
			get(seriesKey("server-errors", nil, m1, time.Minute)).num++
		}
		if l.Service == "checkout" {
			get(seriesKey("checkout-bytes", nil, m5, 5*time.Minute)).num += float64(l.HTTP.Bytes)
		}
		w := get(seriesKey("slowest", map[string]string{"region": l.Region}, m5, 5*time.Minute))
		w.num = math.Max(w.num, l.HTTP.LatencyMs)
		if strings.HasPrefix(l.HTTP.Path, "/api/") {
			w := get(seriesKey("api-latency", nil, m1, time.Minute))
			if w.dist == nil {
				w.dist = &distValue{Min: l.HTTP.LatencyMs, Max: l.HTTP.LatencyMs}
				w.dist.Buckets = make([]struct {
					Le    any   `json:"le"`
					Count int64 `json:"count"`
				}, len(bounds)+1)
			}
			d := w.dist
			d.Count++
			d.Sum += l.HTTP.LatencyMs
			d.Min = math.Min(d.Min, l.HTTP.LatencyMs)
			d.Max = math.Max(d.Max, l.HTTP.LatencyMs)
			i := len(bounds)
			for j, ub := range bounds {
				if l.HTTP.LatencyMs <= ub {
					i = j
					break
				}
			}
			d.Buckets[i].Count++
		}
		k := seriesKey("active-users", nil, m1, time.Minute)
		if users[k] == nil {
			users[k] = map[string]bool{}
		}
		users[k][l.User] = true
	}
	for k, u := range users {
		out[k] = &want{num: float64(len(u)), distinct: true}
	}
	return out
}

// replayInput writes n lines of gen to a file with badLines spread
// evenly among them; it returns the file's path and the good lines.
func replayInput(t *testing.T, gen *loggen.Generator, n int) (path string, good [][]byte) {
	t.Helper()
	var file bytes.Buffer
	badAt := map[int]badLine{}
	for i, bl := range badLines {
		badAt[(i+1)*n/(len(badLines)+1)] = bl
	}
	var buf []byte
	for i := 0; i < n; i++ {
		if bl, ok := badAt[i]; ok {
			file.WriteString(bl.data + "\n")
		}
		buf, _ = gen.Append(buf[:0])
		good = append(good, append([]byte(nil), buf...))
		file.Write(buf)
		file.WriteByte('\n')
	}
	return writeFile(t, "logs.jsonl", file.Bytes()), good
}

// TestReplayFile replays 100,000 generated lines and six bad ones
// through pipeline.Run with --input, exports through the local exporter to
// a file and compares every series with the answers computed here, then
// checks the dead letters line by line.
func TestReplayFile(t *testing.T) {
	const n = 100_000
	input, good := replayInput(t, loggen.New(42, time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC), 10*time.Millisecond), n)
	dir := t.TempDir()
	out, dead := dir+"/metrics.jsonl", dir+"/dead.jsonl"

	eventsBefore, deadBefore := selfmetrics.Events.Load(), selfmetrics.DeadLetters.Load()
	var stderr bytes.Buffer
	o := &pipeline.Options{Config: "testdata/replay.yaml", Inputs: []string{input}, DeadLetter: dead}
	o.Exporters.Local.Path = out
	if err := pipeline.Run(context.Background(), o, &stderr); err != nil {
		t.Fatalf("Run: %v\nstderr:\n%s", err, stderr.String())
	}
	if got := selfmetrics.Events.Load() - eventsBefore; got != n {
		t.Errorf("events counted = %d, want %d", got, n)
	}
	if got := selfmetrics.DeadLetters.Load() - deadBefore; got != int64(len(badLines)) {
		t.Errorf("dead letters counted = %d, want %d", got, len(badLines))
	}
	// The summary comes from the job's Beam counters, as the runner
	// reports them.
	if strings.Contains(stderr.String(), "this process's counts") {
		t.Errorf("the runner reported no counters:\n%s", stderr.String())
	}
	if want := fmt.Sprintf(" %d events (", n); !strings.Contains(stderr.String(), want) {
		t.Errorf("the summary does not say %q:\n%s", want, stderr.String())
	}
	if want := fmt.Sprintf(", %d dead letters,", len(badLines)); !strings.Contains(stderr.String(), want) {
		t.Errorf("the summary does not say %q:\n%s", want, stderr.String())
	}
	if !strings.Contains(stderr.String(), "replaying 1 file(s)") {
		t.Errorf("stderr does not say it replays: %s", stderr.String())
	}

	checkReplayOutput(t, out, expectReplay(t, good))
	checkDeadLetters(t, dead, input, badLines)
}

func checkReplayOutput(t *testing.T, path string, wants map[string]*want) {
	t.Helper()
	sizes := map[string]time.Duration{"checkout-bytes": 5 * time.Minute, "slowest": 5 * time.Minute}
	seen := map[string]bool{}
	bad := 0
	fail := func(format string, a ...any) {
		if bad++; bad <= 20 {
			t.Errorf(format, a...)
		}
	}
	for _, e := range runoutput.ReadPoints(t, path) {
		size := sizes[e.Metric]
		if size == 0 {
			size = time.Minute
		}
		if e.WindowEnd.Sub(e.WindowStart) != size || !e.Timestamp.Equal(e.WindowEnd) {
			fail("%s: window %v..%v timestamp %v, want a %v window stamped at its end", e.Metric, e.WindowStart, e.WindowEnd, e.Timestamp, size)
		}
		k := seriesKey(e.Metric, e.Labels, e.WindowStart, size)
		if seen[k] {
			fail("%s exported twice", k)
		}
		seen[k] = true
		w, ok := wants[k]
		if !ok {
			fail("unexpected series %s = %s", k, e.Value)
			continue
		}
		if w.dist != nil {
			var d distValue
			if err := json.Unmarshal(e.Value, &d); err != nil {
				fail("%s: value %s: %v", k, e.Value, err)
				continue
			}
			if d.Count != w.dist.Count || d.Min != w.dist.Min || d.Max != w.dist.Max || !closeTo(d.Sum, w.dist.Sum, 1e-9) || len(d.Buckets) != len(w.dist.Buckets) {
				fail("%s = %s, want count=%d sum=%v min=%v max=%v", k, e.Value, w.dist.Count, w.dist.Sum, w.dist.Min, w.dist.Max)
				continue
			}
			for i, b := range d.Buckets {
				if b.Count != w.dist.Buckets[i].Count {
					fail("%s: bucket %d (le %v) = %d, want %d", k, i, b.Le, b.Count, w.dist.Buckets[i].Count)
				}
			}
			continue
		}
		var v float64
		if err := json.Unmarshal(e.Value, &v); err != nil {
			fail("%s: value %s: %v", k, e.Value, err)
			continue
		}
		switch {
		case w.distinct:
			if !closeTo(v, w.num, 0.03) {
				fail("%s = %v, want %v within 3%%", k, v, w.num)
			}
		case v != w.num:
			fail("%s = %v, want %v", k, v, w.num)
		}
		if (e.Metric == "requests" || e.Metric == "server-errors" || e.Metric == "active-users") && bytes.ContainsAny(e.Value, ".eE") {
			fail("%s: count value %s is not an integer", k, e.Value)
		}
	}
	missing := 0
	for k := range wants {
		if !seen[k] {
			if missing++; missing <= 10 {
				t.Errorf("series %s not exported", k)
			}
		}
	}
	if missing > 0 || bad > 0 {
		t.Errorf("%d wrong, %d missing of %d series", bad, missing, len(wants))
	}
	if len(wants) < 500 {
		t.Errorf("only %d series expected: the test data is too thin", len(wants))
	}
}

func closeTo(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1)
}

// checkDeadLetters reads the dead-letter file: one JSON line per bad
// line, with the reason, the original bytes and a source naming the input
// file (and, when it gives one, the line's byte offset in it).
func checkDeadLetters(t *testing.T, path, input string, bads []badLine) {
	t.Helper()
	letters := runoutput.ReadDeadLetters(t, path)
	got := map[string]string{} // original bytes -> reason
	for _, l := range letters {
		data := string(l.Data())
		if l.Detail == "" || l.Time.IsZero() {
			t.Errorf("dead letter %+v: want a detail and a time", l)
		}
		checkSource(t, l.Source, input, data)
		if _, dup := got[data]; dup {
			t.Errorf("dead letter %q written twice", data)
		}
		got[data] = l.Reason
	}
	if len(letters) != len(bads) {
		t.Errorf("%d dead letters written, want %d: %+v", len(letters), len(bads), letters)
	}
	for _, bl := range bads {
		reason, ok := got[bl.data]
		switch {
		case !ok:
			t.Errorf("bad line %q: no dead letter with its original bytes", bl.data)
		case reason != bl.reason:
			t.Errorf("bad line %q: reason %s, want %s", bl.data, reason, bl.reason)
		}
	}
}

// TestReplayDeadLetterKeepsInvalidUTF8 replays a record that is not valid
// UTF-8: its dead letter must keep the original bytes (as data_base64).
func TestReplayDeadLetterKeepsInvalidUTF8(t *testing.T) {
	bad := badLine{"{\"time\":\"2025-11-24T16:00:00Z\",\"service\":\"caf\xff\"}", "invalid_utf8"}
	cfg := writeFile(t, "c.yaml", []byte(goodConfig))
	input := writeFile(t, "in.jsonl", []byte(oneLine+bad.data+"\n"))
	dir := t.TempDir()
	o := &pipeline.Options{Config: cfg, Inputs: []string{input}, DeadLetter: dir + "/dead.jsonl"}
	o.Exporters.Local.Path = dir + "/out.jsonl"
	if stderr, err := runOptions(t, o); err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	checkDeadLetters(t, dir+"/dead.jsonl", input, []badLine{bad})
}

// checkSource checks that a dead letter's source names the input file, and
// that an offset after "@", if any, is where the record starts.
func checkSource(t *testing.T, source, input, data string) {
	t.Helper()
	if source == "file" { // the form without a position
		return
	}
	path, off, ok := strings.Cut(source, "@")
	if path != input {
		t.Errorf("dead letter source %q does not name the input %s", source, input)
		return
	}
	if !ok {
		return
	}
	var n int64
	if _, err := fmt.Sscan(off, &n); err != nil {
		t.Errorf("dead letter source %q: offset %q is not a number", source, off)
		return
	}
	f, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, len(data))
	if _, err := f.ReadAt(buf, n); err != nil || string(buf) != data {
		t.Errorf("dead letter source %q: the input holds %q at that offset, want %q", source, buf, data)
	}
}
