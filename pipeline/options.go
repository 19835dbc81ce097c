// Package pipeline builds and runs the beametrics Beam pipeline: records
// from Pub/Sub or files, through the metric engine, windowed and combined,
// out through the exporters.
package pipeline

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/beametrics/beametrics/exporters"
)

// Options are the pipeline's flags. Flag names follow the original Python
// beametrics where it had one, so its invocations keep working.
type Options struct {
	// Where the metrics come from: the first one given wins, as in the
	// original: --config, then --metrics, then the single-metric flags.
	Config  string // local path or gs://
	Metrics string // JSON array of metric objects

	MetricName       string
	MetricType       string
	MetricField      string
	MetricLabels     string // JSON object
	DynamicLabels    string // JSON object
	FilterConditions string // JSON array

	Subscription string     // projects/P/subscriptions/S
	Inputs       stringList // --input, repeatable
	DeadLetter   string     // file path or projects/P/topics/T

	WindowSize      int // seconds; 0 keeps the config's
	AllowedLateness time.Duration
	EventTimeField  string
	EventTimeFormat string
	ExportType      string

	MaxDelay time.Duration // Pub/Sub watermark: now minus this
	// MaxDisorder: replay's watermark trails the newest event time read
	// by at least this.
	MaxDisorder time.Duration
	Pullers     int

	// ProgressInterval is how often the progress line is printed; 0 turns
	// it off.
	ProgressInterval time.Duration

	// Runner names the Beam runner to run on: "prism" (also when empty) or
	// "dataflow". Not a flag of its own: cmd/beametrics reads Beam's
	// --runner (and maps "direct" to prism).
	Runner string
	// Drain, when closed, drains a streaming run: the sources stop
	// pulling, every open window fires and is exported, and Run returns.
	// Cancelling Run's context stops at once instead. nil: no drain.
	Drain <-chan struct{}
	// DrainTimeout bounds a drain: when the run has not ended this long
	// after Drain was closed (an exporter hangs, a window never closes),
	// it is stopped and Run returns an error naming what was not
	// exported. 0: wait for ever.
	DrainTimeout time.Duration

	// Unused flags the original accepted; kept so its templates run.
	DataflowTemplateType string
	ProjectID            string

	Exporters exporters.Settings
}

type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// RegisterFlags defines the flags on fs. Beam's own flags (--runner,
// --project, --region, ...) live on the same flag set.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Config, "config", "", "metrics YAML file, local or gs://")
	fs.StringVar(&o.Metrics, "metrics", "", "metrics as a JSON array of objects with the YAML's keys (instead of --config)")
	fs.StringVar(&o.MetricName, "metric-name", "", "single-metric mode: the metric's name")
	fs.StringVar(&o.MetricType, "metric-type", "", "single-metric mode: count, sum, ...")
	fs.StringVar(&o.MetricField, "metric-field", "", "single-metric mode: the value field")
	fs.StringVar(&o.MetricLabels, "metric-labels", "", `single-metric mode: static labels as a JSON object, e.g. {"env":"prod"}`)
	fs.StringVar(&o.DynamicLabels, "dynamic-labels", "", `single-metric mode: label name to field path, as a JSON object`)
	fs.StringVar(&o.FilterConditions, "filter-conditions", "", `single-metric mode: JSON array of {"field","operator","value"}, required with --metric-name`)

	fs.StringVar(&o.Subscription, "subscription", "", "Pub/Sub subscription to stream from: projects/P/subscriptions/S")
	fs.Var(&o.Inputs, "input", "newline-delimited JSON file or glob to replay (repeatable; gs:// too)")
	fs.StringVar(&o.DeadLetter, "dead-letter", "", "where refused records go: a file path, or a Pub/Sub topic projects/P/topics/T")

	fs.IntVar(&o.WindowSize, "window-size", 0, "default window in seconds for metrics without their own window (the config's window, else 60)")
	fs.DurationVar(&o.AllowedLateness, "allowed-lateness", 0, "how late data may arrive after its window closed and still count (e.g. 2m)")
	fs.StringVar(&o.EventTimeField, "event-time-field", "", "field holding the event time (default: the config's, else the Pub/Sub publish time)")
	fs.StringVar(&o.EventTimeFormat, "event-time-format", "", "auto, rfc3339, utc_space, unix_seconds or unix_millis")
	fs.StringVar(&o.ExportType, "export-type", "", "export type for every metric, overriding the config: google-cloud-monitoring, prometheus or local")

	fs.DurationVar(&o.MaxDelay, "max-delay", 10*time.Second, "Pub/Sub: the watermark trails the clock by this much")
	fs.DurationVar(&o.MaxDisorder, "max-disorder", 10*time.Minute, "replay: how far behind the newest event time read a record may come and still count (the input's own disorder widens it)")
	fs.IntVar(&o.Pullers, "pullers", 2, "Pub/Sub: parallel pullers on local runners")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", 60*time.Second, "after Ctrl-C or SIGTERM, stop (exit 1) if the drain has not finished within this (0: wait for ever)")
	fs.DurationVar(&o.ProgressInterval, "progress-interval", 5*time.Second, "how often to print the progress line on stderr (0: never)")

	fs.StringVar(&o.DataflowTemplateType, "dataflow-template-type", "", "accepted for compatibility with the original; unused")
	fs.StringVar(&o.ProjectID, "project-id", "", "accepted for compatibility with the original template; use --project")
	o.Exporters.RegisterFlags(fs)
}

// configText returns the metrics declaration as YAML text and a name for
// messages, from --config, --metrics or the single-metric flags.
func (o *Options) configText(read func(path string) ([]byte, error)) (name string, text []byte, err error) {
	switch {
	case o.Config != "":
		b, err := read(o.Config)
		if err != nil {
			return "", nil, fmt.Errorf("--config %s: %w", o.Config, err)
		}
		return o.Config, b, nil
	case o.Metrics != "":
		// The original fell back to single-metric mode when this failed
		// to parse; here it is an error.
		var probe []any
		if err := json.Unmarshal([]byte(o.Metrics), &probe); err != nil {
			return "", nil, fmt.Errorf("--metrics is not a JSON array: %w", err)
		}
		return "--metrics", []byte(o.Metrics), nil
	case o.MetricName != "":
		return o.singleMetric()
	}
	return "", nil, errors.New("no metrics: give --config FILE, --metrics JSON, or --metric-name with --filter-conditions")
}

// singleMetric builds the config of the original's single-metric flags.
// Unlike the original, a missing filter is an error, not a hidden
// severity == "ERROR".
func (o *Options) singleMetric() (string, []byte, error) {
	if o.FilterConditions == "" {
		return "", nil, errors.New(`--filter-conditions is required with --metric-name (e.g. '[{"field":"severity","operator":"equals","value":"ERROR"}]')`)
	}
	m := map[string]any{"name": o.MetricName}
	if o.MetricType != "" {
		m["type"] = o.MetricType
	} else {
		m["type"] = "count"
	}
	if o.MetricField != "" {
		m["field"] = o.MetricField
	}
	for _, f := range []struct {
		flag, key, value string
		into             any
	}{
		{"--metric-labels", "labels", o.MetricLabels, &map[string]any{}},
		{"--dynamic-labels", "dynamic_labels", o.DynamicLabels, &map[string]any{}},
		{"--filter-conditions", "filter-conditions", o.FilterConditions, &[]any{}},
	} {
		if f.value == "" {
			continue
		}
		if err := json.Unmarshal([]byte(f.value), f.into); err != nil {
			return "", nil, fmt.Errorf("%s: %w", f.flag, err)
		}
		m[f.key] = f.into
	}
	b, err := json.Marshal(map[string]any{"metrics": []any{m}})
	return "single-metric flags", b, err
}
