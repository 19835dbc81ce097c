package metricagg

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/transforms/linesource"
)

func init() {
	beam.RegisterType(reflect.TypeOf(Block{}))
	register.DoFn4x1[context.Context, Block, func(beam.EventTime, string, aggregate.Acc), func(DeadLetter), error](&ReplayFn{})
}

// Block is a byte range of an input file.
type Block struct {
	Path       string
	Start, End int64
}

// Blocks lists the blocks of files, the unit of parallel replay.
func Blocks(files []linesource.File) []Block {
	var out []Block
	for _, f := range files {
		for _, r := range linesource.Blocks(f) {
			out = append(out, Block{Path: f.Path, Start: r.Start, End: r.End})
		}
	}
	return out
}

// NewReplay returns the DoFn that reads and aggregates file blocks.
func NewReplay(src config.Source) *ReplayFn { return &ReplayFn{Config: src} }

// ReplayFn reads and aggregates blocks of newline-delimited JSON with one
// engine Processor per core. A local runner hands a stage all its input in
// one bundle and runs a bundle on one goroutine; reading and aggregating
// inside the DoFn, in parallel, is what lets a replay use every core. Only
// the partial aggregates, a few per series and window, leave the DoFn.
type ReplayFn struct {
	Config config.Source

	eng     *engine.Engine
	blocks  chan Block
	wg      sync.WaitGroup
	mu      sync.Mutex
	procs   []*engine.Processor
	dead    []DeadLetter
	failure error
}

func (fn *ReplayFn) Setup() error {
	cfg, err := fn.Config.Load()
	if err != nil {
		return err
	}
	fn.eng, err = engine.New(cfg)
	return err
}

func (fn *ReplayFn) StartBundle(ctx context.Context, _ func(beam.EventTime, string, aggregate.Acc), _ func(DeadLetter)) {
	fn.blocks = make(chan Block)
	fn.procs, fn.dead, fn.failure = nil, nil, nil
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		p := fn.eng.NewProcessor()
		p.RequireEventTime = true
		fn.procs = append(fn.procs, p)
		fn.wg.Add(1)
		go fn.work(ctx, p)
	}
}

func (fn *ReplayFn) work(ctx context.Context, p *engine.Processor) {
	defer fn.wg.Done()
	for b := range fn.blocks {
		err := linesource.ReadBlock(ctx, b.Path, b.Start, b.End,
			func(pos any) bool { return pos.(int64) < b.End },
			func(line []byte, offset int64) {
				if err := p.Process(line, nil, 0); err != nil {
					d := refuse(err, line, fmt.Sprintf("%s@%d", b.Path, offset))
					fn.mu.Lock()
					fn.dead = append(fn.dead, d)
					fn.mu.Unlock()
				}
			})
		if err != nil {
			fn.mu.Lock()
			if fn.failure == nil {
				fn.failure = fmt.Errorf("reading %s [%d, %d): %w", b.Path, b.Start, b.End, err)
			}
			fn.mu.Unlock()
		}
	}
}

// ProcessElement hands the block to a worker; the results leave in
// FinishBundle.
func (fn *ReplayFn) ProcessElement(ctx context.Context, b Block, _ func(beam.EventTime, string, aggregate.Acc), _ func(DeadLetter)) error {
	select {
	case fn.blocks <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type replayKey struct {
	series string
	start  int64
}

func (fn *ReplayFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, string, aggregate.Acc), dead func(DeadLetter)) error {
	close(fn.blocks)
	fn.wg.Wait()
	if fn.failure != nil {
		return fn.failure // the runner retries the bundle
	}
	merged := map[replayKey]*aggregate.Acc{}
	for _, p := range fn.procs {
		p.Flush(func(s engine.Series, acc *aggregate.Acc) {
			k := replayKey{SeriesKey(s.Metric, s.LabelKey), s.WindowStart}
			if m := merged[k]; m != nil {
				m.Merge(acc)
				return
			}
			c := *acc
			merged[k] = &c
		})
		(&base{eng: fn.eng, proc: p}).reportStats(ctx)
	}
	for k, acc := range merged {
		m, _, _ := ParseSeriesKey(k.series)
		end := k.start + int64(fn.eng.Metric(m).Window)
		emit(mtime.FromTime(time.Unix(0, end))-1, k.series, *acc)
	}
	for _, d := range fn.dead {
		dead(d)
	}
	return nil
}
