// Package config reads the metrics YAML: what to count, how to label it and
// where to send it. It accepts every config written for the original Python
// beametrics and checks the whole file before anything starts, reporting
// each problem as FILE:LINE:COL.
package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/beametrics/beametrics/filters"
	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/event"
	"github.com/beametrics/beametrics/internal/eventtime"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// Defaults that apply when a key is absent. validate prints the resolved
// values, so none of them is hidden.
const (
	DefaultWindow     = 60 * time.Second
	DefaultMaxSeries  = 10000
	DefaultExportType = ExportCloudMonitoring // as in the original tool
	MinWindow         = time.Second
	MaxWindow         = 24 * time.Hour
	MaxBuckets        = 200
)

// Export types.
const (
	ExportCloudMonitoring = "google-cloud-monitoring"
	ExportPrometheus      = "prometheus"
	ExportLocal           = "local"
)

// ExportTypes lists the known export types.
func ExportTypes() []string { return []string{ExportCloudMonitoring, ExportLocal, ExportPrometheus} }

// Config is a checked metrics file.
type Config struct {
	File            string
	Window          time.Duration // default window of every metric
	AllowedLateness time.Duration
	EventTimeField  string // "" means the source's time (Pub/Sub publish time)
	EventTimeFormat eventtime.Format
	Metrics         []Metric
	// Exporters is the raw `exporters:` section, decoded by the exporters.
	Exporters *yaml.Node
	// Warnings are things that work but are probably not what was meant.
	Warnings ErrorList
}

// Metric is one declared metric.
type Metric struct {
	Name          string
	Type          aggregate.Type
	Field         string            // value field path; "" for count
	Labels        map[string]string // static labels
	DynamicLabels map[string]string // label name -> field path
	Conditions    []Condition
	Filter        string        // expr-lang expression, may be empty
	FilterExpr    *filters.Expr // Filter compiled; nil when Filter is empty
	Window        time.Duration // resolved: the metric's own or the default
	WindowSet     bool          // the metric has its own window
	// Freshness is set on the series of a `type: freshness` metric.
	Freshness       Freshness
	FutureTolerance time.Duration
	StaleAfter      time.Duration
	MaxSeries       int       // resolved
	Buckets         []float64 // distribution bounds, strictly increasing
	Description     string
	Unit            string
	ExportType      string // resolved
	Kind            metricdata.Kind
	Absent          *Absent // zero-filling of silent series; nil when not set
	Alert           *Alert  // alert conditions; nil when not set
	Line, Column    int     // where the metric is declared
}

// Condition is one filter-condition.
type Condition struct {
	Field, Operator string
	Value           any
	HasValue        bool
	Line, Column    int
	Pred            filters.Predicate // compiled while checking, used by the engine
}

// LabelNames returns every label name of the metric, sorted.
func (m *Metric) LabelNames() []string {
	names := make([]string, 0, len(m.Labels)+len(m.DynamicLabels))
	for k := range m.Labels {
		names = append(names, k)
	}
	for k := range m.DynamicLabels {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Parse reads a config. file names the source in messages. On error it
// returns an ErrorList holding every problem found.
func Parse(file string, data []byte) (*Config, error) {
	p := &parser{file: file}
	cfg := p.parse(data)
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	cfg.Warnings = p.warns.sorted()
	return cfg, nil
}

type parser struct {
	file  string
	errs  ErrorList
	warns ErrorList
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	e := Error{File: p.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *parser) warnf(n *yaml.Node, format string, args ...any) {
	p.warns = append(p.warns, Error{File: p.file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func (p *parser) parse(data []byte) *Config {
	cfg := &Config{File: p.file, Window: DefaultWindow, EventTimeFormat: eventtime.Auto}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := Error{File: p.file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Column = 1
		}
		p.errs = append(p.errs, e)
		return cfg
	}
	if len(doc.Content) == 0 {
		p.errs = append(p.errs, Error{File: p.file, Msg: "the config is empty: it needs a metrics list"})
		return cfg
	}
	root := doc.Content[0]
	var metricsNode *yaml.Node
	switch root.Kind {
	case yaml.SequenceNode: // the --metrics flag: a bare list of metrics
		metricsNode = root
	case yaml.MappingNode:
		metricsNode = p.parseTop(root, cfg)
	default:
		p.errorf(root, "the config must be a mapping with a metrics list")
		return cfg
	}
	if metricsNode == nil {
		if root.Kind == yaml.MappingNode {
			p.errorf(root, "missing key metrics: the config declares no metric")
		}
		return cfg
	}
	p.parseMetrics(metricsNode, cfg)
	return cfg
}

// mapping walks a mapping node, rejecting duplicate and unknown keys.
func (p *parser) mapping(n *yaml.Node, what string, known []string, visit func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping", what)
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			p.errorf(k, "%s: key %s is given twice (first at line %d)", what, k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		if !slices.Contains(known, k.Value) {
			p.errorf(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(known, ", "))
			continue
		}
		visit(k.Value, k, v)
	}
}

var topKeys = []string{"allowed_lateness", "event_time_field", "event_time_format", "exporters", "metrics", "window"}

func (p *parser) parseTop(root *yaml.Node, cfg *Config) (metrics *yaml.Node) {
	p.mapping(root, "config", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "metrics":
			metrics = v
		case "window":
			if d, ok := p.window(v); ok {
				cfg.Window = d
			}
		case "allowed_lateness":
			if d, ok := p.duration(v, "allowed_lateness"); ok {
				if d < 0 {
					p.errorf(v, "allowed_lateness must not be negative")
				}
				cfg.AllowedLateness = d
			}
		case "event_time_field":
			if s, ok := p.str(v, key); ok {
				if _, err := event.ParsePath(s); err != nil {
					p.errorf(v, "event_time_field: %v", err)
				}
				cfg.EventTimeField = s
			}
		case "event_time_format":
			if s, ok := p.str(v, key); ok {
				f, err := eventtime.ParseFormat(s)
				if err != nil {
					p.errorf(v, "%v", err)
				}
				cfg.EventTimeFormat = f
			}
		case "exporters":
			cfg.Exporters = v
		}
	})
	return metrics
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s must be a string", what)
		return "", false
	}
	return n.Value, true
}

// duration reads seconds (a number) or a Go duration string ("90s", "5m").
func (p *parser) duration(n *yaml.Node, what string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s must be a number of seconds or a duration such as 60s", what)
		return 0, false
	}
	switch n.Tag {
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e9 {
			p.errorf(n, "%s: bad number %q", what, n.Value)
			return 0, false
		}
		return time.Duration(f * float64(time.Second)), true
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.errorf(n, "%s: %q is neither seconds nor a duration such as 60s or 5m", what, n.Value)
		return 0, false
	}
	return d, true
}

func (p *parser) window(n *yaml.Node) (time.Duration, bool) {
	d, ok := p.duration(n, "window")
	if !ok {
		return 0, false
	}
	if err := CheckWindow(d); err != nil {
		p.errorf(n, "%v", err)
		return 0, false
	}
	return d, true
}

// CheckWindow refuses windows that cannot be aligned or exported sensibly.
func CheckWindow(d time.Duration) error {
	switch {
	case d < MinWindow:
		return fmt.Errorf("window %v is too short: the minimum is %v", d, MinWindow)
	case d > MaxWindow:
		return fmt.Errorf("window %v is too long: the maximum is %v", d, MaxWindow)
	case d%time.Millisecond != 0:
		return fmt.Errorf("window %v must be a whole number of milliseconds", d)
	}
	return nil
}

var metricKeys = []string{
	"absent", "alert", "buckets", "description", "dynamic_labels", "export_type", "exponential_buckets", "field",
	"filter", "filter-conditions", "filter_conditions", "future_tolerance", "kind", "labels", "max_series", "name",
	"stale_after", "type", "unit", "window",
}

var (
	metricNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_./-]{0,99}$`)
	labelNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,99}$`)
)

func (p *parser) parseMetrics(n *yaml.Node, cfg *Config) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "metrics must be a list")
		return
	}
	if len(n.Content) == 0 {
		p.errorf(n, "metrics is empty: declare at least one metric")
	}
	names := map[string]int{}
	for _, mn := range n.Content {
		m, ok := p.parseMetric(mn, cfg)
		if line, dup := names[m.Name]; dup && m.Name != "" {
			p.errorf(mn, "metric %q is declared twice (first at line %d)", m.Name, line)
			continue
		}
		names[m.Name] = m.Line
		if ok {
			cfg.Metrics = append(cfg.Metrics, m)
			if m.Freshness == FreshnessLag {
				cfg.Metrics = append(cfg.Metrics, freshnessSeries(m)...)
			}
		}
	}
}

// metricNodes remembers where some keys of a metric were given, for checks
// that involve several keys and for pointing at the right one.
type metricNodes struct {
	typ, field, buckets, exponential, kind, conditionsKey *yaml.Node
	freshness                                             []*yaml.Node // future_tolerance, stale_after
}

// parseMetric reads one metric in the steps a reader of the config would
// follow: the keys one by one, then the rules between keys (type and
// field, freshness settings, buckets, kind, labels, liveness).
func (p *parser) parseMetric(n *yaml.Node, cfg *Config) (Metric, bool) {
	m := Metric{Line: n.Line, Column: n.Column, Window: cfg.Window, MaxSeries: DefaultMaxSeries,
		ExportType: DefaultExportType, Kind: metricdata.Gauge}
	errsBefore := len(p.errs)
	var at metricNodes
	p.mapping(n, "metric", metricKeys, func(key string, k, v *yaml.Node) {
		p.metricKey(&m, &at, key, k, v)
	})
	if n.Kind != yaml.MappingNode {
		return m, false
	}
	if m.Name == "" {
		p.errorf(n, "metric without a name")
	}
	p.resolveType(n, &m, &at)
	p.checkFreshnessKeys(&m, &at)
	p.checkBuckets(&m, &at)
	p.checkKind(&m, &at)
	for name := range m.DynamicLabels {
		if _, dup := m.Labels[name]; dup {
			p.errorf(n, "metric %q: label %q is both static and dynamic", m.Name, name)
		}
	}
	p.checkLiveness(&m)
	return m, len(p.errs) == errsBefore
}

// metricKey reads one key of a metric.
func (p *parser) metricKey(m *Metric, at *metricNodes, key string, k, v *yaml.Node) {
	switch key {
	case "name":
		if s, ok := p.str(v, "name"); ok {
			if !metricNameRE.MatchString(s) {
				p.errorf(v, "metric name %q: use 1 to 100 letters, digits, '_', '-', '.' or '/', starting with a letter", s)
			}
			m.Name = s
		}
	case "type":
		at.typ = v
		p.metricType(m, v)
	case "field":
		at.field = v
		if s, ok := p.str(v, "field"); ok {
			if _, err := event.ParsePath(s); err != nil {
				p.errorf(v, "field: %v", err)
			}
			m.Field = s
		}
	case "labels":
		m.Labels = p.stringMap(v, "labels", func(vn *yaml.Node, _ string) {})
	case "dynamic_labels":
		m.DynamicLabels = p.stringMap(v, "dynamic_labels", func(vn *yaml.Node, path string) {
			if _, err := event.ParsePath(path); err != nil {
				p.errorf(vn, "dynamic_labels: %v", err)
			}
		})
	case "filter-conditions", "filter_conditions":
		// Both spellings are accepted; given together, one list would
		// silently replace the other.
		if at.conditionsKey != nil {
			p.errorf(k, "metric: give %s or %s, not both", at.conditionsKey.Value, k.Value)
			return
		}
		at.conditionsKey = k
		m.Conditions = p.conditions(v)
	case "filter":
		if s, ok := p.str(v, "filter"); ok {
			e, err := filters.Expression(s)
			if err != nil {
				p.errorf(v, "%v", err)
			}
			m.Filter, m.FilterExpr = s, e
		}
	case "window":
		if d, ok := p.window(v); ok {
			m.Window, m.WindowSet = d, true
		}
	case "future_tolerance", "stale_after":
		at.freshness = append(at.freshness, k)
		p.freshnessSetting(m, key, v)
	case "max_series":
		var i int
		if v.Tag != "!!int" || v.Decode(&i) != nil || i < 1 {
			p.errorf(v, "max_series must be a whole number of at least 1")
			return
		}
		m.MaxSeries = i
	case "buckets":
		at.buckets = v
		m.Buckets = p.buckets(v)
	case "exponential_buckets":
		at.exponential = v
		m.Buckets = p.exponentialBuckets(v)
	case "description":
		m.Description, _ = p.str(v, key)
	case "unit":
		m.Unit, _ = p.str(v, key)
	case "export_type":
		if s, ok := p.str(v, key); ok {
			s = strings.ToLower(s)
			if !slices.Contains(ExportTypes(), s) {
				p.errorf(v, "unknown export_type %q (known: %s)", s, strings.Join(ExportTypes(), ", "))
			}
			m.ExportType = s
		}
	case "kind":
		at.kind = v
		if s, ok := p.str(v, key); ok {
			switch s = strings.ToLower(s); s {
			case "gauge":
				m.Kind = metricdata.Gauge
			case "cumulative":
				m.Kind = metricdata.Cumulative
			default:
				p.errorf(v, "kind must be gauge or cumulative, not %q", s)
			}
		}
	case "absent":
		m.Absent = p.absent(v)
	case "alert":
		m.Alert = p.alert(v)
	}
}

// metricType reads type: an aggregation, or freshness (a distribution of
// the event's lag plus its two companion series).
func (p *parser) metricType(m *Metric, v *yaml.Node) {
	s, ok := p.str(v, "type")
	if !ok {
		return
	}
	if strings.EqualFold(strings.TrimSpace(s), "freshness") {
		m.Type, m.Freshness = aggregate.Distribution, FreshnessLag
		return
	}
	t, err := aggregate.ParseType(s)
	if err != nil {
		p.errorf(v, "%v, or freshness", err)
	}
	m.Type = t
}

// freshnessSetting reads future_tolerance or stale_after.
func (p *parser) freshnessSetting(m *Metric, key string, v *yaml.Node) {
	d, ok := p.duration(v, key)
	if !ok {
		return
	}
	if d <= 0 {
		p.errorf(v, "%s must be positive", key)
	}
	if key == "future_tolerance" {
		m.FutureTolerance = d
	} else {
		m.StaleAfter = d
	}
}

// resolveType applies the type's defaults and its rules about field.
func (p *parser) resolveType(n *yaml.Node, m *Metric, at *metricNodes) {
	switch {
	case at.typ == nil:
		// The original defaulted to count; say so rather than guess silently.
		m.Type = aggregate.Count
		p.warnf(n, "metric %q has no type: counting events (write type: count to silence this)", m.Name)
	case m.Type == 0:
		// reported where the type was read
	case m.Freshness == FreshnessLag:
		if m.FutureTolerance == 0 {
			m.FutureTolerance = DefaultFutureTolerance
		}
		if m.StaleAfter == 0 {
			m.StaleAfter = DefaultStaleAfter
		}
		if at.buckets == nil && at.exponential == nil {
			m.Buckets = DefaultLagBuckets
			at.buckets = at.typ // buckets given, for checkBuckets
		}
		if at.field != nil {
			p.warnf(at.field, "metric %q: field is ignored for type freshness, which reads the event time", m.Name)
		}
	case m.Type.NeedsField() && m.Field == "":
		p.errorf(at.typ, "metric %q: type %s needs a field to read values from", m.Name, m.Type)
	case m.Type == aggregate.Count && at.field != nil:
		p.warnf(at.field, "metric %q: field is ignored for type count, which counts matching events", m.Name)
	}
}

func (p *parser) checkFreshnessKeys(m *Metric, at *metricNodes) {
	if m.Freshness == NotFreshness && len(at.freshness) > 0 {
		p.errorf(at.freshness[0], "metric %q: %s applies to type freshness only", m.Name, at.freshness[0].Value)
	}
}

// checkBuckets: a distribution needs exactly one way of giving buckets,
// and other types none.
func (p *parser) checkBuckets(m *Metric, at *metricNodes) {
	if m.Type == aggregate.Distribution {
		if at.buckets == nil && at.exponential == nil {
			p.errorf(at.typ, "metric %q: a distribution needs buckets: [0.1, 0.5, 1] or exponential_buckets: {start: 1, factor: 2, count: 10}", m.Name)
		}
		if at.buckets != nil && at.exponential != nil {
			p.errorf(at.exponential, "metric %q: give buckets or exponential_buckets, not both", m.Name)
		}
		return
	}
	if m.Type != 0 && (at.buckets != nil || at.exponential != nil) {
		bn := at.buckets
		if bn == nil {
			bn = at.exponential
		}
		p.errorf(bn, "metric %q: buckets apply to type distribution only, not %s", m.Name, m.Type)
	}
}

// checkKind: running totals exist for count, sum and distribution.
func (p *parser) checkKind(m *Metric, at *metricNodes) {
	if m.Kind != metricdata.Cumulative {
		return
	}
	if m.Freshness != NotFreshness {
		p.errorf(at.kind, "metric %q: kind cumulative does not apply to type freshness", m.Name)
		return
	}
	if m.Type != 0 && m.Type != aggregate.Count && m.Type != aggregate.Sum && m.Type != aggregate.Distribution {
		p.errorf(at.kind, "metric %q: kind cumulative applies to count, sum and distribution, not %s", m.Name, m.Type)
	}
}

func (p *parser) stringMap(n *yaml.Node, what string, check func(v *yaml.Node, s string)) map[string]string {
	out := map[string]string{}
	if n.Tag == "!!null" {
		return out
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping of label name to value", what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !labelNameRE.MatchString(k.Value) {
			p.errorf(k, "%s: label name %q: use letters, digits, '_' or '-', starting with a letter or '_'", what, k.Value)
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k, "%s: label %q is given twice", what, k.Value)
			continue
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			p.errorf(v, "%s: the value of %q must be a string", what, k.Value)
			continue
		}
		check(v, v.Value)
		out[k.Value] = v.Value
	}
	return out
}

var conditionKeys = []string{"field", "operator", "value"}

func (p *parser) conditions(n *yaml.Node) []Condition {
	if n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "filter-conditions must be a list of {field, operator, value}")
		return nil
	}
	var out []Condition
	for _, cn := range n.Content {
		c := Condition{Line: cn.Line, Column: cn.Column}
		var opNode, valueNode *yaml.Node
		p.mapping(cn, "filter condition", conditionKeys, func(key string, k, v *yaml.Node) {
			switch key {
			case "field":
				c.Field, _ = p.str(v, "field")
			case "operator":
				opNode = v
				c.Operator, _ = p.str(v, "operator")
			case "value":
				valueNode = v
				c.HasValue = true
				if err := v.Decode(&c.Value); err != nil {
					p.errorf(v, "value: %v", err)
				}
			}
		})
		if cn.Kind != yaml.MappingNode {
			continue
		}
		if c.Field == "" {
			p.errorf(cn, "filter condition without a field")
			continue
		}
		if opNode == nil {
			p.errorf(cn, "filter condition on %q without an operator", c.Field)
			continue
		}
		pred, err := filters.Condition(c.Field, c.Operator, c.Value, c.HasValue)
		if err != nil {
			at := opNode
			if errors.As(err, new(*filters.ValueError)) && valueNode != nil {
				at = valueNode // a bad regex, say: point at it, not at the operator
			}
			p.errorf(at, "filter condition on %q: %v", c.Field, err)
			continue
		}
		c.Pred = pred
		c.Operator = strings.ToLower(c.Operator)
		out = append(out, c)
	}
	return out
}

func (p *parser) buckets(n *yaml.Node) []float64 {
	var bs []float64
	if n.Kind != yaml.SequenceNode || n.Decode(&bs) != nil {
		p.errorf(n, "buckets must be a list of numbers")
		return nil
	}
	if len(bs) == 0 || len(bs) > MaxBuckets {
		p.errorf(n, "buckets must have 1 to %d bounds, not %d", MaxBuckets, len(bs))
		return nil
	}
	for i, b := range bs {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			p.errorf(n.Content[i], "bucket bound %v is not a finite number", b)
			return nil
		}
		if i > 0 && b <= bs[i-1] {
			p.errorf(n.Content[i], "bucket bounds must increase: %v after %v", b, bs[i-1])
			return nil
		}
	}
	return bs
}

func (p *parser) exponentialBuckets(n *yaml.Node) []float64 {
	var spec struct {
		Start  *float64
		Factor *float64
		Count  *int
	}
	var extra map[string]any
	if n.Kind != yaml.MappingNode || n.Decode(&extra) != nil || n.Decode(&spec) != nil {
		p.errorf(n, "exponential_buckets must be {start: N, factor: F, count: C}")
		return nil
	}
	for k := range extra {
		if k != "start" && k != "factor" && k != "count" {
			p.errorf(n, "exponential_buckets: unknown key %q (known: count, factor, start)", k)
			return nil
		}
	}
	switch {
	case spec.Start == nil || spec.Factor == nil || spec.Count == nil:
		p.errorf(n, "exponential_buckets needs start, factor and count")
	case *spec.Start <= 0:
		p.errorf(n, "exponential_buckets: start must be above 0")
	case *spec.Factor <= 1:
		p.errorf(n, "exponential_buckets: factor must be above 1")
	case *spec.Count < 1 || *spec.Count > MaxBuckets:
		p.errorf(n, "exponential_buckets: count must be 1 to %d", MaxBuckets)
	default:
		bs := make([]float64, *spec.Count)
		for i := range bs {
			bs[i] = *spec.Start * math.Pow(*spec.Factor, float64(i))
		}
		if math.IsInf(bs[len(bs)-1], 0) {
			p.errorf(n, "exponential_buckets: the last bound overflows")
			return nil
		}
		return bs
	}
	return nil
}
