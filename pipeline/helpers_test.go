package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/testing/processenv"
	"github.com/beametrics/beametrics/pipeline"
	"github.com/beametrics/beametrics/transforms/deadletter"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

// The pipeline tests run prism in this process, one pipeline at a time:
// the exporters, dead-letter files and progress counters are process-wide.
func TestMain(m *testing.M) {
	code := ptest.MainRet(m)
	processenv.Cleanup() // the binaries of the worker-process tests
	os.Exit(code)
}

// recorder is a strict fake of every exporter: it keeps the points it is
// given and notes every misuse (export before Start, unknown metric, a
// point whose window does not match its metric, the same series and window
// exported twice, use after Close).
type recorder struct {
	mu       sync.Mutex
	descs    map[string]metricdata.Descriptor // by metric name, from Start
	points   []metricdata.Point
	problems []string
	closes   int
}

type fakeExporter struct {
	r       *recorder
	typ     string
	started bool
	closed  bool
}

// installRecorder makes exportsink build recording fakes for the rest of
// the test, and puts the real constructor back afterwards.
func installRecorder(t *testing.T) *recorder {
	t.Helper()
	if err := exportsink.CloseAll(); err != nil {
		t.Fatalf("closing exporters of an earlier run: %v", err)
	}
	r := &recorder{descs: map[string]metricdata.Descriptor{}}
	old := exportsink.NewExporter
	exportsink.NewExporter = func(_ context.Context, typ string, _ exporters.Settings) (exporters.Exporter, error) {
		return &fakeExporter{r: r, typ: typ}, nil
	}
	t.Cleanup(func() {
		_ = exportsink.CloseAll()
		_ = deadletter.CloseFiles()
		exportsink.NewExporter = old
	})
	return r
}

func (f *fakeExporter) Start(_ context.Context, descs []metricdata.Descriptor) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if f.started {
		f.r.problems = append(f.r.problems, "Start called twice on one exporter")
	}
	f.started = true
	for _, d := range descs {
		if d.ExportType != f.typ {
			f.r.problems = append(f.r.problems, fmt.Sprintf("metric %s of export type %s given to the %s exporter", d.Name, d.ExportType, f.typ))
		}
		f.r.descs[d.Name] = d
	}
	return nil
}

func (f *fakeExporter) Export(_ context.Context, points []metricdata.Point) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if !f.started || f.closed {
		f.r.problems = append(f.r.problems, fmt.Sprintf("Export of %d points with started=%v closed=%v", len(points), f.started, f.closed))
	}
	for _, p := range points {
		d, ok := f.r.descs[p.Metric]
		switch {
		case !ok:
			f.r.problems = append(f.r.problems, "point of undeclared metric "+p.Metric)
		case d.Window != 0 && p.End.Sub(p.Start) != d.Window:
			f.r.problems = append(f.r.problems, fmt.Sprintf("point of %s spans %v, want %v", p.Metric, p.End.Sub(p.Start), d.Window))
		case p.Type != d.ValueType:
			f.r.problems = append(f.r.problems, fmt.Sprintf("point of %s has value type %v, want %v", p.Metric, p.Type, d.ValueType))
		}
		f.r.points = append(f.r.points, p)
	}
	return nil
}

func (f *fakeExporter) Close() error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.closed = true
	f.r.closes++
	return nil
}

// lines returns every recorded point formatted by formatPoint, sorted, and
// fails the test on misuse of the exporter or a series exported twice for
// one window.
func (r *recorder) lines(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Errorf("exporter misuse: %s", p)
	}
	seen := map[string]int{}
	var out []string
	for _, p := range r.points {
		id := seriesID(p.Metric, p.Labels, p.Start, p.End)
		if seen[id]++; seen[id] == 2 {
			t.Errorf("series %s exported more than once", id)
		}
		out = append(out, formatPoint(p))
	}
	sort.Strings(out)
	return out
}

func seriesID(metric string, labels []metricdata.Label, start, end time.Time) string {
	var b strings.Builder
	b.WriteString(metric)
	b.WriteString("{")
	for i, l := range labels {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(l.Name + "=" + l.Value)
	}
	b.WriteString("} ")
	b.WriteString(start.UTC().Format(time.RFC3339Nano) + "/" + end.UTC().Format(time.RFC3339Nano))
	return b.String()
}

// formatPoint writes a point as "metric{labels} start/end = value".
func formatPoint(p metricdata.Point) string {
	var v string
	switch p.Type {
	case metricdata.Int64:
		v = strconv.FormatInt(p.Int, 10)
	case metricdata.Double:
		v = formatFloat(p.Double)
	case metricdata.Distribution:
		d := p.Dist
		v = formatDist(d.Count, d.Sum, d.Min, d.Max, d.BucketCounts)
	default:
		v = fmt.Sprintf("bad type %v", p.Type)
	}
	return seriesID(p.Metric, p.Labels, p.Start, p.End) + " = " + v
}

// formatFloat rounds to 9 significant digits, so that sums added in a
// different order compare equal.
func formatFloat(f float64) string {
	if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', 9, 64)
}

func formatDist(count int64, sum, min, max float64, buckets []int64) string {
	return fmt.Sprintf("count=%d sum=%s min=%s max=%s buckets=%v", count, formatFloat(sum), formatFloat(min), formatFloat(max), buckets)
}

// diffLines reports the lines only in got and only in want.
func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	g, w := map[string]int{}, map[string]int{}
	for _, l := range got {
		g[l]++
	}
	for _, l := range want {
		w[l]++
	}
	var extra, missing []string
	for l, n := range g {
		if n > w[l] {
			extra = append(extra, l)
		}
	}
	for l, n := range w {
		if n > g[l] {
			missing = append(missing, l)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	const show = 20
	if len(extra) > 0 || len(missing) > 0 {
		t.Errorf("%d lines not expected, %d expected lines missing (of %d got, %d want)", len(extra), len(missing), len(got), len(want))
		for i, l := range extra {
			if i == show {
				break
			}
			t.Errorf("  unexpected: %s", l)
		}
		for i, l := range missing {
			if i == show {
				break
			}
			t.Errorf("  missing:    %s", l)
		}
	}
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// backgroundRun is pipeline.Run of a stream going on while the test feeds
// and watches it. A test that fails must not leave it going (the exporters
// are shared by the process, and the next test would write through them),
// so Cleanup stops it.
type backgroundRun struct {
	t      *testing.T
	done   chan error
	stderr bytes.Buffer
	ended  bool
}

func runInBackground(t *testing.T, o *pipeline.Options) *backgroundRun {
	r := &backgroundRun{t: t, done: make(chan error, 1)}
	go func() { r.done <- pipeline.Run(context.Background(), o, &r.stderr) }()
	t.Cleanup(func() {
		if !r.ended {
			pubsubread.StopAll()
			select {
			case <-r.done:
			case <-time.After(60 * time.Second):
			}
		}
	})
	return r
}

// waitFor polls cond until it holds, failing the test if the run ends
// first or 60 s pass; failure says what was awaited.
func (r *backgroundRun) waitFor(what func() string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case err := <-r.done:
			r.ended = true
			r.t.Fatalf("Run ended while waiting for %s: %v\n%s", what(), err, r.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("after 60 s, still waiting for %s\n%s", what(), r.stderr.String())
		}
	}
}

// drain stops the stream as SIGTERM does and returns Run's error, failing
// the test if Run does not end within 60 s.
func (r *backgroundRun) drain() error {
	r.t.Helper()
	pubsubread.StopAll()
	select {
	case err := <-r.done:
		r.ended = true
		return err
	case <-time.After(60 * time.Second):
		r.t.Fatalf("Run did not end within 60 s of StopAll\n%s", r.stderr.String())
		return nil
	}
}
