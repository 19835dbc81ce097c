package linesource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
