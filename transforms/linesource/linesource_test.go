package linesource

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/klauspost/compress/gzip"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() { register.Function1x1(toString) }

func toString(b []byte) string { return string(b) }

// TestReadSplitsWithoutLosingLines writes files whose lines straddle the
// block boundaries, reads them with small blocks, and checks that every
// line arrives exactly once.
func TestReadSplitsWithoutLosingLines(t *testing.T) {
	dir := t.TempDir()
	var want []any
	var sb strings.Builder
	for i := 0; i < 5000; i++ {
		line := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", i%37))
		sb.WriteString(line)
		if i%3 == 0 {
			sb.WriteString("\r\n")
		} else {
			sb.WriteString("\n")
		}
		want = append(want, line)
	}
	sb.WriteString(`{"last":"no newline"}`)
	want = append(want, `{"last":"no newline"}`)
	path := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := Expand(context.Background(), []string{filepath.Join(dir, "*.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	old := blockSize
	blockSize = 1000 // many blocks, boundaries inside lines
	defer func() { blockSize = old }()
	p, s := beam.NewPipelineWithRoot()
	lines := beam.ParDo(s, toString, Read(s, files))
	passert.Equals(s, lines, want...)
	ptest.RunAndValidate(t, p)
}

func TestExpandRefusesPatternsMatchingNothing(t *testing.T) {
	_, err := Expand(context.Background(), []string{filepath.Join(t.TempDir(), "none-*.jsonl")})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v, want a no such file error", err)
	}
}

// writeLines writes lines (each with "\n") to path, gzip-compressed in
// members of perMember lines when gz is set (concatenated members are what
// `cat a.gz b.gz` makes, and logrotate can produce).
func writeLines(t *testing.T, path string, lines []string, gz bool, perMember int) {
	t.Helper()
	var buf bytes.Buffer
	if !gz {
		for _, l := range lines {
			buf.WriteString(l + "\n")
		}
	} else {
		for i := 0; i < len(lines); i += perMember {
			zw := gzip.NewWriter(&buf)
			for _, l := range lines[i:min(i+perMember, len(lines))] {
				zw.Write([]byte(l + "\n"))
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, files []File) []string {
	t.Helper()
	var got []string
	for _, f := range files {
		for _, b := range Blocks(f) {
			err := ReadBlock(context.Background(), f.Path, b.Start, b.End,
				func(pos any) bool { return pos.(int64) < b.End },
				func(line []byte, _ int64) { got = append(got, string(line)) })
			if err != nil {
				t.Fatalf("%s [%d, %d): %v", f.Path, b.Start, b.End, err)
			}
		}
	}
	return got
}

// TestGzipReadsLikePlain reads the same lines from a plain file, a gzip
// file of one member and one of many members, through the pipeline's
// block reader and through Read on prism, with blocks much smaller than
// the files: every reading gives the same lines.
func TestGzipReadsLikePlain(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := 0; i < 3000; i++ {
		lines = append(lines, fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("y", i%53)))
	}
	writeLines(t, filepath.Join(dir, "plain.jsonl"), lines, false, 0)
	writeLines(t, filepath.Join(dir, "one.jsonl.gz"), lines, true, len(lines))
	writeLines(t, filepath.Join(dir, "many.jsonl.gz"), lines, true, 700)
	old := blockSize
	blockSize = 1000
	defer func() { blockSize = old }()
	for _, name := range []string{"plain.jsonl", "one.jsonl.gz", "many.jsonl.gz"} {
		files, err := Expand(context.Background(), []string{filepath.Join(dir, name)})
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, files); !slices.Equal(got, lines) {
			t.Errorf("%s: %d lines read, want the %d written, in order", name, len(got), len(lines))
		}
	}
	files, err := Expand(context.Background(), []string{filepath.Join(dir, "*.gz")})
	if err != nil {
		t.Fatal(err)
	}
	var want []any
	for range files {
		for _, l := range lines {
			want = append(want, l)
		}
	}
	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, beam.ParDo(s, toString, Read(s, files)), want...)
	ptest.RunAndValidate(t, p)
}

func TestGzipCorruptIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl.gz")
	if err := os.WriteFile(path, []byte("{\"not\":\"gzip\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := ReadBlock(context.Background(), path, 0, 15, func(any) bool { return true }, func([]byte, int64) {})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
}

func TestExpandRefusesDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, pat := range []string{dir, dir + "/", filepath.Join(dir, "l*")} {
		_, err := Expand(context.Background(), []string{pat})
		if err == nil || !strings.Contains(err.Error(), "is a directory") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Expand(%s): err = %v, want one line saying it is a directory", pat, err)
		}
	}
}

// TestReadSplitsAcrossRestrictions is the split that lets Dataflow spread
// a replay over workers: on prism, the lines of several files are read by
// more than one restriction (one per block, and one per gzip file), and
// together they are the lines a single reader reads.
func TestReadSplitsAcrossRestrictions(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := 0; i < 2000; i++ {
		lines = append(lines, fmt.Sprintf(`{"n":%d}`, i))
	}
	writeLines(t, filepath.Join(dir, "a.jsonl"), lines[:800], false, 0)
	writeLines(t, filepath.Join(dir, "b.jsonl"), lines[800:1500], false, 0)
	writeLines(t, filepath.Join(dir, "c.jsonl.gz"), lines[1500:], true, 200)
	files, err := Expand(context.Background(), []string{filepath.Join(dir, "*")})
	if err != nil {
		t.Fatal(err)
	}
	old := blockSize
	blockSize = 4096
	defer func() { blockSize = old }()
	wantBlocks := 0
	for _, f := range files {
		wantBlocks += len(Blocks(f))
	}
	if wantBlocks < 5 {
		t.Fatalf("only %d blocks: the test files are too small", wantBlocks)
	}
	if got := readAll(t, files); !slices.Equal(got, lines) {
		t.Fatalf("single reader: %d lines, want %d in order", len(got), len(lines))
	}
	var want []any
	for _, l := range lines {
		want = append(want, l)
	}
	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, beam.ParDo(s, toString, Read(s, files)), want...)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	restrictions := beamtest.Counter(res, "", "restrictions_read")
	if restrictions < int64(wantBlocks) {
		t.Errorf("%d restrictions read the files, want at least one per block: %d", restrictions, wantBlocks)
	}
}
