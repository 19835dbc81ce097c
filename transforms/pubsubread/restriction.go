package pubsubread

import (
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Restriction)(nil)).Elem())
}

// Restriction is one puller's unit of work. AckIDs are the messages the
// previous bundle of this puller emitted: the runner hands over a residual
// only after it has committed the bundle's output, so acking them at the
// start of the next bundle acks after commit.
type Restriction struct {
	Puller int
	AckIDs []string
	// Stop finishes the puller after acking AckIDs (set by truncation).
	Stop bool
}

// endOfStream is the position a puller claims to finish: the claim fails
// and the tracker is done, with no residual.
type endOfStream struct{}

// tracker claims ack IDs. It never splits dynamically: a puller's claimed
// messages belong to one bundle. A checkpoint (TrySplit(0)) hands all
// claimed ack IDs to the residual.
type tracker struct {
	rest         Restriction
	claimed      []string
	finished     bool
	checkpointed bool
	err          error
}

func newTracker(r Restriction) *tracker { return &tracker{rest: r} }

func (t *tracker) TryClaim(pos any) bool {
	if t.finished || t.checkpointed {
		return false
	}
	switch p := pos.(type) {
	case string:
		t.claimed = append(t.claimed, p)
		return true
	case endOfStream:
		t.finished = true
		return false
	default:
		t.err = fmt.Errorf("pubsubread: cannot claim a %T", pos)
		return false
	}
}

func (t *tracker) GetError() error { return t.err }

func (t *tracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if t.finished || t.checkpointed || fraction > 0 {
		return t.rest, nil, nil
	}
	t.checkpointed = true
	res := Restriction{Puller: t.rest.Puller, AckIDs: append([]string(nil), t.claimed...), Stop: t.rest.Stop}
	return t.rest, res, nil
}

func (t *tracker) GetProgress() (done, remaining float64) {
	if t.IsDone() {
		return float64(len(t.claimed)), 0
	}
	return float64(len(t.claimed)), 1
}

func (t *tracker) IsDone() bool { return t.finished || t.checkpointed }

func (t *tracker) GetRestriction() any { return t.rest }

// watermarkEstimator holds the puller's watermark, carried between bundles
// as its state, so that it only moves forward.
type watermarkEstimator struct {
	state mtime.Time
}

func (e *watermarkEstimator) CurrentWatermark() time.Time { return e.state.ToTime() }

func (e *watermarkEstimator) advance(t time.Time) {
	if m := mtime.FromTime(t); m > e.state {
		e.state = m
	}
}
