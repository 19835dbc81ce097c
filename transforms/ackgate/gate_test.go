package ackgate

import (
	"testing"
	"time"
)

func at(s int) time.Time { return time.Unix(int64(s), 0) }

// TestRelease follows the rule by hand: a message is released only when it
// is committed, seen, and the exported-through point is beyond
// max(B, P, E−1).
func TestRelease(t *testing.T) {
	g := Open(t.Name())
	defer Forget(t.Name())
	g.Pulled("m1", "a1", at(100), at(110))
	g.Pulled("m2", "a2", at(101), at(111))
	g.SourceWatermark(0, 1, at(95))
	g.Committed([]string{"a1", "a2"}) // B = 95
	g.Seen("m1", at(105))             // E = 105
	if got := g.Release(); len(got) != 0 {
		t.Fatalf("released %v before anything was exported", got)
	}
	g.ExportedThrough(at(104))
	if got := g.Release(); len(got) != 0 {
		t.Fatalf("released %v with X=104 < E=105", got)
	}
	g.ExportedThrough(at(105))
	if got := g.Release(); len(got) != 1 || got[0] != "a1" {
		t.Fatalf("released %v at X=105, want [a1] (m2 was never seen)", got)
	}
	g.Seen("m2", at(105))
	g.SourceWatermark(0, 1, at(200)) // a later bound does not apply to a2, committed before
	if got := g.Release(); len(got) != 1 || got[0] != "a2" {
		t.Fatalf("released %v, want [a2]", got)
	}
	// Committed after the source reported 200: B = 200 holds it.
	g.Pulled("m3", "a3", at(102), at(112))
	g.Seen("m3", at(105))
	g.Committed([]string{"a3"})
	g.ExportedThrough(at(200))
	if got := g.Release(); len(got) != 0 {
		t.Fatalf("released %v with X=200 = B", got)
	}
	g.ExportedThrough(at(201))
	if got := g.Release(); len(got) != 1 {
		t.Fatalf("released %v with X=201 > B=200, want [a3]", got)
	}
}

func TestExpiringAndRedelivery(t *testing.T) {
	g := Open(t.Name())
	defer Forget(t.Name())
	g.Pulled("m1", "a1", at(100), at(110))
	g.Pulled("m2", "a2", at(100), at(120))
	if got := g.Expiring(at(106), 5*time.Second, 10*time.Second); len(got) != 1 || got[0] != "a1" {
		t.Fatalf("expiring %v, want [a1]", got)
	}
	if got := g.Expiring(at(106), 5*time.Second, 10*time.Second); len(got) != 0 {
		t.Fatalf("expiring %v right after an extension", got)
	}
	g.Pulled("m1", "a1b", at(100), at(130)) // redelivered: new ack ID
	if got := g.TakeAll(); len(got) != 2 || g.Held() != 0 {
		t.Fatalf("TakeAll %v, held %d", got, g.Held())
	}
}

func TestLastWindowEnd(t *testing.T) {
	got := LastWindowEnd(at(61), []time.Duration{5 * time.Second, time.Minute})
	if !got.Equal(at(120)) {
		t.Fatalf("got %v, want 120 s (the minute window ends last)", got.Unix())
	}
	if got := LastWindowEnd(at(60), []time.Duration{5 * time.Second}); !got.Equal(at(65)) {
		t.Fatalf("got %v, want 65 (windows are half-open)", got.Unix())
	}
}

// The watermark the runner's windows see is the least of the pullers'
// latest, and unknown until every puller has reported one.
func TestWatermarkIsTheSlowestPullers(t *testing.T) {
	g := Open("watermark-test")
	defer Forget("watermark-test")
	if _, ok := g.Watermark(); ok {
		t.Error("a watermark before any puller reported")
	}
	g.SourceWatermark(0, 2, at(300))
	if _, ok := g.Watermark(); ok {
		t.Error("a watermark with one of two pullers reported")
	}
	g.SourceWatermark(1, 2, at(120))
	if wm, ok := g.Watermark(); !ok || !wm.Equal(at(120)) {
		t.Errorf("Watermark = %v, %v; want %v (puller 1's)", wm, ok, at(120))
	}
	g.SourceWatermark(1, 2, at(400))
	if wm, ok := g.Watermark(); !ok || !wm.Equal(at(300)) {
		t.Errorf("Watermark = %v, %v; want %v (puller 0's)", wm, ok, at(300))
	}
}
