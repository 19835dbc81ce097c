package selfmetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"

	"github.com/beametrics/beametrics/exporters"
)

// The job's Beam counters, in namespace BeamNamespace: the runner adds them
// up over every bundle of every worker process, so that the run's summary
// is right wherever the work ran (in this process, in prism's worker
// processes, on Dataflow's workers).
const (
	BeamNamespace = "beametrics"

	BeamEvents              = "events"           // records read as events
	BeamDeadLettersPrefix   = "dead_letters/"    // + reason
	BeamLate                = "late_values"      // values after their window closed
	BeamWindowsExported     = "windows_exported" // (metric, window) pairs
	BeamPointsPrefix        = "points_exported/" // + exporter
	BeamExportFailurePrefix = "export_failures/" // + exporter (a total), + exporter/code
	BeamDroppedPrefix       = "dropped_values/"  // + metric
	BeamOverflowedPrefix    = "overflowed/"      // + metric
	BeamFilterErrorsPrefix  = "filter_errors/"   // + metric
)

// Totals are a run's counts so far, for the progress line and summary.
type Totals struct {
	Events, DeadLetters, Late       int64
	WindowsExported, PointsExported int64
	ExportFailures                  int64
	// Values and events a metric could not use as they came: dropped
	// values, events folded into an overflow series, failed filters.
	Dropped, Overflowed, FilterErrors int64
	// DeadLetterReasons and Failures split DeadLetters and ExportFailures
	// by reason and by exporter and code (nil when none).
	DeadLetterReasons map[string]int64
	Failures          map[Failure]int64
	// NewestWindowEnd is the end of the newest window exported; zero
	// when none was or when not known (Beam's counters do not say).
	NewestWindowEnd time.Time
	// A replay's input, as this process saw it: bytes read of the total
	// (0 total when streaming) and the range of event times read (zero
	// when none was seen here).
	BytesRead, BytesTotal            int64
	OldestEventTime, NewestEventTime time.Time
}

// ProcessTotals reads this process's counters: the live view of a run
// whose workers run in this process.
func ProcessTotals() Totals {
	t := Totals{Events: Events.Load(), DeadLetters: DeadLetters.Load(), Late: Late.Load(),
		WindowsExported: WindowsExported.Load(), PointsExported: PointsExported.Load(), ExportFailures: ExportFailures.Load(),
		Dropped: Dropped.Load(), Overflowed: Overflowed.Load(), FilterErrors: FilterErrors.Load(),
		DeadLetterReasons: DeadLettersByReason.Snapshot(), Failures: FailuresByExporter.Snapshot()}
	if n := LatestWindowEnd.Load(); n > 0 {
		t.NewestWindowEnd = time.Unix(0, n)
	}
	t.BytesRead, t.BytesTotal = BytesRead.Load(), BytesTotal.Load()
	if EventTimesSeen.Load() {
		t.OldestEventTime = time.Unix(0, OldestEventTime.Load()).UTC()
		t.NewestEventTime = time.Unix(0, NewestEventTime.Load()).UTC()
	}
	return t
}

// Sub returns t minus before: the counts since before was read. The
// newest window end, the input's bytes and event times stay t's.
func (t Totals) Sub(before Totals) Totals {
	t.Events -= before.Events
	t.DeadLetters -= before.DeadLetters
	t.Late -= before.Late
	t.WindowsExported -= before.WindowsExported
	t.PointsExported -= before.PointsExported
	t.ExportFailures -= before.ExportFailures
	t.Dropped -= before.Dropped
	t.Overflowed -= before.Overflowed
	t.FilterErrors -= before.FilterErrors
	t.DeadLetterReasons = subCounts(t.DeadLetterReasons, before.DeadLetterReasons)
	t.Failures = subCounts(t.Failures, before.Failures)
	return t
}

// subCounts returns now minus before, without the keys left at zero.
func subCounts[K comparable](now, before map[K]int64) map[K]int64 {
	var out map[K]int64
	for k, n := range now {
		if d := n - before[k]; d != 0 {
			if out == nil {
				out = map[K]int64{}
			}
			out[k] = d
		}
	}
	return out
}

// BeamTotals adds up the job's Beam counters, committed values where the
// runner reports them (prism does), attempted ones otherwise.
func BeamTotals(r metrics.Results) Totals {
	var t Totals
	for _, c := range r.AllMetrics().Counters() {
		if c.Key.Namespace != BeamNamespace {
			continue
		}
		v, name := c.Result(), c.Key.Name
		switch {
		case name == BeamEvents:
			t.Events += v
		case name == BeamLate:
			t.Late += v
		case name == BeamWindowsExported:
			t.WindowsExported += v
		case strings.HasPrefix(name, BeamDeadLettersPrefix):
			t.DeadLetters += v
			reason := strings.TrimPrefix(name, BeamDeadLettersPrefix)
			if reason == "" {
				reason = "error" // as the parse step names it
			}
			add(&t.DeadLetterReasons, reason, v)
		case strings.HasPrefix(name, BeamPointsPrefix):
			t.PointsExported += v
		case strings.HasPrefix(name, BeamExportFailurePrefix):
			exporter, code, split := strings.Cut(name[len(BeamExportFailurePrefix):], "/")
			if split {
				add(&t.Failures, Failure{Exporter: exporter, Code: code}, v)
			} else {
				t.ExportFailures += v // the per-exporter total
			}
		case strings.HasPrefix(name, BeamDroppedPrefix):
			t.Dropped += v
		case strings.HasPrefix(name, BeamOverflowedPrefix):
			t.Overflowed += v
		case strings.HasPrefix(name, BeamFilterErrorsPrefix):
			t.FilterErrors += v
		}
	}
	return t
}

func add[K comparable](m *map[K]int64, k K, v int64) {
	if v == 0 {
		return
	}
	if *m == nil {
		*m = map[K]int64{}
	}
	(*m)[k] += v
}

// ResultTotals returns the totals of a finished run from its result, and
// false when the runner gave none: Beam's universal runner hands back a
// result without metrics (whose Metrics method then panics) when it could
// not ask the job service, as after a cancel.
func ResultTotals(res beam.PipelineResult) (t Totals, ok bool) {
	if res == nil {
		return Totals{}, false
	}
	defer func() {
		if recover() != nil {
			t, ok = Totals{}, false
		}
	}()
	return BeamTotals(res.Metrics()), true
}

// CountExported counts points an exporter wrote, in this process and in
// the job's Beam counters (ctx is a DoFn's; any other context counts in
// this process only).
func CountExported(ctx context.Context, exporter string, points int64) {
	beam.NewCounter(BeamNamespace, BeamPointsPrefix+exporter).Inc(ctx, points)
	PointsExported.Add(points)
	PointsByExporter.Add(exporter, points)
}

// CountWindows counts the (metric, window) pairs a bundle exported, by
// exporter, and the newest window end among them.
func CountWindows(ctx context.Context, byExporter map[string]int64, newest time.Time) {
	var n int64
	for typ, k := range byExporter {
		WindowsByExporter.Add(typ, k)
		n += k
	}
	WindowsExported.Add(n)
	beam.NewCounter(BeamNamespace, BeamWindowsExported).Inc(ctx, n)
	if !newest.IsZero() {
		ObserveWindowEnd(newest)
	}
}

// CountLost counts the points an Export call lost after the exporter's
// retries, by code (Beam counters export_failures/EXPORTER and
// export_failures/EXPORTER/CODE, and this process's counters), and returns
// how many were lost. err is Export's error: an *exporters.ExportError
// lists the lost points; any other error lost all total points.
func CountLost(ctx context.Context, exporter string, total int, err error) int {
	byCode := map[string]int64{}
	var exportErr *exporters.ExportError
	if errors.As(err, &exportErr) {
		for _, f := range exportErr.Failed {
			byCode[f.Code]++
		}
	} else {
		byCode["unknown"] = int64(total)
	}
	var lost int64
	for code, n := range byCode {
		lost += n
		beam.NewCounter(BeamNamespace, BeamExportFailurePrefix+exporter+"/"+code).Inc(ctx, n)
		FailuresByExporter.Add(Failure{Exporter: exporter, Code: code}, n)
	}
	beam.NewCounter(BeamNamespace, BeamExportFailurePrefix+exporter).Inc(ctx, lost)
	ExportFailures.Add(lost)
	return int(lost)
}

// StartProgress writes a progress line to w every interval, from read
// (ProcessTotals for workers in this process), until the returned function
// is called. every <= 0 writes nothing.
func StartProgress(w io.Writer, every time.Duration, start time.Time, read func() Totals) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		var lastEvents int64
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				tot := read()
				rate := float64(tot.Events-lastEvents) / now.Sub(last).Seconds()
				lastEvents, last = tot.Events, now
				fmt.Fprintln(w, progressLine(tot, rate, now, now.Sub(start)))
			}
		}
	}()
	return func() { close(done); <-finished }
}

func progressLine(t Totals, rate float64, now time.Time, elapsed time.Duration) string {
	newest := "no window exported yet"
	if !t.NewestWindowEnd.IsZero() {
		newest = "newest window closed " + now.Sub(t.NewestWindowEnd).Round(time.Second).String() + " ago"
	}
	return fmt.Sprintf("beametrics: %d events (%.0f/s), %d dead letters, %d late%s, %d windows / %d points exported, %d export failures, %s%s",
		t.Events, rate, t.DeadLetters, t.Late, unusable(t), t.WindowsExported, t.PointsExported, t.ExportFailures, newest, inputProgress(t, elapsed))
}

// unusable names, when there are any, the values and events metrics could
// not use as they came: a part of the progress line and summary only when
// not zero, since most runs have none.
func unusable(t Totals) string {
	var s string
	for _, c := range []struct {
		n    int64
		what string
	}{{t.Dropped, "dropped values"}, {t.Overflowed, "overflowed (max_series)"}, {t.FilterErrors, "filter errors"}} {
		if c.n != 0 {
			s += fmt.Sprintf(", %d %s", c.n, c.what)
		}
	}
	return s
}

// inputProgress is a replay's part of the progress line: bytes read of the
// total and the time left at the average rate so far; "" when streaming.
func inputProgress(t Totals, elapsed time.Duration) string {
	total, read := t.BytesTotal, t.BytesRead
	if total <= 0 {
		return ""
	}
	eta := "n/a"
	if read > 0 && read < total {
		eta = time.Duration(float64(elapsed) * float64(total-read) / float64(read)).Round(time.Second).String()
	} else if read >= total {
		eta = "0s"
	}
	return fmt.Sprintf(", read %d of %d MB (%.0f%%), ETA %s", read>>20, total>>20, 100*float64(read)/float64(total), eta)
}

// Summary is the last line of a local run: what it did in d. from says
// where the counts come from when they are not the job's own.
func Summary(t Totals, d time.Duration, from string) string {
	rate := 0.0
	if d > 0 {
		rate = float64(t.Events) / d.Seconds()
	}
	s := fmt.Sprintf("beametrics: done in %v: %d events (%.0f/s), %d dead letters, %d late%s, %d points exported, %d export failures",
		d.Round(time.Millisecond), t.Events, rate, t.DeadLetters, t.Late, unusable(t), t.PointsExported, t.ExportFailures)
	if !t.OldestEventTime.IsZero() {
		s += fmt.Sprintf(", event times %s to %s", t.OldestEventTime.Format(time.RFC3339), t.NewestEventTime.Format(time.RFC3339))
	}
	if from != "" {
		s += " (" + from + ")"
	}
	return s
}
