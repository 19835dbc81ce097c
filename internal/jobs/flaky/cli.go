package flaky

import (
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/jobcli"
)

// Input is one history file to read.
type Input struct {
	// Path is a file name, or "-" for standard input.
	Path   string
	Format Format
}

// Engine computes the statistics of every task and the bad rows of the
// inputs. The in-memory engine is ReadAndAnalyze; the Beam engine lives in
// flakybeam and is handed to Main by the command, which keeps this package
// free of Beam.
type Engine func(ctx context.Context, inputs []Input, opts ReadOptions) ([]TaskStats, []BadRow, error)

// ReadAndAnalyze is the in-memory engine.
func ReadAndAnalyze(_ context.Context, inputs []Input, opts ReadOptions) ([]TaskStats, []BadRow, error) {
	var tries []TaskTry
	var bad []BadRow
	for _, in := range inputs {
		err := withInput(in, os.Stdin, func(r io.Reader) error {
			return ReadHistory(r, in.Path, in.Format, opts,
				func(t TaskTry) { tries = append(tries, t) },
				func(b BadRow) { bad = append(bad, b) })
		})
		if err != nil {
			return nil, nil, err
		}
	}
	stats, dups := Analyze(tries)
	return stats, append(bad, dups...), nil
}

func withInput(in Input, stdin io.Reader, fn func(io.Reader) error) error {
	if in.Path == "-" {
		return fn(stdin)
	}
	r, err := OpenInput(in.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r)
}

// OpenInput opens a history file, decompressing it if its name ends in .gz.
func OpenInput(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil || !strings.HasSuffix(path, ".gz") {
		return f, err
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return gzipFile{z, f}, nil
}

type gzipFile struct {
	*gzip.Reader
	file *os.File
}

func (g gzipFile) Close() error {
	err := g.Reader.Close()
	if ferr := g.file.Close(); err == nil {
		err = ferr
	}
	return err
}

// Exit codes of the flaky command.
const (
	ExitOK       = 0
	ExitBadRows  = 1 // only with --strict
	ExitBadInput = 2
)

// Main runs `flaky [flags] FILE...` and returns the exit code. beam is the
// Beam engine; nil makes --engine=beam an error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, beam Engine) int {
	fs := flag.NewFlagSet("flaky", flag.ContinueOnError)
	fs.SetOutput(stderr)
	inputFormat := fs.String("input-format", "", "input format, jsonl or csv; empty: from each file's extension (.jsonl/.ndjson/.json, .csv); needed for -")
	format := fs.String("format", "table", "output format: "+strings.Join(OutputFormats, ", "))
	// No automatic switch by size: on prism the Beam engine measured slower
	// and larger than the in-memory one at every size (docs/flaky.md).
	engine := fs.String("engine", "memory", "memory (one pass in this process) or beam (the Beam batch pipeline on the local prism runner)")
	minFlaky := fs.Int("min-flaky-runs", 1, "list tasks with at least this many flaky runs (0 lists every task)")
	assumeUTC := fs.Bool("assume-utc", false, "read timestamps without a time zone as UTC (otherwise such rows are bad rows)")
	strict := fs.Bool("strict", false, "exit 1 when any row is bad")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: beametrics flaky [flags] HISTORY_FILE...   (Airflow task-instance history, JSON lines or CSV; - reads stdin)")
		fmt.Fprintln(stderr, "exit codes: 0 done, 1 bad rows with --strict, 2 usage or unreadable input")
		fs.PrintDefaults()
	}
	files, err := jobcli.ParseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitBadInput
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "flaky: "+format+"\n", a...)
		return ExitBadInput
	}
	if len(files) == 0 {
		fs.Usage()
		return fail("no history file given")
	}
	if err := reportFormats.Check(*format); err != nil {
		return fail("%v", err)
	}
	if *minFlaky < 0 {
		return fail("--min-flaky-runs must not be negative")
	}
	var inputs []Input
	for _, path := range files {
		in := Input{Path: path, Format: Format(*inputFormat)}
		switch {
		case *inputFormat == "" && path == "-":
			return fail("reading standard input needs --input-format")
		case *inputFormat == "":
			f, err := FormatFromName(path)
			if err != nil {
				return fail("%v", err)
			}
			in.Format = f
		case in.Format != JSONLines && in.Format != CSV:
			return fail("unknown --input-format %q (want jsonl or csv)", *inputFormat)
		}
		if path != "-" {
			if _, err := os.Stat(path); err != nil {
				return fail("%v", err)
			}
		}
		inputs = append(inputs, in)
	}

	run, name := Engine(ReadAndAnalyze), "memory"
	switch *engine {
	case "memory":
	case "beam":
		run, name = beam, "beam"
	default:
		return fail("unknown --engine %q (want memory or beam)", *engine)
	}
	if run == nil {
		return fail("the Beam engine is not available in this build")
	}
	if name == "beam" {
		for _, in := range inputs {
			if in.Path == "-" {
				return fail("the Beam engine reads files, not standard input: save it to a file or use --engine=memory")
			}
		}
	}
	stats, bad, err := run(ctx, inputs, ReadOptions{AssumeUTC: *assumeUTC})
	if err != nil {
		return fail("%v", err)
	}
	paths := make([]string, len(inputs))
	for i, in := range inputs {
		paths[i] = in.Path
	}
	rep := BuildReport(paths, name, stats, bad, *minFlaky)
	if err := WriteReport(stdout, rep, *format); err != nil {
		return fail("writing report: %v", err)
	}
	if len(rep.BadRows) > 0 {
		fmt.Fprintf(stderr, "flaky: %d bad rows were not counted; first: %s:%d: %s\n", len(rep.BadRows),
			rep.BadRows[0].Source, rep.BadRows[0].Line, rep.BadRows[0].Reason)
		if *strict {
			return ExitBadRows
		}
	}
	return ExitOK
}
