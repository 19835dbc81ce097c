// Package flakybeam computes the flaky-task statistics of flakytasks as a
// Beam batch pipeline, for histories too large for one in-memory pass. It
// runs on Beam's default runner (prism, in-process) and uses the same
// functions as the in-memory engine at every step, so both rank alike.
//
// Each input file is read whole by one worker, because line numbers (for
// bad-row reports) and quoted multi-line CSV fields need a sequential read;
// grouping tries into task instances, normalising failure messages and
// combining per task run in parallel.
package flakybeam

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/beametrics/beametrics/internal/jobs/flaky"
)

func init() {
	// JSON coders: the types carry time.Time and maps, which Beam's schema
	// coder does not take. Beam finds functions by name, so each type has
	// its own named pair rather than instances of one generic function.
	beam.RegisterCoder(reflect.TypeOf(flaky.TaskTry{}), encodeTry, decodeTry)
	beam.RegisterCoder(reflect.TypeOf(flaky.BadRow{}), encodeBadRow, decodeBadRow)
	beam.RegisterCoder(reflect.TypeOf(flaky.InstanceSummary{}), encodeInstance, decodeInstance)
	beam.RegisterCoder(reflect.TypeOf(flaky.TaskAccumulator{}), encodeAccumulator, decodeAccumulator)
	beam.RegisterCoder(reflect.TypeOf(flaky.TaskStats{}), encodeStats, decodeStats)
	beam.RegisterType(reflect.TypeOf((*InputFile)(nil)).Elem())

	register.DoFn4x1[context.Context, InputFile, func(string, flaky.TaskTry), func(flaky.BadRow), error](&readFileFn{})
	register.Emitter2[string, flaky.TaskTry]()
	register.Emitter1[flaky.BadRow]()
	register.DoFn4x0[string, func(*flaky.TaskTry) bool, func(string, flaky.InstanceSummary), func(flaky.BadRow)](&summarizeInstanceFn{})
	register.Iter1[flaky.TaskTry]()
	register.Emitter2[string, flaky.InstanceSummary]()
	register.Combiner3[flaky.TaskAccumulator, flaky.InstanceSummary, flaky.TaskStats](&taskCombineFn{})
	register.Function2x1(dropKey)
	register.Function1x2(statsLine)
	register.Function1x2(badRowLine)
}

func encodeTry(v flaky.TaskTry) ([]byte, error) { return json.Marshal(v) }
func decodeTry(b []byte) (v flaky.TaskTry, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}
func encodeBadRow(v flaky.BadRow) ([]byte, error) { return json.Marshal(v) }
func decodeBadRow(b []byte) (v flaky.BadRow, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}
func encodeInstance(v flaky.InstanceSummary) ([]byte, error) { return json.Marshal(v) }
func decodeInstance(b []byte) (v flaky.InstanceSummary, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}
func encodeAccumulator(v flaky.TaskAccumulator) ([]byte, error) { return json.Marshal(v) }
func decodeAccumulator(b []byte) (v flaky.TaskAccumulator, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}
func encodeStats(v flaky.TaskStats) ([]byte, error) { return json.Marshal(v) }
func decodeStats(b []byte) (v flaky.TaskStats, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}

// InputFile is one history file with its format, a pipeline element.
type InputFile struct {
	Path   string
	Format string
}

type readFileFn struct {
	AssumeUTC bool
}

func (f *readFileFn) ProcessElement(ctx context.Context, in InputFile, emit func(string, flaky.TaskTry), bad func(flaky.BadRow)) error {
	file, err := flaky.OpenInput(in.Path)
	if err != nil {
		return err
	}
	defer file.Close()
	return flaky.ReadHistory(file, in.Path, flaky.Format(in.Format),
		flaky.ReadOptions{AssumeUTC: f.AssumeUTC},
		func(t flaky.TaskTry) { emit(flaky.InstanceKey(t), t) },
		bad)
}

type summarizeInstanceFn struct{}

func (summarizeInstanceFn) ProcessElement(_ string, tries func(*flaky.TaskTry) bool, emit func(string, flaky.InstanceSummary), bad func(flaky.BadRow)) {
	var all []flaky.TaskTry
	var t flaky.TaskTry
	for tries(&t) {
		all = append(all, t)
	}
	s, dups := flaky.SummarizeInstance(all)
	for _, d := range dups {
		bad(d)
	}
	emit(flaky.TaskKey(s.DagID, s.TaskID), s)
}

// taskCombineFn folds instance summaries per task with the in-memory
// engine's accumulator, whose merge does not depend on order.
type taskCombineFn struct{}

func (taskCombineFn) CreateAccumulator() flaky.TaskAccumulator {
	return *flaky.NewTaskAccumulator()
}

func (taskCombineFn) AddInput(a flaky.TaskAccumulator, s flaky.InstanceSummary) flaky.TaskAccumulator {
	if a.Signatures == nil {
		a.Signatures = map[string]flaky.SignatureSummary{}
	}
	a.Add(s)
	return a
}

func (taskCombineFn) MergeAccumulators(a, b flaky.TaskAccumulator) flaky.TaskAccumulator {
	if a.Signatures == nil {
		a.Signatures = map[string]flaky.SignatureSummary{}
	}
	a.Merge(&b)
	return a
}

func (taskCombineFn) ExtractOutput(a flaky.TaskAccumulator) flaky.TaskStats {
	return a.Result()
}

func dropKey(_ string, s flaky.TaskStats) flaky.TaskStats { return s }

func statsLine(v flaky.TaskStats) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func badRowLine(v flaky.BadRow) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Build adds the analysis to p: it reads inputs and writes one JSON line per
// task to tasksPath and one per bad row to badPath.
func Build(s beam.Scope, inputs []flaky.Input, opts flaky.ReadOptions, tasksPath, badPath string) {
	files := make([]InputFile, len(inputs))
	for i, in := range inputs {
		files[i] = InputFile{Path: in.Path, Format: string(in.Format)}
	}
	specs := beam.CreateList(s, files)
	tries, badRead := beam.ParDo2(s.Scope("ReadHistory"), &readFileFn{AssumeUTC: opts.AssumeUTC}, specs)
	instances, badDup := beam.ParDo2(s.Scope("SummarizeInstances"), &summarizeInstanceFn{}, beam.GroupByKey(s, tries))
	stats := beam.DropKey(s, beam.CombinePerKey(s.Scope("CombinePerTask"), &taskCombineFn{}, instances))
	textio.Write(s.Scope("WriteTasks"), tasksPath, beam.ParDo(s, statsLine, stats))
	bad := beam.Flatten(s, badRead, badDup)
	textio.Write(s.Scope("WriteBadRows"), badPath, beam.ParDo(s, badRowLine, bad))
}

// Run is a flaky.Engine that runs the analysis as a Beam batch job on
// the runner named by Beam's --runner flag (empty: prism, in-process).
func Run(ctx context.Context, inputs []flaky.Input, opts flaky.ReadOptions) ([]flaky.TaskStats, []flaky.BadRow, error) {
	for _, in := range inputs {
		if in.Path == "-" {
			return nil, nil, errors.New("the Beam engine cannot read standard input")
		}
	}
	if !beam.Initialized() {
		beam.Init()
	}
	dir, err := os.MkdirTemp("", "flakybeam-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	tasksPath, badPath := filepath.Join(dir, "tasks.jsonl"), filepath.Join(dir, "bad.jsonl")

	p, s := beam.NewPipelineWithRoot()
	Build(s, inputs, opts, tasksPath, badPath)
	if _, err := beamx.RunWithMetrics(ctx, p); err != nil {
		return nil, nil, fmt.Errorf("beam pipeline: %w", err)
	}
	stats, err := readJSONLines[flaky.TaskStats](tasksPath)
	if err != nil {
		return nil, nil, err
	}
	bad, err := readJSONLines[flaky.BadRow](badPath)
	if err != nil {
		return nil, nil, err
	}
	return stats, bad, nil
}

// readJSONLines reads a file written by textio.Write. textio writes no file
// for an empty collection, so a missing file after a successful run means
// no elements.
func readJSONLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("reading pipeline output %s: %w", path, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}
