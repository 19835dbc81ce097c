package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/beametrics/beametrics/internal/loggen"
)

func init() {
	register("generate", "write realistic web-app JSON logs, for trying replay and for benchmarks", runGenerate)
}

func runGenerate(args []string) int {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	count := fs.Int("count", 1000, "number of log lines")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same lines")
	start := fs.String("start", "2025-11-24T16:00:00Z", "time of the first line (RFC 3339)")
	step := fs.Duration("step", 10*time.Millisecond, "time between lines")
	if code, ok := parseSubcommandFlags(fs, args, "usage: beametrics generate [flags] > FILE   (JSON lines on stdout)", os.Stdout, os.Stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "generate: unexpected arguments %q (it takes flags only)\n", fs.Args())
		return 2
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil || *count < 0 || *step < 0 {
		fmt.Fprintln(os.Stderr, "generate: --start must be RFC 3339, --count and --step not negative")
		return 2
	}
	// `generate | head` is how people look at the lines: a reader that has
	// seen enough is not a failure. With SIGPIPE ignored the write fails
	// with EPIPE and the run ends with 0, instead of being killed (141).
	signal.Ignore(syscall.SIGPIPE)
	g := loggen.New(*seed, t0, *step)
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	var b []byte
	for i := 0; i < *count; i++ {
		b, _ = g.Append(b[:0])
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return writeFailed(err)
		}
	}
	if err := w.Flush(); err != nil {
		return writeFailed(err)
	}
	return 0
}

func writeFailed(err error) int {
	if errors.Is(err, syscall.EPIPE) {
		return 0 // the reader stopped reading
	}
	fmt.Fprintln(os.Stderr, "generate:", err)
	return 1
}
