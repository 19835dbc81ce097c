package filters_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/filters"
	"github.com/beametrics/beametrics/internal/event"
)

// bigList is n user ids "u-0" ... "u-(n-1)", plus the number 500 and true,
// so that the list mixes kinds.
func bigList(n int) []any {
	list := make([]any, 0, n+2)
	for i := range n {
		list = append(list, "u-"+strconv.Itoa(i))
	}
	return append(list, 500, true)
}

// A 1M-entry in list filters exactly as equals against each entry would:
// the expected answers are written out by hand from the list's definition.
func TestInMillionEntries(t *testing.T) {
	const n = 1_000_000
	list := bigList(n)
	in, err := filters.Condition("user", "in", list, true)
	if err != nil {
		t.Fatal(err)
	}
	notIn, err := filters.Condition("user", "not_in", list, true)
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	src.WriteString("user in [")
	for i, v := range list {
		if i > 0 {
			src.WriteString(", ")
		}
		if s, ok := v.(string); ok {
			fmt.Fprintf(&src, "%q", s)
		} else {
			fmt.Fprint(&src, v)
		}
	}
	src.WriteString("]")
	ex, err := filters.Expression(src.String())
	if err != nil {
		t.Fatal(err)
	}
	if !filters.IsFast(ex) {
		t.Error("a literal in list is not on the fast path")
	}
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`{"user":"u-0"}`, true},
		{`{"user":"u-999999"}`, true},   // the last one
		{`{"user":"u-1000000"}`, false}, // one past it
		{`{"user":"u-"}`, false},
		{`{"user":"U-5"}`, false}, // case matters
		{`{"user":"u-\u0035"}`, true},
		{`{"user":500}`, true},
		{`{"user":500.0}`, true}, // numbers compare numerically
		{`{"user":5e2}`, true},
		{`{"user":"500"}`, false}, // a string is never a number
		{`{"user":501}`, false},
		{`{"user":true}`, true},
		{`{"user":false}`, false},
		{`{"user":null}`, false},
		{`{}`, false},
		{`{"user":["u-0"]}`, false},
	} {
		r := reader(t, tc.body, nil)
		if got := in.Match(r); got != tc.want {
			t.Errorf("in over %s = %v, want %v", tc.body, got, tc.want)
		}
		if got := notIn.Match(r); got == tc.want {
			t.Errorf("not_in over %s = %v, want %v", tc.body, got, !tc.want)
		}
		if got := ex.Match(r); got != tc.want {
			t.Errorf("expression in over %s = %v, want %v", tc.body, got, tc.want)
		}
	}
}

// Lists hold null and bools as equals does: null only equals null.
func TestInNullAndBools(t *testing.T) {
	c, err := filters.Condition("x", "in", []any{nil, false, 0}, true)
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]bool{
		`{"x":null}`: true, `{}`: false, `{"x":false}`: true, `{"x":true}`: false,
		`{"x":0}`: true, `{"x":-0.0}`: true, `{"x":""}`: false,
	} {
		if got := c.Match(reader(t, body, nil)); got != want {
			t.Errorf("in [null, false, 0] over %s = %v, want %v", body, got, want)
		}
	}
}

// BenchmarkIn compares a 10-entry list with a 1M-entry one, as a
// condition and as an expression: the cost per event must not grow with
// the list (it is one hash lookup).
func BenchmarkIn(b *testing.B) {
	for _, n := range []int{10, 1_000_000} {
		list := bigList(n)
		cond, err := filters.Condition("user", "in", list, true)
		if err != nil {
			b.Fatal(err)
		}
		var src strings.Builder
		src.WriteString(`user in ["x"`)
		for _, v := range list[:n] {
			fmt.Fprintf(&src, ", %q", v)
		}
		src.WriteString("]")
		ex, err := filters.Expression(src.String())
		if err != nil {
			b.Fatal(err)
		}
		// A miss with a key that shares its prefix with the list is the
		// case that scanned the whole list before.
		body := []byte(`{"service":"checkout","user":"u-99999999","http":{"status":200}}`)
		for _, p := range []struct {
			name string
			pred filters.Predicate
		}{{"condition", cond}, {"expression", ex}} {
			schema := event.NewSchema()
			bound := filters.Bind(p.pred, schema)
			r := schema.NewReader()
			if err := r.Parse(body, nil); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%d", p.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if bound.Match(r) {
						b.Fatal("matched")
					}
				}
			})
		}
	}
}

// Expressions whose constant parts alone exceed the work budget are
// refused when the config is read.
func TestExpressionStaticBudget(t *testing.T) {
	for _, src := range []string{
		`len(repeat(user, 100000)) > 0`,
		`all(1..100000, # > 0)`,
		`any(1..1000, all(1..1000, # > 0))`, // 1000 + 1000 * (1 + 1000 + 1000)
		`count(1..200, count(1..200, count(1..200, true) > 0) > 0) > 0`,
		`user in map(1..100000, string(#))`,
	} {
		_, err := filters.Expression(src)
		if err == nil {
			t.Errorf("Expression(%s) accepted", src)
			continue
		}
		if !strings.Contains(err.Error(), "budget") {
			t.Errorf("Expression(%s) = %q, want it to name the budget", src, err)
		}
	}
	// Under the budget: 100 + 100 * (1 + 100 + 100) = 20,200.
	for _, src := range []string{
		`all(1..100, all(1..100, # > 0))`,
		`len(repeat(user, 10)) > 0`,
		`all(tags, all(tags, # != ""))`, // the event decides: checked per event
	} {
		if _, err := filters.Expression(src); err != nil {
			t.Errorf("Expression(%s): %v", src, err)
		}
	}
}

// What only the event decides runs within the budget: past it the
// evaluation stops with a failure naming the budget, not a stall.
func TestExpressionRunBudget(t *testing.T) {
	tags := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = `"t` + strconv.Itoa(i) + `"`
		}
		return `{"user":"abcdefghij","tags":[` + strings.Join(s, ",") + `]}`
	}
	for _, tc := range []struct {
		src, body string
		match     bool
		failure   string // part of the failure, "" for none
	}{
		// 100 tags: 100 * (1 + 100 + 1) steps and array elements, 10,200.
		{`all(tags, all(tags, # != ""))`, tags(100), true, ""},
		// 1,000 tags: about 1,000,000, ten times the budget.
		{`all(tags, all(tags, # != ""))`, tags(1000), false, "work budget"},
		// 100,000 tags: 10^10 steps without the budget.
		{`any(tags, any(tags, # == "nothing"))`, tags(100_000), false, "work budget"},
		// 10 bytes repeated 20,000 times: 200,000 bytes.
		{`len(repeat(user, 20000)) > 0`, tags(1), false, "work budget"},
		{`len(repeat(user, 2000)) > 0`, tags(1), true, ""},
	} {
		e, err := filters.Expression(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		match, failure := e.Eval(reader(t, tc.body, nil))
		if match != tc.match || (tc.failure == "") != (failure == "") || !strings.Contains(failure, tc.failure) {
			t.Errorf("%s over %d bytes = %v, %q; want %v and a failure saying %q", tc.src, len(tc.body), match, failure, tc.match, tc.failure)
		}
	}
}

// A type error is a failure with its reason; a missing or null field is a
// quiet no-match, on both paths.
func TestExpressionFailures(t *testing.T) {
	for _, tc := range []struct {
		src, body string
		failure   string // part of the failure, "" for none
	}{
		{`http.status >= 500`, `{"http":{"status":"500"}}`, ">= needs two numbers or two strings"},
		{`http.status >= 500`, `{"http":{"status":400}}`, ""},
		{`http.status >= 500`, `{"http":{}}`, ""},
		{`http.status >= 500`, `{}`, ""},
		{`http.status >= 500`, `{"http":null}`, ""},
		{`http.status >= 500`, `{"http":"text"}`, "cannot read http.status: http is not an object"},
		{`service matches "^a"`, `{"service":5}`, "matches needs a string"},
		{`ok && service == "a"`, `{"ok":"yes"}`, "and needs bools"},
		{`ok`, `{"ok":"yes"}`, "gave a string, not a bool"},
		{`ok`, `{}`, ""},
		// The VM:
		{`len(user) > 3`, `{"user":5}`, "invalid argument for len"},
		{`len(user) > 3`, `{}`, ""},
		{`http.status + 1 > 500`, `{"http":{"status":"x"}}`, "invalid operation"},
		{`http.status + 1 > 500`, `{"http":{}}`, ""},
	} {
		e, err := filters.Expression(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		match, failure := e.Eval(reader(t, tc.body, nil))
		if match || (tc.failure == "") != (failure == "") || !strings.Contains(failure, tc.failure) {
			t.Errorf("%s over %s = %v, %q; want false and a failure saying %q", tc.src, tc.body, match, failure, tc.failure)
		}
	}
}
