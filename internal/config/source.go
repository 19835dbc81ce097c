package config

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
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

// Load parses the text and applies the overrides. A process parses a
// source once: the launcher and the DoFn instances prism runs in the same
// process share the parse, which is most of the start-up cost of a large
// config (a 50 MB one was parsed four times). Each caller gets its own
// copy of the Config's top level; the metrics are shared, read-only.
func (s Source) Load() (*Config, error) {
	key := s.cacheKey()
	if cfg, ok := loaded.get(key); ok {
		return cfg.copyTop(), nil
	}
	cfg, err := s.load()
	if err != nil {
		return nil, err
	}
	loaded.put(key, cfg)
	return cfg.copyTop(), nil
}

// copyTop copies the Config itself, with slices clipped so that a caller's
// append (a warning) never writes into another caller's.
func (c *Config) copyTop() *Config {
	cp := *c
	cp.Metrics = slices.Clip(cp.Metrics)
	cp.Warnings = slices.Clip(cp.Warnings)
	return &cp
}

func (s Source) cacheKey() [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%q %+v\x00", s.Name, s.Overrides)
	h.Write(s.Text)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// loaded holds the few configs parsed in this process (a run has one; a
// test binary runs many, so it stays small).
var loaded = parseCache{m: map[[sha256.Size]byte]*Config{}}

type parseCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*Config
}

func (c *parseCache) get(k [sha256.Size]byte) (*Config, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg, ok := c.m[k]
	return cfg, ok
}

func (c *parseCache) put(k [sha256.Size]byte, cfg *Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 8 {
		clear(c.m)
	}
	c.m[k] = cfg
}

func (s Source) load() (*Config, error) {
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
		if !slices.Contains(ExportTypes(), o.ExportType) {
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
