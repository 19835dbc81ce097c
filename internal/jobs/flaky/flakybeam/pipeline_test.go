package flakybeam

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/jobs/flaky"
	"github.com/beametrics/beametrics/internal/jobs/flaky/flakygen"
)

func TestMain(m *testing.M) {
	ptest.Main(m)
}

func writeHistory(t *testing.T, name string, c flakygen.Config) (flaky.Input, *flakygen.Truth) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := flakygen.Write(f, c)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	format, err := flaky.FormatFromName(path)
	if err != nil {
		t.Fatal(err)
	}
	return flaky.Input{Path: path, Format: format}, truth
}

// The Beam engine on prism and the in-memory engine must give the same
// report, ranking, signatures, examples and bad rows included.
func TestBeamMatchesInMemory(t *testing.T) {
	jsonl, jt := writeHistory(t, "a.jsonl", flakygen.Config{Seed: 11, DAGs: 3, Tasks: 9, Runs: 60, BadEvery: 41, Duplicates: true})
	csv, ct := writeHistory(t, "b.csv", flakygen.Config{Seed: 12, DAGPrefix: "csv_", DAGs: 2, Tasks: 9, Runs: 50, CSV: true, BadEvery: 37, Duplicates: true})
	inputs := []flaky.Input{jsonl, csv}
	ctx := context.Background()

	memStats, memBad, err := flaky.ReadAndAnalyze(ctx, inputs, flaky.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	beamStats, beamBad, err := Run(ctx, inputs, flaky.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{jsonl.Path, csv.Path}
	mem := flaky.BuildReport(paths, "x", memStats, memBad, 0)
	bm := flaky.BuildReport(paths, "x", beamStats, beamBad, 0)

	wantBad := len(jt.BadLines) + len(jt.DupLines) + len(ct.BadLines) + len(ct.DupLines)
	if len(bm.BadRows) != wantBad {
		t.Errorf("beam reported %d bad rows, want %d", len(bm.BadRows), wantBad)
	}
	if bm.Tries != jt.Rows+ct.Rows || len(bm.Tasks) == 0 {
		t.Errorf("beam: %d tries (want %d), %d tasks", bm.Tries, jt.Rows+ct.Rows, len(bm.Tasks))
	}
	if !reflect.DeepEqual(mem, bm) {
		for i := range min(len(mem.Tasks), len(bm.Tasks)) {
			if !reflect.DeepEqual(mem.Tasks[i], bm.Tasks[i]) {
				t.Errorf("rank %d differs:\nmemory %+v\nbeam   %+v", i+1, mem.Tasks[i], bm.Tasks[i])
				break
			}
		}
		t.Fatalf("reports differ: memory %d tasks %d bad rows, beam %d tasks %d bad rows",
			len(mem.Tasks), len(mem.BadRows), len(bm.Tasks), len(bm.BadRows))
	}
}

func TestBeamReportsUnreadableFileAsError(t *testing.T) {
	_, _, err := Run(context.Background(), []flaky.Input{{Path: filepath.Join(t.TempDir(), "missing.jsonl"), Format: flaky.JSONLines}}, flaky.ReadOptions{})
	if err == nil {
		t.Fatal("missing input file gave no error")
	}
}

func TestBeamEmptyInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stats, bad, err := Run(context.Background(), []flaky.Input{{Path: path, Format: flaky.JSONLines}}, flaky.ReadOptions{})
	if err != nil || len(stats) != 0 || len(bad) != 0 {
		t.Fatalf("stats %v bad %v err %v", stats, bad, err)
	}
}

// The command's --engine=beam path end to end on the sample export.
func TestMainWithBeamEngine(t *testing.T) {
	var mem, bm bytes.Buffer
	var errb bytes.Buffer
	if code := flaky.Main(context.Background(), []string{"--engine=memory", "--format=json", "../testdata/api_tries.jsonl"}, &mem, &errb, Run); code != 0 {
		t.Fatalf("memory: exit %d %s", code, errb.String())
	}
	if code := flaky.Main(context.Background(), []string{"--engine=beam", "--format=json", "../testdata/api_tries.jsonl"}, &bm, &errb, Run); code != 0 {
		t.Fatalf("beam: exit %d %s", code, errb.String())
	}
	want := strings.Replace(mem.String(), `"engine": "memory"`, `"engine": "beam"`, 1)
	if bm.String() != want || !strings.Contains(want, `"task_id": "load_bq"`) {
		t.Errorf("beam output differs from memory output:\n%s\n---\n%s", bm.String(), want)
	}
}
