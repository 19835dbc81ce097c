package metricagg

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/transforms/linesource"
)

func init() {
	beam.RegisterType(reflect.TypeOf(Block{}))
	beam.RegisterType(reflect.TypeOf(ReplayInput{}))
	beam.RegisterType(reflect.TypeOf(ReplayRestriction{}))
	register.DoFn6x2[context.Context, *replayWatermark, *sdf.LockRTracker, ReplayInput,
		func(beam.EventTime, string, aggregate.Acc), func(DeadLetter), sdf.ProcessContinuation, error](&ReplayFn{})
}

// roundBytes is how much input one bundle of a replay reads before it
// hands its windows on and moves the watermark: large enough that a
// bundle's cost is small beside it, small enough that windows leave
// memory soon after the input's time has passed them. A variable for
// tests.
var roundBytes int64 = 64 << 20

// Block is a byte range of an input file.
type Block struct {
	Path       string
	Start, End int64
}

// Blocks lists the blocks of files, the unit of parallel replay, in
// reading order.
func Blocks(files []linesource.File) []Block {
	var out []Block
	for _, f := range files {
		for _, r := range linesource.Blocks(f) {
			out = append(out, Block{Path: f.Path, Start: r.Start, End: r.End})
		}
	}
	return out
}

// ReplayInput is the whole input of a replay: its blocks in reading order.
type ReplayInput struct {
	Blocks []Block
}

// ReplayRestriction is what is left of a replay: blocks [Next, End), and
// what the blocks read so far showed of the input's time, from which the
// watermark is derived.
type ReplayRestriction struct {
	Next, End int
	Seen      bool  // some record had an event time
	Newest    int64 // the newest event time read, Unix nanoseconds
	// Disorder is how far behind the newest time read before it the
	// latest record came (nanoseconds), over everything read so far.
	Disorder int64
}

// ReplayFn reads and aggregates blocks of newline-delimited JSON with one
// engine Processor per core. A local runner runs a bundle on one
// goroutine; reading and aggregating inside the DoFn, in parallel, is what
// lets a replay use every core. Only the partial aggregates, a few per
// series and window, leave the DoFn.
//
// It is a splittable DoFn that reads the input in rounds of roundBytes,
// one bundle each. After a round it hands on what the round aggregated
// and moves its watermark to the newest event time read minus the larger
// of MaxDelay and the worst disorder the input has shown so far, so the
// runner exports and forgets windows while the rest of the input is
// read: memory follows the windows that are open, not the input's length.
// Input far out of time order shows its disorder early and holds the
// watermark back (more memory, same results). A record whose window
// closed anyway (plus allowed lateness) before it was read would be
// dropped by the runner: it is counted as late instead of vanishing.
type ReplayFn struct {
	Config   config.Source
	MaxDelay time.Duration

	eng   *engine.Engine
	procs []*base // one per worker goroutine, kept across rounds
}

// NewReplay returns the DoFn that reads and aggregates file blocks.
func NewReplay(src config.Source, maxDelay time.Duration) *ReplayFn {
	return &ReplayFn{Config: src, MaxDelay: maxDelay}
}

func (fn *ReplayFn) Setup() error {
	cfg, err := fn.Config.Load()
	if err != nil {
		return err
	}
	if fn.eng, err = engine.New(cfg); err != nil {
		return err
	}
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		p := fn.eng.NewProcessor()
		p.RequireEventTime = true
		fn.procs = append(fn.procs, &base{eng: fn.eng, proc: p})
	}
	return nil
}

func (fn *ReplayFn) CreateInitialRestriction(in ReplayInput) ReplayRestriction {
	return ReplayRestriction{End: len(in.Blocks)}
}

// SplitRestriction keeps the input whole: the rounds follow the input's
// time in order, and each round already uses every core.
func (fn *ReplayFn) SplitRestriction(_ ReplayInput, r ReplayRestriction) []ReplayRestriction {
	return []ReplayRestriction{r}
}

func (fn *ReplayFn) RestrictionSize(in ReplayInput, r ReplayRestriction) float64 {
	var n int64
	for i := r.Next; i < r.End && i < len(in.Blocks); i++ {
		n += in.Blocks[i].End - in.Blocks[i].Start
	}
	return float64(n)
}

func (fn *ReplayFn) CreateTracker(r ReplayRestriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(&replayTracker{rest: r, next: r.Next})
}

func (fn *ReplayFn) InitialWatermarkEstimatorState(_ beam.EventTime, _ ReplayRestriction, _ ReplayInput) int64 {
	return int64(mtime.MinTimestamp)
}

func (fn *ReplayFn) CreateWatermarkEstimator(state int64) *replayWatermark {
	return &replayWatermark{at: mtime.Time(state)}
}

func (fn *ReplayFn) WatermarkEstimatorState(e *replayWatermark) int64 { return int64(e.at) }

// blockTimes is what one block showed of the input's time.
type blockTimes struct {
	seen           bool
	oldest, newest int64
	disorder       int64 // within the block, as read
	runningNewest  int64
	failure        error
}

func (b *blockTimes) observe(t int64) {
	if !b.seen {
		b.seen, b.oldest, b.newest, b.runningNewest = true, t, t, t
		return
	}
	if t < b.oldest {
		b.oldest = t
	}
	if t > b.newest {
		b.newest = t
	}
	if t > b.runningNewest {
		b.runningNewest = t
	} else if d := b.runningNewest - t; d > b.disorder {
		b.disorder = d
	}
}

// ProcessElement reads one round of blocks on every core, hands on its
// partial aggregates and dead letters, and moves the watermark.
func (fn *ReplayFn) ProcessElement(ctx context.Context, we *replayWatermark, rt *sdf.LockRTracker, in ReplayInput,
	emit func(beam.EventTime, string, aggregate.Acc), dead func(DeadLetter)) (sdf.ProcessContinuation, error) {
	r := rt.GetRestriction().(ReplayRestriction)
	var round []Block
	var bytes int64
	for i := r.Next; i < r.End && (bytes < roundBytes || len(round) < len(fn.procs)); i++ {
		if !rt.TryClaim(i) {
			break
		}
		b := in.Blocks[i]
		round = append(round, b)
		bytes += b.End - b.Start
	}
	times, deadLetters := fn.read(ctx, round)
	for i, bt := range times {
		if bt.failure != nil {
			return sdf.StopProcessing(), fmt.Errorf("reading %s [%d, %d): %w", round[i].Path, round[i].Start, round[i].End, bt.failure)
		}
		// In reading order: the disorder of a record is how far it is
		// behind the newest one read before it.
		if !bt.seen {
			continue
		}
		selfmetrics.ObserveEventTimes(bt.oldest, bt.newest)
		if r.Seen && r.Newest-bt.oldest > r.Disorder {
			r.Disorder = r.Newest - bt.oldest
		}
		if bt.disorder > r.Disorder {
			r.Disorder = bt.disorder
		}
		if !r.Seen || bt.newest > r.Newest {
			r.Newest = bt.newest
		}
		r.Seen = true
	}
	fn.handOn(ctx, we.at, emit)
	for _, d := range deadLetters {
		dead(d)
	}
	r.Next += len(round)
	if r.Next >= r.End {
		rt.TryClaim(r.End)
		return sdf.StopProcessing(), nil
	}
	if r.Seen {
		hold := max(int64(fn.MaxDelay), r.Disorder)
		we.advance(mtime.FromTime(time.Unix(0, r.Newest-hold)))
	}
	rt.Mu.Lock()
	rt.Rt.(*replayTracker).resume = &r
	rt.Mu.Unlock()
	return sdf.ResumeProcessingIn(0), nil
}

// read aggregates the blocks, on one goroutine per Processor, and returns
// what each block showed of the input's time and the dead letters.
func (fn *ReplayFn) read(ctx context.Context, blocks []Block) ([]blockTimes, []DeadLetter) {
	times := make([]blockTimes, len(blocks))
	var next atomic.Int64
	var mu sync.Mutex
	var deadLetters []DeadLetter
	var wg sync.WaitGroup
	for _, b := range fn.procs {
		wg.Add(1)
		go func(p *engine.Processor) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(blocks) {
					return
				}
				blk, bt := blocks[i], &times[i]
				bt.failure = linesource.ReadBlock(ctx, blk.Path, blk.Start, blk.End,
					func(pos any) bool { return pos.(int64) < blk.End },
					func(line []byte, offset int64) {
						if err := p.Process(line, nil, 0); err != nil {
							d := refuse(err, line, fmt.Sprintf("%s@%d", blk.Path, offset))
							mu.Lock()
							deadLetters = append(deadLetters, d)
							mu.Unlock()
							return
						}
						bt.observe(p.LastTime)
					})
				selfmetrics.BytesRead.Add(blk.End - blk.Start)
			}
		}(b.proc)
	}
	wg.Wait()
	return times, deadLetters
}

type replayKey struct {
	series string
	start  int64
}

// handOn merges what every Processor aggregated in the round and emits
// it, stamped with its window's last instant. A window that closed (plus
// allowed lateness) before the round started would be dropped by the
// runner as late: it is counted and logged instead.
func (fn *ReplayFn) handOn(ctx context.Context, watermark mtime.Time, emit func(beam.EventTime, string, aggregate.Acc)) {
	merged := map[replayKey]*aggregate.Acc{}
	for _, b := range fn.procs {
		b.proc.Flush(func(s engine.Series, acc *aggregate.Acc) {
			k := replayKey{SeriesKey(s.Metric, s.LabelKey), s.WindowStart}
			if m := merged[k]; m != nil {
				m.Merge(acc)
				return
			}
			c := *acc
			merged[k] = &c
		})
		b.reportStats(ctx)
	}
	lateness := mtime.FromDuration(fn.eng.Config().AllowedLateness)
	var late int64
	for k, acc := range merged {
		m, _, _ := ParseSeriesKey(k.series)
		end := k.start + int64(fn.eng.Metric(m).Window)
		ts := mtime.FromTime(time.Unix(0, end)) - 1
		if ts+lateness < watermark {
			late += acc.Count
			continue
		}
		emit(ts, k.series, *acc)
	}
	if late > 0 {
		beam.NewCounter("beametrics", "late_values").Inc(ctx, late)
		selfmetrics.Late.Add(late)
		log.Warnf(ctx, "%d values are older than the replay's watermark (the newest event time read minus --max-delay or the disorder seen so far) and are dropped as late; raise --max-delay", late)
	}
}

// replayTracker claims blocks in order. It refuses the runner's splits:
// the restriction's time figures are only right at the end of a round,
// when ProcessElement sets resume and checkpoints.
type replayTracker struct {
	rest     ReplayRestriction
	next     int                // the next block to claim
	resume   *ReplayRestriction // the residual of the checkpoint that follows
	finished bool
	err      error
}

func (t *replayTracker) TryClaim(pos any) bool {
	if t.finished || t.err != nil {
		return false
	}
	i, ok := pos.(int)
	if !ok {
		t.err = fmt.Errorf("metricagg: replay cannot claim a %T", pos)
		return false
	}
	if i >= t.rest.End {
		t.finished = true
		return false
	}
	if i != t.next {
		t.err = fmt.Errorf("metricagg: replay claimed block %d, want %d", i, t.next)
		return false
	}
	t.next++
	return true
}

func (t *replayTracker) GetError() error { return t.err }

func (t *replayTracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if t.finished || t.resume == nil || fraction > 0 {
		return t.rest, nil, nil
	}
	res := *t.resume
	t.resume = nil
	t.finished = true
	t.rest.End = t.next
	return t.rest, res, nil
}

func (t *replayTracker) GetProgress() (done, remaining float64) {
	return float64(t.next - t.rest.Next), float64(max(t.rest.End-t.next, 0))
}

func (t *replayTracker) IsDone() bool { return t.finished }

func (t *replayTracker) GetRestriction() any { return t.rest }

// replayWatermark is the replay's watermark, carried between rounds as its
// state so that it only moves forward.
type replayWatermark struct {
	at mtime.Time
}

func (e *replayWatermark) CurrentWatermark() time.Time { return e.at.ToTime() }

func (e *replayWatermark) advance(t mtime.Time) {
	if t > e.at {
		e.at = t
	}
}
