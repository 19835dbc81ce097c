package config

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// MaxLearn bounds absent.learn: the pipeline keeps per-series state that
// long after a series was last seen.
const MaxLearn = 31 * 24 * time.Hour

// Absent is a metric's `absent:` setting: which series get an explicit
// zero for every window in which they received nothing.
type Absent struct {
	// Expected lists label sets (label name -> value) that must always
	// report. Each set names every dynamic label of the metric.
	Expected []map[string]string
	// Learn, when set, zero-fills every series seen within this period,
	// and stops once a series has been silent for longer.
	Learn        time.Duration
	Line, Column int
}

// Alert is a metric's `alert:` setting: the conditions
// `beametrics alerts` turns into alert rules.
type Alert struct {
	// Silence fires when the metric (or, with absent:, a series) has
	// received nothing for this long. 0 means no silence condition.
	Silence time.Duration
	Below   *Threshold // fires when the value stays below the threshold
	Above   *Threshold // fires when the value stays above the threshold
	// Severity is copied into the rules (Prometheus label severity, Cloud
	// Monitoring policy severity). Empty means none is set.
	Severity     string
	Summary      string // optional text for the alert's annotation
	Line, Column int
}

// Threshold is one threshold condition: the value is compared with Value
// and must stay on the wrong side For long.
type Threshold struct {
	Value float64
	For   time.Duration
}

// Severities accepted by alert.severity: they map onto Cloud Monitoring's
// policy severities.
var Severities = []string{"critical", "error", "warning"}

var absentKeys = []string{"expected", "learn"}

func (p *parser) absent(n *yaml.Node) *Absent {
	a := &Absent{Line: n.Line, Column: n.Column}
	p.mapping(n, "absent", absentKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "expected":
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				p.errorf(v, "absent.expected must be a non-empty list of label sets such as {pipeline_id: \"0\"}")
				return
			}
			for _, sn := range v.Content {
				if sn.Kind != yaml.MappingNode {
					p.errorf(sn, "absent.expected: each entry must be a mapping of label name to value")
					continue
				}
				a.Expected = append(a.Expected, p.stringMap(sn, "absent.expected", func(*yaml.Node, string) {}))
			}
		case "learn":
			if d, ok := p.duration(v, "absent.learn"); ok {
				switch {
				case d <= 0:
					p.errorf(v, "absent.learn must be above 0")
				case d > MaxLearn:
					p.errorf(v, "absent.learn %v is too long: the maximum is %v", d, MaxLearn)
				}
				a.Learn = d
			}
		}
	})
	if n.Kind == yaml.MappingNode && (a.Expected == nil) == (a.Learn == 0) {
		p.errorf(n, "absent needs exactly one of expected: [label sets] or learn: DURATION")
	}
	return a
}

// checkLiveness checks absent: and alert: against the rest of the
// metric, once every key has been read.
func (p *parser) checkLiveness(m *Metric) {
	if m.Absent != nil {
		p.checkAbsent(&yaml.Node{Line: m.Absent.Line, Column: m.Absent.Column}, m)
	}
	if m.Alert != nil {
		p.checkAlert(&yaml.Node{Line: m.Alert.Line, Column: m.Alert.Column}, m)
	}
}

func (p *parser) checkAbsent(n *yaml.Node, m *Metric) {
	a := m.Absent
	switch m.Type {
	case aggregate.Count, aggregate.Sum, aggregate.Distinct, aggregate.Distribution, 0:
	default:
		p.errorf(n, "metric %q: absent applies to count, sum, distinct and distribution; a zero %s would be a made-up value", m.Name, m.Type)
	}
	if a.Learn != 0 && a.Learn < m.Window {
		p.errorf(n, "metric %q: absent.learn %v is shorter than the window %v", m.Name, a.Learn, m.Window)
	}
	dyn := make([]string, 0, len(m.DynamicLabels))
	for k := range m.DynamicLabels {
		dyn = append(dyn, k)
	}
	sort.Strings(dyn)
	seen := map[string]int{}
	for i, set := range a.Expected {
		var missing []string
		for _, k := range dyn {
			if _, ok := set[k]; !ok {
				missing = append(missing, k)
			}
		}
		for k, v := range set {
			if _, ok := m.DynamicLabels[k]; ok {
				continue
			}
			if sv, ok := m.Labels[k]; !ok || sv != v {
				p.errorf(n, "metric %q: absent.expected[%d]: label %q is not a dynamic label of the metric (dynamic labels: %s)", m.Name, i, k, strings.Join(dyn, ", "))
			}
		}
		if len(missing) > 0 {
			p.errorf(n, "metric %q: absent.expected[%d] must give every dynamic label; missing: %s", m.Name, i, strings.Join(missing, ", "))
		}
		key := expectedKey(dyn, set)
		if j, dup := seen[key]; dup {
			p.errorf(n, "metric %q: absent.expected[%d] repeats entry %d", m.Name, i, j)
		}
		seen[key] = i
	}
}

func expectedKey(names []string, set map[string]string) string {
	var b strings.Builder
	for _, k := range names {
		b.WriteString(strconv.Quote(set[k]))
	}
	return b.String()
}

var alertKeys = []string{"above", "below", "for", "severity", "silence", "summary"}

func (p *parser) alert(n *yaml.Node) *Alert {
	a := &Alert{Line: n.Line, Column: n.Column}
	errsBefore := len(p.errs)
	var forNode *yaml.Node
	var belowNode, aboveNode *yaml.Node
	p.mapping(n, "alert", alertKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "silence":
			if d, ok := p.duration(v, "alert.silence"); ok {
				if d <= 0 {
					p.errorf(v, "alert.silence must be above 0")
				}
				a.Silence = d
			}
		case "below", "above":
			f, ok := p.number(v, "alert."+key)
			if !ok {
				return
			}
			if key == "below" {
				a.Below, belowNode = &Threshold{Value: f}, v
			} else {
				a.Above, aboveNode = &Threshold{Value: f}, v
			}
		case "for":
			forNode = v
		case "severity":
			if s, ok := p.str(v, "alert.severity"); ok {
				s = strings.ToLower(s)
				if !slices.Contains(Severities, s) {
					p.errorf(v, "alert.severity %q is unknown (known: %s)", s, strings.Join(Severities, ", "))
				}
				a.Severity = s
			}
		case "summary":
			a.Summary, _ = p.str(v, "alert.summary")
		}
	})
	if n.Kind != yaml.MappingNode {
		return a
	}
	if a.Silence == 0 && belowNode == nil && aboveNode == nil && len(p.errs) == errsBefore {
		p.errorf(n, "alert needs at least one of silence: DURATION, below: NUMBER, above: NUMBER")
	}
	if a.Below != nil && a.Above != nil && a.Below.Value >= a.Above.Value {
		p.errorf(aboveNode, "alert: above (%v) must be higher than below (%v), or both always fire", a.Above.Value, a.Below.Value)
	}
	if forNode != nil {
		if a.Below == nil && a.Above == nil {
			p.errorf(forNode, "alert.for applies to below and above; silence carries its own duration")
		} else if d, ok := p.duration(forNode, "alert.for"); ok {
			if d < 0 {
				p.errorf(forNode, "alert.for must not be negative")
			}
			for _, t := range []*Threshold{a.Below, a.Above} {
				if t != nil {
					t.For = d
				}
			}
		}
	}
	return a
}

func (p *parser) checkAlert(n *yaml.Node, m *Metric) {
	a := m.Alert
	if (a.Below != nil || a.Above != nil) && m.Type == aggregate.Distribution {
		p.errorf(n, "metric %q: alert below/above needs a single value; a distribution has many (alert on a mean or count metric)", m.Name)
	}
	if (a.Below != nil || a.Above != nil) && m.Kind == metricdata.Cumulative {
		p.errorf(n, "metric %q: alert below/above compares window values; use kind gauge (a cumulative total only grows)", m.Name)
	}
	if a.Silence != 0 && a.Silence < m.Window {
		p.errorf(n, "metric %q: alert.silence %v is shorter than the window %v: every window would look silent", m.Name, a.Silence, m.Window)
	}
}

func (p *parser) number(n *yaml.Node, what string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		p.errorf(n, "%s must be a number", what)
		return 0, false
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		p.errorf(n, "%s: bad number %q", what, n.Value)
		return 0, false
	}
	return f, true
}
