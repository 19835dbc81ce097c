// Package alerts turns the `alert:` settings of a config's metrics into
// ready-to-apply alert definitions: a Prometheus rules file, or Cloud
// Monitoring alert policies.
//
// Names follow the exporters exactly (exporters.PrometheusFamily for
// Prometheus, prefix + config name for Cloud Monitoring), so the rules
// match the series beametrics writes.
package alerts

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// Alerting is one metric with an alert: setting, with what the rules need
// to know about it.
type alerting struct {
	m    *config.Metric
	d    metricdata.Descriptor
	rule *config.Alert
}

// metricsWithAlerts lists the metrics marked alert:, in config order. A
// config without any is an error: the command would write nothing.
func metricsWithAlerts(cfg *config.Config) ([]alerting, error) {
	eng, err := engine.New(cfg)
	if err != nil {
		return nil, err
	}
	var out []alerting
	for i := range cfg.Metrics {
		m := &cfg.Metrics[i]
		if m.Alert == nil {
			continue
		}
		d := eng.Descriptor(i)
		d.Window = m.Window
		out = append(out, alerting{m: m, d: d, rule: m.Alert})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no metric has an alert: setting", cfg.File)
	}
	return out, nil
}

// expectedSets returns the metric's expected label sets with its static
// labels added, each sorted by label name.
func expectedSets(m *config.Metric) [][]metricdata.Label {
	if m.Absent == nil {
		return nil
	}
	var out [][]metricdata.Label
	for _, set := range m.Absent.Expected {
		var ls []metricdata.Label
		for k, v := range m.Labels {
			ls = append(ls, metricdata.Label{Name: k, Value: v})
		}
		for k, v := range set {
			if _, static := m.Labels[k]; !static {
				ls = append(ls, metricdata.Label{Name: k, Value: v})
			}
		}
		sort.Slice(ls, func(a, b int) bool { return ls[a].Name < ls[b].Name })
		out = append(out, ls)
	}
	return out
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// promDuration writes a duration the way Prometheus reads it (no
// fractions, largest units first): 1h30m, 90s.
func promDuration(d time.Duration) string {
	if d%time.Second != 0 {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	s := int64(d / time.Second)
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		unit string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if s >= u.n {
			fmt.Fprintf(&b, "%d%s", s/u.n, u.unit)
			s %= u.n
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

func summary(a alerting, what string) string {
	if a.rule.Summary != "" {
		return a.rule.Summary
	}
	return fmt.Sprintf("beametrics metric %s %s", a.m.Name, what)
}
