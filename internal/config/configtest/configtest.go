// Package configtest runs unit tests of a metrics config: cases of input
// events and the metric values they must produce, in the manner of
// `promtool test rules`. The events go through the same engine as the
// pipeline.
package configtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// File is a test file.
type File struct {
	Tests []Case `yaml:"tests"`
}

// Case is one test: input records and expected values.
type Case struct {
	Name string `yaml:"name"`
	// Events are JSON objects written as YAML mappings, or strings holding
	// a raw record (to test bad input).
	Events []yaml.Node `yaml:"events"`
	// Messages are Pub/Sub-like records with attributes and a publish time.
	Messages    []Message        `yaml:"messages"`
	Expect      []Expectation    `yaml:"expect"`
	DeadLetters map[string]int64 `yaml:"dead_letters"`
	Dropped     map[string]int64 `yaml:"dropped_values"`
	// FilterErrors are the events each metric's filter expression failed
	// on. Filter errors that a case does not expect fail it.
	FilterErrors map[string]int64 `yaml:"filter_errors"`
}

// Message is a record with Pub/Sub attributes.
type Message struct {
	Data        yaml.Node         `yaml:"data"`
	Attributes  map[string]string `yaml:"attributes"`
	PublishTime string            `yaml:"publish_time"`
}

// Expectation is the value one series must have.
type Expectation struct {
	Metric      string            `yaml:"metric"`
	Labels      map[string]string `yaml:"labels"`
	WindowStart string            `yaml:"window_start"`
	Value       yaml.Node         `yaml:"value"`
	line        int
}

// Run runs every case of testFile against the config and writes a report
// to w. It returns the number of failed cases; err is for files that
// cannot be read at all.
func Run(cfg *config.Config, testFile string, w io.Writer) (failed int, err error) {
	data, err := os.ReadFile(testFile)
	if err != nil {
		return 0, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return 0, fmt.Errorf("%s: %s", testFile, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if problems := checkKeys(testFile, &root); len(problems) > 0 {
		return 0, errors.New(strings.Join(problems, "\n"))
	}
	var f File
	if err := root.Decode(&f); err != nil {
		return 0, fmt.Errorf("%s: %s", testFile, userWords(err))
	}
	setLines(&root, &f)
	if len(f.Tests) == 0 {
		return 0, fmt.Errorf("%s: no tests", testFile)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return 0, err
	}
	eng.SetFilterErrorLog(nil) // the report gives their reasons
	for i := range f.Tests {
		c := &f.Tests[i]
		problems := runCase(eng, c)
		if len(problems) == 0 {
			fmt.Fprintf(w, "ok   %s\n", c.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s\n", c.Name)
		for _, p := range problems {
			fmt.Fprintf(w, "     %s\n", p)
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", len(f.Tests)-failed, failed)
	return failed, nil
}

// setLines records the line of each expectation for messages.
func setLines(root *yaml.Node, f *File) {
	if len(root.Content) == 0 {
		return
	}
	tests := mapValue(root.Content[0], "tests")
	if tests == nil {
		return
	}
	for i, tn := range tests.Content {
		if i >= len(f.Tests) {
			break
		}
		if ex := mapValue(tn, "expect"); ex != nil {
			for j, en := range ex.Content {
				if j < len(f.Tests[i].Expect) {
					f.Tests[i].Expect[j].line = en.Line
				}
			}
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// got is one produced series.
type got struct {
	point metricdata.Point
	used  bool
}

func runCase(eng *engine.Engine, c *Case) []string {
	var problems []string
	p := eng.NewProcessor()
	feed := func(body []byte, attrs map[string]string, t time.Time) {
		_ = p.Process(body, attrs, t.UnixNano())
	}
	for i := range c.Events {
		body, err := recordBytes(&c.Events[i])
		if err != nil {
			problems = append(problems, fmt.Sprintf("event %d: %v", i+1, err))
			continue
		}
		feed(body, nil, time.Unix(0, 0))
	}
	for i, m := range c.Messages {
		body, err := recordBytes(&m.Data)
		if err != nil {
			problems = append(problems, fmt.Sprintf("message %d: %v", i+1, err))
			continue
		}
		t := time.Unix(0, 0)
		if m.PublishTime != "" {
			if t, err = time.Parse(time.RFC3339Nano, m.PublishTime); err != nil {
				problems = append(problems, fmt.Sprintf("message %d: publish_time: %v", i+1, err))
				continue
			}
		}
		feed(body, m.Attributes, t)
	}
	var results []*got
	p.Flush(func(s engine.Series, acc *aggregate.Acc) {
		pt, err := eng.Point(s, acc)
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		results = append(results, &got{point: pt})
	})
	sort.Slice(results, func(i, j int) bool {
		a, b := results[i].point, results[j].point
		if sa, sb := seriesName(a), seriesName(b); sa != sb {
			return sa < sb
		}
		return a.Start.Before(b.Start)
	})

	checked := map[string]bool{}
	for _, ex := range c.Expect {
		checked[ex.Metric] = true
		if !hasMetric(eng, ex.Metric) {
			problems = append(problems, fmt.Sprintf("expectation%s: no metric named %q in the config (metrics: %s)",
				lineOf(ex.line), ex.Metric, strings.Join(metricNames(eng), ", ")))
			continue
		}
		problems = append(problems, expect(eng, ex, results)...)
	}
	for _, g := range results {
		if checked[g.point.Metric] && !g.used {
			problems = append(problems, fmt.Sprintf("unexpected series %s @%s = %s", seriesName(g.point),
				g.point.Start.UTC().Format(time.RFC3339), formatValue(g.point)))
		}
	}
	problems = append(problems, compareCounts("dead letters", c.DeadLetters, p.Stats.DeadLetters)...)
	if c.Dropped != nil {
		problems = append(problems, unknownMetrics(eng, "dropped_values", c.Dropped)...)
		problems = append(problems, compareCounts("dropped values", c.Dropped, perMetric(eng, p.Stats.Dropped))...)
	}
	problems = append(problems, unknownMetrics(eng, "filter_errors", c.FilterErrors)...)
	filterErrors := perMetric(eng, p.Stats.FilterErrors)
	if c.FilterErrors == nil && len(filterErrors) > 0 {
		c.FilterErrors = map[string]int64{} // unexpected filter errors fail the case
	}
	if fp := compareCounts("filter errors", c.FilterErrors, filterErrors); len(fp) > 0 {
		problems = append(problems, fp...)
		for _, fe := range p.Stats.FilterErrorReasons {
			problems = append(problems, fmt.Sprintf("filter error of %s: %s", fe.Metric, fe.Reason))
		}
	}
	return problems
}

// perMetric names the non-zero counts of a per-metric statistic.
func perMetric(eng *engine.Engine, counts []int64) map[string]int64 {
	out := map[string]int64{}
	for i, n := range counts {
		if n > 0 {
			out[eng.Metric(i).Name] = n
		}
	}
	return out
}

func hasMetric(eng *engine.Engine, name string) bool {
	for i := range eng.NumMetrics() {
		if eng.Metric(i).Name == name {
			return true
		}
	}
	return false
}

func metricNames(eng *engine.Engine) []string {
	names := make([]string, eng.NumMetrics())
	for i := range names {
		names[i] = eng.Metric(i).Name
	}
	sort.Strings(names)
	return names
}

// unknownMetrics reports the names of counts that are not metrics of the
// config: a misspelt name would otherwise expect 0 of a metric that
// cannot have any.
func unknownMetrics(eng *engine.Engine, what string, counts map[string]int64) []string {
	var out []string
	for name := range counts {
		if !hasMetric(eng, name) {
			out = append(out, fmt.Sprintf("%s: no metric named %q in the config (metrics: %s)", what, name, strings.Join(metricNames(eng), ", ")))
		}
	}
	sort.Strings(out)
	return out
}

func lineOf(line int) string {
	if line == 0 {
		return ""
	}
	return fmt.Sprintf(" (line %d)", line)
}

// userWords rewrites the YAML decoder's type errors, which name Go types
// (cannot unmarshal !!str into int64), in the words of the test file.
func userWords(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	for _, r := range []struct{ goType, words string }{
		{"map[string]int64", "a mapping of name to count"},
		{"map[string]string", "a mapping of name to string"},
		{"int64", "a whole number"},
		{"string", "a string"},
		{"[]configtest.Case", "a list of test cases"},
		{"[]configtest.Message", "a list of messages"},
		{"[]configtest.Expectation", "a list of expectations"},
		{"[]yaml.Node", "a list of events"},
		{"configtest.", ""},
	} {
		msg = strings.ReplaceAll(msg, "into "+r.goType, "into "+r.words)
	}
	return strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
}

func compareCounts(what string, want, have map[string]int64) []string {
	if want == nil {
		return nil
	}
	var out []string
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k, n := range have {
		if n != 0 {
			keys[k] = true
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if want[k] != have[k] {
			out = append(out, fmt.Sprintf("%s %s: got %d, want %d", what, k, have[k], want[k]))
		}
	}
	return out
}

// recordBytes turns an event written in YAML into the bytes of a record: a
// mapping becomes its JSON, a string is taken as the raw record.
func recordBytes(n *yaml.Node) ([]byte, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		return []byte(n.Value), nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func expect(eng *engine.Engine, ex Expectation, results []*got) []string {
	where := ""
	if ex.line > 0 {
		where = fmt.Sprintf(" (line %d)", ex.line)
	}
	var start time.Time
	if ex.WindowStart != "" {
		var err error
		if start, err = time.Parse(time.RFC3339Nano, ex.WindowStart); err != nil {
			return []string{fmt.Sprintf("expectation%s: window_start: %v", where, err)}
		}
	}
	want := metricdata.Point{Metric: ex.Metric}
	for k, v := range ex.Labels {
		want.Labels = append(want.Labels, metricdata.Label{Name: k, Value: v})
	}
	sort.Slice(want.Labels, func(i, j int) bool { return want.Labels[i].Name < want.Labels[j].Name })
	var matches []*got
	for _, g := range results {
		if g.point.Metric == ex.Metric && sameLabels(g.point.Labels, want.Labels) &&
			(start.IsZero() || g.point.Start.Equal(start)) {
			matches = append(matches, g)
		}
	}
	name := seriesName(want)
	if !start.IsZero() {
		name += " @" + start.UTC().Format(time.RFC3339)
	}
	switch {
	case len(matches) == 0:
		return []string{fmt.Sprintf("missing series %s%s: want %s", name, where, nodeText(&ex.Value))}
	case len(matches) > 1:
		for _, m := range matches {
			m.used = true
		}
		return []string{fmt.Sprintf("series %s%s is in %d windows: give window_start", name, where, len(matches))}
	}
	g := matches[0]
	g.used = true
	if msg := compareValue(g.point, &ex.Value); msg != "" {
		return []string{fmt.Sprintf("%s%s: %s", name, where, msg)}
	}
	return nil
}

func sameLabels(a, b []metricdata.Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func seriesName(p metricdata.Point) string {
	parts := make([]string, len(p.Labels))
	for i, l := range p.Labels {
		parts[i] = fmt.Sprintf("%s=%q", l.Name, l.Value)
	}
	return p.Metric + "{" + strings.Join(parts, ", ") + "}"
}

func nodeText(n *yaml.Node) string {
	if n.Kind == 0 {
		return "(no value)"
	}
	b, _ := yaml.Marshal(n)
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\n", " "))
}

func formatValue(p metricdata.Point) string {
	switch p.Type {
	case metricdata.Int64:
		return fmt.Sprint(p.Int)
	case metricdata.Double:
		return fmt.Sprint(p.Double)
	case metricdata.Distribution:
		d := p.Dist
		return fmt.Sprintf("{count: %d, sum: %v, min: %v, max: %v, buckets: %v}", d.Count, d.Sum, d.Min, d.Max, d.BucketCounts)
	}
	return "?"
}

func near(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// compareValue checks a produced point against the expected value: a number
// for scalar types, a mapping of count, sum, min, max and buckets (any
// subset) for distributions.
func compareValue(p metricdata.Point, n *yaml.Node) string {
	if p.Type == metricdata.Distribution {
		var want struct {
			Count   *int64
			Sum     *float64
			Min     *float64
			Max     *float64
			Buckets []int64
		}
		if n.Kind != yaml.MappingNode || n.Decode(&want) != nil {
			return fmt.Sprintf("want a mapping {count, sum, min, max, buckets}, not %s", nodeText(n))
		}
		d := p.Dist
		var diffs []string
		if want.Count != nil && *want.Count != d.Count {
			diffs = append(diffs, fmt.Sprintf("count got %d, want %d", d.Count, *want.Count))
		}
		for _, f := range []struct {
			name string
			want *float64
			got  float64
		}{{"sum", want.Sum, d.Sum}, {"min", want.Min, d.Min}, {"max", want.Max, d.Max}} {
			if f.want != nil && !near(*f.want, f.got) {
				diffs = append(diffs, fmt.Sprintf("%s got %v, want %v", f.name, f.got, *f.want))
			}
		}
		if want.Buckets != nil && fmt.Sprint(want.Buckets) != fmt.Sprint(d.BucketCounts) {
			diffs = append(diffs, fmt.Sprintf("buckets got %v, want %v", d.BucketCounts, want.Buckets))
		}
		return strings.Join(diffs, "; ")
	}
	var w float64
	if n.Kind != yaml.ScalarNode || n.Decode(&w) != nil {
		return fmt.Sprintf("want a number, not %s", nodeText(n))
	}
	var g float64
	if p.Type == metricdata.Int64 {
		g = float64(p.Int)
	} else {
		g = p.Double
	}
	if !near(g, w) {
		return fmt.Sprintf("got %s, want %s", formatValue(p), nodeText(n))
	}
	return ""
}
