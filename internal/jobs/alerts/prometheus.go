package alerts

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// PromRule is one alerting rule of a Prometheus rules file.
type PromRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations"`
}

type promGroup struct {
	Name  string     `yaml:"name"`
	Rules []PromRule `yaml:"rules"`
}

type promFile struct {
	Groups []promGroup `yaml:"groups"`
}

// PrometheusRules returns the alerting rules of cfg's metrics marked
// alert:.
func PrometheusRules(cfg *config.Config) ([]PromRule, error) {
	ms, err := metricsWithAlerts(cfg)
	if err != nil {
		return nil, err
	}
	var rules []PromRule
	for _, a := range ms {
		family := exporters.PrometheusFamily(a.d)
		series := family
		if a.d.ValueType == metricdata.Distribution {
			series += "_count"
		}
		labels := map[string]string{"beametrics_metric": a.m.Name}
		if a.rule.Severity != "" {
			labels["severity"] = a.rule.Severity
		}
		if d := a.rule.Silence; d != 0 {
			rules = append(rules, PromRule{
				Alert:  family + "_silent",
				Expr:   silenceExpr(a, series),
				Labels: labels,
				Annotations: map[string]string{
					"summary":     summary(a, "received nothing for "+promDuration(d)),
					"description": fmt.Sprintf("No data for %s in %s (config %s, line %d).", promDuration(d), series, cfg.File, a.m.Line),
				},
			})
		}
		for _, t := range []struct {
			name, op string
			th       *config.Threshold
		}{{"below", "<", a.rule.Below}, {"above", ">", a.rule.Above}} {
			if t.th == nil {
				continue
			}
			r := PromRule{
				Alert:  family + "_" + t.name,
				Expr:   fmt.Sprintf("%s %s %s", series, t.op, formatFloat(t.th.Value)),
				Labels: labels,
				Annotations: map[string]string{
					"summary":     summary(a, fmt.Sprintf("is %s %s", t.name, formatFloat(t.th.Value))),
					"description": fmt.Sprintf("%s is {{ $value }}, %s %s (config %s, line %d).", series, t.name, formatFloat(t.th.Value), cfg.File, a.m.Line),
				},
			}
			if t.th.For > 0 {
				r.For = promDuration(t.th.For)
			}
			rules = append(rules, r)
		}
	}
	return rules, nil
}

// silenceExpr fires per silent series where it can tell them apart:
//   - zero-filled metrics (absent:) report 0 while silent: every value
//     of the period is 0 (or a cumulative total did not grow);
//   - each expected label set that has no sample at all in the period;
//   - the whole metric having no sample in the period (a dead pipeline
//     writes no zeros either).
func silenceExpr(a alerting, series string) string {
	d := promDuration(a.rule.Silence)
	var parts []string
	if a.m.Absent != nil {
		if a.d.Kind == metricdata.Cumulative {
			parts = append(parts, fmt.Sprintf("increase(%s[%s]) == 0", series, d))
		} else {
			parts = append(parts, fmt.Sprintf("max_over_time(%s[%s]) == 0", series, d))
		}
	}
	for _, set := range expectedSets(a.m) {
		parts = append(parts, fmt.Sprintf("absent_over_time(%s%s[%s])", series, promMatchers(set), d))
	}
	parts = append(parts, fmt.Sprintf("absent_over_time(%s[%s])", series, d))
	return strings.Join(parts, "\nor\n")
}

func promMatchers(ls []metricdata.Label) string {
	ms := make([]string, len(ls))
	for i, l := range ls {
		ms[i] = exporters.PrometheusLabelName(l.Name) + "=" + strconv.Quote(l.Value)
	}
	return "{" + strings.Join(ms, ",") + "}"
}

// PrometheusFile renders rules as a Prometheus rules file.
func PrometheusFile(group string, rules []PromRule) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(promFile{Groups: []promGroup{{Name: group, Rules: rules}}}); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
