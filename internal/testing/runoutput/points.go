package runoutput

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Point is one line of the local exporter's output (exporters/local).
type Point struct {
	Metric      string            `json:"metric_name"`
	Labels      map[string]string `json:"labels"`
	Value       json.RawMessage   `json:"value"`
	WindowStart time.Time         `json:"window_start"`
	WindowEnd   time.Time         `json:"window_end"`
	Timestamp   time.Time         `json:"timestamp"`
}

// ParsePoint reads one line strictly: a field the exporter does not write
// is an error.
func ParsePoint(line []byte) (Point, error) {
	var p Point
	err := decodeStrict(line, &p)
	return p, err
}

// ReadPoints returns the points of the file at path in their order. A
// file that cannot be read, or a line that is not a whole point, fails t.
func ReadPoints(t testing.TB, path string) []Point {
	t.Helper()
	return readLines(t, path, false, ParsePoint)
}

// ReadPointsKilled is ReadPoints for a file whose writers were killed: a
// line that one of them was writing may be cut short, so a line that is
// not a whole point is left out.
func ReadPointsKilled(t testing.TB, path string) []Point {
	t.Helper()
	return readLines(t, path, true, ParsePoint)
}

// Number is the value of a counter or gauge point; the exporter writes
// non-finite values as the strings "NaN", "+Inf" and "-Inf". Any other
// value (a distribution) fails t.
func (p Point) Number(t testing.TB) float64 {
	t.Helper()
	var f float64
	if err := json.Unmarshal(p.Value, &f); err == nil {
		return f
	}
	var s string
	if err := json.Unmarshal(p.Value, &s); err == nil {
		switch s {
		case "NaN":
			return math.NaN()
		case "+Inf", "-Inf":
			f, _ := strconv.ParseFloat(s, 64)
			return f
		}
	}
	t.Fatalf("%s: value %s is not a number", p.Metric, p.Value)
	return 0
}

// SeriesKey names one series in one window as "metric{k=v,...}
// start/end": labels sorted by name, times in RFC 3339 and UTC.
func SeriesKey(metric string, labels map[string]string, start, end time.Time) string {
	ls := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		ls = append(ls, k+"="+labels[k])
	}
	return fmt.Sprintf("%s{%s} %s/%s", metric, strings.Join(ls, ","), start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
}

// Series is p's SeriesKey.
func (p Point) Series() string {
	return SeriesKey(p.Metric, p.Labels, p.WindowStart, p.WindowEnd)
}
