package exporters

import (
	"fmt"
	"sort"
	"strings"

	"github.com/beametrics/beametrics/internal/metricdata"
)

// PointFailure is one point that could not be written, with the reason.
type PointFailure struct {
	Point  metricdata.Point
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
func SeriesString(p metricdata.Point) string {
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
