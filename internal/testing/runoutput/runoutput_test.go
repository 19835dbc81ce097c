package runoutput

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

const (
	countLine = `{"metric_name":"requests","labels":{"status":"200","service":"api"},"value":3,"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}`
	nanLine   = `{"metric_name":"ratio","labels":{},"value":"NaN","window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}`
	distLine  = `{"metric_name":"latency","labels":{},"value":{"count":1,"sum":2,"min":2,"max":2,"buckets":[{"le":"+Inf","count":1}]},"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}`

	textLetter   = `{"reason":"invalid_json","detail":"d","source":"file","time":"2025-11-24T16:00:00Z","data":"not json"}`
	binaryLetter = `{"reason":"invalid_utf8","detail":"","source":"in.jsonl@7","time":"2025-11-24T16:00:00Z","data_base64":"AP8="}`
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fatalTB records a fatal failure and ends the goroutine, as testing.T
// does, so that a test can see a reader fail; the readers call no other
// method.
type fatalTB struct {
	testing.TB
	failed bool
}

func (f *fatalTB) Helper()               {}
func (f *fatalTB) Fatal(...any)          { f.failed = true; runtime.Goexit() }
func (f *fatalTB) Fatalf(string, ...any) { f.failed = true; runtime.Goexit() }

// fails reports whether do fails its TB.
func fails(do func(testing.TB)) bool {
	tb := &fatalTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		do(tb)
	}()
	<-done
	return tb.failed
}

func TestReadPoints(t *testing.T) {
	got := ReadPoints(t, writeFile(t, countLine+"\n"+nanLine+"\n"))
	if len(got) != 2 {
		t.Fatalf("%d points, want 2", len(got))
	}
	if k := got[0].Series(); k != "requests{service=api,status=200} 2025-11-24T16:00:00Z/2025-11-24T16:01:00Z" {
		t.Errorf("series %s", k)
	}
	if v := got[0].Number(t); v != 3 {
		t.Errorf("value %v, want 3", v)
	}
	if !got[0].Timestamp.Equal(got[0].WindowEnd) {
		t.Errorf("timestamp %v, want the window end %v", got[0].Timestamp, got[0].WindowEnd)
	}
	if v := got[1].Number(t); !math.IsNaN(v) {
		t.Errorf("value %v, want NaN", v)
	}
}

func TestReadPointsFails(t *testing.T) {
	for name, text := range map[string]string{
		"unknown field": `{"metric_name":"m","labels":{},"value":1,"extra":1}` + "\n",
		"cut short":     countLine + "\n" + countLine[:40],
		"empty line":    countLine + "\n\n" + countLine + "\n",
		"not json":      "metric 1\n",
		"distribution":  distLine + "\n", // fails in Number, not in reading
	} {
		path := writeFile(t, text)
		if !fails(func(tb testing.TB) {
			for _, p := range ReadPoints(tb, path) {
				p.Number(tb)
			}
		}) {
			t.Errorf("%s: read without failing", name)
		}
	}
	if !fails(func(tb testing.TB) { ReadPoints(tb, filepath.Join(t.TempDir(), "none")) }) {
		t.Error("a missing file: read without failing")
	}
}

// A killed writer's torn lines are left out, whole ones kept.
func TestReadPointsKilled(t *testing.T) {
	got := ReadPointsKilled(t, writeFile(t, countLine+"\n"+countLine[:40]+nanLine+"\n"+countLine[:60]))
	if len(got) != 1 || got[0].Metric != "requests" {
		t.Errorf("got %+v, want the one whole requests point", got)
	}
}

func TestReadDeadLetters(t *testing.T) {
	got := ReadDeadLetters(t, writeFile(t, textLetter+"\n"+binaryLetter+"\n"))
	if len(got) != 2 {
		t.Fatalf("%d dead letters, want 2", len(got))
	}
	at := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	if l := got[0]; l.Reason != "invalid_json" || l.Detail != "d" || l.Source != "file" || !l.Time.Equal(at) || string(l.Data()) != "not json" || l.Text == nil {
		t.Errorf("first letter %+v", l)
	}
	if l := got[1]; l.Reason != "invalid_utf8" || l.Source != "in.jsonl@7" || string(l.Data()) != "\x00\xff" || l.Text != nil {
		t.Errorf("second letter %+v (data %q)", l, l.Data())
	}
}

func TestReadDeadLettersFails(t *testing.T) {
	for name, text := range map[string]string{
		"both forms":    `{"reason":"r","detail":"","source":"file","time":"2025-11-24T16:00:00Z","data":"x","data_base64":"eA=="}` + "\n",
		"unknown field": `{"reason":"r","extra":1}` + "\n",
		"cut short":     textLetter + "\n" + textLetter[:30],
		"empty line":    textLetter + "\n\n",
	} {
		path := writeFile(t, text)
		if !fails(func(tb testing.TB) { ReadDeadLetters(tb, path) }) {
			t.Errorf("%s: read without failing", name)
		}
	}
}
