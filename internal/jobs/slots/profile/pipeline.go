package profile

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs:// inputs and output
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local files
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/beametrics/beametrics/internal/jobs/slots/cronshift"
	"github.com/beametrics/beametrics/internal/jobs/slots/history"
)

func init() {
	register.DoFn6x1[context.Context, string, func(string, int64), func(string, int64), func(string), func(string, int64), error](&readFn{})
	register.DoFn5x1[string, func(*string) bool, func(*int64) bool, func(*int64) bool, func(string), error](&profileFn{})
	register.DoFn6x0[int64, func(*string) bool, func(string, int64), func(string, int64), func(string), func(string)](&minuteFn{})
	register.DoFn5x1[context.Context, int, func(*string) bool, func(*int64) bool, func(*int64) bool, error](&writeDocFn{})
	register.Function2x2(splitRunKey)
	register.Function2x2(splitMinuteKey)
	register.Function2x1(minuteOfKey)
	register.DoFn2x0[string, func(string)](&tagFn{})
	register.DoFn3x0[string, int64, func(string)](&tagKVFn{})
	register.Emitter1[string]()
	register.Emitter2[string, int64]()
	register.Iter1[string]()
	register.Iter1[int64]()
}

// Config is what `slots profile` needs.
type Config struct {
	// Inputs are job history files or glob patterns, local or gs://.
	Inputs []string
	Kind   history.Kind
	// Format applies to all inputs; empty means "from each file's
	// extension".
	Format     history.Format
	RunsFile   string
	RunsFormat history.Format
	CapSlots   float64
	Out        string
}

// Build checks the configuration, reads the (small) run history, and
// builds the pipeline. The job history itself is read by the pipeline.
func Build(ctx context.Context, cfg Config) (*beam.Pipeline, error) {
	if cfg.CapSlots <= 0 {
		return nil, fmt.Errorf("cap must be a positive number of slots, got %v", cfg.CapSlots)
	}
	if cfg.Kind != history.KindTimeline && cfg.Kind != history.KindJobs {
		return nil, fmt.Errorf("unknown history kind %q", cfg.Kind)
	}
	if cfg.Out == "" {
		return nil, fmt.Errorf("no output file")
	}
	files, err := expand(ctx, cfg.Inputs)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if cfg.Format == "" {
			if _, err := history.FormatFromName(f); err != nil {
				return nil, err
			}
		}
	}
	runs, badRuns, err := readRuns(ctx, cfg.RunsFile, cfg.RunsFormat)
	if err != nil {
		return nil, err
	}
	runsJSON, err := json.Marshal(runs)
	if err != nil {
		return nil, err
	}
	badRunsJSON, _ := json.Marshal(badRuns)

	p, s := beam.NewPipelineWithRoot()
	read := &readFn{Kind: string(cfg.Kind), Format: string(cfg.Format), RunsJSON: string(runsJSON)}
	// Reshuffle so that a runner with many workers reads the files (BigQuery
	// exports come in many shards) in parallel rather than in one bundle.
	shards := beam.Reshuffle(s, beam.CreateList(s, files))
	runUse, minUse, bad, rows := beam.ParDo4(s.Scope("ReadHistory"), read, shards)

	minSums := stats.SumPerKey(s.Scope("SlotMsPerMinute"), minUse)
	minutes := beam.ParDo(s, minuteOfKey, minSums)
	lo, hi := stats.Min(s, minutes), stats.Max(s, minutes)

	runSums := stats.SumPerKey(s.Scope("SlotMsPerRunMinute"), runUse)
	byDAG := beam.GroupByKey(s, beam.ParDo(s, splitRunKey, runSums))
	profiles := beam.ParDo(s.Scope("DAGProfiles"), &profileFn{RunsJSON: string(runsJSON)}, byDAG,
		beam.SideInput{Input: lo}, beam.SideInput{Input: hi})

	byMinute := beam.GroupByKey(s, beam.ParDo(s, splitMinuteKey, minSums))
	sums, maxes, over, hist := beam.ParDo4(s.Scope("Minutes"), &minuteFn{CapMs: int64(math.Round(cfg.CapSlots * 60000))}, byMinute)

	parts := beam.Flatten(s,
		beam.Create(s, "Z"), // so that the document is written even for empty input
		beam.ParDo(s, &tagFn{Tag: "P"}, profiles),
		beam.ParDo(s, &tagFn{Tag: "O"}, over),
		beam.ParDo(s, &tagFn{Tag: "H"}, hist),
		beam.ParDo(s, &tagFn{Tag: "B"}, bad),
		beam.ParDo(s, &tagKVFn{Tag: "S"}, stats.SumPerKey(s, sums)),
		beam.ParDo(s, &tagKVFn{Tag: "X"}, stats.MaxPerKey(s, maxes)),
		beam.ParDo(s, &tagKVFn{Tag: "C"}, stats.SumPerKey(s, rows)),
	)
	beam.ParDo0(s.Scope("WriteProfile"), &writeDocFn{
		Out: cfg.Out, Kind: string(cfg.Kind), CapSlots: cfg.CapSlots, Inputs: files,
		RunsFile: cfg.RunsFile, BadRunsJSON: string(badRunsJSON),
	}, beam.GroupByKey(s, beam.AddFixedKey(s, parts)), beam.SideInput{Input: lo}, beam.SideInput{Input: hi})
	return p, nil
}

// Run builds and runs the pipeline on the runner chosen by Beam's flags
// (prism in-process when none is given). Beam's flags must have been
// parsed into the global flag set before.
func Run(ctx context.Context, cfg Config) error {
	if !beam.Initialized() {
		beam.Init()
	}
	p, err := Build(ctx, cfg)
	if err != nil {
		return err
	}
	return beamx.Run(ctx, p)
}

func expand(ctx context.Context, patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("no job history input given")
	}
	var files []string
	for _, pat := range patterns {
		fs, err := filesystem.New(ctx, pat)
		if err != nil {
			return nil, err
		}
		got, err := fs.List(ctx, pat)
		fs.Close()
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", pat, err)
		}
		if len(got) == 0 {
			return nil, fmt.Errorf("no file matches %s", pat)
		}
		files = append(files, got...)
	}
	sort.Strings(files)
	return files, nil
}

func open(ctx context.Context, name string) (io.ReadCloser, error) {
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return nil, err
	}
	rc, err := fs.OpenRead(ctx, name)
	if err != nil {
		fs.Close()
		return nil, err
	}
	if !strings.HasSuffix(name, ".gz") {
		return rc, nil
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, rc}, nil
}

func readRuns(ctx context.Context, name string, format history.Format) ([]history.DagRun, []history.BadRow, error) {
	if name == "" {
		return nil, nil, fmt.Errorf("no Airflow run history given")
	}
	if format == "" {
		var err error
		if format, err = history.FormatFromName(name); err != nil {
			return nil, nil, err
		}
	}
	rc, err := open(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	return history.ReadRuns(rc, name, format)
}

// scheduledDAGs is the set of DAGs whose latest run carries a cron schedule:
// the ones a plan can place, so the ones whose usage a profile models.
func scheduledDAGs(runs []history.DagRun) map[string]bool {
	latest := map[string]history.DagRun{}
	for _, r := range runs {
		if l, ok := latest[r.DagID]; !ok || r.Start.After(l.Start) {
			latest[r.DagID] = r
		}
	}
	out := map[string]bool{}
	for id, r := range latest {
		if _, err := cronshift.Parse(r.Schedule); err == nil {
			out[id] = true
		}
	}
	return out
}

// readFn reads one job history file, attributes every usage to a DAG run,
// and emits:
//   - per run minute: "dag \t run \t offset \t method" -> slot-ms
//   - per calendar minute: "minute \t dag \t method \t modelled" -> slot-ms
//   - bad rows as JSON
//   - rows read per file.
type readFn struct {
	Kind     string
	Format   string
	RunsJSON string

	ix        *history.RunIndex
	scheduled map[string]bool
}

func (f *readFn) Setup() error {
	var runs []history.DagRun
	if err := json.Unmarshal([]byte(f.RunsJSON), &runs); err != nil {
		return err
	}
	f.ix = history.NewRunIndex(runs)
	f.scheduled = scheduledDAGs(runs)
	return nil
}

func (f *readFn) ProcessElement(ctx context.Context, file string, runUse, minUse func(string, int64), bad func(string), rows func(string, int64)) error {
	format := history.Format(f.Format)
	if format == "" {
		var err error
		if format, err = history.FormatFromName(file); err != nil {
			return err
		}
	}
	rc, err := open(ctx, file)
	if err != nil {
		return err
	}
	defer rc.Close()
	runs := f.ix.Runs()
	var key []byte
	n, err := history.ReadJobs(rc, file, history.Kind(f.Kind), format, func(u history.Usage) {
		a := f.ix.Attribute(u)
		modelled := "0"
		if a.Run >= 0 {
			if f.scheduled[a.DAG] {
				modelled = "1"
			}
			history.SplitByRunMinute(&runs[a.Run], u, func(offset int, ms int64) {
				key = append(key[:0], a.DAG...)
				key = append(key, '\t')
				key = strconv.AppendInt(key, int64(a.Run), 10)
				key = append(key, '\t')
				key = strconv.AppendInt(key, int64(offset), 10)
				key = append(key, '\t')
				key = append(key, a.Method...)
				runUse(string(key), ms)
			})
		}
		key = strconv.AppendInt(key[:0], u.Minute(), 10)
		key = append(key, '\t')
		key = append(key, a.DAG...)
		key = append(key, '\t')
		key = append(key, a.Method...)
		key = append(key, '\t')
		key = append(key, modelled...)
		minUse(string(key), u.SlotMs)
	}, func(b history.BadRow) {
		j, _ := json.Marshal(b)
		bad(string(j))
	})
	if err != nil {
		return err
	}
	rows(file, int64(n))
	return nil
}

func splitRunKey(k string, ms int64) (string, string) {
	dag, rest, _ := strings.Cut(k, "\t")
	return dag, rest + "\t" + strconv.FormatInt(ms, 10)
}

func splitMinuteKey(k string, ms int64) (int64, string) {
	m, rest, _ := strings.Cut(k, "\t")
	minute, _ := strconv.ParseInt(m, 10, 64)
	return minute, rest + "\t" + strconv.FormatInt(ms, 10)
}

func minuteOfKey(k string, _ int64) int64 {
	m, _, _ := strings.Cut(k, "\t")
	minute, _ := strconv.ParseInt(m, 10, 64)
	return minute
}

func single(it func(*int64) bool) (int64, bool) {
	var v int64
	ok := it(&v)
	return v, ok
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// profileFn turns one DAG's per-run-minute slot time into its profile.
type profileFn struct {
	RunsJSON string

	runs  []history.DagRun
	byDAG map[string][]int
}

func (f *profileFn) Setup() error {
	if err := json.Unmarshal([]byte(f.RunsJSON), &f.runs); err != nil {
		return err
	}
	f.byDAG = map[string][]int{}
	for i, r := range f.runs {
		f.byDAG[r.DagID] = append(f.byDAG[r.DagID], i)
	}
	return nil
}

func (f *profileFn) ProcessElement(dag string, vals func(*string) bool, loIt, hiIt func(*int64) bool, emit func(string)) error {
	lo, ok1 := single(loIt)
	hi, ok2 := single(hiIt)
	if !ok1 || !ok2 {
		return fmt.Errorf("profile of %s: the usage time range is missing", dag)
	}
	usage := map[int]map[int]int64{} // run -> offset -> slot-ms
	byMethod := map[string]int64{}
	var v string
	for vals(&v) {
		parts := strings.Split(v, "\t") // run, offset, method, ms
		if len(parts) != 4 {
			return fmt.Errorf("profile of %s: malformed value %q", dag, v)
		}
		run, _ := strconv.Atoi(parts[0])
		off, _ := strconv.Atoi(parts[1])
		ms, _ := strconv.ParseInt(parts[3], 10, 64)
		if usage[run] == nil {
			usage[run] = map[int]int64{}
		}
		usage[run][off] += ms
		byMethod[parts[2]] += ms
	}
	p := profileOf(dag, f.runs, f.byDAG[dag], usage, time.UnixMilli(lo*60000).UTC(), time.UnixMilli((hi+1)*60000).UTC())
	p.SlotMsByMethod = byMethod
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	emit(string(b))
	return nil
}

// profileOf builds a DAG's profile from the runs that start inside
// [from, to), the span the job history covers; runs outside it would look
// idle. (The span ends at the last minute with any usage, so a run may end
// after it: its quiet tail is real.)
func profileOf(dag string, runs []history.DagRun, idx []int, usage map[int]map[int]int64, from, to time.Time) DAGProfile {
	p := DAGProfile{DAG: dag}
	var in []int
	var latest history.DagRun
	for _, i := range idx {
		r := runs[i]
		if r.Start.After(latest.Start) || latest.DagID == "" {
			latest = r
		}
		if r.Start.Before(from) || !r.Start.Before(to) {
			p.RunsOutsideRange++
			continue
		}
		in = append(in, i)
	}
	p.Schedule, p.Timezone = latest.Schedule, latest.Timezone
	sched, err := cronshift.Parse(latest.Schedule)
	if err != nil {
		p.ScheduleError = err.Error()
	}
	loc, err := cronshift.LoadZone(p.Timezone)
	if err != nil { // the runs reader checked it; a zone database may still lack it
		p.ScheduleError = err.Error()
		loc = time.UTC
	}
	p.Runs = len(in)
	if len(in) == 0 {
		return p
	}
	length := 0
	var durs []float64
	var starts []time.Time
	for _, i := range in {
		for off := range usage[i] {
			if off+1 > length {
				length = off + 1
			}
		}
		durs = append(durs, runs[i].End.Sub(runs[i].Start).Minutes())
		if runs[i].RunType == "" || runs[i].RunType == "scheduled" {
			starts = append(starts, runs[i].Start)
		}
	}
	p.MedianDurationMin = round3(quantile(durs, 0.5))
	p.P90DurationMin = round3(quantile(durs, 0.9))
	if sched != nil {
		p.StartDelaySec, _ = sched.StartDelay(loc, starts)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	p.ScheduledStarts = starts
	p.MedianSlots = make([]float64, length)
	p.P90Slots = make([]float64, length)
	col := make([]float64, len(in))
	for off := 0; off < length; off++ {
		for k, i := range in {
			col[k] = float64(usage[i][off]) / 60000
		}
		p.MedianSlots[off] = round3(quantile(col, 0.5))
		p.P90Slots[off] = round3(quantile(col, 0.9))
	}
	return p
}

// quantile returns the q-quantile by nearest rank, except that the median of
// an even count is the mean of the middle two. xs is reordered.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	n := len(xs)
	if q == 0.5 && n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	r := int(math.Ceil(q*float64(n))) - 1
	if r < 0 {
		r = 0
	}
	return xs[r]
}

// minuteFn looks at one calendar minute: it adds the minute's slot time to
// its minute of the day, keeps its split between scheduled DAGs and
// background for the history ("dag \t minute \t ms", dag empty for the
// background), and reports it when the total went over the cap.
type minuteFn struct {
	CapMs int64
}

func (f *minuteFn) ProcessElement(minute int64, vals func(*string) bool, sums, maxes func(string, int64), over, hist func(string)) {
	type share struct {
		dag, method string
		ms          int64
	}
	var total, background int64
	var shares []share
	modelled := map[string]int64{} // per DAG, over its attribution methods
	var v string
	for vals(&v) {
		parts := strings.Split(v, "\t") // dag, method, modelled, ms
		ms, _ := strconv.ParseInt(parts[3], 10, 64)
		total += ms
		if parts[2] != "1" {
			background += ms
		} else {
			modelled[parts[0]] += ms
		}
		sums("a:"+parts[1], ms)
		shares = append(shares, share{parts[0], parts[1], ms})
	}
	at := strconv.FormatInt(minute, 10)
	if background > 0 {
		hist("\t" + at + "\t" + strconv.FormatInt(background, 10))
	}
	for dag, ms := range modelled {
		if ms > 0 {
			hist(dag + "\t" + at + "\t" + strconv.FormatInt(ms, 10))
		}
	}
	mod := strconv.FormatInt(((minute%1440)+1440)%1440, 10)
	sums("t:"+mod, total)
	sums("b:"+mod, background)
	maxes("x:"+mod, total)
	if total <= f.CapMs {
		return
	}
	sort.Slice(shares, func(i, j int) bool {
		if shares[i].ms != shares[j].ms {
			return shares[i].ms > shares[j].ms
		}
		return shares[i].dag+shares[i].method < shares[j].dag+shares[j].method
	})
	oc := OverCapMin{At: time.Unix(minute*60, 0).UTC(), Slots: round3(float64(total) / 60000)}
	for _, s := range shares {
		name := s.dag
		switch s.method {
		case history.None:
			name = UnattributedName
		case history.Ambiguous:
			name = AmbiguousName
		}
		oc.DAGs = append(oc.DAGs, DAGSlots{DAG: name, Slots: round3(float64(s.ms) / 60000), Method: s.method})
	}
	b, _ := json.Marshal(oc)
	over(string(b))
}

type tagFn struct{ Tag string }

func (f *tagFn) ProcessElement(s string, emit func(string)) { emit(f.Tag + s) }

type tagKVFn struct{ Tag string }

func (f *tagKVFn) ProcessElement(k string, v int64, emit func(string)) {
	emit(f.Tag + k + "\t" + strconv.FormatInt(v, 10))
}
