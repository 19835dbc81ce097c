package history

import "time"

// Piece is the part of a job's slot time that falls in one calendar minute.
type Piece struct {
	StartMs int64 // Unix milliseconds where the piece starts (not before the job)
	DurMs   int64 // its length; 0 for a job with no duration
	SlotMs  int64
}

// SpreadOverMinutes spreads total slot-milliseconds evenly over the job's
// run [startMs, endMs), split at minute boundaries. JOBS_BY_PROJECT only has
// the total, so an even spread is the least-assuming shape. The pieces add up
// to total exactly; a job with no duration puts everything in its start
// minute.
func SpreadOverMinutes(startMs, endMs, total int64) []Piece {
	if endMs <= startMs {
		return []Piece{{StartMs: startMs, SlotMs: total}}
	}
	dur := endMs - startMs
	var out []Piece
	given := int64(0)
	for t := startMs; t < endMs; {
		next := (floorDiv(t, 60000) + 1) * 60000
		if next > endMs {
			next = endMs
		}
		// Cumulative rounding so that no millisecond is lost.
		upto := mulDiv(total, next-startMs, dur)
		out = append(out, Piece{StartMs: t, DurMs: next - t, SlotMs: upto - given})
		given = upto
		t = next
	}
	return out
}

// mulDiv returns a*b/c without overflow for the sizes seen here (slot-ms
// totals up to ~1e15 times durations up to days).
func mulDiv(a, b, c int64) int64 {
	q, r := a/c, a%c
	return q*b + r*b/c
}

// SplitByRunMinute gives the slot time of u to the minutes since the run
// started (OffsetMinute). A piece of a JOBS row covers a calendar minute,
// which straddles two run minutes unless the run started on a whole
// minute: it is split in proportion to the time on each side, so a job
// that runs evenly from the run's start shows evenly in the run's minutes.
// The parts add up to u.SlotMs exactly.
func SplitByRunMinute(r *DagRun, u Usage, emit func(offset int, slotMs int64)) {
	start := u.At.UnixMilli()
	first := OffsetMinute(r, u.At)
	boundary := r.Start.UnixMilli() + int64(first+1)*60000
	end := start + u.DurMs
	if u.DurMs <= 0 || boundary >= end {
		emit(first, u.SlotMs)
		return
	}
	before := mulDiv(u.SlotMs, boundary-start, u.DurMs)
	emit(first, before)
	emit(first+1, u.SlotMs-before)
}

func timeOfMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
