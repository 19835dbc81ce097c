// Package beamtest holds what the core's Beam tests share: a test stream
// of log records that stands in for the Pub/Sub source, and running a
// pipeline on prism in the test's process.
package beamtest

import (
	"encoding/json"
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

// Records is a test stream of record bodies, built step by step. Bodies
// are text (valid UTF-8): the stream carries them inside JSON.
type Records struct {
	t  testing.TB
	ts teststream.Config
}

// NewRecords starts an empty stream; a step the stream refuses fails t.
func NewRecords(t testing.TB) *Records {
	return &Records{t: t, ts: teststream.NewConfig()}
}

// Add puts bodies on the stream, each published at at.
func (r *Records) Add(at time.Time, bodies ...string) {
	r.t.Helper()
	for _, b := range bodies {
		r.AddWithAttributes(at, nil, b)
	}
}

// AddWithAttributes puts one body with its message attributes on the
// stream, published at at.
func (r *Records) AddWithAttributes(at time.Time, attrs map[string]string, body string) {
	r.t.Helper()
	e, err := json.Marshal(element{Data: body, Attributes: attrs})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.ts.AddElements(at.UnixMilli(), string(e)); err != nil {
		r.t.Fatal(err)
	}
}

// Advance moves the watermark to wm: what comes later for an earlier
// time is late.
func (r *Records) Advance(wm time.Time) {
	r.t.Helper()
	if err := r.ts.AdvanceWatermark(wm.UnixMilli()); err != nil {
		r.t.Fatal(err)
	}
}

// Source ends the stream (the watermark moves to the end of time) and
// returns it as a pipeline's source of Pub/Sub messages
// (pipeline.Plan.ReadRecords).
func (r *Records) Source() func(beam.Scope) beam.PCollection {
	r.t.Helper()
	if err := r.ts.AdvanceWatermarkToInfinity(); err != nil {
		r.t.Fatal(err)
	}
	return func(s beam.Scope) beam.PCollection {
		return beam.ParDo(s, toMessage, teststream.Create(s, r.ts))
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
