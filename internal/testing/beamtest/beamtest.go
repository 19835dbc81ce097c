// Package beamtest holds what the core's Beam tests share: a test stream
// of log records that stands in for the Pub/Sub source, and running a
// pipeline on prism in the test's process.
package beamtest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/beametrics/beametrics/transforms/pubsubread"
)

func init() {
	register.Function2x2(toMessage)
}

// element is a record on the test stream: TestStream elements need
// built-in coders, so it travels as JSON text.
type element struct {
	Data       string            `json:"d"`
	Attributes map[string]string `json:"a,omitempty"`
}

// toMessage makes the Pub/Sub message the pipeline reads of an element,
// published at its element time; the body is its ID, as tests' bodies
// are unique.
func toMessage(t beam.EventTime, s string) (pubsubread.Message, error) {
	var e element
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return pubsubread.Message{}, err
	}
	return pubsubread.Message{ID: e.Data, Data: []byte(e.Data), Attributes: e.Attributes, PublishTime: t.ToTime()}, nil
}

// Stream is a test stream of text elements, built step by step; a step
// the stream refuses fails t.
type Stream struct {
	t     testing.TB
	ts    teststream.Config
	ended bool
}

// NewStream starts an empty stream.
func NewStream(t testing.TB) *Stream {
	return &Stream{t: t, ts: teststream.NewConfig()}
}

// Add puts elems on the stream, each stamped with at.
func (st *Stream) Add(at time.Time, elems ...string) {
	st.t.Helper()
	vals := make([]any, len(elems))
	for i, e := range elems {
		vals[i] = e
	}
	if err := st.ts.AddElements(at.UnixMilli(), vals...); err != nil {
		st.t.Fatal(err)
	}
}

// Advance moves the watermark to wm: what comes later for an earlier
// time is late.
func (st *Stream) Advance(wm time.Time) {
	st.t.Helper()
	if err := st.ts.AdvanceWatermark(wm.UnixMilli()); err != nil {
		st.t.Fatal(err)
	}
}

// Create ends the stream (the watermark moves to the end of time) and
// puts it into the pipeline as a PCollection of strings.
func (st *Stream) Create(s beam.Scope) beam.PCollection {
	st.t.Helper()
	if !st.ended {
		if err := st.ts.AdvanceWatermarkToInfinity(); err != nil {
			st.t.Fatal(err)
		}
		st.ended = true
	}
	return teststream.Create(s, st.ts)
}

// Records is a stream of record bodies that stands in for the Pub/Sub
// source. Bodies are text (valid UTF-8): the stream carries them inside
// JSON.
type Records struct {
	stream *Stream
}

// NewRecords starts an empty stream of records.
func NewRecords(t testing.TB) *Records {
	return &Records{stream: NewStream(t)}
}

// Add puts bodies on the stream, each published at at.
func (r *Records) Add(at time.Time, bodies ...string) {
	r.stream.t.Helper()
	for _, b := range bodies {
		r.AddWithAttributes(at, nil, b)
	}
}

// AddWithAttributes puts one body with its message attributes on the
// stream, published at at.
func (r *Records) AddWithAttributes(at time.Time, attrs map[string]string, body string) {
	r.stream.t.Helper()
	e, err := json.Marshal(element{Data: body, Attributes: attrs})
	if err != nil {
		r.stream.t.Fatal(err)
	}
	r.stream.Add(at, string(e))
}

// Advance moves the watermark to wm.
func (r *Records) Advance(wm time.Time) { r.stream.Advance(wm) }

// Source is the stream as a pipeline's source of Pub/Sub messages
// (pipeline.Plan.ReadRecords).
func (r *Records) Source() func(beam.Scope) beam.PCollection {
	return func(s beam.Scope) beam.PCollection {
		return beam.ParDo(s, toMessage, r.stream.Create(s))
	}
}

// Run builds a pipeline with build and runs it to its end; an error of
// either fails t.
func Run(t testing.TB, build func(beam.Scope) error) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := build(s); err != nil {
		t.Fatalf("building the pipeline: %v", err)
	}
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
}

// Counter sums the committed values of a run's counters called name, in
// namespace ("" for any).
func Counter(res beam.PipelineResult, namespace, name string) int64 {
	var total int64
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if (namespace == "" || c.Key.Namespace == namespace) && c.Key.Name == name {
			total += c.Result()
		}
	}
	return total
}

// Outcome is one of the results a test accepts when the runner's order
// decides between them: which input came first, the lines then expected,
// and a count that goes with them.
type Outcome struct {
	First string
	Lines []string
	Count int64
}

// OneOf returns the outcome whose lines are got, and fails t when none is.
func OneOf(t testing.TB, got []string, outcomes ...Outcome) Outcome {
	t.Helper()
	var want []string
	for _, o := range outcomes {
		if slices.Equal(got, o.Lines) {
			t.Logf("%s came first", o.First)
			return o
		}
		want = append(want, strings.Join(o.Lines, "\n"))
	}
	t.Fatalf("got:\n%s\nwant one of:\n%s", strings.Join(got, "\n"), strings.Join(want, "\nor:\n"))
	return Outcome{}
}
