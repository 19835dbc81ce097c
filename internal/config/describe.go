package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/beametrics/beametrics/internal/aggregate"
)

// Describe says in one line what the metric measures, with every default
// resolved, so that `beametrics validate` shows what will really run.
func (m *Metric) Describe() string {
	var b strings.Builder
	b.WriteString(m.Name)
	b.WriteString(": ")
	switch {
	case m.Freshness == FreshnessLag:
		fmt.Fprintf(&b, "freshness: distribution of processing time minus event time (s) over buckets %v", m.Buckets)
	case m.Freshness == FreshnessFuture:
		fmt.Fprintf(&b, "count of events from the future (event time more than %v ahead of processing time)", m.FutureTolerance)
	case m.Freshness == FreshnessStale:
		fmt.Fprintf(&b, "count of events older than %v when processed", m.StaleAfter)
	case m.Type == aggregate.Count:
		b.WriteString("count of events")
	case m.Type == aggregate.Distinct:
		fmt.Fprintf(&b, "approximate distinct count of %s", m.Field)
	case m.Type == aggregate.Distribution:
		fmt.Fprintf(&b, "distribution of %s over buckets %v", m.Field, m.Buckets)
	default:
		fmt.Fprintf(&b, "%s of %s", m.Type, m.Field)
	}
	var conds []string
	for _, c := range m.Conditions {
		if c.HasValue {
			conds = append(conds, fmt.Sprintf("%s %s %s", c.Field, c.Operator, literal(c.Value)))
		} else {
			conds = append(conds, fmt.Sprintf("%s %s", c.Field, c.Operator))
		}
	}
	if m.Filter != "" {
		conds = append(conds, "("+m.Filter+")")
	}
	if len(conds) > 0 {
		b.WriteString(" where ")
		b.WriteString(strings.Join(conds, " and "))
	} else if m.Type == aggregate.Count && m.Freshness == NotFreshness {
		b.WriteString(" (all events)")
	}
	if len(m.DynamicLabels) > 0 {
		var by []string
		for _, k := range sortedKeys(m.DynamicLabels) {
			by = append(by, fmt.Sprintf("%s=%s", k, m.DynamicLabels[k]))
		}
		fmt.Fprintf(&b, ", by %s (at most %d series)", strings.Join(by, ", "), m.MaxSeries)
	}
	if len(m.Labels) > 0 {
		var ls []string
		for _, k := range sortedKeys(m.Labels) {
			ls = append(ls, fmt.Sprintf("%s=%q", k, m.Labels[k]))
		}
		fmt.Fprintf(&b, ", labels {%s}", strings.Join(ls, ", "))
	}
	fmt.Fprintf(&b, ", per %v window, %s, to %s", m.Window, m.Kind, m.ExportType)
	if m.Absent != nil {
		b.WriteString("; " + m.Absent.describe())
	}
	if m.Alert != nil {
		b.WriteString("; " + m.Alert.describe())
	}
	return b.String()
}

func (a *Absent) describe() string {
	if a.Learn > 0 {
		return fmt.Sprintf("zero when silent: every series seen in the last %v", a.Learn)
	}
	sets := make([]string, len(a.Expected))
	for i, set := range a.Expected {
		var ls []string
		for _, k := range sortedKeys(set) {
			ls = append(ls, fmt.Sprintf("%s=%q", k, set[k]))
		}
		sets[i] = "{" + strings.Join(ls, ", ") + "}"
	}
	return "zero when silent: " + strings.Join(sets, ", ")
}

func (a *Alert) describe() string {
	var when []string
	if a.Silence > 0 {
		when = append(when, fmt.Sprintf("silent for %v", a.Silence))
	}
	for _, t := range []struct {
		side string
		th   *Threshold
	}{{"below", a.Below}, {"above", a.Above}} {
		if t.th == nil {
			continue
		}
		c := fmt.Sprintf("%s %v", t.side, t.th.Value)
		if t.th.For > 0 {
			c += fmt.Sprintf(" for %v", t.th.For)
		}
		when = append(when, c)
	}
	head := "alert"
	if a.Severity != "" {
		head += " (" + a.Severity + ")"
	}
	return head + " when " + strings.Join(when, " or ")
}

func literal(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = literal(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
