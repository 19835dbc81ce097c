package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
)

// TestFreshness pins the three series of a freshness metric against a fixed
// processing clock: the lag distribution, future events beyond the
// tolerance, and events older than stale_after.
func TestFreshness(t *testing.T) {
	cfg, err := config.Parse("fresh.yaml", []byte(`
event_time_field: time
window: 60s
metrics:
  - name: fresh
    type: freshness
    future_tolerance: 30s
    stale_after: 10m
    buckets: [1, 60, 3600]
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Metrics) != 3 {
		t.Fatalf("%d metrics, want the lag, future and stale series", len(cfg.Metrics))
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 11, 24, 16, 30, 0, 0, time.UTC)
	p := e.NewProcessor()
	p.Now = func() int64 { return now.UnixNano() }
	for _, ev := range []string{
		`{"time":"2025-11-24T16:29:59.5Z"}`, // 0.5 s old
		`{"time":"2025-11-24T16:29:00Z"}`,   // 60 s old
		`{"time":"2025-11-24T16:00:00Z"}`,   // 30 min old: stale
		`{"time":"2025-11-24T16:30:20Z"}`,   // 20 s ahead: within tolerance
		`{"time":"2025-11-24T16:31:00Z"}`,   // 60 s ahead: future
	} {
		if err := p.Process([]byte(ev), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]aggregate.Acc{}
	p.Flush(func(s Series, acc *aggregate.Acc) {
		got[e.Metric(s.Metric).Name] = mergeInto(got[e.Metric(s.Metric).Name], acc)
	})
	if n := got["fresh/stale_events"].Count; n != 1 {
		t.Errorf("stale events = %d, want 1", n)
	}
	if n := got["fresh/future_events"].Count; n != 1 {
		t.Errorf("future events = %d, want 1", n)
	}
	lag := got["fresh"]
	// Lags: 0.5, 60, 1800, -20, -60 s over bounds [1, 60, 3600].
	if want := []int64{3, 1, 1, 0}; lag.Count != 5 || !slices.Equal(lag.Buckets, want) {
		t.Errorf("lag count %d buckets %v, want 5 and %v", lag.Count, lag.Buckets, want)
	}
	if lag.Min != -60 || lag.Max != 1800 {
		t.Errorf("lag min %v max %v, want -60 and 1800", lag.Min, lag.Max)
	}
}

func mergeInto(a aggregate.Acc, b *aggregate.Acc) aggregate.Acc {
	a.Merge(b)
	return a
}

func TestFreshnessNeedsEventTimeField(t *testing.T) {
	src := config.Source{Name: "f.yaml", Text: []byte("metrics:\n  - {name: f, type: freshness}\n")}
	if _, err := src.Load(); err == nil {
		t.Fatal("a freshness metric without an event time field loaded")
	}
	src.Overrides.EventTimeField = "time"
	if _, err := src.Load(); err != nil {
		t.Fatalf("with --event-time-field: %v", err)
	}
}
