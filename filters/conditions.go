// Package filters decides which events a metric counts: the config's
// filter-conditions (field, operator, value) and expression filters.
// Everything is compiled once at start-up; matching an event does not
// allocate.
package filters

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/beametrics/beametrics/internal/event"
)

// Predicate tells whether an event matches.
type Predicate interface {
	Match(r *event.Reader) bool
}

// Operators of filter-conditions.
const (
	OpEquals         = "equals"
	OpNotEquals      = "not_equals"
	OpContains       = "contains"
	OpNotContains    = "not_contains"
	OpGreaterThan    = "greater_than"
	OpGreaterOrEqual = "greater_or_equal"
	OpLessThan       = "less_than"
	OpLessOrEqual    = "less_or_equal"
	OpRegex          = "regex"
	OpExists         = "exists"
	OpNotExists      = "not_exists"
	OpIn             = "in"
	OpNotIn          = "not_in"
)

// Operators lists every operator, sorted.
func Operators() []string {
	ops := []string{OpEquals, OpNotEquals, OpContains, OpNotContains, OpGreaterThan, OpGreaterOrEqual,
		OpLessThan, OpLessOrEqual, OpRegex, OpExists, OpNotExists, OpIn, OpNotIn}
	sort.Strings(ops)
	return ops
}

// constant is a typed comparison value from the config.
type constant struct {
	kind event.Kind // String, Number, Bool or Null
	s    []byte
	f    float64
	b    bool
}

func constantOf(v any) (constant, error) {
	switch x := v.(type) {
	case nil:
		return constant{kind: event.Null}, nil
	case string:
		return constant{kind: event.String, s: []byte(x)}, nil
	case bool:
		return constant{kind: event.Bool, b: x}, nil
	case int:
		return constant{kind: event.Number, f: float64(x)}, nil
	case int64:
		return constant{kind: event.Number, f: float64(x)}, nil
	case uint64:
		return constant{kind: event.Number, f: float64(x)}, nil
	case float64:
		return constant{kind: event.Number, f: x}, nil
	}
	return constant{}, fmt.Errorf("value must be a string, number, bool or null, not %T", v)
}

// equal implements equals: numbers numerically, strings to strings, bools to
// bools, null to null; different types are never equal.
func (c *constant) equal(v event.Value) bool {
	if v.Kind() != c.kind {
		return false
	}
	switch c.kind {
	case event.String:
		return bytes.Equal(v.Str(), c.s)
	case event.Number:
		f, ok := v.Num()
		return ok && f == c.f
	case event.Bool:
		b, _ := v.Bool()
		return b == c.b
	case event.Null:
		return true
	}
	return false
}

// Condition compiles one filter-condition. value is the decoded YAML or JSON
// value (string, number, bool, null or a list for in/not_in).
func Condition(field, operator string, value any, hasValue bool) (Predicate, error) {
	path, err := event.ParsePath(field)
	if err != nil {
		return nil, err
	}
	op := strings.ToLower(operator)
	needs := func(kind string) error {
		if !hasValue {
			return fmt.Errorf("operator %s needs a value (%s)", op, kind)
		}
		return nil
	}
	switch op {
	case OpEquals, OpNotEquals:
		if err := needs("a string, number, bool or null"); err != nil {
			return nil, err
		}
		c, err := constantOf(value)
		if err != nil {
			return nil, fmt.Errorf("operator %s: %w", op, err)
		}
		return &equalsCond{path: path, c: c, negate: op == OpNotEquals}, nil
	case OpContains, OpNotContains:
		if err := needs("a string"); err != nil {
			return nil, err
		}
		s, ok := value.(string)
		if !ok {
			return nil, fmt.Errorf("operator %s needs a string value, not %s", op, describe(value))
		}
		return &containsCond{path: path, sub: []byte(s), negate: op == OpNotContains}, nil
	case OpGreaterThan, OpGreaterOrEqual, OpLessThan, OpLessOrEqual:
		if err := needs("a number"); err != nil {
			return nil, err
		}
		c, err := constantOf(value)
		if err != nil || c.kind != event.Number {
			return nil, fmt.Errorf("operator %s needs a number value, not %s", op, describe(value))
		}
		return &orderCond{path: path, op: op, f: c.f}, nil
	case OpRegex:
		if err := needs("an RE2 regular expression"); err != nil {
			return nil, err
		}
		s, ok := value.(string)
		if !ok {
			return nil, fmt.Errorf("operator regex needs a string value, not %s", describe(value))
		}
		re, err := compileRegex(s)
		if err != nil {
			return nil, &ValueError{Err: fmt.Errorf("bad regex: %w", err)}
		}
		return &regexCond{path: path, re: re}, nil
	case OpExists, OpNotExists:
		if hasValue {
			return nil, fmt.Errorf("operator %s takes no value", op)
		}
		return &existsCond{path: path, negate: op == OpNotExists}, nil
	case OpIn, OpNotIn:
		if err := needs("a list"); err != nil {
			return nil, err
		}
		list, ok := value.([]any)
		if !ok {
			return nil, fmt.Errorf("operator %s needs a list value, not %s", op, describe(value))
		}
		in := &inCond{path: path, negate: op == OpNotIn}
		for i, e := range list {
			c, err := constantOf(e)
			if err != nil {
				return nil, fmt.Errorf("operator %s, element %d: %w", op, i+1, err)
			}
			in.set.add(c)
		}
		return in, nil
	}
	return nil, fmt.Errorf("unknown operator %q (known: %s)", operator, strings.Join(Operators(), ", "))
}

// ValueError is a condition error that lies in its value (a bad regex,
// say) rather than in its operator, so that config errors can point at the
// value.
type ValueError struct{ Err error }

func (e *ValueError) Error() string { return e.Err.Error() }
func (e *ValueError) Unwrap() error { return e.Err }

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

type equalsCond struct {
	path   event.Path
	c      constant
	negate bool
}

func (e *equalsCond) Match(r *event.Reader) bool {
	return e.c.equal(r.Lookup(&e.path)) != e.negate
}

type containsCond struct {
	path   event.Path
	sub    []byte
	negate bool
}

func (c *containsCond) Match(r *event.Reader) bool {
	v := r.Lookup(&c.path)
	found := v.Kind() == event.String && bytes.Contains(v.Str(), c.sub)
	return found != c.negate
}

type orderCond struct {
	path event.Path
	op   string
	f    float64
}

func (o *orderCond) Match(r *event.Reader) bool {
	f, ok := r.Lookup(&o.path).Num()
	if !ok {
		return false
	}
	switch o.op {
	case OpGreaterThan:
		return f > o.f
	case OpGreaterOrEqual:
		return f >= o.f
	case OpLessThan:
		return f < o.f
	default:
		return f <= o.f
	}
}

type regexCond struct {
	path event.Path
	re   matcher
}

func (c *regexCond) Match(r *event.Reader) bool {
	v := r.Lookup(&c.path)
	return v.Kind() == event.String && c.re.Match(v.Str())
}

type existsCond struct {
	path   event.Path
	negate bool
}

// Match: a field exists when it is present, even with a null value.
func (c *existsCond) Match(r *event.Reader) bool {
	return (r.Lookup(&c.path).Kind() != event.Missing) != c.negate
}

type inCond struct {
	path   event.Path
	set    valueSet
	negate bool
}

func (c *inCond) Match(r *event.Reader) bool {
	return c.set.has(r.Lookup(&c.path)) != c.negate
}

func (s *valueSet) add(c constant) {
	switch c.kind {
	case event.String:
		s.addString(string(c.s))
	case event.Number:
		s.addNumber(c.f)
	case event.Bool:
		s.addBool(c.b)
	case event.Null:
		s.hasNull = true
	}
}

// has is constant.equal against every element at once.
func (s *valueSet) has(v event.Value) bool {
	switch v.Kind() {
	case event.String:
		return s.hasString(v.Str())
	case event.Number:
		f, ok := v.Num()
		return ok && s.hasNumber(f)
	case event.Bool:
		b, _ := v.Bool()
		return s.hasBool(b)
	case event.Null:
		return s.hasNull
	}
	return false
}

// All matches when every predicate matches; with none it matches everything.
func All(ps ...Predicate) Predicate {
	switch len(ps) {
	case 0:
		return always{}
	case 1:
		return ps[0]
	}
	return allOf(ps)
}

type always struct{}

func (always) Match(*event.Reader) bool { return true }

type allOf []Predicate

func (a allOf) Match(r *event.Reader) bool {
	for _, p := range a {
		if !p.Match(r) {
			return false
		}
	}
	return true
}

// Bind returns p bound to schema: a copy of p whose field paths are
// registered with schema, so that readers on the schema find them in their
// single pass over an event. p itself is not changed, so one compiled
// predicate can serve several engines.
func Bind(p Predicate, schema *event.Schema) Predicate {
	switch p := p.(type) {
	case *equalsCond:
		c := *p
		schema.Add(&c.path)
		return &c
	case *containsCond:
		c := *p
		schema.Add(&c.path)
		return &c
	case *orderCond:
		c := *p
		schema.Add(&c.path)
		return &c
	case *regexCond:
		c := *p
		schema.Add(&c.path)
		return &c
	case *existsCond:
		c := *p
		schema.Add(&c.path)
		return &c
	case *inCond:
		c := &inCond{path: p.path, negate: p.negate, set: p.set}
		schema.Add(&c.path)
		return c
	case allOf:
		c := make(allOf, len(p))
		for i, q := range p {
			c[i] = Bind(q, schema)
		}
		return c
	case *Expr:
		c := *p
		if c.fast != nil {
			c.fast = bindNode(c.fast, schema)
		}
		return &c
	}
	return p
}
