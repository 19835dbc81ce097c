package exporters

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// FailureKey names one kind of export failure: the exporter's type and a
// code (a gRPC code name such as "INVALID_ARGUMENT", an HTTP status such as
// "HTTP_400", or a short word such as "encode").
type FailureKey struct {
	Exporter, Code string
}

// Failures counts points lost after retries, by exporter and code. It is
// safe for concurrent use; the zero value is ready.
type Failures struct {
	mu sync.Mutex
	n  map[FailureKey]int64
}

// Add counts points lost under key.
func (f *Failures) Add(key FailureKey, points int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[FailureKey]int64{}
	}
	f.n[key] += int64(points)
}

// Snapshot returns a copy of the counts so far (totals since creation).
func (f *Failures) Snapshot() map[FailureKey]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[FailureKey]int64, len(f.n))
	for k, v := range f.n {
		out[k] = v
	}
	return out
}

// FailureReporter is implemented by every exporter in this module so the
// pipeline can turn lost points into Beam counters and self-metrics.
type FailureReporter interface {
	// Failures returns the points lost after retries since the exporter
	// was created, by exporter and code.
	Failures() map[FailureKey]int64
}

// PointFailure is one point that could not be written, with the reason.
type PointFailure struct {
	Point  Point
	Code   string
	Reason string
}

// ExportError is returned by Export when points were lost after retries.
// Failed lists each lost point so the caller can dead-letter it.
type ExportError struct {
	Exporter string
	Total    int // points given to Export
	Failed   []PointFailure
}

func (e *ExportError) Error() string {
	byCode := map[string]int{}
	first := map[string]PointFailure{}
	for _, f := range e.Failed {
		if byCode[f.Code] == 0 {
			first[f.Code] = f
		}
		byCode[f.Code]++
	}
	codes := make([]string, 0, len(byCode))
	for c := range byCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		f := first[c]
		parts[i] = fmt.Sprintf("%s x%d (e.g. %s: %s)", c, byCode[c], SeriesString(f.Point), f.Reason)
	}
	return fmt.Sprintf("%s: %d of %d points not written: %s", e.Exporter, len(e.Failed), e.Total, strings.Join(parts, "; "))
}

// SeriesString formats a point's series as name{k="v",...} for messages.
func SeriesString(p Point) string {
	var b strings.Builder
	b.WriteString(p.Metric)
	b.WriteByte('{')
	for i, l := range p.Labels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}
