package config

import (
	"fmt"
	"time"

	"github.com/beametrics/beametrics/internal/eventtime"
)

// Source is a config as it travels inside a pipeline: its text and the
// command-line overrides, so that every worker compiles exactly what the
// launcher checked.
type Source struct {
	Name      string // file name or flag, for messages
	Text      []byte
	Overrides Overrides
}

// Overrides are flags that replace values of the file for every metric.
// Zero values leave the file alone.
type Overrides struct {
	Window          time.Duration // --window-size: the default window; a metric's own window stays
	ExportType      string        // --export-type
	EventTimeField  string        // --event-time-field
	EventTimeFormat string        // --event-time-format
	AllowedLateness time.Duration // --allowed-lateness
}

// Load parses the text and applies the overrides.
func (s Source) Load() (*Config, error) {
	cfg, err := Parse(s.Name, s.Text)
	if err != nil {
		return nil, err
	}
	o := s.Overrides
	if o.Window != 0 {
		if err := CheckWindow(o.Window); err != nil {
			return nil, fmt.Errorf("--window-size: %w", err)
		}
		cfg.Window = o.Window
		for i := range cfg.Metrics {
			if !cfg.Metrics[i].WindowSet {
				cfg.Metrics[i].Window = o.Window
			}
		}
	}
	if o.ExportType != "" {
		if !contains(ExportTypes(), o.ExportType) {
			return nil, fmt.Errorf("--export-type: unknown export type %q (known: google-cloud-monitoring, local, prometheus)", o.ExportType)
		}
		for i := range cfg.Metrics {
			cfg.Metrics[i].ExportType = o.ExportType
		}
	}
	if o.EventTimeField != "" {
		cfg.EventTimeField = o.EventTimeField
	}
	if o.EventTimeFormat != "" {
		f, err := eventtime.ParseFormat(o.EventTimeFormat)
		if err != nil {
			return nil, fmt.Errorf("--event-time-format: %w", err)
		}
		cfg.EventTimeFormat = f
	}
	for _, m := range cfg.Metrics {
		if m.Freshness != NotFreshness && cfg.EventTimeField == "" {
			return nil, fmt.Errorf("%s:%d:%d: metric %q: type freshness needs an event time field (event_time_field or --event-time-field)", s.Name, m.Line, m.Column, m.Name)
		}
	}
	if o.AllowedLateness != 0 {
		if o.AllowedLateness < 0 {
			return nil, fmt.Errorf("--allowed-lateness must not be negative")
		}
		cfg.AllowedLateness = o.AllowedLateness
	}
	return cfg, nil
}
