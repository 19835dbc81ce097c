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

	"github.com/beametrics/beametrics/flakytasks"
)

func init() {
	// JSON coders: the types carry time.Time and maps, which Beam's schema
	// coder does not take. Beam finds functions by name, so each type has
	// its own named pair rather than instances of one generic function.
	beam.RegisterCoder(reflect.TypeOf(flakytasks.TaskTry{}), encodeTry, decodeTry)
	beam.RegisterCoder(reflect.TypeOf(flakytasks.BadRow{}), encodeBadRow, decodeBadRow)
	beam.RegisterCoder(reflect.TypeOf(flakytasks.InstanceSummary{}), encodeInstance, decodeInstance)
	beam.RegisterCoder(reflect.TypeOf(flakytasks.TaskAccumulator{}), encodeAccumulator, decodeAccumulator)
	beam.RegisterCoder(reflect.TypeOf(flakytasks.TaskStats{}), encodeStats, decodeStats)
	beam.RegisterType(reflect.TypeOf((*InputFile)(nil)).Elem())

	register.DoFn4x1[context.Context, InputFile, func(string, flakytasks.TaskTry), func(flakytasks.BadRow), error](&readFileFn{})
	register.Emitter2[string, flakytasks.TaskTry]()
	register.Emitter1[flakytasks.BadRow]()
	register.DoFn4x0[string, func(*flakytasks.TaskTry) bool, func(string, flakytasks.InstanceSummary), func(flakytasks.BadRow)](&summarizeInstanceFn{})
	register.Iter1[flakytasks.TaskTry]()
	register.Emitter2[string, flakytasks.InstanceSummary]()
	register.Combiner3[flakytasks.TaskAccumulator, flakytasks.InstanceSummary, flakytasks.TaskStats](&taskCombineFn{})
	register.Function2x1(dropKey)
	register.Function1x2(statsLine)
	register.Function1x2(badRowLine)
}

func encodeTry(v flakytasks.TaskTry) ([]byte, error) { return json.Marshal(v) }
func decodeTry(b []byte) (v flakytasks.TaskTry, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}
func encodeBadRow(v flakytasks.BadRow) ([]byte, error) { return json.Marshal(v) }
func decodeBadRow(b []byte) (v flakytasks.BadRow, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}
func encodeInstance(v flakytasks.InstanceSummary) ([]byte, error) { return json.Marshal(v) }
func decodeInstance(b []byte) (v flakytasks.InstanceSummary, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}
func encodeAccumulator(v flakytasks.TaskAccumulator) ([]byte, error) { return json.Marshal(v) }
func decodeAccumulator(b []byte) (v flakytasks.TaskAccumulator, err error) {
	err = json.Unmarshal(b, &v)
	return v, err
}
func encodeStats(v flakytasks.TaskStats) ([]byte, error) { return json.Marshal(v) }
func decodeStats(b []byte) (v flakytasks.TaskStats, err error) {
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

func (f *readFileFn) ProcessElement(ctx context.Context, in InputFile, emit func(string, flakytasks.TaskTry), bad func(flakytasks.BadRow)) error {
	file, err := flakytasks.OpenInput(in.Path)
	if err != nil {
		return err
	}
	defer file.Close()
	return flakytasks.ReadHistory(file, in.Path, flakytasks.Format(in.Format),
		flakytasks.ReadOptions{AssumeUTC: f.AssumeUTC},
		func(t flakytasks.TaskTry) { emit(flakytasks.InstanceKey(t), t) },
		bad)
}

type summarizeInstanceFn struct{}

func (summarizeInstanceFn) ProcessElement(_ string, tries func(*flakytasks.TaskTry) bool, emit func(string, flakytasks.InstanceSummary), bad func(flakytasks.BadRow)) {
	var all []flakytasks.TaskTry
	var t flakytasks.TaskTry
	for tries(&t) {
		all = append(all, t)
	}
	s, dups := flakytasks.SummarizeInstance(all)
	for _, d := range dups {
		bad(d)
	}
	emit(flakytasks.TaskKey(s.DagID, s.TaskID), s)
}

// taskCombineFn folds instance summaries per task with the in-memory
// engine's accumulator, whose merge does not depend on order.
type taskCombineFn struct{}

func (taskCombineFn) CreateAccumulator() flakytasks.TaskAccumulator {
	return *flakytasks.NewTaskAccumulator()
}

func (taskCombineFn) AddInput(a flakytasks.TaskAccumulator, s flakytasks.InstanceSummary) flakytasks.TaskAccumulator {
	if a.Signatures == nil {
		a.Signatures = map[string]flakytasks.SignatureSummary{}
	}
	a.Add(s)
	return a
}

func (taskCombineFn) MergeAccumulators(a, b flakytasks.TaskAccumulator) flakytasks.TaskAccumulator {
	if a.Signatures == nil {
		a.Signatures = map[string]flakytasks.SignatureSummary{}
	}
	a.Merge(&b)
	return a
}

func (taskCombineFn) ExtractOutput(a flakytasks.TaskAccumulator) flakytasks.TaskStats {
	return a.Result()
}

func dropKey(_ string, s flakytasks.TaskStats) flakytasks.TaskStats { return s }

func statsLine(v flakytasks.TaskStats) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func badRowLine(v flakytasks.BadRow) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Build adds the analysis to p: it reads inputs and writes one JSON line per
// task to tasksPath and one per bad row to badPath.
func Build(s beam.Scope, inputs []flakytasks.Input, opts flakytasks.ReadOptions, tasksPath, badPath string) {
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

// Run is a flakytasks.Engine that runs the analysis as a Beam batch job on
// the runner named by Beam's --runner flag (empty: prism, in-process).
func Run(ctx context.Context, inputs []flakytasks.Input, opts flakytasks.ReadOptions) ([]flakytasks.TaskStats, []flakytasks.BadRow, error) {
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
	stats, err := readJSONLines[flakytasks.TaskStats](tasksPath)
	if err != nil {
		return nil, nil, err
	}
	bad, err := readJSONLines[flakytasks.BadRow](badPath)
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
