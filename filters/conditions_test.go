package filters_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/filters"
	"github.com/beametrics/beametrics/internal/event"
)

// kindsEvent holds one field of every JSON kind. The columns of the
// operator table below are these fields, in this order.
const kindsEvent = `{"num":500,"numstr":"500","word":"hello world","bool":true,"null":null,
	"obj":{"k":"v"},"arr":[500,"hello"],"http":{"status":503,"path":"/api/v1/orders/7"}}`

var kindFields = []string{"num", "numstr", "word", "bool", "null", "obj", "arr", "missing"}

func reader(t testing.TB, body string, attrs map[string]string) *event.Reader {
	t.Helper()
	var r event.Reader
	if err := r.Parse([]byte(body), attrs); err != nil {
		t.Fatalf("Parse(%s): %v", body, err)
	}
	return &r
}

// TestOperatorsByKind pins the semantics of every operator against every
// value kind: equals compares numbers numerically, strings to strings and
// bools to bools, never a string to a number; the negations are true for a
// missing field; contains and regex see strings only; the ordered operators
// see numbers only.
func TestOperatorsByKind(t *testing.T) {
	r := reader(t, kindsEvent, nil)
	//                         num  numstr word  bool  null  obj   arr   missing
	for _, tc := range []struct {
		op    string
		value any
		want  string // one T or F per kindFields entry
	}{
		{"equals", 500, "TFFFFFFF"},
		{"equals", 500.0, "TFFFFFFF"},
		{"equals", uint64(500), "TFFFFFFF"},
		{"equals", int64(500), "TFFFFFFF"},
		{"equals", 501, "FFFFFFFF"},
		{"equals", "500", "FTFFFFFF"},
		{"equals", "hello world", "FFTFFFFF"},
		{"equals", "hello", "FFFFFFFF"},
		{"equals", true, "FFFTFFFF"},
		{"equals", false, "FFFFFFFF"},
		{"equals", nil, "FFFFTFFF"},
		{"equals", "", "FFFFFFFF"},
		{"not_equals", 500, "FTTTTTTT"},
		{"not_equals", 500.0, "FTTTTTTT"},
		{"not_equals", "500", "TFTTTTTT"},
		{"not_equals", true, "TTTFTTTT"},
		{"not_equals", nil, "TTTTFTTT"},
		{"contains", "ell", "FFTFFFFF"},
		{"contains", "50", "FTFFFFFF"},
		{"contains", "", "FTTFFFFF"},
		{"contains", "k", "FFFFFFFF"},
		{"not_contains", "ell", "TTFTTTTT"},
		{"not_contains", "50", "TFTTTTTT"},
		{"greater_than", 499, "TFFFFFFF"},
		{"greater_than", 499.5, "TFFFFFFF"},
		{"greater_than", 500, "FFFFFFFF"},
		{"greater_or_equal", 500, "TFFFFFFF"},
		{"greater_or_equal", 500.5, "FFFFFFFF"},
		{"less_than", 501, "TFFFFFFF"},
		{"less_than", 500, "FFFFFFFF"},
		{"less_or_equal", 500, "TFFFFFFF"},
		{"less_or_equal", 499.99, "FFFFFFFF"},
		{"less_than", -1, "FFFFFFFF"},
		{"regex", "^5", "FTFFFFFF"},
		{"regex", "o w", "FFTFFFFF"},  // unanchored
		{"regex", "ell", "FFTFFFFF"},  // unanchored
		{"regex", "^ell", "FFFFFFFF"}, // anchors work
		{"regex", "^hello world$", "FFTFFFFF"},
		{"regex", "", "FTTFFFFF"}, // strings only, even for a match-all
		{"regex", `\d+`, "FTFFFFFF"},
		{"regex", "(?i)HELLO", "FFTFFFFF"},
		{"exists", nil, "TTTTTTTF"}, // null counts as present
		{"not_exists", nil, "FFFFFFFT"},
		{"in", []any{500, "x"}, "TFFFFFFF"},
		{"in", []any{500.0}, "TFFFFFFF"},
		{"in", []any{"500"}, "FTFFFFFF"},
		{"in", []any{"hello world", "x"}, "FFTFFFFF"},
		{"in", []any{true, nil}, "FFFTTFFF"},
		{"in", []any{}, "FFFFFFFF"},
		{"not_in", []any{500}, "FTTTTTTT"},
		{"not_in", []any{"500", "hello world"}, "TFFTTTTT"},
		{"not_in", []any{}, "TTTTTTTT"},
	} {
		hasValue := tc.op != "exists" && tc.op != "not_exists"
		for i, field := range kindFields {
			want := tc.want[i] == 'T'
			p, err := filters.Condition(field, tc.op, tc.value, hasValue)
			if err != nil {
				t.Fatalf("Condition(%s %s %#v): %v", field, tc.op, tc.value, err)
			}
			if got := p.Match(r); got != want {
				t.Errorf("%s %s %#v = %v, want %v (field value %s)", field, tc.op, tc.value, got, want,
					fieldText(r, field))
			}
		}
	}
}

func fieldText(r *event.Reader, field string) string {
	p, err := event.ParsePath(field)
	if err != nil {
		return err.Error()
	}
	v := r.Lookup(&p)
	return fmt.Sprintf("%v %q", v.Kind(), v.AppendLabel(nil))
}

// TestNumericEquality: JSON numbers written differently are the same number.
func TestNumericEquality(t *testing.T) {
	for _, body := range []string{`{"v":500}`, `{"v":500.0}`, `{"v":5e2}`, `{"v":500.000}`} {
		r := reader(t, body, nil)
		for _, value := range []any{500, 500.0, int64(500), uint64(500)} {
			p, err := filters.Condition("v", "equals", value, true)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Match(r) {
				t.Errorf("%s equals %#v is false", body, value)
			}
		}
	}
	r := reader(t, `{"v":0.30000000000000004}`, nil)
	p, _ := filters.Condition("v", "equals", 0.3, true)
	if p.Match(r) {
		t.Error("0.30000000000000004 equals 0.3: comparison is not exact")
	}
}

func TestNestedPathsAndAttributes(t *testing.T) {
	body := `{"http":{"status":503,"req":{"path":"/api/x"}},"attributes":{"env":"body-env","zone":"a"}}`
	attrs := map[string]string{"env": "prod", "pipeline-id": "7"}
	r := reader(t, body, attrs)
	for _, tc := range []struct {
		field, op string
		value     any
		want      bool
	}{
		{"http.status", "greater_or_equal", 500, true},
		{"http.status", "equals", 503, true},
		{"http.req.path", "regex", "^/api/", true},
		{"http.req.path", "contains", "api", true},
		{"http.req", "exists", nil, true},
		{"http.req.nope", "not_exists", nil, true},
		{"http.status.deeper", "exists", nil, false},
		{"http.status.deeper", "not_equals", 503, true},
		{"attributes.env", "equals", "prod", true},      // the message attribute wins
		{"attributes.env", "equals", "body-env", false}, // over the body
		{"attributes.zone", "equals", "a", true},        // falls back to the body
		{"attributes.pipeline-id", "equals", "7", true}, // attributes are strings
		{"attributes.pipeline-id", "equals", 7, false},  // and a string never equals a number
		{"attributes.pipeline-id", "greater_than", 1, false},
		{"attributes.missing", "not_exists", nil, true},
		{"attributes.missing", "not_in", []any{"x"}, true},
	} {
		p, err := filters.Condition(tc.field, tc.op, tc.value, tc.op != "exists" && tc.op != "not_exists")
		if err != nil {
			t.Fatalf("Condition(%s %s): %v", tc.field, tc.op, err)
		}
		if got := p.Match(r); got != tc.want {
			t.Errorf("%s %s %#v = %v, want %v", tc.field, tc.op, tc.value, got, tc.want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	for _, tc := range []struct {
		field, op string
		value     any
		hasValue  bool
		msg       string // part of the error
	}{
		{"a", "equal", 1, true, `unknown operator "equal"`},
		{"a", "", 1, true, "unknown operator"},
		{"a", "startswith", "x", true, "unknown operator"},
		{"", "equals", 1, true, "empty field path"},
		{"a..b", "equals", 1, true, "empty element"},
		{"a", "equals", nil, false, "needs a value"},
		{"a", "equals", map[string]any{"x": 1}, true, "must be a string, number, bool or null"},
		{"a", "equals", []any{1}, true, "must be a string, number, bool or null"},
		{"a", "contains", 5, true, "needs a string value"},
		{"a", "contains", nil, false, "needs a value"},
		{"a", "not_contains", true, true, "needs a string value"},
		{"a", "greater_than", "5", true, "needs a number value"},
		{"a", "less_or_equal", nil, true, "needs a number value"},
		{"a", "less_than", nil, false, "needs a value"},
		{"a", "regex", "(", true, "bad regex"},
		{"a", "regex", "a(?=b)", true, "bad regex"}, // lookahead is not RE2
		{"a", "regex", 5, true, "needs a string value"},
		{"a", "exists", true, true, "takes no value"},
		{"a", "not_exists", nil, true, "takes no value"},
		{"a", "in", "x", true, "needs a list value"},
		{"a", "in", nil, false, "needs a value"},
		{"a", "not_in", []any{1, []any{2}}, true, "element 2"},
	} {
		_, err := filters.Condition(tc.field, tc.op, tc.value, tc.hasValue)
		if err == nil {
			t.Errorf("Condition(%q, %q, %#v) accepted", tc.field, tc.op, tc.value)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Condition(%q, %q, %#v) = %q, want it to say %q", tc.field, tc.op, tc.value, err, tc.msg)
		}
	}
	// The unknown-operator message lists the known ones.
	_, err := filters.Condition("a", "bogus", 1, true)
	for _, op := range filters.Operators() {
		if !strings.Contains(err.Error(), op) {
			t.Errorf("unknown-operator message %q does not list %s", err, op)
		}
	}
	if n := len(filters.Operators()); n != 13 {
		t.Errorf("%d operators, the issue names 13", n)
	}
}

// Operator names from the config are case-insensitive, like type names.
func TestOperatorCase(t *testing.T) {
	r := reader(t, `{"a":1}`, nil)
	p, err := filters.Condition("a", "EQUALS", 1, true)
	if err != nil || !p.Match(r) {
		t.Errorf("EQUALS: %v", err)
	}
}

func TestAll(t *testing.T) {
	r := reader(t, `{"a":1,"b":"x"}`, nil)
	yes, _ := filters.Condition("a", "equals", 1, true)
	yes2, _ := filters.Condition("b", "equals", "x", true)
	no, _ := filters.Condition("b", "equals", "y", true)
	for _, tc := range []struct {
		ps   []filters.Predicate
		want bool
	}{
		{nil, true}, // neither conditions nor filter: every event
		{[]filters.Predicate{yes}, true},
		{[]filters.Predicate{no}, false},
		{[]filters.Predicate{yes, yes2}, true},
		{[]filters.Predicate{yes, no}, false},
		{[]filters.Predicate{no, yes}, false},
		{[]filters.Predicate{yes, yes2, no}, false},
	} {
		if got := filters.All(tc.ps...).Match(r); got != tc.want {
			t.Errorf("All(%d predicates) = %v, want %v", len(tc.ps), got, tc.want)
		}
	}
}

func TestConditionsDoNotAllocate(t *testing.T) {
	r := reader(t, kindsEvent, nil)
	var ps []filters.Predicate
	for _, c := range []struct {
		field, op string
		value     any
	}{
		{"num", "equals", 500}, {"word", "contains", "ell"}, {"http.status", "greater_than", 500},
		{"http.path", "regex", "^/api/v1/(orders|items)/"}, {"null", "exists", nil}, {"numstr", "in", []any{"1", "500"}},
	} {
		p, err := filters.Condition(c.field, c.op, c.value, c.op != "exists")
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	all := filters.All(ps...)
	if !all.Match(r) {
		t.Fatal("the conditions do not match the event")
	}
	if n := testing.AllocsPerRun(200, func() { all.Match(r) }); n != 0 {
		t.Errorf("matching allocates %v times per event", n)
	}
}
