package metricagg_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func init() {
	register.DoFn3x0[beam.Window, string, aggregate.Acc](&noteFiringFn{})
}

const replayConfig = `
event_time_field: time
window: 60s
metrics:
  - {name: requests, type: count, dynamic_labels: {service: service}, export_type: local}
`

// replayLine is one record at t of a service.
func replayLine(t time.Time, service string) string {
	return fmt.Sprintf(`{"time":%q,"service":%q}`, t.UTC().Format(time.RFC3339Nano), service)
}

// writeBlocks writes files of lines and cuts them into blocks of about
// blockSize bytes at line starts and in the middle of lines alike, as
// linesource does.
func writeBlocks(t *testing.T, files map[string][]string, order []string, blockSize int64) []metricagg.Block {
	t.Helper()
	dir := t.TempDir()
	var blocks []metricagg.Block
	for _, name := range order {
		path := filepath.Join(dir, name)
		text := strings.Join(files[name], "\n") + "\n"
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		size := int64(len(text))
		for start := int64(0); start < size; start += blockSize {
			blocks = append(blocks, metricagg.Block{Path: path, Start: start, End: min(start+blockSize, size)})
		}
	}
	return blocks
}

// firings notes, per test, how much input had been read when each window
// fired, and how many windows fired.
var firings = struct {
	sync.Mutex
	early map[string]int // windows that fired before the input was read
	all   map[string]int
}{early: map[string]int{}, all: map[string]int{}}

type noteFiringFn struct {
	Test  string
	Total int64
}

func (f *noteFiringFn) ProcessElement(_ beam.Window, _ string, _ aggregate.Acc) {
	firings.Lock()
	defer firings.Unlock()
	firings.all[f.Test]++
	if selfmetrics.BytesRead.Load() < f.Total {
		firings.early[f.Test]++
	}
}

// runReplay replays blocks with maxDelay through fixed one-minute windows
// and a combine, as the pipeline does, and checks every window's count
// against want (formatted as formatFn does).
func runReplay(t *testing.T, blocks []metricagg.Block, maxDelay time.Duration, want []any) {
	t.Helper()
	var total int64
	for _, b := range blocks {
		total += b.End - b.Start
	}
	selfmetrics.BytesRead.Store(0)
	src := config.Source{Name: "replay.yaml", Text: []byte(replayConfig)}
	p, s := beam.NewPipelineWithRoot()
	in := beam.Create(s, metricagg.ReplayInput{Blocks: blocks})
	aggs, dead := beam.ParDo2(s, metricagg.NewReplay(src, maxDelay), in)
	passert.Empty(s, dead)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), aggs)
	combined := beam.CombinePerKey(s, &metricagg.CombineFn{}, windowed)
	beam.ParDo0(s, &noteFiringFn{Test: t.Name(), Total: total}, combined)
	formatted := beam.ParDo(s, &formatFn{Config: src}, combined)
	passert.Equals(s, beam.WindowInto(s, window.NewGlobalWindows(), formatted), want...)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
}

// expectCounts counts records per service and minute with plain Go.
func expectCounts(records map[time.Time]map[string]int) []any {
	var want []any
	for start, bySvc := range records {
		for svc, n := range bySvc {
			want = append(want, fmt.Sprintf("requests{service=%s} %s/%s = %d", svc,
				start.Format(time.RFC3339), start.Add(time.Minute).Format(time.RFC3339), n))
		}
	}
	return want
}

type record struct {
	at      time.Time
	service string
}

func countRecords(recs []record) map[time.Time]map[string]int {
	out := map[time.Time]map[string]int{}
	for _, r := range recs {
		m := r.at.Truncate(time.Minute)
		if out[m] == nil {
			out[m] = map[string]int{}
		}
		out[m][r.service]++
	}
	return out
}

// makeRecords makes n records, one every step from base, of three services.
func makeRecords(n int, base time.Time, step time.Duration, rng *rand.Rand) []record {
	recs := make([]record, n)
	for i := range recs {
		recs[i] = record{base.Add(time.Duration(i) * step), []string{"checkout", "search", "auth"}[rng.IntN(3)]}
	}
	return recs
}

func lines(recs []record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = replayLine(r.at, r.service)
	}
	return out
}

// TestReplayInTimeOrderReleasesWindowsEarly replays two hours of records
// in time order, in many small rounds: the windows are exact, and most
// fire while the input is still being read (memory follows open windows).
func TestReplayInTimeOrderReleasesWindowsEarly(t *testing.T) {
	defer metricagg.SetRoundBytes(16 << 10)()
	rng := rand.New(rand.NewPCG(1, 2))
	recs := makeRecords(12_000, time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC), 600*time.Millisecond, rng)
	blocks := writeBlocks(t, map[string][]string{"a.jsonl": lines(recs)}, []string{"a.jsonl"}, 4<<10)
	lateBefore := selfmetrics.Late.Load()
	runReplay(t, blocks, time.Minute, expectCounts(countRecords(recs)))
	if n := selfmetrics.Late.Load() - lateBefore; n != 0 {
		t.Errorf("%d values counted late in time-ordered input", n)
	}
	firings.Lock()
	defer firings.Unlock()
	early, all := firings.early[t.Name()], firings.all[t.Name()]
	// 120 minutes of 3 services; the last few minutes can only fire at
	// the end.
	if all < 300 || early < all/2 {
		t.Errorf("%d of %d windows fired before the input was read; want most", early, all)
	}
}

// TestReplayOutOfOrderIsExact replays input far out of time order: one
// file shuffled line by line (the replay sees the disorder in its first
// round and holds its watermark back), and three "hosts" each covering the
// same two hours, read one after the other, with --max-disorder covering
// the period (the disorder shows only when the second file starts, too
// late for what the first released). Every window is exact, nothing late.
func TestReplayOutOfOrderIsExact(t *testing.T) {
	defer metricagg.SetRoundBytes(16 << 10)()
	base := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	t.Run("shuffled", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		recs := makeRecords(12_000, base, 600*time.Millisecond, rng)
		shuffled := append([]record(nil), recs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		blocks := writeBlocks(t, map[string][]string{"a.jsonl": lines(shuffled)}, []string{"a.jsonl"}, 4<<10)
		lateBefore := selfmetrics.Late.Load()
		runReplay(t, blocks, time.Second, expectCounts(countRecords(recs)))
		if n := selfmetrics.Late.Load() - lateBefore; n != 0 {
			t.Errorf("%d values counted late", n)
		}
	})
	t.Run("hosts", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		files := map[string][]string{}
		var all []record
		names := []string{"host-a.jsonl", "host-b.jsonl", "host-c.jsonl"}
		for _, name := range names {
			recs := makeRecords(4000, base, 1800*time.Millisecond, rng)
			files[name] = lines(recs)
			all = append(all, recs...)
		}
		blocks := writeBlocks(t, files, names, 4<<10)
		lateBefore := selfmetrics.Late.Load()
		runReplay(t, blocks, 3*time.Hour, expectCounts(countRecords(all)))
		if n := selfmetrics.Late.Load() - lateBefore; n != 0 {
			t.Errorf("%d values counted late", n)
		}
	})
}

// TestReplayCountsLateRecords replays time-ordered input followed, much
// later in the file, by records three hours older than anything near
// them: the watermark has passed their windows, so they are counted as
// late (not silently lost) and the other windows stay exact.
func TestReplayCountsLateRecords(t *testing.T) {
	defer metricagg.SetRoundBytes(16 << 10)()
	base := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 8))
	recs := makeRecords(12_000, base.Add(3*time.Hour), 600*time.Millisecond, rng)
	stale := []record{{base, "checkout"}, {base.Add(time.Second), "auth"}, {base.Add(2 * time.Minute), "auth"}}
	text := append(lines(recs), lines(stale)...)
	blocks := writeBlocks(t, map[string][]string{"a.jsonl": text}, []string{"a.jsonl"}, 4<<10)
	lateBefore := selfmetrics.Late.Load()
	runReplay(t, blocks, time.Minute, expectCounts(countRecords(recs)))
	if n := selfmetrics.Late.Load() - lateBefore; n != int64(len(stale)) {
		t.Errorf("%d values counted late, want the %d stale records", n, len(stale))
	}
}
