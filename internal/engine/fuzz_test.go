package engine_test

import (
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/aggregate"
	"github.com/beametrics/beametrics/internal/engine"
	"github.com/beametrics/beametrics/internal/event"
)

// fuzzConfig reads every kind of field the engine reads: conditions of each
// family, an expression on the fast path and one on the VM, numeric values,
// distinct, labels of any kind and an event-time field.
const fuzzConfig = `
event_time_field: ts
metrics:
  - {name: all, type: count, dynamic_labels: {a: a, b: b.c}, max_series: 3}
  - name: cond
    type: sum
    field: v
    filter-conditions:
      - {field: a, operator: regex, value: "^x"}
      - {field: b.c, operator: not_in, value: [1, "x", null]}
      - {field: v, operator: greater_than, value: 0}
  - {name: fast, type: distribution, field: v, buckets: [1, 10], filter: 'a == "x" || b.c >= 3 || v in [1, 2]'}
  - {name: vm, type: mean, field: v, filter: 'len(a) > 1 || b.c + 1 > 2'}
  - {name: users, type: distinct, field: a}
  - {name: last, type: latest, field: attributes.v}
`

var knownReasons = map[string]bool{
	event.ReasonInvalidJSON: true, event.ReasonNotObject: true, event.ReasonInvalidUTF8: true,
	event.ReasonOversize: true, event.ReasonTooDeep: true, engine.ReasonBadEventTime: true,
}

// FuzzProcess: any bytes are either an event or a dead letter with a known
// reason, each counted once; never a panic.
func FuzzProcess(f *testing.F) {
	for _, s := range []string{
		`{"a":"xy","b":{"c":3},"v":"12.5","ts":"2025-11-24T16:00:00Z"}`,
		`{"a":5,"b":{"c":[1,{"d":null}]},"v":true,"ts":1764000000000}`,
		`{"a":{"x":1},"b":"str","v":null,"ts":"2025-02-07 15:12:43 UTC"}`,
		`{"a":"\u00e9\ud83d\ude00","v":-1e308,"ts":-5}`,
		`{"attributes":{"v":"3"},"a":"x"}`,
		``, `[]`, `"x"`, `null`, `{`, "\xff", `{"a":"` + strings.Repeat("x", 300) + `"}`,
		strings.Repeat("[", 1000), strings.Repeat(`{"a":`, 400) + "1" + strings.Repeat("}", 400),
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	e := compile(f, fuzzConfig)
	f.Fuzz(func(t *testing.T, body []byte, requireTime bool) {
		p := e.NewProcessor()
		p.RequireEventTime = requireTime
		err := p.Process(body, map[string]string{"v": "7"}, 1764000000e9)
		if err != nil {
			reason := event.Reason(err)
			if !knownReasons[reason] {
				t.Fatalf("dead letter with unknown reason %q: %v", reason, err)
			}
			if p.Stats.DeadLetters[reason] != 1 || p.Stats.Events != 0 || p.Pending() != 0 {
				t.Fatalf("dead letter %q not counted once: %+v, %d series", reason, p.Stats, p.Pending())
			}
			return
		}
		if p.Stats.Events != 1 || len(p.Stats.DeadLetters) != 0 {
			t.Fatalf("event not counted once: %+v", p.Stats)
		}
		for i := range p.Stats.Matched {
			if p.Stats.Dropped[i] > p.Stats.Matched[i] || p.Stats.Overflowed[i] > p.Stats.Matched[i] {
				t.Fatalf("metric %d: more dropped or overflowed than matched: %+v", i, p.Stats)
			}
		}
		if p.Stats.Matched[0] != 1 {
			t.Fatalf("the unfiltered count did not match: %+v", p.Stats)
		}
		p.Flush(func(s engine.Series, acc *aggregate.Acc) {
			if _, err := e.Point(s, acc); err != nil {
				t.Fatalf("Point: %v", err)
			}
		})
	})
}
