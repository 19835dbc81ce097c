package engine_test

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/engine"
)

// A filter expression that fails on an event (a type error) is counted per
// metric with its reason, and the event is not counted by that metric; a
// missing field is a plain no-match; other metrics are not affected.
func TestFilterErrorsCounted(t *testing.T) {
	e := compile(t, `
metrics:
  - {name: server-errors, type: count, filter: 'http.status >= 500'}
  - {name: long-users, type: count, filter: 'len(user) > 3'}
  - {name: all, type: count}
`)
	var logged bytes.Buffer
	e.SetFilterErrorLog(slog.New(slog.NewTextHandler(&logged, nil)))
	p := e.NewProcessor()
	feed(t, p,
		rec(`{"http":{"status":503},"user":"alice"}`),  // both match
		rec(`{"http":{"status":"503"},"user":"bob"}`),  // server-errors: type error; long-users: no match
		rec(`{"http":{"status":"oops"},"user":12345}`), // both fail
		rec(`{"http":"flat","user":"carol"}`),          // server-errors: path through a string
		rec(`{"user":null}`),                           // missing and null: no match, no error
		rec(`{"http":{"status":"x"}}`),                 // server-errors: type error
		rec(`{"http":{"status":"y"}}`),                 // server-errors: type error
	)
	// By hand: server-errors fails on events 2, 3, 4, 6 and 7; long-users
	// on event 3 (len of a number).
	if want := []int64{5, 1, 0}; !reflect.DeepEqual(p.Stats.FilterErrors, want) {
		t.Errorf("FilterErrors = %v, want %v", p.Stats.FilterErrors, want)
	}
	if want := []int64{1, 2, 7}; !reflect.DeepEqual(p.Stats.Matched, want) {
		t.Errorf("Matched = %v, want %v", p.Stats.Matched, want)
	}
	checkSeries(t, flush(t, e, p), map[string]string{
		"server-errors{}@16:00:00.000": "1", "long-users{}@16:00:00.000": "2", "all{}@16:00:00.000": "7",
	})
	reasons := p.Stats.FilterErrorReasons
	if len(reasons) != 6 {
		t.Fatalf("%d reasons kept, want all 6: %v", len(reasons), reasons)
	}
	for i, want := range []engine.FilterError{
		{Metric: "server-errors", Reason: ">= needs two numbers or two strings"},
		{Metric: "server-errors", Reason: ">= needs two numbers or two strings"},
		{Metric: "long-users", Reason: "invalid argument for len (type float64)"},
		{Metric: "server-errors", Reason: "cannot read http.status: http is not an object"},
	} {
		if reasons[i].Metric != want.Metric || !strings.HasPrefix(reasons[i].Reason, want.Reason) {
			t.Errorf("reason %d = %+v, want %+v", i, reasons[i], want)
		}
	}
	// The first 3 per metric are logged: 3 of server-errors' 5, long-users' 1.
	if n, m := strings.Count(logged.String(), "metric=server-errors"), strings.Count(logged.String(), "metric=long-users"); n != 3 || m != 1 {
		t.Errorf("logged %d lines of server-errors and %d of long-users, want 3 and 1:\n%s", n, m, logged.String())
	}
}

// An expression over the work budget fails on its event instead of
// stalling the processor, and is counted.
func TestFilterBudgetPerEvent(t *testing.T) {
	e := compile(t, `
metrics:
  - {name: pairs, type: count, filter: 'any(tags, any(tags, # == "nothing"))'}
`)
	e.SetFilterErrorLog(nil)
	var big strings.Builder
	big.WriteString(`{"tags":["t"`)
	for range 100_000 {
		big.WriteString(`,"t"`)
	}
	big.WriteString(`]}`)
	p := e.NewProcessor()
	feed(t, p, rec(big.String()), rec(`{"tags":["a","nothing"]}`))
	if p.Stats.FilterErrors[0] != 1 || p.Stats.Matched[0] != 1 {
		t.Errorf("filter errors %d, matched %d; want 1 and 1", p.Stats.FilterErrors[0], p.Stats.Matched[0])
	}
	if r := p.Stats.FilterErrorReasons; len(r) != 1 || !strings.Contains(r[0].Reason, "work budget") {
		t.Errorf("reasons %v, want one naming the work budget", r)
	}
}

// The config compiles the filters; engines bind copies of them, so that
// one checked config serves several engines, each reading its own events.
func TestFiltersCompiledOnceSharedByEngines(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`
metrics:
  - name: checkout-errors
    type: count
    filter-conditions:
      - {field: service, operator: in, value: [checkout, cart]}
    filter: 'http.status >= 500'
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics[0].Conditions[0].Pred == nil || cfg.Metrics[0].FilterExpr == nil {
		t.Fatal("config.Parse did not keep the compiled filters")
	}
	// Both engines are made before either runs: were binding to change
	// the shared filters, the first would read with the second's schema.
	var engines []*engine.Engine
	for range 2 {
		e, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		engines = append(engines, e)
	}
	for _, e := range engines {
		p := e.NewProcessor()
		feed(t, p,
			rec(`{"service":"checkout","http":{"status":500}}`),
			rec(`{"http":{"status":502},"service":"cart"}`),
			rec(`{"service":"search","http":{"status":500}}`),
			rec(`{"service":"cart","http":{"status":200}}`),
		)
		checkSeries(t, flush(t, e, p), map[string]string{"checkout-errors{}@16:00:00.000": "2"})
	}
	// A config not made by config.Parse has no compiled filters.
	bare := *cfg
	bare.Metrics = []config.Metric{cfg.Metrics[0]}
	bare.Metrics[0].Conditions = []config.Condition{{Field: "service", Operator: "equals", Value: "x", HasValue: true}}
	if _, err := engine.New(&bare); err == nil || !strings.Contains(err.Error(), "not compiled") {
		t.Errorf("engine.New without compiled conditions: %v", err)
	}
}
