// Package linesource reads newline-delimited records from files (local or
// any Beam filesystem, such as gs://) as a bounded PCollection<[]byte>.
// Files are split into blocks read in parallel, so one large archive keeps
// every core busy. Files whose name ends in .gz are decompressed; gzip
// cannot be read from the middle, so such a file is one block.
package linesource

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs" // gs:// inputs
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/klauspost/compress/gzip"
)

// blockSize is the size of the blocks a file is split into up front: small
// enough that one file feeds every core, large enough that a block's
// start-up cost does not matter. A variable for tests.
var blockSize int64 = 8 << 20

// MaxLine is the longest line kept whole; longer lines are cut there (the
// record is refused as oversize downstream anyway).
const MaxLine = 64 << 20

func init() {
	beam.RegisterType(reflect.TypeOf(File{}))
	register.DoFn4x1[context.Context, *sdf.LockRTracker, File, func([]byte), error](&readFn{})
	register.Emitter1[[]byte]()
}

// File is one input file.
type File struct {
	Path string
	Size int64 // bytes as stored (compressed for .gz)
}

// Gzip reports whether the file is read through gzip: its name ends in .gz.
func (f File) Gzip() bool { return IsGzip(f.Path) }

// IsGzip reports whether a path names a gzip file (it ends in .gz).
func IsGzip(path string) bool { return strings.HasSuffix(path, ".gz") }

// Expand resolves the patterns (paths or globs) to files, before the
// pipeline starts, so that a pattern matching nothing is a clear error
// rather than an empty run.
func Expand(ctx context.Context, patterns []string) ([]File, error) {
	var files []File
	seen := map[string]bool{}
	for _, pat := range patterns {
		if err := notDirectory(pat); err != nil {
			return nil, err
		}
		fs, err := filesystem.New(ctx, pat)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", pat, err)
		}
		names, err := fs.List(ctx, pat)
		if err != nil {
			fs.Close()
			return nil, fmt.Errorf("input %s: %w", pat, err)
		}
		if len(names) == 0 {
			fs.Close()
			return nil, fmt.Errorf("input %s: no such file", pat)
		}
		sort.Strings(names)
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			if err := notDirectory(n); err != nil {
				fs.Close()
				return nil, err
			}
			size, err := fs.Size(ctx, n)
			if err != nil {
				fs.Close()
				return nil, fmt.Errorf("input %s: %w", n, err)
			}
			files = append(files, File{Path: n, Size: size})
		}
		fs.Close()
	}
	return files, nil
}

// notDirectory refuses a directory (or a gs:// prefix ending in /): its
// "lines" would be a listing, or a read error deep in the pipeline.
func notDirectory(path string) error {
	isDir := strings.HasSuffix(path, "/")
	if !isDir && !strings.Contains(path, "://") {
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			isDir = true
		}
	}
	if isDir {
		return fmt.Errorf("input %s is a directory: give its files, e.g. --input '%s/*.jsonl'", path, strings.TrimSuffix(path, "/"))
	}
	return nil
}

// Read returns the lines of files, without their line endings.
func Read(s beam.Scope, files []File) beam.PCollection {
	s = s.Scope("linesource.Read")
	return beam.ParDo(s, &readFn{}, beam.CreateList(s, files))
}

// restrictionsRead counts the byte ranges read: on a distributed runner,
// how finely the reading was spread.
var restrictionsRead = beam.NewCounter("linesource", "restrictions_read")

type readFn struct{}

func (fn *readFn) CreateInitialRestriction(f File) offsetrange.Restriction {
	return offsetrange.Restriction{Start: 0, End: f.Size}
}

func (fn *readFn) SplitRestriction(f File, r offsetrange.Restriction) []offsetrange.Restriction {
	if f.Gzip() {
		return []offsetrange.Restriction{r}
	}
	return r.SizedSplits(blockSize)
}

func (fn *readFn) RestrictionSize(_ File, r offsetrange.Restriction) float64 { return r.Size() }

// CreateTracker makes a byte-range tracker. A gzip file cannot be split
// (its restriction is the whole file), and the tracker refuses the
// runner's dynamic splits of it.
func (fn *readFn) CreateTracker(r offsetrange.Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(offsetrange.NewTracker(r))
}

// ProcessElement emits every line that starts inside the restriction. A
// line that starts before it belongs to the previous block, and a line that
// starts inside it is read to its end even past the restriction.
func (fn *readFn) ProcessElement(ctx context.Context, rt *sdf.LockRTracker, f File, emit func([]byte)) error {
	r := rt.GetRestriction().(offsetrange.Restriction)
	restrictionsRead.Inc(ctx, 1)
	return ReadBlock(ctx, f.Path, r.Start, r.End, rt.TryClaim, func(line []byte, _ int64) { emit(line) })
}

// Blocks splits a file into the byte ranges read in parallel; a gzip file
// is one.
func Blocks(f File) []offsetrange.Restriction {
	r := offsetrange.Restriction{Start: 0, End: f.Size}
	if f.Gzip() {
		return []offsetrange.Restriction{r}
	}
	return r.SizedSplits(blockSize)
}

// ReadBlock calls emit for every line (without its line ending) that starts
// in [start, end) of the file: a line that starts before start belongs to
// the previous block, and a line that starts inside is read to its end even
// past end. claim is asked before each line (with the line's offset) and
// once with end when the file ends; it returns false to stop. emit's slice
// is valid only during the call.
func ReadBlock(ctx context.Context, path string, start, end int64, claim func(pos any) bool, emit func(line []byte, offset int64)) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, path)
	if err != nil {
		return err
	}
	defer rc.Close()
	if IsGzip(path) {
		return readGzip(path, rc, start, end, claim, emit)
	}

	pos := start
	if pos > 0 {
		// Start one byte early: if that byte is a newline, a line starts
		// exactly at start.
		pos--
		if seeker, ok := rc.(io.Seeker); ok {
			if _, err := seeker.Seek(pos, io.SeekStart); err != nil {
				return err
			}
		} else if _, err := io.CopyN(io.Discard, rc, pos); err != nil {
			return fmt.Errorf("%s: skipping to offset %d: %w", path, pos, err)
		}
	}
	br := bufio.NewReaderSize(rc, 1<<20)
	if start > 0 {
		skipped, err := skipLine(br)
		pos += skipped
		if err == io.EOF {
			claim(end)
			return nil
		}
		if err != nil {
			return err
		}
	}
	eof, err := readLines(br, pos, claim, emit)
	if eof {
		claim(end)
	}
	return err
}

// readGzip reads a whole gzip file (concatenated members too). The file
// is one block: a restriction that does not start at 0 was split off by a
// runner, and its lines are read by the one that does. Line offsets are
// in the decompressed stream; only the start and the end of the file are
// claimed.
func readGzip(path string, rc io.Reader, start, end int64, claim func(pos any) bool, emit func(line []byte, offset int64)) error {
	if start > 0 || !claim(start) {
		claim(end)
		return nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(rc, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer zr.Close()
	if _, err := readLines(bufio.NewReaderSize(zr, 1<<20), 0, func(any) bool { return true }, emit); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	claim(end)
	return nil
}

// readLines emits the lines of br, the first at offset pos, while claim
// accepts their offsets. eof reports that the input ended.
func readLines(br *bufio.Reader, pos int64, claim func(pos any) bool, emit func(line []byte, offset int64)) (eof bool, err error) {
	var long []byte
	for claim(pos) {
		line, err := br.ReadSlice('\n')
		n := int64(len(line))
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it, up to MaxLine.
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				n += int64(len(line))
				if len(long) < MaxLine {
					long = append(long, line...)
				}
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return false, err
		}
		at := pos
		pos += n
		line = trimEOL(line)
		if len(line) > 0 {
			emit(line, at)
		}
		if err == io.EOF {
			return true, nil
		}
	}
	return false, nil
}

// skipLine discards through the next newline and returns the bytes read.
func skipLine(br *bufio.Reader) (int64, error) {
	var n int64
	for {
		b, err := br.ReadSlice('\n')
		n += int64(len(b))
		if err != bufio.ErrBufferFull {
			return n, err
		}
	}
}

func trimEOL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}
