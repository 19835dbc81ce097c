package flakybeam

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/beametrics/beametrics/internal/jobs/flaky"
	"github.com/beametrics/beametrics/internal/jobs/flaky/flakygen"
)

// benchInput writes a generated history with about runs*dags*20*1.3 tries.
func benchInput(b *testing.B, dags, runs int) flaky.Input {
	b.Helper()
	path := filepath.Join(b.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := flakygen.Write(f, flakygen.Config{Seed: 3, DAGs: dags, Tasks: 20, Runs: runs, BadEvery: 1000}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return flaky.Input{Path: path, Format: flaky.JSONLines}
}

// BenchmarkEngines compares the engines on the same file; MB/s is input
// bytes per second. The crossover sets DefaultBeamAboveMB.
func BenchmarkEngines(b *testing.B) {
	for _, size := range []struct{ dags, runs int }{{5, 200}, {20, 500}} {
		in := benchInput(b, size.dags, size.runs)
		st, err := os.Stat(in.Path)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range []struct {
			name string
			run  flaky.Engine
		}{{"memory", flaky.ReadAndAnalyze}, {"beam", Run}} {
			b.Run(fmt.Sprintf("%s/%dMB", e.name, st.Size()>>20), func(b *testing.B) {
				b.SetBytes(st.Size())
				for i := 0; i < b.N; i++ {
					stats, _, err := e.run(context.Background(), []flaky.Input{in}, flaky.ReadOptions{})
					if err != nil || len(stats) == 0 {
						b.Fatalf("stats %d err %v", len(stats), err)
					}
				}
			})
		}
	}
}
