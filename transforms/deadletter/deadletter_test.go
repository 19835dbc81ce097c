package deadletter_test

import (
	"bytes"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func TestMain(m *testing.M) {
	ptest.Main(m)
}

func init() {
	register.Function2x0(toDeadLetter)
	register.Emitter1[metricagg.DeadLetter]()
}

// toDeadLetter makes a dead letter of "reason|data" (beam.Create needs
// simple element types).
func toDeadLetter(s string, emit func(metricagg.DeadLetter)) {
	reason, data, _ := strings.Cut(s, "|")
	emit(metricagg.DeadLetter{Reason: reason, Detail: "detail of " + reason, Data: []byte(data),
		Source: "file", Time: time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)})
}

// readLine reads one written line back, with its original bytes.
func readLine(t *testing.T, b []byte) (runoutput.DeadLetter, []byte) {
	t.Helper()
	l, err := runoutput.ParseDeadLetter(b)
	if err != nil {
		t.Fatalf("dead letter %s: %v", b, err)
	}
	return l, l.Data()
}

func TestLineKeepsOriginalBytes(t *testing.T) {
	at := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		data   []byte
		asText bool
	}{
		{"json text", []byte(`{"a":1,"b":"x"}`), true},
		{"plain text", []byte(`not json at all`), true},
		{"text with quotes and newline", []byte("say \"hi\"\n\tthere"), true},
		{"binary", []byte{0x00, 0xff, 0xfe, 'a', 0x80}, false},
		{"empty", []byte{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := deadletter.Line(metricagg.DeadLetter{Reason: "invalid_json", Detail: "d", Data: tc.data, Source: "file", Time: at})
			if !bytes.HasSuffix(b, []byte("\n")) || bytes.Count(b, []byte("\n")) != 1 {
				t.Errorf("line %q is not one newline-terminated line", b)
			}
			l, data := readLine(t, b)
			if !bytes.Equal(data, tc.data) {
				t.Errorf("data read back %q, want %q", data, tc.data)
			}
			if tc.asText && l.Text == nil && len(tc.data) > 0 {
				t.Errorf("text %q written as base64", tc.data)
			}
			if l.Reason != "invalid_json" || l.Detail != "d" || l.Source != "file" || !l.Time.Equal(at) {
				t.Errorf("fields %+v, want reason invalid_json, detail d, source file, time %v", l, at)
			}
		})
	}
}

func TestLineKeepsInvalidUTF8Bytes(t *testing.T) {
	data := []byte("{\"service\":\"caf\xff\"}")
	_, got := readLine(t, deadletter.Line(metricagg.DeadLetter{Reason: "invalid_utf8", Data: data}))
	if !bytes.Equal(got, data) {
		t.Errorf("data read back %q, want %q", got, data)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		dest string
		err  string // "" for no error
	}{
		{"", ""},
		{dir + "/dead.jsonl", ""},
		{"projects/p/topics/dead", ""},
		{"gs://bucket/dead.jsonl", "Pub/Sub topic"},
		{"projects/p/topics/", "want projects/PROJECT/topics/TOPIC"},
		{"projects//topics/t", "want projects/PROJECT/topics/TOPIC"},
		{"projects/p/topics/t/extra", "want projects/PROJECT/topics/TOPIC"},
		{dir + "/no/such/dir/dead.jsonl", "--dead-letter"},
	} {
		err := deadletter.Check(tc.dest)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Check(%q) = %v, want nil", tc.dest, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Check(%q) = %v, want an error about %q", tc.dest, err, tc.err)
		}
	}
}

var letters = []any{
	"invalid_json|not json",
	"not_an_object|[1,2,3]",
	"bad_event_time|{\"time\":\"yesterday\"}",
}

func writePipeline(dest string) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	deadletter.Write(s, dest, beam.ParDo(s, toDeadLetter, beam.Create(s, letters...)))
	return p
}

func TestWriteFile(t *testing.T) {
	path := t.TempDir() + "/dead.jsonl"
	// Appends: what is in the file already stays.
	if err := os.WriteFile(path, []byte("{\"reason\":\"earlier\",\"detail\":\"\",\"source\":\"file\",\"time\":\"2025-11-24T15:00:00Z\",\"data\":\"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(writePipeline(path)); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	if err := deadletter.CloseFiles(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range runoutput.ReadDeadLetters(t, path) {
		got = append(got, l.Reason+"|"+string(l.Data()))
	}
	sort.Strings(got)
	want := []string{"bad_event_time|{\"time\":\"yesterday\"}", "earlier|x", "invalid_json|not json", "not_an_object|[1,2,3]"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dead-letter file holds %q, want %q", got, want)
	}
}

// TestWriteTopic publishes dead letters to a Pub/Sub topic (the in-process
// server, through PUBSUB_EMULATOR_HOST): the original bytes as the data,
// the reason, detail and source as attributes.
func TestWriteTopic(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	c := srv.Client(t, "p")
	pubsubtest.CreateTopic(t, c, "projects/p/topics/dead")
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	if err := ptest.Run(writePipeline("projects/p/topics/dead")); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	var got []string
	for _, m := range srv.Fake.Messages() {
		a := m.Attributes
		if a["beametrics-detail"] != "detail of "+a["beametrics-reason"] || a["beametrics-source"] != "file" {
			t.Errorf("message attributes %v, want reason, detail and source", a)
		}
		got = append(got, a["beametrics-reason"]+"|"+string(m.Data))
	}
	sort.Strings(got)
	want := []string{"bad_event_time|{\"time\":\"yesterday\"}", "invalid_json|not json", "not_an_object|[1,2,3]"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("topic got %q, want %q", got, want)
	}
}
