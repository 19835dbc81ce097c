package exporters

import (
	"strings"

	"github.com/beametrics/beametrics/internal/metricdata"
)

// PrometheusName sanitises a metric name to Prometheus rules
// ([a-zA-Z_:][a-zA-Z0-9_:]*): every other character becomes "_" and a leading
// digit gets a "_" in front. "beametrics-test-1" becomes "beametrics_test_1".
func PrometheusName(name string) string { return sanitize(name, true) }

// PrometheusLabelName sanitises a label name ([a-zA-Z_][a-zA-Z0-9_]*).
func PrometheusLabelName(name string) string { return sanitize(name, false) }

func sanitize(s string, colon bool) string {
	ok := func(i int, c byte) bool {
		return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(i > 0 && c >= '0' && c <= '9') || (colon && c == ':')
	}
	clean := s != ""
	for i := 0; i < len(s) && clean; i++ {
		clean = ok(i, s[i])
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		b.WriteByte('_')
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; ok(1, c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// PrometheusFamily is the Prometheus metric family name of a metric:
// sanitised, with "_total" added to cumulative counts and sums (counters).
func PrometheusFamily(d metricdata.Descriptor) string {
	n := PrometheusName(d.Name)
	if IsCounter(d) && !strings.HasSuffix(n, "_total") {
		n += "_total"
	}
	return n
}

// IsCounter says whether a metric is a Prometheus counter: a cumulative count
// or sum. Everything else but distributions is a gauge.
func IsCounter(d metricdata.Descriptor) bool {
	return d.Kind == metricdata.Cumulative && d.ValueType != metricdata.Distribution
}

// PrometheusSeriesNames lists the series names a metric produces: the family
// name, or for a distribution its _bucket, _sum and _count series.
func PrometheusSeriesNames(d metricdata.Descriptor) []string {
	n := PrometheusFamily(d)
	if d.ValueType == metricdata.Distribution {
		return []string{n + "_bucket", n + "_sum", n + "_count"}
	}
	return []string{n}
}
