// Package ackgate holds back the acks of the local Pub/Sub source until
// every window a message contributes to has been exported, so that a crash
// (kill -9, OOM, node loss) loses nothing: Pub/Sub redelivers what was not
// acked and the restarted run counts it.
//
// It is the local runner's mechanism. Prism runs the source, the
// aggregation and the export sinks in this one process, so the source, the
// parse step and a watermark probe after the sinks meet in a process-local
// registry, found by a key the pipeline hands to each of them. On Dataflow
// none of this is used: its native source acks once its persisted state
// holds the data.
//
// The rule, and why it is enough. For a message m let
//
//	B(m) = the largest watermark any puller of the source had reported
//	       when the bundle that emitted m was known to be committed
//	       (the start of that puller's next bundle),
//	P(m) = m's publish time (the element timestamp the source gives it),
//	E(m) = the latest end of a window m's event time falls in, over the
//	       config's window sizes.
//
// m is acked once the exported-through point X (the watermark after the
// export sinks, seen by Probe's event-time timer) exceeds
// max(B(m), P(m), E(m)−1). In prism a stage's input watermark never
// passes a pending or in-progress element, and a downstream watermark never
// passes an upstream one; while m or a partial aggregate made from it is in
// flight (timestamps P(m) and E−1), no watermark after it can exceed
// max(B(m), P(m), E(m)−1), so X beyond that point means it is no longer in
// flight: either it sits in an open window, which cannot be before E(m)
// has passed, or its window's pane has been through the sink. A value
// later than the allowed lateness is dropped by the runner and counted as
// late; it is acked like the rest, since a redelivery would be late again.
package ackgate

import (
	"math"
	"sync"
	"time"

	"github.com/beametrics/beametrics/internal/engine"
)

// Gate is the ack bookkeeping of one pipeline run in this process.
type Gate struct {
	mu      sync.Mutex
	byMsg   map[string]*entry
	byAck   map[string]*entry
	srcMax  int64 // largest source watermark reported, Unix ns
	through int64 // exported-through point X, Unix ns
	// The latest watermark of each puller (Unix ns), and how many there
	// are: the least of them is what the runner's windows see.
	pullerWM map[int]int64
	pullers  int
}

// entry is one pulled, not yet acked message.
type entry struct {
	msgID, ackID string
	publish      int64
	bound        int64 // B(m), once committed
	lastEnd      int64 // E(m), once seen
	committed    bool
	seen         bool
	leaseUntil   time.Time
}

var registry = struct {
	sync.Mutex
	gates map[string]*Gate
}{gates: map[string]*Gate{}}

// Open returns the gate of key, making it on first use.
func Open(key string) *Gate {
	registry.Lock()
	defer registry.Unlock()
	g, ok := registry.gates[key]
	if !ok {
		g = &Gate{byMsg: map[string]*entry{}, byAck: map[string]*entry{},
			srcMax: math.MinInt64, through: math.MinInt64}
		registry.gates[key] = g
	}
	return g
}

// Forget drops the gate of key from the registry.
func Forget(key string) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.gates, key)
}

// Pulled records a message the source is about to emit, whose lease ends
// at leaseUntil. A message pulled again (Pub/Sub redelivered it) starts
// over: its new copy has to go through the pipeline too.
func (g *Gate) Pulled(msgID, ackID string, publish, leaseUntil time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.byMsg[msgID]; ok {
		delete(g.byAck, old.ackID)
	}
	e := &entry{msgID: msgID, ackID: ackID, publish: publish.UnixNano(), leaseUntil: leaseUntil}
	g.byMsg[msgID] = e
	g.byAck[ackID] = e
}

// SourceWatermark records the watermark puller (one of pullers) leaves as
// it ends a bundle: the largest one bounds when messages may be acked, the
// least is what the runner's windows see.
func (g *Gate) SourceWatermark(puller, pullers int, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.srcMax = max(g.srcMax, t.UnixNano())
	if g.pullerWM == nil {
		g.pullerWM = map[int]int64{}
	}
	g.pullerWM[puller] = t.UnixNano()
	g.pullers = pullers
}

// Watermark returns the source's watermark as the runner's windows see it,
// the least of its pullers' latest: a value whose window ends, plus the
// allowed lateness, before it is dropped by the runner as late. It is
// false until every puller has reported one; until then the source is at
// its start and nothing is late.
func (g *Gate) Watermark() (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pullers == 0 || len(g.pullerWM) < g.pullers {
		return time.Time{}, false
	}
	least := int64(math.MaxInt64)
	for _, t := range g.pullerWM {
		least = min(least, t)
	}
	return time.Unix(0, least), true
}

// Committed records that the bundle which emitted these messages has been
// committed by the runner; call it before the puller's next bundle reports
// a watermark.
func (g *Gate) Committed(ackIDs []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ackIDs {
		if e, ok := g.byAck[id]; ok {
			e.committed, e.bound = true, g.srcMax
		}
	}
}

// Seen records the latest window end the message's event time falls in.
func (g *Gate) Seen(msgID string, lastWindowEnd time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.byMsg[msgID]; ok {
		e.seen, e.lastEnd = true, lastWindowEnd.UnixNano()
	}
}

// ExportedThrough records that the export sinks have finished with every
// element timestamped before t.
func (g *Gate) ExportedThrough(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.through = max(g.through, t.UnixNano())
}

// Through returns the exported-through point, and false before there is one.
func (g *Gate) Through() (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.through == math.MinInt64 {
		return time.Time{}, false
	}
	return time.Unix(0, g.through).UTC(), true
}

// Release returns the ack IDs of the messages that may be acked now and
// forgets them.
func (g *Gate) Release() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id, e := range g.byMsg {
		if !e.committed || !e.seen {
			continue
		}
		if g.through > max(e.bound, e.publish, e.lastEnd-1) {
			ids = append(ids, e.ackID)
			delete(g.byMsg, id)
			delete(g.byAck, e.ackID)
		}
	}
	return ids
}

// Expiring returns the ack IDs whose lease ends before now+within and
// counts their leases as extended to now+extension.
func (g *Gate) Expiring(now time.Time, within, extension time.Duration) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	limit := now.Add(within)
	var ids []string
	for _, e := range g.byMsg {
		if e.leaseUntil.Before(limit) {
			ids = append(ids, e.ackID)
			e.leaseUntil = now.Add(extension)
		}
	}
	return ids
}

// TakeAll returns the ack IDs of every message still held and forgets
// them: after a drain that exported everything, to ack them; after a
// failure, to hand them back.
func (g *Gate) TakeAll() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, 0, len(g.byMsg))
	for _, e := range g.byMsg {
		ids = append(ids, e.ackID)
	}
	clear(g.byMsg)
	clear(g.byAck)
	return ids
}

// Held returns how many messages wait for their windows' export.
func (g *Gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.byMsg)
}

// LastWindowEnd returns E for an event time t: the latest end of the
// windows of the given sizes that t falls in (windows are aligned to the
// Unix epoch, half-open).
func LastWindowEnd(t time.Time, sizes []time.Duration) time.Time {
	ns := t.UnixNano()
	end := int64(math.MinInt64)
	for _, w := range sizes {
		if w > 0 {
			end = max(end, engine.WindowStart(ns, int64(w))+int64(w))
		}
	}
	if end == math.MinInt64 {
		return t
	}
	return time.Unix(0, end).UTC()
}
