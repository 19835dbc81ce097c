package engine

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/event"
	"github.com/beametrics/beametrics/internal/eventtime"
)

// Series identifies one aggregated series: a metric, a window and a label
// set.
type Series struct {
	Metric      int
	WindowStart int64  // Unix nanoseconds
	LabelKey    string // dynamic label values, length-prefixed, in label-name order
}

// Stats counts what a Processor saw. Every event that does not become a
// value is in one of these counts.
type Stats struct {
	Events      int64            // events read as JSON objects
	DeadLetters map[string]int64 // by reason
	// TimeFallbacks counts events whose event-time field was missing or bad
	// and which took the source's time instead.
	TimeFallbacks int64
	Matched       []int64 // per metric: events that passed the filter
	Dropped       []int64 // per metric: matched events without a usable value
	Overflowed    []int64 // per metric: events folded into the overflow series
	// FilterErrors counts, per metric, events whose filter expression
	// failed (a type error, the work budget): they are not counted by the
	// metric. FilterErrorReasons holds the reason of the first few.
	FilterErrors       []int64
	FilterErrorReasons []FilterError
}

// FilterError is one failure of a metric's filter expression.
type FilterError struct {
	Metric string
	Reason string
}

// Filter errors logged per metric and engine, and kept per Processor in
// Stats.FilterErrorReasons: enough to see the cause, not a flood.
const (
	filterErrorsToLog  = 3
	filterErrorsToKeep = 10
)

// Processor aggregates events. It is not safe for concurrent use: a
// pipeline has one per worker goroutine.
type Processor struct {
	e       *Engine
	reader  *event.Reader
	key     []byte
	scratch []byte
	times   eventtime.Parser
	series  map[string]*entry
	// last is, per metric without labels, the series written last: such a
	// metric has one series per window, and events come in time order, so
	// this skips the map for most of them. Flush clears it.
	last []lastSeries
	// Now is the processing clock of freshness metrics, Unix nanoseconds.
	Now func() int64
	// RequireEventTime makes a bad event-time field a dead letter instead
	// of a fallback to the source time (file input has no source time).
	RequireEventTime bool
	// LastTime is the event time (Unix nanoseconds) of the last record
	// Process accepted: replay follows how far its input's time has come.
	LastTime int64
	Stats    Stats
}

type entry struct {
	series Series
	acc    aggregate.Acc
}

type lastSeries struct {
	start int64
	ent   *entry
}

type metricWindow struct {
	metric int
	start  int64
}

// NewProcessor makes a Processor.
func (e *Engine) NewProcessor() *Processor {
	n := len(e.metrics)
	return &Processor{
		e:      e,
		Now:    func() int64 { return time.Now().UnixNano() },
		reader: e.schema.NewReader(),
		series: map[string]*entry{},
		last:   make([]lastSeries, n),
		Stats: Stats{DeadLetters: map[string]int64{}, Matched: make([]int64, n),
			Dropped: make([]int64, n), Overflowed: make([]int64, n), FilterErrors: make([]int64, n)},
	}
}

// Process reads one record. sourceTime (Unix nanoseconds) is the source's
// own time for the record, used when no event-time field is configured. A
// non-nil error means the record is a dead letter; its reason is
// event.Reason(err) and it has been counted.
func (p *Processor) Process(body []byte, attrs map[string]string, sourceTime int64) error {
	if err := p.reader.Parse(body, attrs); err != nil {
		p.Stats.DeadLetters[event.Reason(err)]++
		return err
	}
	t := sourceTime
	if p.e.timeField != nil {
		et, err := p.times.Parse(p.reader.Lookup(p.e.timeField), p.e.timeFormat)
		switch {
		case err == nil:
			t = et
		case p.RequireEventTime:
			p.Stats.DeadLetters[ReasonBadEventTime]++
			return &event.RefusedError{Reason: ReasonBadEventTime, Detail: err.Error()}
		default:
			p.Stats.TimeFallbacks++
		}
	}
	p.Stats.Events++
	p.LastTime = t
	for _, m := range p.e.metrics {
		if m.pred != nil && !m.pred.Match(p.reader) {
			continue
		}
		if m.expr != nil {
			match, failure := m.expr.Eval(p.reader)
			if failure != "" {
				p.filterFailed(m, failure)
				continue
			}
			if !match {
				continue
			}
		}
		p.Stats.Matched[m.index]++
		p.add(m, t)
	}
	return nil
}

// filterFailed counts an event whose filter expression failed, and keeps
// and logs the first few reasons.
func (p *Processor) filterFailed(m *metric, reason string) {
	p.Stats.FilterErrors[m.index]++
	if len(p.Stats.FilterErrorReasons) < filterErrorsToKeep {
		p.Stats.FilterErrorReasons = append(p.Stats.FilterErrorReasons, FilterError{Metric: m.cfg.Name, Reason: reason})
	}
	if p.e.log != nil && p.e.filterErrorsLogged[m.index].Add(1) <= filterErrorsToLog {
		p.e.log.Warn("filter error: the event is not counted", "metric", m.cfg.Name, "reason", reason,
			"note", fmt.Sprintf("the first %d are logged, all are counted as filter_errors", filterErrorsToLog))
	}
}

// EventTime returns the time Process used for the last event, for sources
// that re-stamp elements. It reads the field again; callers on the hot path
// keep their own.
func (p *Processor) EventTime(sourceTime int64) (int64, bool) {
	if p.e.timeField == nil {
		return sourceTime, true
	}
	t, err := p.times.Parse(p.reader.Lookup(p.e.timeField), p.e.timeFormat)
	if err != nil {
		return sourceTime, false
	}
	return t, true
}

func (p *Processor) add(m *metric, t int64) {
	// Read the value first: an event without a usable value adds nothing,
	// not even a series.
	var v float64
	switch {
	case m.fresh != config.NotFreshness:
		lag := p.Now() - t
		switch m.fresh {
		case config.FreshnessLag:
			v = float64(lag) / 1e9
		case config.FreshnessFuture:
			if lag >= -m.tolerance {
				return
			}
		case config.FreshnessStale:
			if lag <= m.stale {
				return
			}
		}
	case m.typ == aggregate.Count:
	case m.typ == aggregate.Distinct:
		val := p.reader.Lookup(&m.field)
		if k := val.Kind(); k == event.Missing || k == event.Null {
			p.Stats.Dropped[m.index]++
			return
		}
		p.scratch = val.AppendLabel(p.scratch[:0])
	default:
		f, ok := p.reader.Lookup(&m.field).Numeric()
		if !ok {
			p.Stats.Dropped[m.index]++
			return
		}
		v = f
	}

	start := WindowStart(t, m.window)
	if len(m.dynPaths) == 0 {
		last := &p.last[m.index]
		if last.ent == nil || last.start != start {
			last.start, last.ent = start, p.entry(m, start)
		}
		addTo(m, last.ent, v, t, p.scratch)
		return
	}
	addTo(m, p.entry(m, start), v, t, p.scratch)
}

// entry returns the series of metric m for the window at start and the
// current event's labels, making it if needed.
func (p *Processor) entry(m *metric, start int64) *entry {
	key := p.key[:0]
	key = binary.LittleEndian.AppendUint16(key, uint16(m.index))
	key = binary.LittleEndian.AppendUint64(key, uint64(start))
	labelsAt := len(key)
	for i := range m.dynPaths {
		key = appendLabel(key, p.reader.Lookup(&m.dynPaths[i]))
	}
	p.key = key

	ent := p.series[string(key)]
	if ent == nil {
		if !p.admit(m, start, key[labelsAt:]) {
			p.Stats.Overflowed[m.index]++
			key = appendOverflowLabels(key[:labelsAt], len(m.dynPaths))
			p.key = key
			ent = p.series[string(key)]
		}
		if ent == nil {
			ent = &entry{series: Series{Metric: m.index, WindowStart: start, LabelKey: string(key[labelsAt:])}}
			p.series[string(key)] = ent
		}
	}
	return ent
}

// addTo adds the event's value v (or, for distinct, its label text) to ent.
func addTo(m *metric, ent *entry, v float64, t int64, text []byte) {
	switch m.typ {
	case aggregate.Count:
		ent.acc.AddCount()
	case aggregate.Distinct:
		ent.acc.AddDistinct(text)
	default:
		ent.acc.AddValue(v, t, m.bounds)
	}
}

// appendLabel appends one label value, length-prefixed. The value is
// formatted straight into the key, without a temporary.
func appendLabel(dst []byte, v event.Value) []byte {
	at := len(dst)
	dst = append(dst, 0) // placeholder for a one-byte length
	dst = v.AppendLabel(dst)
	n := len(dst) - at - 1
	if n < 0x80 {
		dst[at] = byte(n)
		return dst
	}
	// Longer values need a longer varint: shift the value right.
	var tmp [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(tmp[:], uint64(n))
	dst = append(dst, tmp[:w-1]...)
	copy(dst[at+w:], dst[at+1:at+1+n])
	copy(dst[at:], tmp[:w])
	return dst
}

// admit decides whether a label set not yet seen in this bundle may become
// a series, keeping at most max_series label sets per metric and window
// over every Processor of the engine.
func (p *Processor) admit(m *metric, start int64, labels []byte) bool {
	if len(m.dynPaths) == 0 {
		return true
	}
	return p.e.admission.admit(m, start, labels)
}

// Flush hands every series aggregated since the last Flush to emit and
// forgets them. emit must not keep acc past the call unless it clones it.
func (p *Processor) Flush(emit func(s Series, acc *aggregate.Acc)) {
	for k, ent := range p.series {
		emit(ent.series, &ent.acc)
		delete(p.series, k)
	}
	clear(p.last)
}

// Pending returns the number of series held since the last Flush.
func (p *Processor) Pending() int { return len(p.series) }
