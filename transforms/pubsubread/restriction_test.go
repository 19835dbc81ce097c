package pubsubread

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTrackerCheckpointCarriesClaims(t *testing.T) {
	tr := newTracker(Restriction{Puller: 3, AckIDs: []string{"old"}})
	for _, id := range []string{"a", "b"} {
		if !tr.TryClaim(id) {
			t.Fatalf("claim %s refused", id)
		}
	}
	if tr.IsDone() {
		t.Fatal("tracker done before checkpoint")
	}
	if p, r, err := tr.TrySplit(0.5); err != nil || r != nil || !reflect.DeepEqual(p, Restriction{Puller: 3, AckIDs: []string{"old"}}) {
		t.Errorf("dynamic split = %v, %v, %v; want no residual", p, r, err)
	}
	p, r, err := tr.TrySplit(0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Restriction{Puller: 3, AckIDs: []string{"old"}}); !reflect.DeepEqual(p, want) {
		t.Errorf("primary = %+v, want %+v", p, want)
	}
	if want := (Restriction{Puller: 3, AckIDs: []string{"a", "b"}}); !reflect.DeepEqual(r, want) {
		t.Errorf("residual = %+v, want %+v", r, want)
	}
	if !tr.IsDone() || tr.TryClaim("c") {
		t.Error("tracker accepts claims after a checkpoint")
	}
}

func TestTrackerEndOfStream(t *testing.T) {
	tr := newTracker(Restriction{})
	if tr.TryClaim(endOfStream{}) {
		t.Error("claiming the end succeeded")
	}
	if !tr.IsDone() || tr.GetError() != nil {
		t.Errorf("after the end: done=%v err=%v, want done and no error", tr.IsDone(), tr.GetError())
	}
	if _, r, _ := tr.TrySplit(0); r != nil {
		t.Errorf("a finished tracker split off %v", r)
	}
	if tr2 := newTracker(Restriction{}); tr2.TryClaim(42) || tr2.GetError() == nil {
		t.Error("claiming an int did not give an error")
	}
}

func TestWatermarkOnlyMovesForward(t *testing.T) {
	e := &watermarkEstimator{}
	t1 := time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC)
	e.advance(t1)
	e.advance(t1.Add(-time.Second))
	if got := e.CurrentWatermark(); !got.Equal(t1) {
		t.Errorf("watermark = %v, want %v", got, t1)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := NewConfig("projects/p/subscriptions/s").Validate(); err != nil {
		t.Errorf("NewConfig is invalid: %v", err)
	}
	bad := Config{Subscription: "projects/p/topics/s", Insecure: true, MaxDelay: -1, MaxMessages: 1001, StopAfter: -1, StopWhenIdle: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, part := range []string{"projects/PROJECT/subscriptions/NAME", "Insecure", "MaxDelay", "PollInterval", "MaxMessages", "Pullers", "StopAfter", "StopWhenIdle"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error does not mention %s: %v", part, err)
		}
	}
}

func TestRunTakeStopsAtLimit(t *testing.T) {
	r := runFor(newRunID(), Config{StopAfter: 5})
	if got := r.take(3); got != 3 || r.stopped.Load() {
		t.Errorf("take(3) = %d stopped=%v, want 3 and running", got, r.stopped.Load())
	}
	if got := r.take(3); got != 2 || !r.stopped.Load() {
		t.Errorf("take(3) = %d stopped=%v, want 2 and stopped", got, r.stopped.Load())
	}
	if got := r.take(1); got != 0 {
		t.Errorf("take after the limit = %d, want 0", got)
	}
}
