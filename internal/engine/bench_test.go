package engine

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/loggen"
)

// benchEvents makes n generated events, one second apart, so that windows
// and series turn over as in a real stream.
func benchEvents(n int) [][]byte {
	g := loggen.New(7, time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC), 10*time.Millisecond)
	out := make([][]byte, n)
	for i := range out {
		out[i], _ = g.Append(nil)
	}
	return out
}

func mustEngine(tb testing.TB, path string) *Engine {
	tb.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// BenchmarkProcess measures one core running the five benchmark metrics
// over realistic 230-byte events. The flush every 10,000 events stands for
// the end of a bundle.
func BenchmarkProcess(b *testing.B) {
	e := mustEngine(b, "testdata/bench.yaml")
	events := benchEvents(1 << 16)
	p := e.NewProcessor()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var size int
	for _, ev := range events {
		size += len(ev)
	}
	b.SetBytes(int64(size / len(events)))
	b.ReportAllocs()
	cpu0 := threadCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Process(events[i&(len(events)-1)], nil, 0); err != nil {
			b.Fatal(err)
		}
		if i%10000 == 9999 {
			p.Flush(func(Series, *aggregate.Acc) {})
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// CPU time, unlike wall time, is fair on a machine shared with other
	// work: it says what one core does when it is ours.
	b.ReportMetric(float64(b.N)/(threadCPU()-cpu0).Seconds(), "events/cpu-s")
}

// threadCPU returns the CPU time of the calling thread. The benchmark loop
// runs on one goroutine, locked to its thread by the caller's b.N loop.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
