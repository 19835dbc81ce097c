package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
)

// FuzzParse: any text gives either a config the engine compiles or a list
// of errors that each name the file; never a panic.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "../../examples/*.yaml", "../engine/testdata/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		"", "metrics: []", "- {name: a, type: count}", "metrics:\n  - {name: a, type: sum, field: x.y}",
		"metrics:\n  - {name: a, type: distribution, field: x, exponential_buckets: {start: 1, factor: 2, count: 200}}",
		"metrics:\n  - {name: a, type: count, filter: 'a in [1, \"x\"] && b matches \"^x\"'}",
		"metrics:\n  - {name: a, type: count, filter-conditions: [{field: a, operator: in, value: [1, x, null, true]}]}",
		"window: 1.5\nevent_time_field: t\nmetrics:\n  - {name: a, type: latest, field: v, window: 2h}",
		"metrics: &a [*a]", "metrics:\n  - <<: {name: a}\n    type: count", "{{{{", "metrics:\n  - !!binary aGk=",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data)
		if err != nil {
			var list config.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("error without file or message: %#v", e)
				}
			}
			return
		}
		if len(cfg.Metrics) == 0 {
			t.Fatal("a config without metrics was accepted")
		}
		if _, err := engine.New(cfg); err != nil {
			t.Fatalf("Parse accepted a config that engine.New refuses: %v", err)
		}
		for i := range cfg.Metrics {
			_ = cfg.Metrics[i].Describe()
		}
	})
}
