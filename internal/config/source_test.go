package config_test

import (
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/config"
)

// Loading a source again gives the same config from the process's one
// parse, a copy each time: one caller's warning does not reach another,
// and other overrides give another config.
func TestLoadSharesOneParse(t *testing.T) {
	src := config.Source{Name: "shared.yaml", Text: []byte("window: 30s\nmetrics:\n  - {name: a, type: count, export_type: local}\n")}
	first, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	first.Warnings = append(first.Warnings, config.Error{Msg: "added by the first caller"})
	second, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatal("both callers got the same *Config")
	}
	if len(second.Warnings) != 0 {
		t.Errorf("the second caller sees the first's warnings: %v", second.Warnings)
	}
	if second.Metrics[0].Window != 30*time.Second {
		t.Errorf("window %v, want 30s", second.Metrics[0].Window)
	}
	src.Overrides.Window = 10 * time.Second
	third, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if third.Metrics[0].Window != 10*time.Second {
		t.Errorf("with --window-size 10s: window %v, want 10s", third.Metrics[0].Window)
	}
}
